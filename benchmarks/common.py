"""What the EWS and the Graph benchmark share: the ROOMS side, the workloads, the figures.

Both run the product path (``SyncRunner`` with one environment of the plugin, a real database)
against a simulated server in a child process (``roomsync_sim.embedded.serve_process``) with
added latency, and print one table with a verdict per judged workload.
"""

from __future__ import annotations

import argparse
import math
import resource
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench_database import database_for

from roomsync.config import Settings
from roomsync.domain import (
    EventFields,
    Frequency,
    Participant,
    Person,
    Recurrence,
    Reservation,
    Room,
    Weekday,
)
from roomsync.engine.freebusy import free_busy
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync_sim.embedded import ServerProcess, serve_process

ENVIRONMENT = "bench"
DOMAIN = "bench.example"
POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ZONE = "Europe/Berlin"
ROOMS = 5
FREEBUSY_MAILBOXES = 100
FREEBUSY_DAYS = 7
SERIES_LENGTH = 10


@dataclass
class Figures:
    label: str
    counts: Counter[str]
    seconds: float
    peak_rss_mib: float
    traced_mib: float | None
    target: int | None  # None: shown for information, not judged
    notes: list[str] = field(default_factory=list)
    failure: str | None = None  # the workload did not do its work: its counts mean nothing
    operations: int | None = None  # the server's own operations, where they differ from requests

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class WorkloadFailed(Exception):
    """The workload ran but the product could not do the work (e.g. free/busy answered errors)."""


# --- the command line and the run ---------------------------------------------------------------


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The options both benchmarks take; a script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--latency-ms", type=int, default=20, help="added latency per request (default 20)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgresql-url",
        default=POSTGRESQL_URL,
        help="server and database for --database postgresql; a fresh schema is made and dropped",
    )
    parser.add_argument("--reservations", type=int, default=1000)
    parser.add_argument("--persons", type=int, default=200)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slows the client)"
    )
    return parser


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    if args.persons < FREEBUSY_MAILBOXES - ROOMS or args.reservations < 1:
        parser.error(f"--persons must be at least {FREEBUSY_MAILBOXES - ROOMS}, --reservations at least 1")
    return args


def mailboxes(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The persons and the rooms of the simulated organisation."""
    persons = [f"person{n:03d}@{DOMAIN}" for n in range(args.persons)]
    return persons, [f"room.{n}@{DOMAIN}" for n in range(ROOMS)]


@contextmanager
def simulated(
    args: argparse.Namespace, dialect: str, seed: dict[str, Any], *, tls: bool = False
) -> Iterator[tuple[ServerProcess, Database]]:
    """The simulator in its own process and the database, both fresh, for one run."""
    if args.tracemalloc:
        tracemalloc.start()
    with (
        tempfile.TemporaryDirectory(prefix=f"roomsync-bench-{dialect}-") as tmp,
        serve_process(dialect, seed, directory=Path(tmp), latency_ms=args.latency_ms, tls=tls) as server,
        database_for(args.database, args.postgresql_url, Path(tmp)) as database,
    ):
        yield server, database


def added_latency(stats: dict[str, Any]) -> int:
    """The latency the simulator adds to each request, from its ``/_sim/stats``."""
    latency = [r["ms"] for r in stats["faults"] if r["kind"] == "latency"]
    return int(latency[0]) if latency else 0


# --- the ROOMS side ---------------------------------------------------------------------------------


def first_start() -> datetime:
    """06:00 UTC the day after tomorrow: every entry lies ahead, inside the rooms' booking window."""
    return (datetime.now(UTC) + timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)


def weekday_of(start: datetime) -> Weekday:
    return list(Weekday)[start.astimezone(ZoneInfo(ZONE)).weekday()]


def populate(database: Database, persons: list[str], rooms: list[str], reservations: int) -> datetime:
    """Persons, rooms and the organizer's reservations, all through the ROOMS store.

    Singles start on the hour and last 30 minutes; every fourth has a room and two participants;
    one in a hundred is a weekly series of 10 at :40 for 15 minutes, so no room is booked twice.
    """
    start0 = first_start()
    organizer = persons[0]
    others = persons[1:] or persons
    with database.unit_of_work() as uow:
        for email in persons:
            uow.rooms.upsert_person(Person(email=email, environment=ENVIRONMENT))
        for n, mailbox in enumerate(rooms):
            uow.rooms.add_room(Room(name=f"Room {n}", mailbox=mailbox))
        for i in range(reservations):
            start = start0 + timedelta(hours=i)
            length = timedelta(minutes=30)
            recurrence = None
            if i % 100 == 50:
                start += timedelta(minutes=40)
                length = timedelta(minutes=15)
                recurrence = Recurrence(
                    frequency=Frequency.WEEKLY, weekdays=(weekday_of(start),), count=SERIES_LENGTH
                )
            meeting = i % 4 == 0
            uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=f"Booking {i}",
                        start=start,
                        end=start + length,
                        timezone=ZONE,
                        rooms=(rooms[i % len(rooms)],) if meeting else (),
                        participants=tuple(Participant(email=others[(i + k) % len(others)]) for k in (0, 1))
                        if meeting
                        else (),
                        recurrence=recurrence,
                    ),
                    organizer=organizer,
                ),
                origin=Origin.ROOMS,
            )
        uow.commit()
    return start0


# --- the workloads ------------------------------------------------------------------------------


def checked(reports: list[CycleReport]) -> list[CycleReport]:
    """The reports of a cycle; a failed person is an error of the benchmark, not a figure."""
    failed = [r for r in reports if not r.ok]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(reports)} cycles failed; first: {failed[0].mailbox}: {failed[0].error}"
        )
    return reports


Step = Callable[[], list[str]]
"""One workload: does its work and answers notes (raises WorkloadFailed when it could not)."""


def steps(
    runner: SyncRunner,
    settings: Settings,
    database: Database,
    persons: list[str],
    rooms: list[str],
    start0: datetime,
    reservations: int,
    batch: int,
    freebusy_batch: int,
) -> list[tuple[str, int | None, Step]]:
    """The workloads, each with its label and target (None: shown, not judged), in order.

    Every plugin's benchmark runs these: the three workloads on one runner (as the daemon keeps
    it), and the idle cycle once more on a fresh runner, as each ``roomsync sync --once`` starts
    with one. ``batch`` and ``freebusy_batch`` are the protocol's items per write request and
    mailboxes per free/busy request, which set the targets.
    """
    n, p = reservations, len(persons)

    def export() -> list[str]:
        reports = checked(runner.sync_once([persons[0]]))
        created = sum(r.created for r in reports)
        return [] if created == n else [f"created {created} entries for {n} reservations"]

    def first_cycle() -> list[str]:
        checked(runner.sync_once())
        return []

    def idle_on(cycle_runner: SyncRunner) -> list[str]:
        reports = checked(cycle_runner.sync_once())
        busy = [r for r in reports if r.changed_anything]
        return [f"{len(busy)} persons changed something: {busy[0].summary()}"] if busy else []

    def idle_fresh() -> list[str]:
        fresh = SyncRunner(settings, database)
        try:
            return idle_on(fresh)
        finally:
            fresh.close()

    mailboxes = [*persons[: FREEBUSY_MAILBOXES - len(rooms)], *rooms]

    def freebusy() -> list[str]:
        answers = free_busy(runner, mailboxes, start0, start0 + timedelta(days=FREEBUSY_DAYS))
        errors = [a for a in answers if a.errors]
        if errors:
            raise WorkloadFailed(
                f"{len(errors)} of {len(answers)} mailboxes answered errors; first: {errors[0].errors[0]}"
            )
        busy = sum(len(a.busy) for a in answers)
        return [f"{busy} busy intervals in {len(answers)} answers"]

    return [
        (f"1 first export of {n} reservations", math.ceil(n / batch) + 5, export),
        (f"  (first cycle over {p} persons)", None, first_cycle),
        (f"2 idle cycle over {p} persons", p, lambda: idle_on(runner)),
        ("  (idle cycle, fresh runner: sync --once)", None, idle_fresh),
        (
            f"3 free/busy of {len(mailboxes)} mailboxes, {FREEBUSY_DAYS} days",
            math.ceil(len(mailboxes) / freebusy_batch),
            freebusy,
        ),
    ]


Measure = Callable[[str, int | None, Step], Figures]
"""Runs one workload (label, target, step) and answers its figures."""


def workloads(
    settings: Settings,
    database: Database,
    persons: list[str],
    rooms: list[str],
    start0: datetime,
    args: argparse.Namespace,
    batch: int,
    measure_one: Measure,
) -> list[Figures]:
    """Every workload on one runner, measured by ``measure_one``; ``batch`` as for :func:`steps`."""
    runner = SyncRunner(settings, database)
    try:
        plan = steps(runner, settings, database, persons, rooms, start0, args.reservations, batch, batch)
        return [measure_one(label, target, step) for label, target, step in plan]
    finally:
        runner.close()


# --- measuring ----------------------------------------------------------------------------------


def difference(before: Counter[str], after: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before[k] for k in after if after[k] != before[k]})


def measure(
    label: str, target: int | None, work: Step, traced: bool, count: Callable[[], Counter[str]]
) -> Figures:
    """Runs ``work`` (which answers notes); its requests are what ``count`` gained meanwhile."""
    before = count()
    if traced:
        tracemalloc.reset_peak()
    began = time.perf_counter()
    failure = None
    try:
        notes = work()
    except WorkloadFailed as exc:
        notes, failure = [], str(exc)
    seconds = time.perf_counter() - began
    traced_mib = tracemalloc.get_traced_memory()[1] / 2**20 if traced else None
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = difference(before, count())
    return Figures(label, counts, seconds, peak_rss_mib, traced_mib, target, notes, failure)


def print_table(figures: list[Figures], known: tuple[str, ...], total: str) -> None:
    """One row per workload: requests by kind (``known`` first, in order), ``total``, target,
    the server's operations where counted, wall time and memory; then notes and verdicts."""
    seen = {kind for f in figures for kind in f.counts}
    kinds = [k for k in known if k in seen] + sorted(seen - set(known))
    operations = any(f.operations is not None for f in figures)
    headers = [*kinds, total, "target", *(["operations"] * operations), "wall s", "peak RSS MiB"]
    headers += ["traced MiB"] * any(f.traced_mib is not None for f in figures)
    widths = [max(len(h), 6) for h in headers]
    label_width = max(len(f.label) for f in figures)

    def row(label: str, cells: list[str]) -> str:
        return "  ".join(
            [f"{label:<{label_width}}", *(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))]
        )

    print(row("workload", headers))
    for f in figures:
        print(row(f.label, cells(f, kinds, operations)))
    print()
    for f in figures:
        for line in verdict(f):
            print(f"{f.label}: {line}")


def cells(f: Figures, kinds: list[str], operations: bool) -> list[str]:
    """A workload's row of the table, after its label."""
    row = [str(f.counts.get(kind, 0)) for kind in kinds]
    row += [str(f.total), "-" if f.target is None else str(f.target)]
    if operations:
        row.append(str(f.operations))
    row += [f"{f.seconds:.2f}", f"{f.peak_rss_mib:.0f}"]
    if f.traced_mib is not None:
        row.append(f"{f.traced_mib:.0f}")
    return row


def verdict(f: Figures) -> list[str]:
    """A workload's notes, then whether it failed or met its target (when judged)."""
    if f.failure is not None:
        return [*f.notes, f"FAILED, not measured: {f.failure}"]
    if f.target is None:
        return f.notes
    return [*f.notes, "target met" if f.total <= f.target else f"target missed ({f.total} > {f.target})"]


def ews_seed(service: str, persons: list[str], rooms: list[str], password: str) -> dict[str, Any]:
    """The simulated organisation: the service account may impersonate every mailbox."""
    return {
        "auth": ["basic"],
        "users": [
            {"smtp": service, "name": "ROOMS service", "password": password},
            *({"smtp": p, "name": f"Person {n}", "time_zone": ZONE} for n, p in enumerate(persons)),
        ],
        "rooms": [{"smtp": r, "name": f"Room {n}", "time_zone": ZONE} for n, r in enumerate(rooms)],
        # "impersonation" stands for both Active Directory rights on the 2007 dialect.
        "grants": [{"kind": "impersonation", "grantee": service}],
    }


def strip_plugin(argv: list[str]) -> list[str]:
    """The command line without its ``--plugin`` option."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--plugin":
            skip = True
        elif not arg.startswith("--plugin="):
            kept.append(arg)
    return kept
