"""The runner through a real EWS connector against the Exchange simulator: the whole path.

ROOMS side in SQLite, the engine, the exchange2007/2010/2013 plugin over HTTP, the simulator
in that dialect; "the user in Outlook" is exchangelib with the person's own credentials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from roomsync.config import settings_from_mapping
from roomsync.connector.types import CalendarEntry
from roomsync.domain import Person, ReservationStatus, Room
from roomsync.engine.runner import SyncRunner
from roomsync.plugins import plugin_manager
from roomsync.storage import Database
from roomsync.testkit.end_to_end import ALICE, BOB, ROOM1, ROOM2, EndToEndSuite, Estate
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser, simulator_options
from roomsync_sim.testing import running_simulator

START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=8, minute=0, second=0, microsecond=0)


@dataclass
class Setup(Estate):
    start = START  # not a field: the day the bookings are made for
    runner: SyncRunner
    database: Database
    user: SimulatorUser
    notes: NotificationRecorder
    counts: Counter[str]

    def outlook(self, mailbox: str) -> SimulatorUser:
        return self.user

    def subjects(self, mailbox: str) -> list[str]:
        return sorted(i.subject for i in self.user.account(mailbox).calendar.all().only("subject"))

    def writes(self) -> int:
        return sum(self.counts[operation] for operation in ("CreateItem", "UpdateItem", "DeleteItem"))

    def busy(self, mailbox: str, start: datetime, end: datetime) -> set[tuple[datetime, datetime]]:
        """What Exchange itself says (not ROOMS's merged view)."""
        [answer] = self.runner.host("onprem").free_busy([mailbox], start, end)
        assert answer.error is None
        return {(i.start, i.end) for i in answer.intervals}

    def entries(self, mailbox: str, stamp: str) -> list[CalendarEntry]:
        return self.runner.host("onprem").find_by_stamp(mailbox, [stamp]).get(stamp, [])


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
            yield Setup(runner, database, user, notes, sim.simulator.counts)
        finally:
            user.close()
            runner.close()
            database.dispose()
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


class TestEwsEndToEnd(EndToEndSuite):
    """The end-to-end scenarios of the test kit, on each EWS generation."""

    reads_modified = True
    reads_uid = True
    reads_answers = True

    @pytest.fixture
    def estate(self, setup: Setup) -> Setup:
        return setup


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
