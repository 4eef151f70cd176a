"""CPU of an idle cycle: client CPU milliseconds per person and requests, per plugin.

    python benchmarks/idle.py [--plugin reference|exchange2013|o365|all] [--persons 1000]
        [--entries 2] [--latency-ms 20] [--database sqlite|postgresql] [--profile FILE]

Every person gets ``--entries`` reservations in ROOMS; a first cycle over every person exports
them, then one idle cycle over every person (nothing changed on either side) is measured: CPU as
``time.process_time()`` of this process only (the simulator runs in a process of its own, its CPU
is not counted), wall time, requests (the simulator's counts per operation; for o365 the HTTP
round trips counted in the client's transport), and the load average, since wall time follows
the machine's load and CPU much less. ``--profile FILE`` runs the measured idle cycle under
cProfile, writes the statistics to FILE and prints the top items by own time (the CPU figure is
then the profiler's, higher than without it; the persons are then cycled one after another in
the main thread, the one cProfile sees). ``--plugin all`` runs each plugin in a fresh process.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

from bench_database import database_for
from common import POSTGRESQL_URL, ZONE, ews_seed, first_start, strip_plugin

from roomsync.config import Settings, settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin

PLUGINS = ("reference", "exchange2013", "o365")
ENVIRONMENT = "bench"
DOMAIN = "bench.example"
SERVICE = f"svc@{DOMAIN}"
PASSWORD_ENV = "ROOMSYNC_BENCH_EWS_PASSWORD"
TARGET_MS = 2.0


def populate(database: Database, persons: list[str], entries: int) -> None:
    start0 = first_start()
    with database.unit_of_work() as uow:
        for n, email in enumerate(persons):
            uow.rooms.upsert_person(Person(email=email, environment=ENVIRONMENT))
            for i in range(entries):
                start = start0 + timedelta(hours=i, minutes=n % 30)
                fields = EventFields(
                    title=f"Booking {n}.{i}", start=start, end=start + timedelta(minutes=20), timezone=ZONE
                )
                uow.rooms.create_reservation(Reservation(fields=fields, organizer=email), origin=Origin.ROOMS)
        uow.commit()


Counts = Callable[[], Counter[str]]


@contextmanager
def environment(args: argparse.Namespace, persons: list[str], tmp: Path) -> Iterator[tuple[Settings, Counts]]:
    """The environment's settings and a counter of its requests, its server running meanwhile."""
    if args.plugin == "reference":
        from roomsync.connectors.reference_directory import MailboxDirectory

        name = f"bench-{uuid.uuid4().hex}"
        directory = MailboxDirectory.named(name)
        settings = settings_from_mapping(
            {"environments": {ENVIRONMENT: {"plugin": "reference", "options": {"directory": name}}}}
        )
        yield settings, lambda: Counter(directory.calls)
        return
    from roomsync_sim.embedded import serve_process

    if args.plugin == "o365":
        from graph import RoundTrips, make_seed, options

        with (
            serve_process(
                "o365", make_seed(persons, []), directory=tmp, latency_ms=args.latency_ms, tls=True
            ) as sim,
            RoundTrips(sim.login_url, sim.graph_url).installed() as trips,
        ):
            os.environ["ROOMSYNC_BENCH_O365_SECRET"] = sim.client_secret
            yield (
                settings_from_mapping(
                    {"environments": {ENVIRONMENT: {"plugin": "o365", "options": options(sim)}}}
                ),
                trips.snapshot,
            )
        return
    from roomsync_ews_common.testing import simulator_options

    password = uuid.uuid4().hex
    os.environ[PASSWORD_ENV] = password
    seed = ews_seed(SERVICE, persons, [], password)
    with serve_process(args.plugin, seed, directory=tmp, latency_ms=args.latency_ms) as sim:
        ews = simulator_options(sim.ews_url, username=SERVICE, password={"env": PASSWORD_ENV}, timezone=ZONE)
        yield (
            settings_from_mapping({"environments": {ENVIRONMENT: {"plugin": args.plugin, "options": ews}}}),
            sim.counts,
        )


def difference(before: Counter[str], after: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before[k] for k in after if after[k] != before[k]})


def run_plugin(args: argparse.Namespace) -> None:
    persons = [f"person{n:05d}@{DOMAIN}" for n in range(args.persons)]
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roomsync-idle-")))
        settings, counts = stack.enter_context(environment(args, persons, tmp))
        if args.parallel is not None:
            settings.sync.max_parallel_cycles = args.parallel
        database = stack.enter_context(database_for(args.database, args.postgresql_url, tmp))
        populate(database, persons, args.entries)
        runner = SyncRunner(settings, database)
        stack.callback(runner.close)
        first = runner.sync_once()
        failed = [r for r in first if not r.ok]
        if failed:
            raise SystemExit(
                f"{len(failed)} first cycles failed; first: {failed[0].mailbox}: {failed[0].error}"
            )
        before = counts()
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not wall
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        if profiler is None:
            reports = runner.sync_once()
        else:  # one person after another in this thread, the one cProfile sees
            reports = [runner.sync_person(person) for person in runner.persons()]
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        requests = difference(before, counts())
        busy = [r for r in reports if not r.ok or r.changed_anything]
    load = os.getloadavg()
    total = sum(requests.values())
    per_person = cpu * 1000 / len(persons)
    verdict = "target met" if per_person <= TARGET_MS else f"target missed (> {TARGET_MS} ms)"
    print(
        f"{args.plugin:<13} {len(persons)} persons, {args.entries} entries each, {args.database}, "
        f"latency {0 if args.plugin == 'reference' else args.latency_ms} ms: idle cycle CPU {cpu:.2f} s = "
        f"{per_person:.2f} ms per person ({verdict}), wall {wall:.1f} s, {total} requests "
        f"({', '.join(f'{k} {v}' for k, v in sorted(requests.items()))}), load {load[0]:.1f}"
    )
    if busy:
        print(
            f"  {len(busy)} cycles were not idle; first: {busy[0].mailbox}: "
            f"{busy[0].error or busy[0].summary()}"
        )
    if profiler is not None:
        profiler.dump_stats(args.profile)
        stats = pstats.Stats(args.profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--plugin", choices=[*PLUGINS, "exchange2010", "exchange2007", "all"], default="all")
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=2, help="reservations (and entries) per person")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgresql-url", default=POSTGRESQL_URL)
    parser.add_argument("--profile", metavar="FILE", help="profile the idle cycle with cProfile into FILE")
    parser.add_argument(
        "--parallel",
        type=int,
        help="cycles at once ([sync] max_parallel_cycles, default 16)",
    )
    args = parser.parse_args()
    if args.plugin != "all":
        run_plugin(args)
        return 0
    failed = 0
    for plugin in PLUGINS:
        command = [sys.executable, __file__, *strip_plugin(sys.argv[1:]), "--plugin", plugin]
        failed += subprocess.run(command, check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
