"""Rooms' answers read back from the organizer's entries, over real HTTP to the simulator.

Each connector (Exchange 2007, 2010, 2013 over EWS, Exchange Online over Graph) writes meetings
that invite rooms; the simulator's rooms answer by their booking policy (Set-CalendarProcessing),
and the organizer's entry must read back with each room's answer wherever it is read from the
server (stamp lookup, listing, changes feed): what tells the engine that a room declined a meeting
roomsync exported. A series that conflicts in few
enough occurrences is accepted without them (ConflictPercentageAllowed, MaximumConflictInstances).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import Answer, CalendarEntry, EntryDraft
from roomsync.domain import EventFields, Frequency, Participant, Recurrence, Weekday
from roomsync.plugins import connector_class
from roomsync_sim.testing import running_simulator

ALICE, BOB = "alice@example.org", "bob@example.org"
ROOM, FLEX = "room.1@example.org", "flex@example.org"
ENVIRONMENT = "answers"
START = (datetime.now(UTC) + timedelta(days=7)).replace(hour=9, minute=0, second=0, microsecond=0)

SEED: dict[str, Any] = {
    "users": [
        {"smtp": "svc@example.org", "name": "ROOMS service", "password": "svc-password"},
        {"smtp": ALICE, "name": "Alice Adams", "password": "alice-password"},
        {"smtp": BOB, "name": "Bob Brown", "password": "bob-password"},
    ],
    "rooms": [
        {"smtp": ROOM, "name": "Room 1"},  # Exchange's defaults: AutoAccept, no conflicts
        {
            "smtp": FLEX,
            "name": "Flexible room",
            "booking": {"maximum_conflict_instances": 2, "conflict_percentage_allowed": 25},
        },
    ],
    "grants": [{"kind": "impersonation", "grantee": "svc@example.org"}],
}


Connect = Callable[[], ConnectorHost]


@pytest.fixture(params=["exchange2007", "exchange2010", "exchange2013", "o365"])
def connect(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Connect]:
    """Opens the dialect's connector on a simulator, as the runner opens it from a configuration:
    a new one knows none of the writes an earlier one made."""
    dialect = request.param
    tls = {"tls_dir": tmp_path / "tls"} if dialect == "o365" else {}
    with running_simulator(dialect, SEED, **tls) as sim, ExitStack() as hosts:
        if dialect == "o365":
            from roomsync_o365.testing import SECRET_ENV, simulator_options

            monkeypatch.setenv(SECRET_ENV, sim.client_secret)
            options = simulator_options(sim)
        else:
            from roomsync_ews_common.testing import SIM_PASSWORD_ENV
            from roomsync_ews_common.testing import simulator_options as ews_options

            monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
            options = ews_options(sim.ews_url)

        def opened() -> ConnectorHost:
            connector = connector_class(dialect, ENVIRONMENT).from_config(
                ENVIRONMENT, options, "roomsync.toml"
            )
            host = ConnectorHost(ENVIRONMENT, connector)
            hosts.callback(host.close)
            return host

        yield opened
        hosts.close()
        if dialect != "o365":
            assert [v for v in sim.simulator.violations if v.direction == "response"] == []


def meeting(title: str, week: int, rooms: tuple[str, ...], **more: Any) -> EventFields:
    start = START + timedelta(weeks=week)
    return EventFields(
        title=title, start=start, end=start + timedelta(hours=1), timezone="UTC", rooms=rooms, **more
    )


def create(host: ConnectorHost, fields: EventFields, mailbox: str = ALICE) -> CalendarEntry:
    """The entry the connector wrote, read back by its stamp."""
    stamp = f"answers-{fields.title}-{fields.start.isoformat()}"
    [result] = host.create_entries(mailbox, [EntryDraft(stamp=stamp, fields=fields)])
    assert result.ok, result.error
    [entry] = host.find_by_stamp(mailbox, [stamp])[stamp]
    return entry


def answers(entry: CalendarEntry) -> dict[str, Answer]:
    return {a.mailbox: a.answer for a in entry.answers}


def weekly(count: int) -> Recurrence:
    return Recurrence(frequency=Frequency.WEEKLY, weekdays=(list(Weekday)[START.weekday()],), count=count)


def test_a_room_that_accepts_and_one_that_is_taken(connect: Connect) -> None:
    host = connect()
    first = create(host, meeting("First", 0, (ROOM,), participants=(Participant(email=BOB),)))
    assert answers(first) == {ROOM: Answer.ACCEPTED, BOB: Answer.NONE}
    clash = create(host, meeting("Clash", 0, (ROOM,)), mailbox=BOB)
    assert answers(clash) == {ROOM: Answer.DECLINED}
    # every read path has them: the window and the change feed too (read by a connector that
    # did not write the entries: the one that did reports its own writes as it wrote them)
    listed = host.list_entries(ALICE, START - timedelta(hours=1), START + timedelta(hours=2))
    assert [answers(e) for e in listed] == [{ROOM: Answer.ACCEPTED, BOB: Answer.NONE}]
    feed = connect()
    page = feed.changes(BOB, None)
    entries = list(page.entries)
    while page.more:
        page = feed.changes(BOB, page.sync_state)
        entries.extend(page.entries)
    # Bob's copy of Alice's meeting is an invitation: it carries no answers
    assert sorted((e.fields.title, e.is_own, answers(e)) for e in entries) == [
        ("Clash", True, {ROOM: Answer.DECLINED}),
        ("First", False, {}),
    ]


def test_a_series_with_one_conflicting_occurrence(connect: Connect) -> None:
    host = connect()
    create(host, meeting("Taken", 2, (ROOM, FLEX)), mailbox=BOB)
    series = create(host, meeting("Weekly", 0, (ROOM, FLEX), recurrence=weekly(10)))
    # one conflict in ten: within 2 instances and 25 % for the flexible room; none for the other
    assert answers(series) == {ROOM: Answer.DECLINED, FLEX: Answer.ACCEPTED}
    window = (START - timedelta(days=1), START + timedelta(weeks=11))
    [copy] = [e for e in host.list_entries(FLEX, *window) if e.organizer == ALICE]
    assert copy.fields.recurrence is not None
    assert [(o.original_start, o.cancelled) for o in copy.fields.occurrences] == [
        (START + timedelta(weeks=2), True)
    ]
    assert [e for e in host.list_entries(ROOM, *window) if e.organizer == ALICE] == []
