"""Two installations on one Exchange: each acts only on the entries it stamped itself.

Both databases are new, so both number their reservations from 1; both synchronise the same
person's mailbox on the same server, in every dialect, through the real plugins. Before stamps
named their installation, the second one took the first one's entry "1" for its own and wrote
over it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from roomsync.config import settings_from_mapping
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CalendarEntry
from roomsync.domain import Person, Room
from roomsync.engine.differences import DifferenceKind, find_differences
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.testkit.end_to_end import RoomsSide
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS, SimulatorUser
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV, GraphUser
from roomsync_o365.testing import simulator_options as graph_options
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE, ROOM = "alice@example.org", "room.1@example.org"
START = (datetime.now(UTC) + timedelta(days=6)).replace(hour=7, minute=0, second=0, microsecond=0)
DIALECTS = ("exchange2007", "exchange2010", "exchange2013", "o365")
ENVIRONMENT = "exchange"


def seed(dialect: str) -> dict[str, Any]:
    if dialect == "o365":
        return {"users": [{"smtp": ALICE, "name": "Alice"}], "rooms": [{"smtp": ROOM, "name": "Room 1"}]}
    return {
        "users": [
            {"smtp": "svc@example.org", "name": "ROOMS service", "password": SIM_USERS["svc@example.org"]},
            {"smtp": ALICE, "name": "Alice", "password": SIM_USERS[ALICE]},
        ],
        "rooms": [{"smtp": ROOM, "name": "Room 1"}],
        "grants": [{"kind": "impersonation", "grantee": "svc@example.org"}],
    }


@dataclass
class Installation(RoomsSide):
    start = START
    database: Database
    runner: SyncRunner

    def sync(self) -> list[Any]:
        reports = self.runner.sync_once()
        assert all(r.ok for r in reports), [r.error for r in reports]
        return reports

    def snapshot(self) -> list[tuple[str | None, str, int]]:
        """Every reservation as (id, title, version): what must not change under the other's cycles."""
        with self.database.unit_of_work() as uow:
            return [(r.id, r.fields.title, r.version) for r in uow.rooms.reservations(include_cancelled=True)]


@dataclass
class Estate:
    sim: RunningSimulator
    first: Installation
    second: Installation
    outlook: Any

    def calendar(self) -> list[CalendarEntry]:
        """Alice's calendar as the server holds it, stamps unread by any installation."""
        raw = ConnectorHost(ENVIRONMENT, self.first.runner.host(ENVIRONMENT).connector)
        return raw.list_entries(ALICE, START - timedelta(days=1), START + timedelta(days=2))


def installation(path: Path, settings: Any) -> Installation:
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email=ALICE, environment=ENVIRONMENT))
        uow.rooms.add_room(Room(name="Room 1", mailbox=ROOM, environment=ENVIRONMENT))
        uow.commit()
    return Installation(database, SyncRunner(settings, database))


@pytest.fixture(params=DIALECTS)
def estate(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Estate]:
    dialect = request.param
    with ExitStack() as stack:
        if dialect == "o365":
            sim = stack.enter_context(running_simulator("o365", seed(dialect), tls_dir=tmp_path / "tls"))
            monkeypatch.setenv(SECRET_ENV, sim.client_secret)
            options = graph_options(sim)
        else:
            sim = stack.enter_context(running_simulator(dialect, seed(dialect), validate=True))
            monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
            options = ews_options(sim.ews_url)
        settings = settings_from_mapping(
            {"environments": {ENVIRONMENT: {"plugin": dialect, "options": options}}}
        )
        first = installation(tmp_path / "first.db", settings)
        second = installation(tmp_path / "second.db", settings)
        for side in (first, second):
            stack.callback(side.database.dispose)
            stack.callback(side.runner.close)
        if dialect == "o365":
            outlook: Any = GraphUser(sim)
        else:
            connector = first.runner.host(ENVIRONMENT).connector
            assert isinstance(connector, EwsConnector)
            outlook = SimulatorUser(sim.ews_url, connector.request_server_version, type(connector))
        stack.callback(outlook.close)
        yield Estate(sim, first, second, outlook)


def test_two_installations_never_touch_each_others_entries(estate: Estate) -> None:
    first, second = estate.first, estate.second
    assert first.database.installation().id != second.database.installation().id
    mine = first.book(ALICE, "First's meeting", 1, rooms=(ROOM,))
    theirs = second.book(ALICE, "Second's meeting", 3)
    assert mine.id == theirs.id == "1"  # the same reservation id on both sides

    assert [r.created for r in first.sync()] == [1]
    assert [(r.created, r.updated, r.imported) for r in second.sync()] == [(1, 0, 0)]
    for _ in range(2):  # each sees the other's entry in its feed and leaves it alone
        assert [(r.created, r.updated, r.imported, r.cancelled) for r in first.sync()] == [(0, 0, 0, 0)]
        assert [(r.created, r.updated, r.imported, r.cancelled) for r in second.sync()] == [(0, 0, 0, 0)]

    entries = estate.calendar()
    assert sorted((e.fields.title, e.stamp) for e in entries) == sorted(
        [
            ("First's meeting", f"{first.database.installation().id}:1"),
            ("Second's meeting", f"{second.database.installation().id}:1"),
        ]
    )
    before = (first.snapshot(), second.snapshot())

    # A change in one installation's ROOMS reaches only its own entry.
    first.retitle_in_rooms("1", "First's meeting, moved")
    first.sync()
    second.sync()
    assert sorted(e.fields.title for e in estate.calendar()) == ["First's meeting, moved", "Second's meeting"]
    assert second.snapshot() == before[1]

    # An Outlook edit of the second's entry is imported by the second only.
    [other] = [e for e in estate.calendar() if e.fields.title == "Second's meeting"]
    estate.outlook.update(
        ALICE, other.item_id, other.fields.model_copy(update={"title": "Edited in Outlook"})
    )
    assert [r.imported for r in first.sync()] == [0]
    assert [r.imported for r in second.sync()] == [1]
    assert first.snapshot()[0][1] == "First's meeting, moved"
    assert second.snapshot()[0][1] == "Edited in Outlook"

    # Each report shows the other's entry as another installation's, and resolving it is refused.
    [found] = find_differences(first.runner, 30)
    assert (found.kind, found.owner) == (
        DifferenceKind.ANOTHER_INSTALLATION,
        second.database.installation().id,
    )
    assert [d.kind for d in find_differences(second.runner, 30)] == [DifferenceKind.ANOTHER_INSTALLATION]

    # Cancelling in one installation deletes only its own entry.
    with first.database.unit_of_work() as uow:
        uow.rooms.cancel_reservation("1")
        uow.commit()
    first.sync()
    assert [(r.cancelled, r.deleted) for r in second.sync()] == [(0, 0)]
    assert [e.fields.title for e in estate.calendar()] == ["Edited in Outlook"]
    assert second.reservation("1").active
