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
cycle, free/busy answering errors).

How: the simulator runs as ``roomsync sim serve --dialect D --seed FILE --latency-ms MS`` in a
process of its own (``roomsync_sim.embedded.serve_process``: its CPU time is not the client's),
seeded with ``--persons`` mailboxes, five
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

import os
import subprocess
import sys
import time
import uuid
from argparse import Namespace

from common import (
    DOMAIN,
    ENVIRONMENT,
    ZONE,
    added_latency,
    argument_parser,
    ews_seed,
    mailboxes,
    measure,
    parse,
    populate,
    print_table,
    simulated,
    strip_plugin,
    workloads,
)

from roomsync.config import settings_from_mapping
from roomsync.plugins import connector_class
from roomsync_ews_common.testing import simulator_options

PLUGINS = ("exchange2010", "exchange2013", "exchange2007")
SERVICE = f"svc@{DOMAIN}"
PASSWORD_ENV = "ROOMSYNC_BENCH_EWS_PASSWORD"
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


def run_plugin(plugin: str, args: Namespace) -> bool:
    """Runs the workloads on one plugin and prints its table; False when a workload failed."""
    began = time.perf_counter()
    persons, rooms = mailboxes(args)
    password = uuid.uuid4().hex
    os.environ[PASSWORD_ENV] = password
    with simulated(args, plugin, ews_seed(SERVICE, persons, rooms, password)) as (sim, database):
        stats = sim.stats()
        dialect = getattr(connector_class(plugin, ENVIRONMENT), "request_server_version", "?")
        print(
            f"== {plugin}: EWS dialect {dialect}, simulator {stats['dialect']} in its own process "
            f"(added latency {added_latency(stats)} ms), database {args.database}, "
            f"{args.reservations} reservations, {args.persons} persons"
        )
        start0 = populate(database, persons, rooms, args.reservations)
        options = simulator_options(
            sim.ews_url, username=SERVICE, password={"env": PASSWORD_ENV}, timezone=ZONE
        )
        settings = settings_from_mapping(
            {"environments": {ENVIRONMENT: {"plugin": plugin, "options": options}}}
        )
        figures = workloads(
            settings,
            database,
            persons,
            rooms,
            start0,
            args,
            100,
            lambda label, target, step: measure(label, target, step, bool(args.tracemalloc), sim.counts),
        )
        print_table(figures, KNOWN_OPERATIONS, "total")
        violations = sim.stats().get("violations") or []
        if violations:
            print(f"simulator recorded {len(violations)} schema violations; first: {violations[0]}")
    print(f"{plugin}: whole run {time.perf_counter() - began:.1f} s\n")
    return all(f.failure is None for f in figures)


def main() -> int:
    parser = argument_parser((__doc__ or "").splitlines()[0])
    parser.add_argument("--plugin", choices=[*PLUGINS, "all"], default="all")
    args = parse(parser)
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


if __name__ == "__main__":
    sys.exit(main())
