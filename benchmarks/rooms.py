"""Room calendars against the Exchange simulator with added latency: requests, wall time, memory,
and how soon an Outlook booking of a room becomes a ROOMS reservation.

Benchmarks: with the development environment installed (``pip install -r requirements-dev.txt``),
``python benchmarks/rooms.py`` runs the ``exchange2013`` plugin with 20 ms added latency on
SQLite; ``--plugin exchange2010|exchange2007|o365`` runs another, ``--all`` runs the four, each in
a fresh process. ``--rooms`` (500) and ``--bookings`` (20 per room) size the first workload,
``--watched-rooms`` (20) and ``--repeats`` (5) the second; ``--latency-ms``, ``--database``,
``--postgresql-url`` and ``--tracemalloc`` as in ``benchmarks/ews.py``. It prints a table per
plugin and a "target met" / "target missed (N > T)" line per judged workload. At the default
sizes a plugin takes two to four minutes on the 2-core development machine, most of it the
first read, whose client reads the items and stores the reservations (wall times follow the
machine's load; request counts do not). A missed target is a finding: the exit code is
non-zero only when something broke (a failed room cycle, a booking that did not become its
reservation). The notification path also runs on exchange2010 (streaming, as 2013) and
exchange2007 (pull subscriptions); a plugin without notifications would print "polled".

How: the simulator runs as ``roomsync sim serve`` in a process of its own
(``roomsync_sim.embedded.serve_process``), seeded with the room mailboxes (booking policy
AutoAccept), 50 organizer mailboxes roomsync does not synchronise ("outsiders": they are not
ROOMS persons) and, for EWS, a service account that may impersonate them all. The bookings are
made as Exchange gets them from Outlook: each organizer's meetings, inviting the room, are
created over the wire in the organizer's mailbox with invitations sent (EWS: exchangelib
impersonating the organizer, ``CreateItem`` of up to 100 meetings with
``SendToAllAndSaveCopy``; Graph: ``POST /users/{organizer}/calendar/events`` in ``$batch`` of
20), and the simulator's room accepts each into its calendar. No roomsync property is written.
The simulator starts without latency and gets it (``POST /_sim/faults``) once the bookings are
made, so making them takes seconds instead of minutes; every measured request has it. The rooms
are ROOMS rooms (``uow.rooms.add_room``) of the plugin's environment.

The client is the product path: ``SyncRunner`` with one environment of the plugin and a real
database. Requests are, for EWS, the simulator's counts per operation (``GET /_sim/stats``
before and after), for Graph the client's HTTP round trips by kind (as ``benchmarks/graph.py``
counts them, the simulator's operations beside them). Wall time is the client's; memory is the
client's peak resident size so far. Workloads:

1. the first full read, ``runner.sync_rooms_once()`` over R rooms of B bookings each: every
   booking becomes a reservation of its organizer in its room (checked: R x B reservations, each
   with its room and organizer). Target from the protocol: per room, EWS ``⌈B/512⌉``
   ``SyncFolderItems`` pages plus ``⌈B/100⌉`` ``GetItem`` batches (the changed items are read in
   full); Graph ``⌈B/1000⌉`` pages of ``calendarView/delta`` to the delta link plus ``⌈B/200⌉``
   pages of ``/calendar/events`` (a first read lists the calendar), and the runner's sign-in
   (msal's OpenID metadata and a token);
2. an idle cycle, ``sync_rooms_once()`` again with nothing changed; target one request per room
   (the one page of changes, empty);
3. the notification path: ``SyncRunner.run(stop)`` in a thread over a fresh simulator and
   database with ``--watched-rooms`` rooms, the interval an hour, so only a notification brings
   the room's cycle (exchange2010/2013: streaming notifications; exchange2007: pull subscriptions,
   asked every 5 s; o365: webhooks to the connector's receiver on loopback). Once the rooms are
   watched and read, an outsider books one room (the meeting created as in 1, latency included);
   the seconds from sending it until its reservation is in the database (polled every 50 ms),
   ``--repeats`` times, each in another room; target: median and maximum at most 2 s (pull is
   shown, not judged: its interval alone is 5 s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

import requests
from common import (
    DOMAIN,
    ENVIRONMENT,
    POSTGRESQL_URL,
    ZONE,
    Figures,
    Step,
    added_latency,
    checked,
    ews_seed,
    first_start,
    measure,
    print_table,
    simulated,
    strip_plugin,
)
from graph import KNOWN_KINDS, RoundTrips, measured
from graph import options as graph_options

from roomsync.config import Settings, settings_from_mapping
from roomsync.domain import EventFields, Room
from roomsync.engine.runner import SyncRunner
from roomsync.plugins import connector_class
from roomsync.storage import Database
from roomsync_sim.embedded import ServerProcess

PLUGINS = ("exchange2013", "exchange2010", "exchange2007", "o365")
SERVICE = f"svc@{DOMAIN}"
PASSWORD_ENV = "ROOMSYNC_BENCH_EWS_PASSWORD"
SECRET_ENV = "ROOMSYNC_BENCH_O365_SECRET"
ORGANIZERS = 50
EWS_PAGE = 512  # SyncFolderItems' MaxChangesReturned maximum
EWS_BATCH = 100  # items per GetItem / CreateItem
GRAPH_DELTA_PAGE = 1000  # odata.maxpagesize of calendarView/delta
GRAPH_LIST_PAGE = 200  # $top of the first read's /calendar/events listing
GRAPH_BATCH = 20  # requests per $batch
NOTIFY_TARGET_SECONDS = 2.0
POLL_SECONDS = 0.05
EWS_KNOWN = ("SyncFolderItems", "GetItem", "FindItem", "GetFolder", "CreateItem", "Subscribe")
BOOKING_MINUTES = 30
BATCHED = ", each request of a $batch too"


@dataclass(frozen=True)
class Booking:
    room: str
    organizer: str
    fields: EventFields


# --- the organisation -----------------------------------------------------------------------------


def room_addresses(count: int, prefix: str = "room") -> list[str]:
    return [f"{prefix}.{n:03d}@{DOMAIN}" for n in range(count)]


def organizer_addresses() -> list[str]:
    return [f"outsider{n:02d}@{DOMAIN}" for n in range(ORGANIZERS)]


def make_seed(plugin: str, rooms: list[str], organizers: list[str], password: str) -> dict[str, Any]:
    """Rooms that accept meetings themselves (AutoAccept), and the organizers who book them."""
    if plugin == "o365":
        seed: dict[str, Any] = {
            "users": [
                {"smtp": o, "name": f"Outsider {n}", "time_zone": ZONE} for n, o in enumerate(organizers)
            ],
            # the connector's webhook receiver listens on plain-http loopback
            "allow_http_notification_url": True,
        }
    else:
        seed = ews_seed(SERVICE, organizers, [], password)
    seed["rooms"] = [
        {"smtp": r, "name": f"Room {n}", "time_zone": ZONE, "booking": {"automate_processing": "AutoAccept"}}
        for n, r in enumerate(rooms)
    ]
    return seed


def bookings_of(rooms: list[str], organizers: list[str], per_room: int, start0: datetime) -> list[Booking]:
    """``per_room`` half-hour meetings in each room, one an hour, organizers taking turns."""
    found = []
    for r, room in enumerate(rooms):
        for j in range(per_room):
            start = start0 + timedelta(hours=j)
            organizer = organizers[(r * per_room + j) % len(organizers)]
            fields = EventFields(
                title=f"Workshop {r}.{j}",
                start=start,
                end=start + timedelta(minutes=BOOKING_MINUTES),
                timezone=ZONE,
                rooms=(room,),
            )
            found.append(Booking(room, organizer, fields))
    return found


def add_rooms(database: Database, rooms: list[str]) -> None:
    with database.unit_of_work() as uow:
        for n, mailbox in enumerate(rooms):
            uow.rooms.add_room(Room(name=f"Room {n}", mailbox=mailbox, environment=ENVIRONMENT))
        uow.commit()


def settings_for(plugin: str, sim: ServerProcess, **changes: Any) -> Settings:
    """One environment of the plugin on the simulator; the interval an hour (notifications wake)."""
    if plugin == "o365":
        os.environ[SECRET_ENV] = sim.client_secret
        options = {**graph_options(sim), "client_secret": {"env": SECRET_ENV}, **changes}
    else:
        from roomsync_ews_common.testing import simulator_options

        options = simulator_options(
            sim.ews_url, username=SERVICE, password={"env": PASSWORD_ENV}, timezone=ZONE
        )
    return settings_from_mapping(
        {
            "environments": {ENVIRONMENT: {"plugin": plugin, "options": options}},
            "sync": {"interval_seconds": 3600},
        }
    )


def add_latency(sim: ServerProcess, ms: int) -> None:
    """``POST /_sim/faults``: the latency every later request has (as ``--latency-ms`` adds it)."""
    if ms <= 0:
        return
    import ssl

    context = ssl.create_default_context(cafile=str(sim.ca_file)) if sim.ca_file else None
    request = urllib.request.Request(
        f"{sim.control_url}faults",
        data=json.dumps({"kind": "latency", "ms": ms}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30, context=context) as answer:
        answer.read()


# --- Outlook: the organizers' meetings, written over the wire as their clients do ----------------------


class Outlook(Protocol):
    def book(self, organizer: str, meetings: list[EventFields]) -> None: ...

    def close(self) -> None: ...


class EwsOutlook:
    """exchangelib impersonating the organizer: meetings with the room as a resource, invitations sent."""

    def __init__(self, plugin: str, url: str, password: str) -> None:
        from roomsync_ews_common.account import pinned_version

        self.found = connector_class(plugin, ENVIRONMENT)
        self.url = url
        self.password = password
        self.version = pinned_version(self.found.request_server_version)  # type: ignore[attr-defined]
        self._accounts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def account(self, mailbox: str) -> Any:
        from exchangelib import IMPERSONATION, Account, Configuration, Credentials, FaultTolerance
        from exchangelib.transport import BASIC

        with self._lock:
            if mailbox not in self._accounts:
                config = Configuration(
                    credentials=Credentials(SERVICE, self.password),
                    service_endpoint=self.url,
                    auth_type=BASIC,
                    version=self.version,
                    retry_policy=FaultTolerance(max_wait=30),
                )
                self._accounts[mailbox] = Account(
                    primary_smtp_address=mailbox,
                    config=config,
                    autodiscover=False,
                    access_type=IMPERSONATION,
                    locale="en_US",
                )
            return self._accounts[mailbox]

    def book(self, organizer: str, meetings: list[EventFields]) -> None:
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        from roomsync_ews_common.testing import USER_UNTOUCHED

        account = self.account(organizer)
        items = []
        for fields in meetings:
            item = self.found.build_item(account, fields, "")  # type: ignore[attr-defined]
            for name in USER_UNTOUCHED:  # Outlook writes none of roomsync's properties
                setattr(item, name, None)
            items.append(item)
        answers = account.bulk_create(
            folder=account.calendar,
            items=items,
            send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY,
            chunk_size=EWS_BATCH,
        )
        failed = [a for a in answers if isinstance(a, Exception)]
        if failed:
            raise RuntimeError(f"{len(failed)} meetings of {organizer} not created; first: {failed[0]}")

    def close(self) -> None:
        for account in self._accounts.values():
            account.protocol.close()


class GraphOutlook:
    """Graph as the organizer's client: events with the room as a resource attendee, in ``$batch``."""

    def __init__(self, sim: ServerProcess) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.verify = str(sim.ca_file)
        self._token = ""
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            return self._signed_in()

    def _signed_in(self) -> str:
        if not self._token:
            answer = self.session.post(
                f"{self.sim.login_url}/{self.sim.tenant_id}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.sim.client_id,
                    "client_secret": self.sim.client_secret,
                    "scope": "https://graph.microsoft.com/.default",
                },
                timeout=30,
                verify=str(self.sim.ca_file),
            )
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def book(self, organizer: str, meetings: list[EventFields]) -> None:
        from roomsync_o365 import mapping
        from roomsync_o365.graph_client import user

        url = user(organizer, "calendar", "events")
        for first in range(0, len(meetings), GRAPH_BATCH):
            chunk = meetings[first : first + GRAPH_BATCH]
            body: dict[str, Any] = {
                "requests": [
                    {
                        "id": str(n),
                        "method": "POST",
                        "url": url,
                        "headers": {"Content-Type": "application/json"},
                        "body": mapping.to_event(fields, None),  # no roomsync properties
                    }
                    for n, fields in enumerate(chunk)
                ]
            }
            answer = self.session.post(
                f"{self.sim.graph_url}/$batch",
                json=body,
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=120,
                verify=str(self.sim.ca_file),
            )
            answer.raise_for_status()
            failed = [r for r in answer.json()["responses"] if int(r["status"]) >= 300]
            if failed:
                raise RuntimeError(f"{len(failed)} events of {organizer} not created; first: {failed[0]}")

    def close(self) -> None:
        self.session.close()


def outlook_for(plugin: str, sim: ServerProcess, password: str) -> Outlook:
    return GraphOutlook(sim) if plugin == "o365" else EwsOutlook(plugin, sim.ews_url, password)


def book_all(outlook: Outlook, bookings: list[Booking]) -> float:
    """Every booking, each organizer's in one go (four organizers at a time); answers seconds."""
    began = time.perf_counter()
    by_organizer: dict[str, list[EventFields]] = {}
    for booking in bookings:
        by_organizer.setdefault(booking.organizer, []).append(booking.fields)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(outlook.book, o, m) for o, m in by_organizer.items()]:
            done.result()
    return time.perf_counter() - began


# --- the workloads -------------------------------------------------------------------------------


def first_read_bound(plugin: str, rooms: int, per_room: int) -> tuple[int, str]:
    """The requests the protocol needs to read every room once in full, and how they are made up."""
    if plugin == "o365":
        delta, listing = math.ceil(per_room / GRAPH_DELTA_PAGE), math.ceil(max(per_room, 1) / GRAPH_LIST_PAGE)
        per = delta + listing
        return rooms * per + 2, (
            f"{rooms} rooms x ({delta} calendarView/delta page + {listing} events listing page) "
            "+ 2 (the runner's sign-in: OpenID metadata, a token)"
        )
    pages, batches = math.ceil(max(per_room, 1) / EWS_PAGE), math.ceil(per_room / EWS_BATCH)
    return rooms * (pages + batches), (
        f"{rooms} rooms x ({pages} SyncFolderItems page of <= {EWS_PAGE} "
        f"+ {batches} GetItem batch of <= {EWS_BATCH})"
    )


def reservation_check(database: Database, bookings: list[Booking], since: datetime) -> list[str]:
    """What is wrong with the reservations of ``bookings``: none missing, none extra, each in its
    room and of its organizer."""
    rooms = sorted({b.room for b in bookings})
    expected = {(b.room, b.fields.start): b.organizer for b in bookings}
    with database.unit_of_work() as uow:
        found = uow.rooms.room_bookings(rooms, since)
    problems: list[str] = []
    seen: Counter[tuple[str, datetime]] = Counter()
    for reservation in found:
        if len(reservation.fields.rooms) != 1:
            problems.append(f"reservation {reservation.id} holds rooms {reservation.fields.rooms}")
            continue
        key = (reservation.fields.rooms[0], reservation.fields.start)
        seen[key] += 1
        organizer = expected.get(key)
        if organizer is None:
            problems.append(f"reservation {reservation.id} in {key[0]} at {key[1]} was never booked")
        elif reservation.organizer != organizer:
            problems.append(f"reservation {reservation.id} of {reservation.organizer}, booked by {organizer}")
    missing = [key for key in expected if not seen[key]]
    twice = [key for key, n in seen.items() if n > 1]
    if missing:
        problems.append(
            f"{len(missing)} of {len(expected)} bookings have no reservation; first: {missing[0]}"
        )
    if twice:
        problems.append(f"{len(twice)} bookings have more than one reservation; first: {twice[0]}")
    return problems


class Broken(Exception):
    """The product did not do the work: the figures mean nothing."""


def read_steps(
    plugin: str, runner: SyncRunner, database: Database, bookings: list[Booking], rooms: int, per_room: int
) -> list[tuple[str, int | None, Step, str]]:
    """The first full read and the idle cycle: label, target, work, how the target is made up."""
    since = datetime.now(UTC) - timedelta(days=1)
    bound, reason = first_read_bound(plugin, rooms, per_room)

    def first_read() -> list[str]:
        reports = checked(runner.sync_rooms_once())
        booked = sum(r.booked for r in reports)
        problems = reservation_check(database, bookings, since)
        if problems:
            raise Broken("; ".join(problems[:5]))
        return [f"{booked} bookings became reservations, each in its room, of its organizer"]

    def idle() -> list[str]:
        reports = checked(runner.sync_rooms_once())
        busy = [r for r in reports if r.changed_anything]
        if busy:
            raise Broken(f"{len(busy)} rooms changed something: {busy[0].summary()}")
        return [f"{len(reports)} rooms read, nothing changed"]

    return [
        (f"1 first full read of {rooms} rooms x {per_room} bookings", bound, first_read, reason),
        (f"2 idle cycle over {rooms} rooms", rooms, idle, f"one request per room ({rooms})"),
    ]


@dataclass
class NotifyFigures:
    mechanism: str
    seconds: list[float]
    judged: bool

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)

    def verdict(self) -> str:
        if not self.judged:
            return "shown, not judged (pull subscriptions are asked every 5 s)"
        if self.worst <= NOTIFY_TARGET_SECONDS:
            return "target met"
        return f"target missed (max {self.worst:.2f} s > {NOTIFY_TARGET_SECONDS:.0f} s)"


def mechanism_of(plugin: str) -> str:
    if plugin == "o365":
        return "webhooks"
    return str(getattr(connector_class(plugin, ENVIRONMENT), "notifications", "polled"))


def notification_path(plugin: str, args: argparse.Namespace, password: str) -> NotifyFigures:
    """``run(stop)`` over fresh watched rooms; each booking's seconds until its reservation exists."""
    mechanism = mechanism_of(plugin)
    rooms = room_addresses(args.watched_rooms, prefix="watched")
    organizers = organizer_addresses()
    seed = make_seed(plugin, rooms, organizers, password)
    with ExitStack() as stack:
        sim, database = stack.enter_context(simulated(args, plugin, seed, tls=plugin == "o365"))
        add_rooms(database, rooms)
        changes: dict[str, Any] = {}
        if plugin == "o365":
            from roomsync_o365.testing import watching_options

            changes = watching_options()
        runner = SyncRunner(settings_for(plugin, sim, **changes), database)
        stack.callback(runner.close)
        outlook = outlook_for(plugin, sim, password)
        stack.callback(outlook.close)
        announced: list[tuple[Any, ...]] = []
        stop = threading.Event()
        thread = threading.Thread(
            target=runner.run, args=(stop, None, lambda *a: announced.append(a)), daemon=True
        )
        thread.start()

        def stopped() -> None:
            stop.set()
            thread.join(timeout=30)

        stack.callback(stopped)
        if not eventually(lambda: bool(announced) and all_read(database, rooms), 120):
            raise Broken(f"the runner did not read the {len(rooms)} rooms within 120 s ({announced})")
        watching = [a for a in announced if len(a) > 1 and a[1]]
        if not watching:
            raise Broken(f"the environment is not watched: {announced}")
        time.sleep(1)  # the watch's connections are up
        start0 = first_start() + timedelta(days=3)
        seconds = []
        for n in range(args.repeats):
            room = rooms[n % len(rooms)]
            start = start0 + timedelta(hours=n)
            fields = EventFields(
                title=f"Booked in Outlook {n}",
                start=start,
                end=start + timedelta(minutes=BOOKING_MINUTES),
                timezone=ZONE,
                rooms=(room,),
            )
            began = time.monotonic()
            outlook.book(organizers[n % len(organizers)], [fields])
            if not eventually(partial(booked, database, room, start), 60):
                raise Broken(f"booking {n} in {room} did not become a reservation within 60 s")
            seconds.append(time.monotonic() - began)
            time.sleep(0.5)
    return NotifyFigures(mechanism, seconds, judged=mechanism != "pull")


def all_read(database: Database, rooms: list[str]) -> bool:
    with database.unit_of_work() as uow:
        return all(uow.sync.mailbox_state(room).last_success is not None for room in rooms)


def booked(database: Database, room: str, start: datetime) -> bool:
    with database.unit_of_work() as uow:
        return any(
            r.fields.start == start for r in uow.rooms.room_bookings([room], start - timedelta(hours=1))
        )


def eventually(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return False


# --- one plugin -----------------------------------------------------------------------------------


@contextmanager
def counting(
    plugin: str, sim: ServerProcess, traced: bool
) -> Iterator[Callable[[str, int | None, Step], Figures]]:
    """How a workload is measured: EWS by the simulator's operations, Graph by round trips."""
    if plugin != "o365":
        yield lambda label, target, step: measure(label, target, step, traced, sim.counts)
        return
    with RoundTrips(sim.login_url, sim.graph_url).installed() as trips:
        yield measured(sim, trips, traced)


def run_plugin(plugin: str, args: argparse.Namespace) -> bool:
    """Every workload on one plugin; False when something broke."""
    began = time.perf_counter()
    password = uuid.uuid4().hex
    os.environ[PASSWORD_ENV] = password
    rooms = room_addresses(args.rooms)
    organizers = organizer_addresses()
    start0 = first_start()
    bookings = bookings_of(rooms, organizers, args.bookings, start0)
    ok = True
    # Without latency while the bookings are made; with it for everything measured.
    unhurried = argparse.Namespace(**{**vars(args), "latency_ms": 0})
    seed = make_seed(plugin, rooms, organizers, password)
    with simulated(unhurried, plugin, seed, tls=plugin == "o365") as (sim, database):
        outlook = outlook_for(plugin, sim, password)
        try:
            made = book_all(outlook, bookings)
        finally:
            outlook.close()
        add_latency(sim, args.latency_ms)
        add_rooms(database, rooms)
        stats = sim.stats()
        print(
            f"== {plugin}: simulator {stats['dialect']} in its own process (added latency "
            f"{added_latency(stats)} ms per request{BATCHED if plugin == 'o365' else ''}), "
            f"database {args.database}; {len(bookings)} bookings of {len(organizers)} outsiders in "
            f"{len(rooms)} AutoAccept rooms made in {made:.1f} s before the latency was added"
        )
        figures: list[Figures] = []
        runner = SyncRunner(settings_for(plugin, sim), database)
        try:
            with counting(plugin, sim, bool(args.tracemalloc)) as measure_one:
                for label, target, step, reason in read_steps(
                    plugin, runner, database, bookings, len(rooms), args.bookings
                ):
                    try:
                        found = measure_one(label, target, step)
                    except Broken as exc:
                        print(f"{label}: BROKEN: {exc}")
                        ok = False
                        break
                    found.notes.insert(0, f"target {target}: {reason}")
                    figures.append(found)
        finally:
            runner.close()
        if figures:
            print_table(figures, KNOWN_KINDS if plugin == "o365" else EWS_KNOWN, "requests")
        ok = ok and all(f.failure is None for f in figures)
        violations = sim.stats().get("violations") or []
        if violations:
            print(f"simulator recorded {len(violations)} schema violations; first: {violations[0]}")
    print()
    mechanism = mechanism_of(plugin)
    label = f"3 notification path ({mechanism}), {args.watched_rooms} watched rooms"
    if mechanism == "polled":
        print(f"{label}: polled, skipped")
    else:
        try:
            notify = notification_path(plugin, args, password)
        except Broken as exc:
            print(f"{label}: BROKEN: {exc}")
            ok = False
        else:
            each = ", ".join(f"{s:.2f}" for s in notify.seconds)
            print(f"{label}: booking to reservation, seconds: {each}")
            print(f"{label}: median {notify.median:.2f} s, max {notify.worst:.2f} s; {notify.verdict()}")
    print(f"{plugin}: whole run {time.perf_counter() - began:.1f} s\n")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--plugin", choices=PLUGINS, default="exchange2013")
    parser.add_argument("--all", action="store_true", help="run the four plugins, each in a fresh process")
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--bookings", type=int, default=20, help="bookings per room (default 20)")
    parser.add_argument("--watched-rooms", type=int, default=20, help="rooms of the notification path")
    parser.add_argument("--repeats", type=int, default=5, help="bookings timed on the notification path")
    parser.add_argument("--latency-ms", type=int, default=20, help="added latency per request (default 20)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgresql-url", default=POSTGRESQL_URL)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slows the client)"
    )
    args = parser.parse_args()
    if args.rooms < 1 or args.bookings < 1 or args.watched_rooms < 1 or args.repeats < 1:
        parser.error("--rooms, --bookings, --watched-rooms and --repeats must be at least 1")
    if not args.all:
        return 0 if run_plugin(args.plugin, args) else 1
    began = time.perf_counter()
    failed = []
    for plugin in PLUGINS:
        command = [sys.executable, __file__, *without_all(sys.argv[1:]), "--plugin", plugin]
        if subprocess.run(command, check=False).returncode:
            failed.append(plugin)
    print(f"full run: {time.perf_counter() - began:.1f} s")
    if failed:
        print(f"errors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def without_all(argv: list[str]) -> list[str]:
    """The command line without ``--all`` and ``--plugin``."""
    return [arg for arg in strip_plugin(argv) if arg != "--all"]


if __name__ == "__main__":
    sys.exit(main())
