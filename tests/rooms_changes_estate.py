"""An installation under ``SyncRunner.run()`` whose ROOMS edits are to reach Exchange at once:
the simulator over HTTP (exchange2013 streaming, or o365 webhooks), a database of either kind,
two persons and a room; shared by the end-to-end test and ``benchmarks/rooms_to_exchange.py``."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy

from roomsync import hookspecs
from roomsync.config import settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.testkit.databases import empty_database_url
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE, BOB, ROOM = "alice@example.org", "bob@example.org", "room.1@example.org"
ENVIRONMENT = "env"
WATCH_KINDS = ("Subscribe", "GetStreamingEvents", "Unsubscribe", "subscriptions")
"""Requests of the watch itself (opening, renewing streams and webhook subscriptions)."""

GRAPH_SEED: dict[str, Any] = {
    "users": [{"smtp": ALICE, "name": "Alice Adams"}, {"smtp": BOB, "name": "Bob Brown"}],
    "rooms": [{"smtp": ROOM, "name": "Room 1"}],
}


@dataclass
class Estate:
    plugin: str
    sim: RunningSimulator
    database: Database
    runner: SyncRunner
    stop: threading.Event
    thread: threading.Thread
    cycles: list[tuple[float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    announced: list[tuple[str, bool, int]] = field(default_factory=list)
    feed_wakes: list[float] = field(default_factory=list)  # when the ROOMS change feed woke someone
    outlook: Any = None  # a user in Outlook: create(mailbox, fields)

    def progress(self, person: Person, report: CycleReport) -> None:
        if not report.ok:
            self.failures.append(f"{person.email}: {report.error}")
        self.cycles.append((time.monotonic(), person.email))

    def subjects(self, mailbox: str = ALICE) -> list[str]:
        return self.sim.calendar_subjects(mailbox)

    def requests(self) -> Counter[str]:
        """The simulator's requests by kind, the watch's own left out."""
        counts = Counter(self.sim.simulator.counts)
        return Counter({k: v for k, v in counts.items() if not k.startswith(WATCH_KINDS)})

    def settled(self, quiet: float = 2.0, seconds: float = 60.0) -> bool:
        """Whether a moment came with no request to Exchange for ``quiet`` seconds (the wakes of
        the start, a room's answer and the cycles it brings are done)."""
        deadline = time.monotonic() + seconds
        seen, since = self.requests(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.requests()
            if now != seen:
                seen, since = now, time.monotonic()
            elif self.cycles and time.monotonic() - since >= quiet:
                return True
        return False

    def in_outlook(self, title: str, hour: int, mailbox: str = ALICE) -> None:
        """A meeting the user makes in Outlook, which the cycle brings into ROOMS."""
        start = (datetime.now(UTC) + timedelta(days=4)).replace(hour=hour, minute=0, second=0, microsecond=0)
        fields = EventFields(
            title=title, start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin", rooms=(ROOM,)
        )
        self.outlook.create(mailbox, fields)

    def imported(self, title: str) -> bool:
        with self.database.unit_of_work() as uow:
            return any(r.fields.title == title for r in uow.rooms.reservations(organizer=ALICE))

    def book(self, title: str, hour: int, organizer: str = ALICE) -> str:
        """A reservation made in ROOMS through a database connection of its own."""
        other = Database(self.database.engine.url.render_as_string(hide_password=False))
        start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=hour, minute=0, second=0, microsecond=0)
        try:
            with other.unit_of_work() as uow:
                stored = uow.rooms.create_reservation(
                    Reservation(
                        fields=EventFields(
                            title=title,
                            start=start,
                            end=start + timedelta(hours=1),
                            timezone="Europe/Berlin",
                            rooms=(ROOM,),
                        ),
                        organizer=organizer,
                    )
                )
                uow.commit()
        finally:
            other.dispose()
        assert stored.id is not None
        return stored.id

    def retitle(self, reservation_id: str, title: str) -> None:
        other = Database(self.database.engine.url.render_as_string(hide_password=False))
        try:
            with other.unit_of_work() as uow:
                current = uow.rooms.get_reservation(reservation_id)
                assert current is not None
                uow.rooms.update_reservation(
                    reservation_id, fields=current.fields.model_copy(update={"title": title})
                )
                uow.commit()
        finally:
            other.dispose()


@contextmanager
def estate(
    plugin: str,
    database: str,
    directory: Path,
    set_env: Callable[[str, str], None],
    latency_ms: int = 0,
    sync: dict[str, Any] | None = None,
) -> Iterator[Estate]:
    """The installation with ``SyncRunner.run()`` on a thread, stopped when the block ends."""
    with ExitStack() as stack:
        if plugin == "o365":
            from roomsync_o365.testing import SECRET_ENV, GraphUser, simulator_options, watching_options

            sim = stack.enter_context(
                running_simulator("o365", GRAPH_SEED, tls_dir=directory / "tls", latency_ms=latency_ms)
            )
            sim.simulator.graph.subscriptions.allow_http_notification_url = True
            set_env(SECRET_ENV, sim.client_secret)
            options = simulator_options(sim, **watching_options())
            outlook: Any = GraphUser(sim)
        else:
            from roomsync.plugins import connector_class
            from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser
            from roomsync_ews_common.testing import simulator_options as ews_options

            sim = stack.enter_context(running_simulator(plugin, latency_ms=latency_ms))
            set_env(SIM_PASSWORD_ENV, "svc-password")
            options = ews_options(sim.ews_url)
            found_class: Any = connector_class(plugin, ENVIRONMENT)
            outlook = SimulatorUser(sim.ews_url, found_class.request_server_version, found_class)
        stack.callback(outlook.close)
        settings = settings_from_mapping(
            {
                "environments": {ENVIRONMENT: {"plugin": plugin, "options": options}},
                "sync": {"interval_seconds": 60, **(sync or {})},
            }
        )
        url = stack.enter_context(empty_database_url(database, directory))
        db = Database(url)
        db.upgrade()
        stack.callback(db.dispose)
        with db.unit_of_work() as uow:
            for email in (ALICE, BOB):
                uow.rooms.upsert_person(Person(email=email, environment=ENVIRONMENT))
            uow.rooms.add_room(Room(name="Room 1", mailbox=ROOM, environment=ENVIRONMENT))
            uow.commit()
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        runner = SyncRunner(settings, db, pm)
        stack.callback(runner.close)
        stop = threading.Event()
        found = Estate(plugin, sim, db, runner, stop, threading.Thread(), outlook=outlook)
        feed_log = logging.getLogger("roomsync.rooms_changes")
        heard = _Heard(found.feed_wakes)
        feed_log.addHandler(heard)
        stack.callback(feed_log.removeHandler, heard)
        if feed_log.getEffectiveLevel() > logging.INFO:
            stack.callback(feed_log.setLevel, feed_log.level)
            feed_log.setLevel(logging.INFO)
        found.thread = threading.Thread(
            target=runner.run, args=(stop, found.progress, lambda *a: found.announced.append(a)), daemon=True
        )
        found.thread.start()

        def halt() -> None:
            stop.set()
            found.thread.join(timeout=30)

        stack.callback(halt)
        yield found


class _Heard(logging.Handler):
    """Notes when the feed woke organizers (its log line saying so)."""

    def __init__(self, into: list[float]) -> None:
        super().__init__(logging.INFO)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("reservations of"):
            self.into.append(time.monotonic())


def eventually(condition: Callable[[], bool], seconds: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False
