"""The first export at size: one person's N reservations over EWS against the simulator.

    python benchmarks/export_size.py [--sizes 1000,10000,50000,100000] [--plugin exchange2013]
        [--latency-ms 20] [--database sqlite|postgresql] [--profile FILE]

Each size runs in a fresh process of its own, so its peak resident size is that size's alone.
Per size it prints the requests by EWS operation against the target ⌈N/100⌉ + 5, the wall time
against the round-trip bound (requests x added latency), the client's CPU time per item
(``time.process_time``: the simulator runs in a process of its own), the peak RSS, and the
requests of the cycle after the export, which must read nothing back (no GetItem). The last
line is the growth of peak RSS from the smallest to the largest size and the load average,
since other work on the machine distorts wall times (CPU times and request counts much less).

``--plugin reference`` runs the reference connector in this process instead (no server, no
latency): the engine's and the database's own cost, and its requests are the connector calls.
``--profile FILE`` writes a cProfile of the export of the (single) size to FILE.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bench_database import database_for
from common import (
    ENVIRONMENT,
    ZONE,
    added_latency,
    argument_parser,
    difference,
    ews_seed,
    mailboxes,
    populate,
    simulated,
)

from roomsync.config import settings_from_mapping
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync_ews_common.testing import simulator_options

SERVICE = "svc@bench.example"
PASSWORD_ENV = "ROOMSYNC_BENCH_EWS_PASSWORD"
PERSONS = 3  # the organizer and two participants; the size is the organizer's reservations
DEFAULT_SIZES = "1000,10000,50000,100000"


def one_size(args: argparse.Namespace) -> dict[str, object]:
    """Export ``args.reservations`` in this process; answers its figures."""
    persons, rooms = mailboxes(argparse.Namespace(persons=PERSONS))
    if args.plugin == "reference":
        with (
            tempfile.TemporaryDirectory(prefix="roomsync-bench-reference-") as tmp,
            database_for(args.database, args.postgresql_url, Path(tmp)) as database,
        ):
            populate(database, persons, rooms, args.reservations)
            name = f"bench-{uuid.uuid4().hex}"
            directory = MailboxDirectory.named(name)
            for room in rooms:
                directory.add_room(room)
            options = {"directory": name}
            return measured(args, database, persons, options, 0, lambda: Counter(directory.calls))
    password = uuid.uuid4().hex
    os.environ[PASSWORD_ENV] = password
    with simulated(args, args.plugin, ews_seed(SERVICE, persons, rooms, password)) as (sim, database):
        populate(database, persons, rooms, args.reservations)
        options = simulator_options(
            sim.ews_url, username=SERVICE, password={"env": PASSWORD_ENV}, timezone=ZONE
        )
        return measured(args, database, persons, options, added_latency(sim.stats()), sim.counts)


def measured(
    args: argparse.Namespace,
    database: Database,
    persons: list[str],
    options: dict[str, Any],
    latency: int,
    counts: Callable[[], Counter[str]],
) -> dict[str, object]:
    """The first export of the organizer's reservations, and the cycle after it."""
    settings = settings_from_mapping(
        {"environments": {ENVIRONMENT: {"plugin": args.plugin, "options": options}}}
    )
    runner = SyncRunner(settings, database)
    try:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        before = counts()
        profiler = cProfile.Profile() if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        # On this thread (sync_once dispatches to workers), so that the profile sees the cycle.
        [organizer] = runner.persons([persons[0]])
        report = runner.sync_person(organizer)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        exported = difference(before, counts())
        before = counts()
        after = runner.sync_person(organizer)
        echo = difference(before, counts())
    finally:
        runner.close()
    if not report.ok or not after.ok:
        raise RuntimeError(f"cycle failed: {report.error or after.error}")
    return {
        "size": args.reservations,
        "created": report.created,
        "requests": dict(exported),
        "after": dict(echo),
        "after_changed": after.changed_anything,
        "latency_ms": latency,
        "wall": wall,
        "cpu": cpu,
        "rss_before_export": rss_before,
        "peak_rss": rss,
    }


def show(figures: dict[str, object]) -> None:
    size = int(str(figures["size"]))
    requests: Counter[str] = Counter(cast(dict[str, int], figures["requests"]))
    total = sum(requests.values())
    target = math.ceil(size / 100) + 5
    bound = total * int(str(figures["latency_ms"])) / 1000
    wall, cpu = float(str(figures["wall"])), float(str(figures["cpu"]))
    after: Counter[str] = Counter(cast(dict[str, int], figures["after"]))
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(requests.items()))
    print(
        f"N={size:>6}: created {figures['created']}; {total} requests (target {target}: "
        f"{'met' if total <= target else 'missed'}; {kinds})\n"
        f"          wall {wall:.1f} s = {wall / bound if bound else 0:.1f}x bound {bound:.2f} s; "
        f"client CPU {cpu:.1f} s = {1000 * cpu / size:.2f} ms/item; "
        f"peak RSS {float(str(figures['peak_rss'])):.0f} MiB "
        f"(before the export {float(str(figures['rss_before_export'])):.0f} MiB)\n"
        f"          cycle after: {sum(after.values())} requests "
        f"({', '.join(f'{k} {v}' for k, v in sorted(after.items()))}), GetItem {after.get('GetItem', 0)}, "
        f"changed anything: {figures['after_changed']}",
        flush=True,
    )


def main() -> int:
    parser = argument_parser((__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated (default {DEFAULT_SIZES})")
    parser.add_argument(
        "--plugin", default="exchange2013", choices=["exchange2010", "exchange2013", "reference"]
    )
    parser.add_argument("--profile", help="write a cProfile of the export to this file (one size)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one size
    args = parser.parse_args()
    if args.one:
        print("FIGURES " + json.dumps(one_size(args)), flush=True)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.profile and len(sizes) != 1:
        parser.error("--profile takes one size")
    where = "in-process, no latency" if args.plugin == "reference" else f"added latency {args.latency_ms} ms"
    print(f"{args.plugin}, {where}, database {args.database}", flush=True)
    peaks: dict[int, float] = {}
    for size in sizes:
        command = [
            sys.executable,
            __file__,
            "--one",
            "--reservations",
            str(size),
            "--plugin",
            args.plugin,
            "--latency-ms",
            str(args.latency_ms),
            "--database",
            args.database,
            "--postgresql-url",
            args.postgresql_url,
            *(["--profile", args.profile] if args.profile else []),
        ]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("FIGURES ")]
        if done.returncode or not lines:
            print(f"N={size}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        figures = json.loads(lines[-1].removeprefix("FIGURES "))
        peaks[size] = float(figures["peak_rss"])
        show(figures)
    if len(peaks) > 1:
        low, high = min(peaks), max(peaks)
        print(f"peak RSS growth from {low} to {high}: {peaks[high] - peaks[low]:.0f} MiB (target ≤ 48 MiB)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
