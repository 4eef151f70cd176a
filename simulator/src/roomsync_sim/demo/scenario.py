"""The steps ``roomsync demo`` shows, the same for every generation, one table per step.

It starts one simulated Exchange server per generation in this process (the generations are
listed in :mod:`.generations`: Exchange 2007, 2010 and 2013+ over EWS, Exchange Online over
Microsoft Graph), gives each an environment in a throw-away installation (SQLite in a temporary
directory) with one person and one room (and a colleague roomsync does not synchronise), and
walks through what an administrator wants to see: bookings exported from ROOMS, an edit in Outlook
merged with a change in ROOMS, a room invited from Outlook becoming a reservation, free/busy of
persons and rooms, a room booked in Outlook by the colleague reaching ROOMS from the room's own
calendar, and the differences report, which must find none.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Column, Table

from roomsync.cli.context import AppContext
from roomsync.config import Settings, settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine.differences import find_differences
from roomsync.engine.freebusy import free_busy
from roomsync.engine.runner import SyncRunner
from roomsync.storage.database import Database
from roomsync.storage.protocols import Origin
from roomsync_sim.demo.generations import GENERATIONS, Generation
from roomsync_sim.demo.organisation import Mailbox, Organisation, OutlookUser, Running

ZONE = "Europe/Berlin"
TITLE, OUTLOOK_TITLE, OUTLOOK_BOOKING = "Sprint planning", "Sprint planning #42", "Lunch & learn"
ROOM_BOOKING = "Customer visit"
"""The subject the outsider sends; the room keeps her name instead (Exchange's defaults)."""
SETUP_MINUTES = 15
SOURCES = {"rooms": "ROOMS", "exchange": "Exchange", "both": "ROOMS, Exchange"}


class Walkthrough:
    """The demo's steps over every installed generation, one table per step."""

    def __init__(self, app: AppContext, out: Console, data_dir: Path, generations: list[Generation]) -> None:
        self.app = app
        self.out = out
        self.data_dir = data_dir
        self.tz = ZoneInfo(ZONE)
        today = datetime.now(self.tz)
        self.monday = (today + timedelta(days=7 - today.weekday())).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
        self.generations = generations
        self.running: dict[str, Running] = {}
        self.outlook: dict[str, OutlookUser] = {}
        self.outsiders: dict[str, OutlookUser] = {}
        self.booked: dict[str, Reservation] = {}

    # --- the frame ------------------------------------------------------------------------------

    def run(self) -> int:
        """All steps; answers the number of differences the report found."""
        with ExitStack() as stack:
            for g in self.generations:
                organisation = Organisation(
                    domain=g.domain,
                    service=Mailbox(f"svc-roomsync@{g.domain}", "roomsync service"),
                    person=g.person,
                    room=g.room,
                    outsider=g.outsider,
                    password_file=self.data_dir / f"{g.environment}-secret",
                    tls_dir=self.data_dir / f"{g.environment}-tls",
                )
                self.running[g.environment] = stack.enter_context(g.backend.run(g.plugin, organisation))
            self.settings = self._settings()
            self.app.use_settings(self.settings)
            self.database: Database = self.app.database(check=False)
            revision = self.database.upgrade()
            self.runner: SyncRunner = self.app.runner
            stack.callback(self.runner.close)  # before the servers stop
            for g in self.generations:
                self.outlook[g.environment] = self.running[g.environment].outlook(g.person)
                stack.callback(self.outlook[g.environment].close)
                self.outsiders[g.environment] = self.running[g.environment].outlook(g.outsider)
                stack.callback(self.outsiders[g.environment].close)

            self.setup(revision)
            self.export()
            self.both_ways()
            self.outlook_booking()
            self.free_busy()
            self.room_booking()
            differences = self.differences()
        self.out.print(
            "\nNext: 'roomsync init' for your own Exchange, 'roomsync sim serve' for a simulated one."
        )
        self.app.emit(
            {
                "data_dir": str(self.data_dir),
                "environments": [g.environment for g in self.generations],
                "skipped": [g.environment for g in GENERATIONS if g not in self.generations],
                "differences": differences,
            }
        )
        return differences

    def _settings(self) -> Settings:
        return settings_from_mapping(
            {
                "data_dir": str(self.data_dir.resolve()),
                "environments": {
                    g.environment: {
                        "plugin": g.plugin,
                        "description": f"{g.label}, simulated",
                        "options": self.running[g.environment].options,
                    }
                    for g in self.generations
                },
            }
        )

    def step(self, title: str) -> None:
        self.out.rule(f"[bold]{title}", align="left")

    def cycle(self) -> None:
        """A cycle of every person, then of every room's calendar, as ``roomsync sync`` runs them."""
        for report in [*self.runner.sync_once(), *self.runner.sync_rooms_once()]:
            self.out.print(f"  sync {report.mailbox}: {report.summary()}")
            if not report.ok:
                raise click.ClickException(f"the sync of {report.mailbox} failed: {report.error}")

    def hours(self, start: datetime, end: datetime) -> str:
        return f"{start.astimezone(self.tz):%H:%M}-{end.astimezone(self.tz):%H:%M}"

    @staticmethod
    def room_names(g: Generation, rooms: tuple[str, ...]) -> str:
        return ", ".join(g.room.name if room == g.room.email else room for room in rooms)

    @staticmethod
    def who(g: Generation) -> str:
        return f"{g.person.name} ({g.environment})"

    def entry_of(self, g: Generation) -> Any:
        """The person's entry of the exported booking, read through roomsync's connector."""
        reservation_id = self.booked[g.environment].id or ""
        found = self.runner.host(g.environment).find_by_stamp(g.person.email, [reservation_id])
        [entry] = found[reservation_id]
        return entry

    # --- the steps ------------------------------------------------------------------------------

    def setup(self, revision: str) -> None:
        self.step("Setup: a simulated Exchange server per generation, an environment for each")
        table = Table("environment", "serves, plugin", "server", Column("person, room", overflow="fold"))
        for g in self.generations:
            table.add_row(
                g.environment,
                f"{g.label}\n{g.plugin}",
                urlsplit(self.running[g.environment].endpoint).netloc,
                f"{g.person.email}\n{g.room.email}",
            )
        self.out.print(table)
        with self.database.unit_of_work() as uow:
            for g in self.generations:
                uow.rooms.upsert_person(
                    Person(email=g.person.email, name=g.person.name, environment=g.environment)
                )
                uow.rooms.add_room(
                    Room(name=g.room.name, mailbox=g.room.email, capacity=8, environment=g.environment)
                )
            uow.commit()
        self.out.print(
            f"  ROOMS: SQLite in {self.data_dir} (schema {revision}), a person and a room per environment"
        )
        # One environment of each kind (EWS, Graph), as the administrator will write them.
        samples = {type(g.backend): g for g in self.generations}.values()
        for sample in samples:
            self.out.print(f"  The environment {sample.environment}, as roomsync.toml would hold it:")
            config = self.settings.environments[sample.environment]
            self.out.print(
                _toml(sample.environment, config.plugin, config.options), markup=False, highlight=False
            )

    def export(self) -> None:
        self.step(f"1. Export: booked in ROOMS for {self.monday:%a %d %b}, in the organizer's calendar")
        with self.database.unit_of_work() as uow:
            for g in self.generations:
                self.booked[g.environment] = uow.rooms.create_reservation(
                    Reservation(
                        fields=EventFields(
                            title=TITLE,
                            start=self.monday,
                            end=self.monday + timedelta(hours=1),
                            timezone=ZONE,
                            rooms=(g.room.email,),
                            body="Agenda in the wiki",
                        ),
                        organizer=g.person.email,
                        setup_minutes=SETUP_MINUTES,
                    ),
                    origin=Origin.ROOMS,
                    actor=g.person.email,
                )
            uow.commit()
        self.cycle()
        table = Table("calendar", "title", "time", "room invited", "stamp", title="Read back from Exchange")
        for g in self.generations:
            entry = self.entry_of(g)
            table.add_row(
                self.who(g),
                entry.fields.title,
                self.hours(entry.fields.start, entry.fields.end),
                self.room_names(g, entry.fields.rooms),
                f"reservation {entry.stamp}",
            )
        self.out.print(table)

    def both_ways(self) -> None:
        self.step(f"2. Both ways: renamed to '{OUTLOOK_TITLE}' in Outlook, moved to 10:00 in ROOMS")
        for g in self.generations:
            entry = self.entry_of(g)
            self.outlook[g.environment].rename(entry.item_id, entry.fields, OUTLOOK_TITLE)
        with self.database.unit_of_work() as uow:
            for g in self.generations:
                current = uow.rooms.get_reservation(self.booked[g.environment].id or "")
                assert current is not None
                moved = current.fields.model_copy(
                    update={
                        "start": self.monday + timedelta(hours=1),
                        "end": self.monday + timedelta(hours=2),
                    }
                )
                uow.rooms.update_reservation(current.id or "", fields=moved, origin=Origin.ROOMS)
            uow.commit()
        self.cycle()
        table = Table("person", "in ROOMS", "in Exchange", title="Both changes kept, on both sides")
        for g in self.generations:
            with self.database.unit_of_work() as uow:
                merged = uow.rooms.get_reservation(self.booked[g.environment].id or "")
            assert merged is not None
            entry = self.entry_of(g)
            table.add_row(
                self.who(g),
                f"{merged.fields.title}, {self.hours(merged.fields.start, merged.fields.end)}",
                f"{entry.fields.title}, {self.hours(entry.fields.start, entry.fields.end)}",
            )
        self.out.print(table)

    def outlook_booking(self) -> None:
        self.step(
            f"3. Import: '{OUTLOOK_BOOKING}' booked in Outlook, inviting the room, becomes a reservation"
        )
        lunch = self.monday + timedelta(hours=3)
        for g in self.generations:
            self.outlook[g.environment].book(
                EventFields(
                    title=OUTLOOK_BOOKING,
                    start=lunch,
                    end=lunch + timedelta(hours=1),
                    timezone=ZONE,
                    rooms=(g.room.email,),
                )
            )
        self.cycle()
        table = Table("person", "reservation", "time", "room", "status", title="Booked in ROOMS")
        with self.database.unit_of_work() as uow:
            for g in self.generations:
                for r in uow.rooms.reservations(organizer=g.person.email):
                    if r.fields.title == OUTLOOK_BOOKING:
                        table.add_row(
                            self.who(g),
                            r.id or "",
                            self.hours(r.fields.start, r.fields.end),
                            self.room_names(g, r.fields.rooms),
                            r.status.value,
                        )
        self.out.print(table)

    def free_busy(self) -> None:
        self.step(
            f"4. Free/busy on {self.monday:%a %d %b}, 08:00-18:00 (ROOMS adds {SETUP_MINUTES} min setup)"
        )
        table = Table("environment", Column("mailbox", overflow="fold"), "busy", "known to")
        # Each mailbox is asked in its environment: a person's is set on the person, a room's on the room.
        environment = {m.email: g.environment for g in self.generations for m in (g.person, g.room)}
        answers = free_busy(
            self.runner,
            list(environment),
            self.monday.replace(hour=8),
            self.monday.replace(hour=18),
        )
        for answer in answers:
            busy = [f"{self.hours(b.start, b.end)} {b.status.value}" for b in answer.busy]
            table.add_row(
                environment[answer.mailbox],
                answer.mailbox,
                "\n".join(busy + [f"[red]{e}[/red]" for e in answer.errors]) or "free",
                "\n".join(SOURCES.get(b.source, b.source) for b in answer.busy),
            )
        self.out.print(table)

    def room_booking(self) -> None:
        outsiders = " / ".join(sorted({g.outsider.name for g in self.generations}))
        [room, *others] = [g.room.name for g in self.generations]
        self.step(
            f"5. Outlook booking of a room: {outsiders} invites {'the room' if others else room} in Outlook,"
            " ROOMS holds it"
        )
        visit = self.monday + timedelta(hours=5)  # 14:00, free in every room
        for g in self.generations:
            # A meeting sent in Outlook: the room's AutoAccept policy books it in the room's calendar.
            self.outsiders[g.environment].book(
                EventFields(
                    title=ROOM_BOOKING,
                    start=visit,
                    end=visit + timedelta(hours=1),
                    timezone=ZONE,
                    rooms=(g.room.email,),
                )
            )
        self.cycle()
        table = Table(
            "environment",
            "organizer",
            "title",
            "time",
            "room",
            title=f"'{ROOM_BOOKING}' in ROOMS, titled as the room keeps it",
        )
        with self.database.unit_of_work() as uow:
            for g in self.generations:
                for r in uow.rooms.reservations(organizer=g.outsider.email):
                    table.add_row(
                        g.environment,
                        r.organizer,
                        r.fields.title,
                        self.hours(r.fields.start, r.fields.end),
                        self.room_names(g, r.fields.rooms),
                    )
        self.out.print(table)

    def differences(self) -> int:
        self.step("6. Differences report: ROOMS against every Exchange calendar, next 30 days")
        found = find_differences(self.runner, days=30)
        self.out.print(f"  {len(found)} differences between ROOMS and Exchange over the next 30 days")
        if found:
            table = Table("person", "kind", "title", "reservation", "fields")
            for d in found:
                table.add_row(d.mailbox, d.kind.value, d.title, d.reservation_id or "-", ", ".join(d.keys))
            self.out.print(table)
        return len(found)


def _toml(environment: str, plugin: str, options: dict[str, Any]) -> str:
    """An environment as it would stand in roomsync.toml, for the administrator to compare."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v) if isinstance(v, str) else str(v)

    lines = [
        f"[environments.{environment}]",
        f"plugin = {value(plugin)}",
        f"[environments.{environment}.options]",
    ]
    lines += [f"{key} = {value(v)}" for key, v in options.items()]
    return "\n".join(f"    {line}" for line in lines)
