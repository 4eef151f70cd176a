"""Many persons at once: the runner's concurrent cycles against the simulator with added latency.

Benchmarks: with the development environment installed (``pip install -r requirements-dev.txt``),
``python benchmarks/scale.py`` runs exchange2013 and o365 with 20 ms added latency on SQLite;
``--plugin exchange2013|o365`` runs one. ``--persons`` (10,000) sizes workloads a and b,
``--export-persons`` (100) and ``--export-reservations`` (1,000 each) workload c;
``--watch-seconds`` (10) is how long b listens; ``--max-parallel-cycles`` (16) is
``[sync] max_parallel_cycles``; ``--latency-ms``, ``--database`` and ``--postgresql-url`` as in
``benchmarks/ews.py``. The defaults take long on a 2-core machine (the first cycle over 10,000
persons alone is minutes of client CPU): pass smaller sizes for a quick run.

How: the simulator runs in a process of its own (``roomsync_sim.embedded.serve_process``, its CPU
is not the client's), seeded with the persons' mailboxes (EWS: and a service account that may
impersonate them). The client is the product path: ``SyncRunner`` with one environment of the
plugin, its ``max_concurrency`` the connector's default (exchange2013 10, o365 8), and a real
database. Requests are, for EWS, the simulator's counts per operation, for Graph the client's
HTTP round trips (as ``benchmarks/graph.py`` counts them). CPU is the client process's
(``time.process_time``: every thread); the load average is printed, as other work on the machine
stretches wall times (requests and CPU do not follow it). Workloads:

a. an idle cycle over P polled persons, after a first cycle that brought them in sync (shown);
   targets: requests = P, wall at most 60 s; CPU seconds and CPU ms per person are shown;
b. the same persons under ``SyncRunner.run`` with notifications (EWS streaming, Graph webhooks
   to the connector's receiver on loopback), the interval 2 s and the watched interval an hour:
   once everyone had the daemon's first cycle, the requests during ``--watch-seconds`` (several
   intervals, no safety-net cycle due); target 0 besides the notifications' own traffic (listed);
c. the first export of R reservations for each of E persons (fresh simulator and database):
   requests, wall against the bound requests x latency / concurrency (target at most 1.2 times,
   concurrency = min(E, the connector's max_concurrency)), peak RSS;
d. free/busy of five requests' worth of mailboxes (EWS 500, Graph 100) over 7 days through the
   core's free/busy path, the chunks asked at once, then one at a time (``max_concurrency`` 1).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import DOMAIN, ENVIRONMENT, ZONE, added_latency, difference, ews_seed, first_start, simulated
from graph import SECRET_ENV, RoundTrips, make_seed, options

from roomsync.config import Settings, settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.freebusy import free_busy
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync_ews_common.testing import simulator_options
from roomsync_o365.testing import watching_options

PLUGINS = ("exchange2013", "o365")
SERVICE = f"svc@{DOMAIN}"
PASSWORD_ENV = "ROOMSYNC_BENCH_EWS_PASSWORD"
NOTIFICATION_KINDS = {"Subscribe", "GetStreamingEvents", "Unsubscribe", "GetEvents"}
"""EWS operations of the notifications themselves, not of cycles."""


@dataclass
class Row:
    label: str
    requests: Counter[str]
    wall: float
    cpu: float
    target: str = ""
    verdict: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plugin", choices=PLUGINS, action="append")
    p.add_argument("--persons", type=int, default=10_000)
    p.add_argument("--export-persons", type=int, default=100)
    p.add_argument("--export-reservations", type=int, default=1000)
    p.add_argument("--watch-seconds", type=float, default=10.0)
    p.add_argument("--max-parallel-cycles", type=int, default=16)
    p.add_argument("--latency-ms", type=int, default=20)
    p.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--postgresql-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    p.add_argument("--skip", choices=["a", "b", "c", "d"], action="append", default=[])
    p.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)  # for common.simulated
    return p


# --- the simulated organisation ---------------------------------------------------------------------


@contextmanager
def organisation(
    plugin: str, args: argparse.Namespace, persons: list[str], **watch: bool
) -> Iterator[tuple[Any, Database, Settings, Callable[[], Counter[str]]]]:
    """The simulator, the database with the persons, the settings and a request counter."""
    if plugin == "o365":
        # the connector's webhook receiver listens on plain-http loopback
        webhooks = {"allow_http_notification_url": True} if watch.get("watch") else {}
        with (
            simulated(args, "o365", {**make_seed(persons, []), **webhooks}, tls=True) as (sim, database),
            RoundTrips(sim.login_url, sim.graph_url).installed() as trips,
        ):
            os.environ[SECRET_ENV] = sim.client_secret
            extra = watching_options() if watch.get("watch") else {}
            yield sim, database, settings(plugin, {**options(sim), **extra}, args), trips.snapshot
        return
    password = uuid.uuid4().hex
    os.environ[PASSWORD_ENV] = password
    with simulated(args, plugin, ews_seed(SERVICE, persons, [], password)) as (sim, database):
        ews = simulator_options(sim.ews_url, username=SERVICE, password={"env": PASSWORD_ENV}, timezone=ZONE)
        yield sim, database, settings(plugin, ews, args), sim.counts


def settings(plugin: str, environment_options: dict[str, Any], args: argparse.Namespace) -> Settings:
    return settings_from_mapping(
        {
            "environments": {ENVIRONMENT: {"plugin": plugin, "options": environment_options}},
            "sync": {"max_parallel_cycles": args.max_parallel_cycles, "interval_seconds": 2},
        }
    )


def add_persons(database: Database, persons: list[str]) -> None:
    with database.unit_of_work() as uow:
        for email in persons:
            uow.rooms.upsert_person(Person(email=email, environment=ENVIRONMENT))
        uow.commit()


def add_reservations(database: Database, persons: list[str], each: int) -> None:
    start0 = first_start()
    for email in persons:
        with database.unit_of_work() as uow:
            for i in range(each):
                start = start0 + timedelta(hours=i)
                fields = EventFields(
                    title=f"Booking {i}", start=start, end=start + timedelta(minutes=30), timezone=ZONE
                )
                uow.rooms.create_reservation(Reservation(fields=fields, organizer=email), origin=Origin.ROOMS)
            uow.commit()


def measured(label: str, count: Callable[[], Counter[str]], work: Callable[[], list[str]]) -> Row:
    before, cpu, began = count(), time.process_time(), time.perf_counter()
    notes = work()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    return Row(label, difference(before, count()), wall, cpu, notes=notes)


def checked(reports: list[CycleReport]) -> list[str]:
    failed = [r for r in reports if not r.ok]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(reports)} cycles failed; first: {failed[0].mailbox}: {failed[0].error}"
        )
    return []


# --- the workloads ----------------------------------------------------------------------------------


def idle(plugin: str, args: argparse.Namespace) -> list[Row]:
    """a: the first cycle (shown) and the idle cycle over P polled persons."""
    persons = [f"person{n:05d}@{DOMAIN}" for n in range(args.persons)]
    with organisation(plugin, args, persons) as (_sim, database, config, count):
        add_persons(database, persons)
        runner = SyncRunner(config, database)
        try:
            first = measured(
                f"  (first cycle over {len(persons)} persons)", count, lambda: checked(runner.sync_once())
            )
            row = measured(
                f"a idle cycle over {len(persons)} persons", count, lambda: checked(runner.sync_once())
            )
        finally:
            runner.close()
    row.target = f"requests {len(persons)}, wall <= 60 s"
    met = row.total <= len(persons) and row.wall <= 60
    row.verdict = "target met" if met else f"target missed ({row.total} requests, {row.wall:.1f} s)"
    row.notes.append(f"CPU {row.cpu * 1000 / len(persons):.2f} ms per person")
    first.notes.append(f"CPU {first.cpu * 1000 / len(persons):.2f} ms per person")
    return [first, row]


def watched(plugin: str, args: argparse.Namespace) -> list[Row]:
    """b: requests under run() with notifications while no safety-net cycle is due."""
    persons = [f"person{n:05d}@{DOMAIN}" for n in range(args.persons)]
    with organisation(plugin, args, persons, watch=True) as (_sim, database, config, count):
        add_persons(database, persons)
        config.sync.watched_interval_seconds = 3600
        runner = SyncRunner(config, database)
        stop = threading.Event()
        cycled: set[str] = set()
        lock = threading.Lock()
        watching: list[tuple[str, bool, int]] = []

        def progress(person: Person, report: CycleReport) -> None:
            with lock:
                cycled.add(person.email)

        thread = threading.Thread(
            target=runner.run, args=(stop, progress, lambda *a: watching.append(a)), daemon=True
        )
        began = time.perf_counter()
        thread.start()
        while len(cycled) < len(persons) and time.perf_counter() - began < 3600:
            time.sleep(0.2)
        # Once a watch stands the connector wakes all its mailboxes (it cannot know what it missed
        # before): that round of cycles is served, and the measuring starts when the wire is quiet.
        settled = time.perf_counter()
        quiet = count()
        while time.perf_counter() - settled < 600:
            time.sleep(2)
            now = count()
            if difference(quiet, now).total() == 0 and len(cycled) >= len(persons):
                break
            quiet = now
        settle_seconds = time.perf_counter() - settled
        row = measured(
            f"b under run(), {args.watch_seconds:g} s without a due cycle",
            count,
            lambda: (time.sleep(args.watch_seconds), [])[1],
        )
        stop.set()
        thread.join(timeout=120)
        runner.close()
    cycles = Counter(
        {k: n for k, n in row.requests.items() if k not in NOTIFICATION_KINDS and "subscription" not in k}
    )
    row.target = "0 cycle requests"
    row.verdict = "target met" if not cycles else f"target missed ({sum(cycles.values())} cycle requests)"
    row.notes.append(
        f"watching: {watching}; measured after the first cycles and the watches' first wake of "
        f"everyone were served ({settle_seconds:.0f} s to quiet)"
    )
    return [row]


def export(plugin: str, args: argparse.Namespace) -> list[Row]:
    """c: the first export of R reservations for each of E persons."""
    persons = [f"person{n:05d}@{DOMAIN}" for n in range(args.export_persons)]
    with organisation(plugin, args, persons) as (sim, database, config, count):
        add_persons(database, persons)
        add_reservations(database, persons, args.export_reservations)
        latency = added_latency(sim.stats()) / 1000
        runner = SyncRunner(config, database)
        try:
            concurrency = min(len(persons), runner.concurrency_of(ENVIRONMENT))
            row = measured(
                f"c first export of {args.export_reservations} x {len(persons)} persons",
                count,
                lambda: checked(runner.sync_once()),
            )
        finally:
            runner.close()
    bound = row.total * latency / concurrency
    row.target = f"wall <= 1.2 x {bound:.1f} s"
    row.verdict = (
        "target met" if row.wall <= 1.2 * bound else f"target missed ({row.wall / bound:.1f} x the bound)"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row.notes.append(
        f"bound = {row.total} requests x {latency * 1000:.0f} ms / concurrency {concurrency}; "
        f"peak RSS {rss:.0f} MiB; "
        f"CPU {row.cpu * 1000 / (len(persons) * args.export_reservations):.2f} ms per reservation"
    )
    if plugin == "o365":
        row.notes.append("the simulator adds the latency to each request inside a $batch too")
    return [row]


def freebusy(plugin: str, args: argparse.Namespace) -> list[Row]:
    """d: free/busy of five requests' worth of mailboxes, their chunks at once and one by one."""
    per_request = 20 if plugin == "o365" else 100
    persons = [f"person{n:05d}@{DOMAIN}" for n in range(5 * per_request)]
    rows = []
    with organisation(plugin, args, persons) as (sim, database, config, count):
        add_persons(database, persons)
        latency = added_latency(sim.stats()) / 1000
        start = first_start()
        for concurrency in (None, 1):
            if concurrency is not None:
                config.environments[ENVIRONMENT].options["max_concurrency"] = concurrency
            runner = SyncRunner(config, database)
            try:
                free_busy(runner, persons[:1], start, start + timedelta(days=7))  # sign-in, connections

                def ask(runner: SyncRunner = runner) -> list[str]:
                    answers = free_busy(runner, persons, start, start + timedelta(days=7))
                    failed = [a for a in answers if a.errors]
                    return [f"{len(failed)} mailboxes answered errors"] if failed else []

                how = "one chunk at a time" if concurrency == 1 else "chunks at once"
                row = measured(f"d free/busy of {len(persons)} mailboxes, {how}", count, ask)
            finally:
                runner.close()
            row.target = f"wall <= 1.2 x {latency * 1000:.0f} ms + parsing" if concurrency is None else ""
            rows.append(row)
    return rows


def print_rows(plugin: str, rows: list[Row]) -> None:
    print(f"{'workload':52} {'requests':>9} {'wall s':>8} {'CPU s':>8}  target / verdict")
    for row in rows:
        print(f"{row.label:52} {row.total:9d} {row.wall:8.2f} {row.cpu:8.2f}  {row.target} {row.verdict}")
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(row.requests.items(), key=lambda i: -i[1]))
        for note in [f"requests: {kinds or 'none'}", *row.notes]:
            print(f"    {note}")


def main() -> int:
    args = parser().parse_args()
    for plugin in args.plugin or PLUGINS:
        load = os.getloadavg()
        print(
            f"== {plugin}: {args.latency_ms} ms added latency, database {args.database}, "
            f"max_parallel_cycles {args.max_parallel_cycles}; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        rows: list[Row] = []
        for name, workload in (("a", idle), ("b", watched), ("c", export), ("d", freebusy)):
            if name not in args.skip:
                rows += workload(plugin, args)
        print_rows(plugin, rows)
        print(f"   load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
