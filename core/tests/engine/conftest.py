"""A small world for engine tests: a database, the reference connector and two helpers to play
ROOMS (``book``/``edit``) and Outlook (``world.exchange.user_*``)."""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync import hookspecs
from roomsync.config import Settings, settings_from_mapping
from roomsync.connector.types import CalendarEntry
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.hookspecs import hookimpl
from roomsync.plugins import plugin_manager
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.notifications import NotificationRecorder

ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
ROOM_A, ROOM_B = "room.a@example.org", "room.b@example.org"
BASE = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)


class KillAfterCreate:
    """Stands for the process dying right after the server committed a create."""

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_create_entries(self, mailbox: str, drafts: list[Any]) -> Generator[None, Any, Any]:
        yield
        raise KeyboardInterrupt("killed after the server committed")


class KillAtCreate:
    """Stands for the process dying as the n-th create request reached the server."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_create_entries(self, mailbox: str, drafts: list[Any]) -> Generator[None, Any, Any]:
        self.seen += 1
        answer = yield
        if self.seen == self.n:
            raise KeyboardInterrupt("killed after the server committed")
        return answer


class CycleRecorder:
    """An extension plugin that keeps the report of every finished cycle."""

    def __init__(self) -> None:
        self.reports: list[CycleReport] = []

    @hookimpl
    def roomsync_cycle_finished(self, report: CycleReport) -> None:
        self.reports.append(report)


@dataclass
class World:
    settings: Settings
    database: Database
    exchange: MailboxDirectory
    runner: SyncRunner
    notes: NotificationRecorder

    def fields(self, title: str = "Meeting", hour: int = 0, hours: int = 1, **changes: Any) -> EventFields:
        start = BASE + timedelta(hours=hour)
        return EventFields(
            title=title, start=start, end=start + timedelta(hours=hours), timezone="Europe/Berlin", **changes
        )

    def book(self, organizer: str = ALICE, **kwargs: Any) -> Reservation:
        extra = {k: kwargs.pop(k) for k in ("setup_minutes", "followup_minutes", "creator") if k in kwargs}
        with self.database.unit_of_work() as uow:
            stored = uow.rooms.create_reservation(
                Reservation(fields=self.fields(**kwargs), organizer=organizer, **extra), origin=Origin.ROOMS
            )
            uow.commit()
        return stored

    def edit(self, reservation_id: str, **changes: Any) -> Reservation:
        organizer = changes.pop("organizer", None)
        with self.database.unit_of_work() as uow:
            current = uow.rooms.get_reservation(reservation_id)
            assert current is not None
            fields = current.fields.model_copy(update=changes) if changes else None
            stored = uow.rooms.update_reservation(reservation_id, fields=fields, organizer=organizer)
            uow.commit()
        return stored

    def synced_then_handed_over(self, title: str, old: str = ALICE, new: str = BOB) -> Reservation:
        """A reservation of ``old``'s, synchronised into ``old``'s calendar, then given to ``new``
        in ROOMS (not yet synchronised)."""
        booked = self.book(old, title=title)
        self.sync_ok()
        return self.edit(booked.id or "", organizer=new)

    def moved_entry(self, reservation_id: str | None, old: str = ALICE, new: str = BOB) -> CalendarEntry:
        """The entry of a reservation handed from ``old`` to ``new``: in ``new``'s calendar alone."""
        assert self.exchange.entries(old) == []
        return self.entry(new, reservation_id or "")

    def cancel(self, reservation_id: str) -> Reservation:
        with self.database.unit_of_work() as uow:
            stored = uow.rooms.cancel_reservation(reservation_id)
            uow.commit()
        return stored

    def reservation(self, reservation_id: str) -> Reservation:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_reservation(reservation_id)
        assert found is not None
        return found

    def reservations(
        self, organizer: str | None = None, include_cancelled: bool = False
    ) -> list[Reservation]:
        with self.database.unit_of_work() as uow:
            return uow.rooms.reservations(organizer=organizer, include_cancelled=include_cancelled)

    def stamp(self, reservation_id: str | None) -> str:
        """The stamp this installation writes on the entry of ``reservation_id``."""
        return self.runner.stamps().encode(reservation_id or "")

    def entry(self, mailbox: str, reservation_id: str) -> CalendarEntry:
        stamp = self.stamp(reservation_id)
        found = [e for e in self.exchange.entries(mailbox) if e.stamp == stamp]
        assert len(found) == 1, f"{len(found)} entries with stamp {stamp} in {mailbox}"
        return found[0]

    def sync(self, *persons: str, allow_mass_delete: bool = False) -> list[CycleReport]:
        reports = self.runner.sync_once(list(persons) or None, allow_mass_delete=allow_mass_delete)
        return reports

    def sync_ok(self, *persons: str) -> list[CycleReport]:
        reports = self.sync(*persons)
        failed = [f"{r.mailbox}: {r.error}" for r in reports if not r.ok]
        assert not failed, failed
        return reports

    def killed_sync(self, *persons: str) -> bool:
        """A cycle killed right after its first create reached the server; True if it was."""
        host = self.runner.host("ref")
        killer = KillAfterCreate()
        host.pm.register(killer)
        try:
            self.sync(*persons)
        except KeyboardInterrupt:
            return True
        finally:
            host.pm.unregister(killer)
        return False

    def set_person(self, email: str, **changes: Any) -> None:
        with self.database.unit_of_work() as uow:
            person = uow.rooms.get_person(email)
            assert person is not None
            uow.rooms.upsert_person(person.model_copy(update=changes))
            uow.commit()


def make_world(database: Database, **sync: Any) -> World:
    name = f"engine-{uuid.uuid4().hex}"
    settings = settings_from_mapping(
        {
            "data_dir": "unused",
            "environments": {"ref": {"plugin": "reference", "options": {"directory": name, "max_batch": 10}}},
            "sync": sync,
        }
    )
    exchange = MailboxDirectory.named(name)
    with database.unit_of_work() as uow:
        for email in (ALICE, BOB, CAROL):
            uow.rooms.upsert_person(Person(email=email, environment="ref"))
        for mailbox in (ROOM_A, ROOM_B):
            uow.rooms.add_room(Room(name=mailbox.split("@")[0], mailbox=mailbox))
            exchange.add_room(mailbox)
        uow.commit()
    notes = NotificationRecorder()
    return World(settings, database, exchange, SyncRunner(settings, database, plugin_manager(notes)), notes)


@pytest.fixture
def world(database: Database) -> Iterator[World]:
    made = make_world(database)
    yield made
    made.runner.close()
