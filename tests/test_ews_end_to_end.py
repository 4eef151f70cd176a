"""The runner through a real EWS connector against the Exchange simulator: the whole path.

ROOMS side in SQLite, the engine, the exchange2010/exchange2013 plugin over HTTP, the simulator
in that dialect; "the user in Outlook" is exchangelib with the person's own credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from roomsync import hookspecs
from roomsync.config import settings_from_mapping
from roomsync.engine.runner import SyncRunner
from roomsync.model import (
    CalendarEntry,
    EventFields,
    Participant,
    Person,
    Reservation,
    ReservationStatus,
    Room,
)
from roomsync.storage import Database
from roomsync.store import Origin
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser, simulator_options
from roomsync_sim.testing import running_simulator

ALICE, BOB = "alice@example.org", "bob@example.org"
ROOM1, ROOM2 = "room.1@example.org", "room.2@example.org"
START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=8, minute=0, second=0, microsecond=0)


@dataclass
class Setup:
    runner: SyncRunner
    database: Database
    user: SimulatorUser
    notes: NotificationRecorder

    def book(self, organizer: str, title: str, hour: int, **fields: Any) -> Reservation:
        start = START + timedelta(hours=hour)
        with self.database.unit_of_work() as uow:
            made = uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=title,
                        start=start,
                        end=start + timedelta(hours=1),
                        timezone="Europe/Berlin",
                        **fields,
                    ),
                    organizer=organizer,
                ),
                origin=Origin.ROOMS,
            )
            uow.commit()
        return made

    def reservation(self, reservation_id: str) -> Reservation:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_reservation(reservation_id)
        assert found is not None
        return found

    def entries(self, mailbox: str, stamp: str) -> list[CalendarEntry]:
        return self.runner.host("onprem").find_by_stamp(mailbox, [stamp]).get(stamp, [])

    def sync(self) -> None:
        reports = self.runner.sync_once()
        assert all(r.ok for r in reports), [r.error for r in reports if not r.ok]


@pytest.fixture(params=["exchange2010", "exchange2013"])
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
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        notes = NotificationRecorder()
        pm.register(notes)
        runner = SyncRunner(settings, database, pm)
        user = SimulatorUser(sim.ews_url, runner.host("onprem").connector.request_server_version)  # type: ignore[attr-defined]
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
