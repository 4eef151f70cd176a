"""EWS plugins against the Exchange simulator with added latency: requests, wall time and memory.

Benchmarks: with the development environment installed (``pip install -r requirements-dev.txt``),
``python benchmarks/ews.py`` runs every EWS plugin, each in a fresh process, with 20 ms added
latency on SQLite. ``--plugin exchange2010|exchange2013|exchange2007`` runs one,
``--latency-ms MS`` changes the latency, ``--database postgresql`` uses the server at
127.0.0.1:5432, database ``test`` (``--postgresql-url`` for another), in a fresh schema that is
dropped afterwards; ``--reservations`` (1000) and ``--persons`` (200) size the workloads and
``--tracemalloc`` adds the peak of traced Python allocations. It prints a table per plugin and a
"target met" / "target missed (N > T)" line per workload. The three plugins take two to five
minutes on the 2-core development machine (wall times follow its load; request counts do not).
A missed target is a finding: the exit code is non-zero only when something broke (a failed
cycle, free/busy answering errors). A plugin that does not speak EWS yet is skipped with a line.

How: the simulator runs as ``roomsync sim serve --dialect D --seed FILE --latency-ms MS`` in a
process of its own (its CPU time is not the client's), seeded with ``--persons`` mailboxes, five
rooms and a service account that may impersonate them. The client is the product path:
``SyncRunner`` with one environment of the plugin pointing at the simulator, and a real database.
Requests are the simulator's counts per EWS operation (``GET /_sim/stats`` before and after each
workload). Wall time is the client's; memory is the client's peak resident size so far (it only
grows), so the first workload's figure is the one that tells. Workloads:

1. the first export of N reservations of one person, created in ROOMS first through the store
   (a quarter with a room and two participants, one in a hundred a weekly series of 10);
   target ⌈N/100⌉ + 5 requests;
2. a cycle over every person with nothing changed, after a first cycle that brought them in sync;
   target one request per person. Two rows are shown, not judged: that first cycle, and the idle
   cycle once more on a fresh runner, which is what every ``roomsync sync --once`` starts with;
3. free/busy of 100 mailboxes (95 persons, 5 rooms) over 7 days through the core's free/busy
   path (``roomsync.engine.freebusy``); target one request per 100 mailboxes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from bench_database import database_for

from roomsync.config import Settings, settings_from_mapping
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
from roomsync.plugins import connector_class
from roomsync.storage import Database
from roomsync.storage.protocols import Origin

PLUGINS = ("exchange2010", "exchange2013", "exchange2007")
ENVIRONMENT = "bench"
DOMAIN = "bench.example"
SERVICE = f"svc@{DOMAIN}"
PASSWORD_ENV = "ROOMSYNC_BENCH_EWS_PASSWORD"
POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ZONE = "Europe/Berlin"
ROOMS = 5
FREEBUSY_MAILBOXES = 100
FREEBUSY_DAYS = 7
SERIES_LENGTH = 10
SIM_START_SECONDS = 60
# The operations shown first, in this order; any other operation the simulator counted follows.
KNOWN_OPERATIONS = (
    "CreateItem",
    "UpdateItem",
    "DeleteItem",
    "GetItem",
    "FindItem",
    "SyncFolderItems",
    "GetFolder",
    "GetUserAvailability",
)


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

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# --- the simulator in its own process -----------------------------------------------------------


def make_seed(persons: list[str], rooms: list[str], password: str) -> dict[str, Any]:
    """The simulated organisation: the service account may impersonate every mailbox."""
    return {
        "auth": ["basic"],
        "users": [
            {"smtp": SERVICE, "name": "ROOMS service", "password": password},
            *({"smtp": p, "name": f"Person {n}", "time_zone": ZONE} for n, p in enumerate(persons)),
        ],
        "rooms": [{"smtp": r, "name": f"Room {n}", "time_zone": ZONE} for n, r in enumerate(rooms)],
        # "impersonation" stands for both Active Directory rights on the 2007 dialect.
        "grants": [{"kind": "impersonation", "grantee": SERVICE}],
    }


class WorkloadFailed(Exception):
    """The workload ran but the product could not do the work (e.g. free/busy answered errors)."""


class SimulatorProcess:
    """``roomsync sim serve`` as a child process; its counters are read over the control endpoint."""

    def __init__(self, dialect: str, seed_file: Path, latency_ms: int, log_file: Path) -> None:
        self.command = [
            str(Path(sys.executable).parent / "roomsync"),
            "sim",
            "serve",
            "--dialect",
            dialect,
            "--seed",
            str(seed_file),
            "--latency-ms",
            str(latency_ms),
        ]
        self.log_file = log_file
        self._log: IO[str] | None = None
        self._process: subprocess.Popen[str] | None = None
        self.ews_url = ""
        self.control_url = ""

    def __enter__(self) -> SimulatorProcess:
        self._log = self.log_file.open("w", encoding="utf-8")
        self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self._process.stdout is not None
        deadline = time.monotonic() + SIM_START_SECONDS
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line:
                break
            key, _, value = line.strip().partition(": ")
            if key == "ews_url":
                self.ews_url = value
            elif key == "control_url":
                self.control_url = value
            elif key == "ready":
                break
        if not (self.ews_url and self.control_url):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the simulator did not start: {self.log_tail()}")
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self) -> str:
        text = self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""
        return text.strip()[-2000:] or "(no output)"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control_url}stats", timeout=30) as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats

    def counts(self) -> Counter[str]:
        return Counter({str(k): int(v) for k, v in self.stats()["counts"].items()})


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


# --- measuring ----------------------------------------------------------------------------------


def measure(
    sim: SimulatorProcess, label: str, target: int | None, work: Callable[[], list[str]], traced: bool
) -> Figures:
    """Runs ``work`` (which answers notes) and takes the simulator's counts before and after."""
    before = sim.counts()
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
    after = sim.counts()
    counts = Counter({op: after[op] - before[op] for op in after if after[op] != before[op]})
    return Figures(label, counts, seconds, peak_rss_mib, traced_mib, target, notes, failure)


def checked(reports: list[CycleReport]) -> list[CycleReport]:
    """The reports of a cycle; a failed person is an error of the benchmark, not a figure."""
    failed = [r for r in reports if not r.ok]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(reports)} cycles failed; first: {failed[0].mailbox}: {failed[0].error}"
        )
    return reports


def print_table(figures: list[Figures]) -> None:
    seen = {op for f in figures for op in f.counts}
    operations = [op for op in KNOWN_OPERATIONS if op in seen] + sorted(seen - set(KNOWN_OPERATIONS))
    label_width = max(len(f.label) for f in figures)
    headers = [*operations, "total", "target", "wall s", "peak RSS MiB"]
    if any(f.traced_mib is not None for f in figures):
        headers.append("traced MiB")
    widths = [max(len(h), 6) for h in headers]

    def row(label: str, cells: list[str]) -> str:
        return "  ".join(
            [f"{label:<{label_width}}", *(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))]
        )

    print(row("workload", headers))
    for f in figures:
        cells = [str(f.counts.get(op, 0)) for op in operations]
        cells += [str(f.total), "-" if f.target is None else str(f.target), f"{f.seconds:.2f}"]
        cells.append(f"{f.peak_rss_mib:.0f}")
        if f.traced_mib is not None:
            cells.append(f"{f.traced_mib:.0f}")
        print(row(f.label, cells))
    print()
    for f in figures:
        for note in f.notes:
            print(f"{f.label}: {note}")
        if f.failure is not None:
            print(f"{f.label}: FAILED, not measured: {f.failure}")
        elif f.target is not None:
            verdict = "target met" if f.total <= f.target else f"target missed ({f.total} > {f.target})"
            print(f"{f.label}: {verdict}")


def run_plugin(plugin: str, args: argparse.Namespace) -> bool:
    """Runs the workloads on one plugin and prints its table; False when a workload failed."""
    cls = connector_class(plugin, ENVIRONMENT)
    speaks = getattr(cls, "speaks_ews", None)
    if speaks is None or not speaks():
        print(f"== {plugin}: skipped, this release of roomsync-{plugin} does not speak EWS yet\n")
        return True
    began = time.perf_counter()
    persons = [f"person{n:03d}@{DOMAIN}" for n in range(args.persons)]
    rooms = [f"room.{n}@{DOMAIN}" for n in range(ROOMS)]
    password = uuid.uuid4().hex
    os.environ[PASSWORD_ENV] = password
    if args.tracemalloc:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-ews-") as tmp:
        directory = Path(tmp)
        seed_file = directory / "seed.json"
        seed_file.write_text(json.dumps(make_seed(persons, rooms, password)), encoding="utf-8")
        with (
            SimulatorProcess(plugin, seed_file, args.latency_ms, directory / "simulator.log") as sim,
            database_for(args.database, args.postgresql_url, directory) as database,
        ):
            stats = sim.stats()
            latency = [r["ms"] for r in stats["faults"] if r["kind"] == "latency"]
            print(
                f"== {plugin}: EWS dialect {getattr(cls, 'request_server_version', '?')}, simulator "
                f"{stats['dialect']} in its own process (added latency {latency[0] if latency else 0} ms), "
                f"database {args.database}, {args.reservations} reservations, {args.persons} persons"
            )
            start0 = populate(database, persons, rooms, args.reservations)
            options = {
                "url": sim.ews_url,
                "allow_http": True,
                "username": SERVICE,
                "password": {"env": PASSWORD_ENV},
                "auth": "basic",
                "access": "impersonation",
                "timezone": ZONE,
            }
            settings = settings_from_mapping(
                {"environments": {ENVIRONMENT: {"plugin": plugin, "options": options}}}
            )
            figures = workloads(settings, database, sim, persons, rooms, start0, args)
            print_table(figures)
            violations = sim.stats().get("violations") or []
            if violations:
                print(f"simulator recorded {len(violations)} schema violations; first: {violations[0]}")
    print(f"{plugin}: whole run {time.perf_counter() - began:.1f} s\n")
    return all(f.failure is None for f in figures)


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


def workloads(
    settings: Settings,
    database: Database,
    sim: SimulatorProcess,
    persons: list[str],
    rooms: list[str],
    start0: datetime,
    args: argparse.Namespace,
) -> list[Figures]:
    runner = SyncRunner(settings, database)
    try:
        plan = steps(runner, settings, database, persons, rooms, start0, args.reservations, 100, 100)
        return [measure(sim, label, target, step, bool(args.tracemalloc)) for label, target, step in plan]
    finally:
        runner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--plugin", choices=[*PLUGINS, "all"], default="all")
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
    args = parser.parse_args()
    if args.persons < FREEBUSY_MAILBOXES - ROOMS or args.reservations < 1:
        parser.error(f"--persons must be at least {FREEBUSY_MAILBOXES - ROOMS}, --reservations at least 1")
    if args.plugin != "all":
        return 0 if run_plugin(args.plugin, args) else 1
    # One fresh process per plugin: peak memory is then each plugin's own.
    began = time.perf_counter()
    failed = []
    for plugin in PLUGINS:
        command = [sys.executable, __file__, *strip_plugin(sys.argv[1:]), "--plugin", plugin]
        if subprocess.run(command, check=False).returncode:
            failed.append(plugin)
    print(f"full run: {time.perf_counter() - began:.1f} s")
    if failed:
        print(f"errors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
