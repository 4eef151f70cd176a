"""The runner through a real EWS connector against the Exchange simulator: the whole path.

ROOMS side in SQLite, the engine, the exchange2007/2010/2013 plugin over HTTP, the simulator
in that dialect; "the user in Outlook" is exchangelib with the person's own credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rooms_side import RoomsSide

from roomsync.config import settings_from_mapping
from roomsync.connector.types import CalendarEntry
from roomsync.domain import ConflictPolicy, EventFields, Participant, Person, ReservationStatus, Room
from roomsync.engine.freebusy import free_busy
from roomsync.engine.runner import SyncRunner
from roomsync.plugins import plugin_manager
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser, simulator_options
from roomsync_sim.testing import running_simulator

ALICE, BOB = "alice@example.org", "bob@example.org"
ROOM1, ROOM2 = "room.1@example.org", "room.2@example.org"
START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=8, minute=0, second=0, microsecond=0)


@dataclass
class Setup(RoomsSide):
    start = START  # not a field: the day the bookings are made for
    runner: SyncRunner
    database: Database
    user: SimulatorUser
    notes: NotificationRecorder

    def busy(self, mailbox: str, start: datetime, end: datetime) -> set[tuple[datetime, datetime]]:
        """What Exchange itself says (not ROOMS's merged view)."""
        [answer] = self.runner.host("onprem").free_busy([mailbox], start, end)
        assert answer.error is None
        return {(i.start, i.end) for i in answer.intervals}

    def entries(self, mailbox: str, stamp: str) -> list[CalendarEntry]:
        return self.runner.host("onprem").find_by_stamp(mailbox, [stamp]).get(stamp, [])

    def sync(self) -> None:
        reports = self.runner.sync_once()
        assert all(r.ok for r in reports), [r.error for r in reports if not r.ok]


@pytest.fixture(params=["exchange2007", "exchange2010", "exchange2013"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with running_simulator(request.param, validate=True) as sim:
        settings = settings_from_mapping(
            {"environments": {"onprem": {"plugin": request.param, "options": simulator_options(sim.ews_url)}}}
        )
        database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
        database.upgrade()
        with database.unit_of_work() as uow:
            for email in (ALICE, BOB):
                uow.rooms.upsert_person(Person(email=email, environment="onprem"))
            for mailbox in (ROOM1, ROOM2):
                uow.rooms.add_room(Room(name=mailbox.split("@")[0], mailbox=mailbox))
            uow.commit()
        notes = NotificationRecorder()
        runner = SyncRunner(settings, database, plugin_manager(notes))
        connector = runner.host("onprem").connector
        assert isinstance(connector, EwsConnector)
        user = SimulatorUser(sim.ews_url, connector.request_server_version, type(connector))
        try:
            yield Setup(runner, database, user, notes)
        finally:
            user.close()
            runner.close()
            database.dispose()
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


def test_booking_edit_and_deletion_flow_both_ways(setup: Setup) -> None:
    r = setup.book(ALICE, "Planning", 1, rooms=(ROOM1,), participants=(Participant(email=BOB),))
    setup.sync()
    [entry] = setup.entries(ALICE, r.id or "")
    assert entry.fields.title == "Planning" and entry.fields.rooms == (ROOM1,)
    # Bob got the meeting request as a tentative entry of his own, which roomsync leaves alone
    bob_items = [i.subject for i in setup.user.account(BOB).calendar.all().only("subject")]
    assert "Planning" in bob_items

    setup.user.update(ALICE, entry.item_id, entry.fields.model_copy(update={"title": "Planning (Outlook)"}))
    setup.sync()
    assert setup.reservation(r.id or "").fields.title == "Planning (Outlook)"

    setup.user.delete(ALICE, entry.item_id, to_deleted_items=True)
    setup.sync()
    assert setup.reservation(r.id or "").status is ReservationStatus.CANCELLED


def test_outlook_booking_of_a_room_becomes_a_reservation(setup: Setup) -> None:
    start = START + timedelta(hours=3)
    fields = EventFields(
        title="From Outlook",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Europe/Berlin",
        rooms=(ROOM2,),
    )
    item_id = setup.user.create(BOB, fields)
    setup.sync()
    with setup.database.unit_of_work() as uow:
        [booked] = uow.rooms.reservations(organizer=BOB)
    assert booked.fields.title == "From Outlook" and booked.fields.rooms == (ROOM2,)
    [entry] = setup.entries(BOB, booked.id or "")
    assert entry.item_id == item_id  # the same item, now stamped


def test_organizer_change_moves_the_entry_and_a_quiet_cycle_writes_nothing(setup: Setup) -> None:
    r = setup.book(ALICE, "Handover", 5)
    setup.sync()
    with setup.database.unit_of_work() as uow:
        uow.rooms.update_reservation(r.id or "", organizer=BOB, origin=Origin.ROOMS)
        uow.commit()
    setup.sync()
    assert setup.entries(ALICE, r.id or "") == []
    [moved] = setup.entries(BOB, r.id or "")
    assert moved.fields.title == "Handover"
    reports = setup.runner.sync_once()
    assert not any(report.changed_anything for report in reports)


def test_conflict_resets_the_outlook_entry_and_tells_the_organizer(setup: Setup) -> None:
    r = setup.book(ALICE, "Review", 7)
    setup.sync()
    [entry] = setup.entries(ALICE, r.id or "")
    setup.user.update(ALICE, entry.item_id, entry.fields.model_copy(update={"title": "Outlook title"}))
    with setup.database.unit_of_work() as uow:
        current = uow.rooms.get_reservation(r.id or "")
        assert current is not None
        uow.rooms.update_reservation(
            r.id or "", fields=current.fields.model_copy(update={"title": "ROOMS title"})
        )
        uow.commit()
    setup.sync()
    [entry] = setup.entries(ALICE, r.id or "")
    assert entry.fields.title == setup.reservation(r.id or "").fields.title == "ROOMS title"
    assert [n.recipient for n in setup.notes.sent] == [ALICE]


def test_booking_made_for_someone_else_lands_in_the_organizers_calendar(setup: Setup) -> None:
    r = setup.book(ALICE, "Booked by Bob", 9, extra={"creator": BOB}, rooms=(ROOM1,))
    setup.sync()
    [entry] = setup.entries(ALICE, r.id or "")
    assert entry.organizer == ALICE and entry.fields.rooms == (ROOM1,)
    assert setup.entries(BOB, r.id or "") == []


@pytest.mark.parametrize("policy", list(ConflictPolicy))
def test_a_conflict_is_settled_by_the_persons_policy(setup: Setup, policy: ConflictPolicy) -> None:
    setup.set_policy(ALICE, policy)
    r = setup.book(ALICE, "Disputed", 11)
    setup.sync()
    rounds = 2 if policy is ConflictPolicy.CANCEL else 1  # cancel: ROOMS wins once, then cancels
    for n in range(rounds):
        [entry] = setup.entries(ALICE, r.id or "")
        setup.user.update(ALICE, entry.item_id, entry.fields.model_copy(update={"title": f"Outlook {n}"}))
        setup.retitle_in_rooms(r.id or "", f"ROOMS {n}")
        setup.sync()

    reservation = setup.reservation(r.id or "")
    if policy is ConflictPolicy.EXCHANGE_WINS:
        [entry] = setup.entries(ALICE, r.id or "")
        assert reservation.fields.title == entry.fields.title == "Outlook 0"
        assert setup.notes.sent == []
    elif policy is ConflictPolicy.ROLLBACK:
        [entry] = setup.entries(ALICE, r.id or "")
        assert reservation.fields.title == entry.fields.title == "ROOMS 0"
        assert [n.recipient for n in setup.notes.sent] == [ALICE]
    else:
        assert reservation.status is ReservationStatus.CANCELLED
        assert setup.entries(ALICE, r.id or "") == []
        assert ALICE in [n.recipient for n in setup.notes.sent]


def test_free_busy_of_persons_and_rooms_merges_exchange_and_rooms(setup: Setup) -> None:
    booked = setup.book(ALICE, "Booked", 13, rooms=(ROOM1,), participants=(Participant(email=BOB),))
    setup.sync()
    start = START + timedelta(hours=15)
    private = EventFields(title="Dentist", start=start, end=start + timedelta(hours=1), timezone="UTC")
    setup.user.create(BOB, private)  # known to Exchange only

    day_start, day_end = START.replace(hour=0), START.replace(hour=0) + timedelta(days=1)
    views = {v.mailbox: v for v in free_busy(setup.runner, [ALICE, BOB, ROOM1, ROOM2], day_start, day_end)}

    meeting = (booked.fields.start, booked.fields.end)
    assert all(not v.errors for v in views.values())
    for mailbox in (ALICE, BOB, ROOM1):
        assert meeting in {(b.start, b.end) for b in views[mailbox].busy}
    assert (private.start, private.end) in {(b.start, b.end) for b in views[BOB].busy}
    assert views[ROOM2].busy == []


def test_buffers_are_busy_in_exchange_and_leave_with_the_entry(setup: Setup) -> None:
    r = setup.book(
        ALICE, "With buffers", 17, extra={"setup_minutes": 30, "followup_minutes": 15}, rooms=(ROOM2,)
    )
    setup.sync()
    f = r.fields
    window = (f.start - timedelta(hours=2), f.end + timedelta(hours=2))
    setup_time = (f.start - timedelta(minutes=30), f.start)
    followup_time = (f.end, f.end + timedelta(minutes=15))
    assert {setup_time, followup_time} <= setup.busy(ROOM2, *window)
    assert {setup_time, followup_time} <= setup.busy(ALICE, *window)
    [entry] = setup.entries(ALICE, r.id or "")
    assert (entry.fields.start, entry.fields.end) == (f.start, f.end)  # the meeting's own times
    reports = setup.runner.sync_once()
    assert not any(report.changed_anything for report in reports)  # buffers are no changes

    setup.user.delete(ALICE, entry.item_id, to_deleted_items=True)
    setup.sync()
    assert setup.reservation(r.id or "").status is ReservationStatus.CANCELLED
    # Deleted without a cancellation, the room keeps the meeting itself, but no buffers.
    assert not {setup_time, followup_time} & (setup.busy(ROOM2, *window) | setup.busy(ALICE, *window))
