"""A mailbox moved from Exchange 2013 (EWS) to Exchange Online (Microsoft Graph) keeps its reservations.

A person is synchronised on an ``exchange2013`` environment; their calendar is then moved to an
Exchange Online tenant the way a mailbox migration moves it (new item ids, same extended
properties, no meetings sent: the simulator's ``graph.migrate`` helpers) and the person is
assigned to the ``o365`` environment. The next cycle must find every entry again by its ROOMS
stamp: nothing is created twice, nothing is cancelled, no invitation goes out, and later ROOMS
changes reach the migrated events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from roomsync.config import settings_from_mapping
from roomsync.connector.types import CalendarEntry
from roomsync.domain import (
    EventFields,
    Frequency,
    OccurrenceChange,
    Participant,
    Person,
    Recurrence,
    Reservation,
    ReservationStatus,
    Room,
    Weekday,
)
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.recurrence import occurrences
from roomsync.storage import Database
from roomsync.storage.protocols import LinkState, Origin
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS, SimulatorUser
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import simulator_options as graph_options
from roomsync_sim.graph.ids import rest_id
from roomsync_sim.graph.migrate import export_calendar, import_calendar
from roomsync_sim.store import Store
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE, BOB, ROOM = "alice@example.org", "bob@example.org", "room.1@example.org"
ZONE = "Europe/Berlin"
DAY = (datetime.now(UTC) + timedelta(days=9)).date()
START = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
# Writes in the Graph dialect, each of which sends meeting requests, updates or cancellations.
GRAPH_WRITES = ("events.create", "events.update", "events.delete")


def calendar(store: Store, mailbox: str) -> dict[str, tuple[str, str]]:
    """Every item of a mailbox's calendar in the simulator's store: id -> (subject, change key)."""
    with store.lock:
        found = store.mailbox(mailbox)
        assert found is not None
        return {
            item.id: (item.props["Subject"].text or "", item.change_key)
            for item in found.folder("calendar").items.values()
        }


def writes(sim: RunningSimulator) -> dict[str, int]:
    counts = sim.simulator.counts
    return {kind: counts[kind] for kind in (*GRAPH_WRITES, "CreateItem", "UpdateItem", "DeleteItem")}


@dataclass
class Estate:
    runner: SyncRunner
    database: Database
    onprem: RunningSimulator
    online: RunningSimulator

    def book(self, title: str, hours: int, **fields: Any) -> Reservation:
        start = START + timedelta(hours=hours)
        with self.database.unit_of_work() as uow:
            made = uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=title, start=start, end=start + timedelta(hours=1), timezone=ZONE, **fields
                    ),
                    organizer=ALICE,
                ),
                origin=Origin.ROOMS,
            )
            uow.commit()
        return made

    def sync(self) -> CycleReport:
        [report] = self.runner.sync_once([ALICE])
        assert report.ok, report.error
        return report

    def move_to(self, environment: str) -> None:
        with self.database.unit_of_work() as uow:
            person = uow.rooms.get_person(ALICE)
            assert person is not None
            uow.rooms.upsert_person(person.model_copy(update={"environment": environment}))
            uow.commit()

    def item_ids(self) -> dict[str, str | None]:
        """Reservation id -> the item id its link in Alice's mailbox names."""
        with self.database.unit_of_work() as uow:
            links = uow.sync.links_in_mailbox(ALICE)
        assert all(link.state is LinkState.SYNCED for link in links), links
        return {link.reservation_id: link.item_id for link in links}

    def entry(self, environment: str, stamp: str) -> CalendarEntry:
        [found] = self.runner.host(environment).find_by_stamp(ALICE, [stamp]).get(stamp, [])
        return found

    def reservation(self, reservation_id: str) -> Reservation:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_reservation(reservation_id)
        assert found is not None
        return found


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
    with ExitStack() as stack:
        onprem = stack.enter_context(running_simulator("exchange2013", validate=True))
        online = stack.enter_context(running_simulator("o365", tls_dir=tmp_path / "tls"))
        monkeypatch.setenv(SECRET_ENV, online.client_secret)
        settings = settings_from_mapping(
            {
                "environments": {
                    "onprem": {"plugin": "exchange2013", "options": ews_options(onprem.ews_url)},
                    "online": {"plugin": "o365", "options": graph_options(online)},
                }
            }
        )
        database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
        database.upgrade()
        stack.callback(database.dispose)
        with database.unit_of_work() as uow:
            uow.rooms.upsert_person(Person(email=ALICE, environment="onprem"))
            uow.rooms.add_room(Room(name="Room 1", mailbox=ROOM, environment="onprem"))
            uow.commit()
        runner = SyncRunner(settings, database)
        stack.callback(runner.close)
        yield Estate(runner, database, onprem, online)
        assert [v for v in onprem.simulator.violations if v.direction == "response"] == []


def weekly_with_a_moved_occurrence() -> dict[str, Any]:
    first = START + timedelta(hours=4)
    weekday = list(Weekday)[first.astimezone(ZoneInfo(ZONE)).weekday()]
    fields = EventFields(
        title="Weekly",
        start=first,
        end=first + timedelta(hours=1),
        timezone=ZONE,
        recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(weekday,), count=4),
    )
    second = list(occurrences(fields, first, first + timedelta(days=30)))[1]
    moved = OccurrenceChange(
        original_start=second.original_start,
        start=second.start + timedelta(hours=2),
        end=second.end + timedelta(hours=2),
        title="Weekly (moved)",
    )
    return {"recurrence": fields.recurrence, "occurrences": (moved,)}


def test_a_migrated_mailbox_is_relinked_by_stamp_without_duplicates_or_invitations(estate: Estate) -> None:
    meeting = estate.book("Planning", 0, rooms=(ROOM,), participants=(Participant(email=BOB),))
    series = estate.book("Weekly", 4, **weekly_with_a_moved_occurrence())
    single = estate.book("Focus time", 2)
    booked = [meeting, series, single]
    assert estate.sync().created == 3
    ews_ids = estate.item_ids()
    ews_store = estate.onprem.simulator.store
    assert len(calendar(ews_store, ALICE)) == 3
    assert "Planning" in {subject for subject, _ in calendar(ews_store, BOB).values()}

    # The move: the whole organisation's calendars, as a migration batch would move them.
    online_store = estate.online.tenants[0].store
    moved = move_calendars(estate)
    alice_before, bob_before = calendar(online_store, ALICE), calendar(online_store, BOB)
    onprem_before, online_before = writes(estate.onprem), writes(estate.online)
    estate.move_to("online")

    report = estate.sync()

    written = (report.created, report.updated, report.deleted, report.cancelled, report.imported)
    assert written == (0, 0, 0, 0, 0), report
    # Every reservation is linked to its migrated event, found by its stamp.
    assert estate.item_ids() == {rid: rest_id(moved[old or ""]) for rid, old in ews_ids.items()}
    assert calendar(online_store, ALICE) == alice_before  # nothing created, changed or removed
    assert calendar(online_store, BOB) == bob_before  # no meeting request or update went out
    assert writes(estate.online) == online_before and writes(estate.onprem) == onprem_before
    for reservation in booked:
        assert estate.reservation(reservation.id or "").status is ReservationStatus.ACTIVE
    assert not estate.sync().changed_anything  # and it stays quiet

    # A later ROOMS change reaches the migrated event, and only that one.
    with estate.database.unit_of_work() as uow:
        uow.rooms.update_reservation(
            meeting.id or "", fields=meeting.fields.model_copy(update={"title": "Planning, moved to Online"})
        )
        uow.commit()
    assert estate.sync().updated == 1
    entry = estate.entry("online", meeting.id or "")
    assert entry.item_id == estate.item_ids()[meeting.id or ""]
    assert entry.fields.title == "Planning, moved to Online" and entry.fields.rooms == (ROOM,)
    assert [p.email for p in entry.fields.participants] == [BOB]
    assert len(calendar(online_store, ALICE)) == 3
    assert writes(estate.onprem) == onprem_before  # the old server is left alone
    moved_series = estate.entry("online", series.id or "")
    assert moved_series.fields.occurrences == series.fields.occurrences


def move_calendars(estate: Estate) -> dict[str, str]:
    """Alice's, Bob's and the room's calendars to the tenant; old EWS id -> new EWS id."""
    moved: dict[str, str] = {}
    for mailbox in (ALICE, BOB, ROOM):
        items = export_calendar(estate.onprem.simulator.store, mailbox)
        moved |= import_calendar(estate.online.tenants[0].store, mailbox, items)
    return moved


def test_changes_on_both_sides_around_the_move_are_merged(estate: Estate) -> None:
    """An Outlook edit made before the move and a ROOMS edit made during it both survive."""
    meeting = estate.book("Review", 0, rooms=(ROOM,), participants=(Participant(email=BOB),))
    estate.sync()
    connector = estate.runner.host("onprem").connector
    assert isinstance(connector, EwsConnector)
    outlook = SimulatorUser(estate.onprem.ews_url, connector.request_server_version, type(connector))
    try:
        entry = estate.entry("onprem", meeting.id or "")
        later = entry.fields.start + timedelta(hours=1), entry.fields.end + timedelta(hours=1)
        outlook.update(
            ALICE, entry.item_id, entry.fields.model_copy(update={"start": later[0], "end": later[1]})
        )
    finally:
        outlook.close()
    move_calendars(estate)
    estate.move_to("online")
    with estate.database.unit_of_work() as uow:
        current = uow.rooms.get_reservation(meeting.id or "")
        assert current is not None
        uow.rooms.update_reservation(
            meeting.id or "", fields=current.fields.model_copy(update={"title": "Review (ROOMS)"})
        )
        uow.commit()

    report = estate.sync()

    assert (report.created, report.imported, report.updated, report.conflicts) == (0, 1, 1, 0), report
    merged = estate.reservation(meeting.id or "")
    assert (merged.fields.title, merged.fields.start, merged.fields.end) == ("Review (ROOMS)", *later)
    moved = estate.entry("online", meeting.id or "")
    assert (moved.fields.title, moved.fields.start, moved.fields.end) == ("Review (ROOMS)", *later)
    assert len(calendar(estate.online.tenants[0].store, ALICE)) == 1


def test_a_person_switched_before_the_move_waits_for_the_mailbox(estate: Estate) -> None:
    """Switched too early, the new calendar is empty: nothing is written until the entries arrive."""
    booked = [estate.book(f"Meeting {n}", n, participants=(Participant(email=BOB),)) for n in range(3)]
    estate.sync()
    ews_ids = estate.item_ids()
    estate.move_to("online")
    online_before, onprem_before = writes(estate.online), writes(estate.onprem)

    for _ in range(2):  # a failed cycle does not forget where the links came from
        [report] = estate.runner.sync_once([ALICE])
        assert not report.ok and "moved from environment onprem" in (report.error or "")
    assert writes(estate.online) == online_before and writes(estate.onprem) == onprem_before
    assert calendar(estate.online.tenants[0].store, BOB) == {}  # no invitation went out
    for reservation in booked:
        assert estate.reservation(reservation.id or "").status is ReservationStatus.ACTIVE

    moved = move_calendars(estate)
    report = estate.sync()

    assert (report.created, report.updated, report.deleted, report.cancelled) == (0, 0, 0, 0), report
    assert estate.item_ids() == {rid: rest_id(moved[old or ""]) for rid, old in ews_ids.items()}
    assert writes(estate.online) == online_before
