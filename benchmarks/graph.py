"""The o365 plugin against the simulator's Exchange Online tenant with added latency: requests, wall
time and memory.

Benchmarks: with the development environment installed (``pip install -r requirements-dev.txt``),
``python benchmarks/graph.py`` runs the o365 plugin with 20 ms added latency on SQLite.
``--latency-ms MS`` changes the latency, ``--database postgresql`` uses the server at
127.0.0.1:5432, database ``test`` (``--postgresql-url`` for another), in a fresh schema that is
dropped afterwards; ``--reservations`` (1000) and ``--persons`` (200) size the workloads and
``--tracemalloc`` adds the peak of traced Python allocations. It prints a table and a
"target met" / "target missed (N > T)" line per workload; a run takes one to two minutes on the
2-core development machine (wall times follow its load; request counts do not). A missed target
is a finding: the exit code is non-zero only when something broke (a failed cycle, free/busy
answering errors).

How: the simulator runs as ``roomsync sim serve --dialect o365 --tls --seed FILE --latency-ms MS``
in a process of its own (``roomsync_sim.embedded.serve_process``: its CPU time is not the
client's), an Exchange Online tenant over HTTPS
with its own certificate authority, seeded with ``--persons`` mailboxes and five rooms; its
default app registration may use them all. The client is the product path: ``SyncRunner`` with
one ``o365`` environment pointing at the simulator (sign-in with msal, Graph over HTTPS), and a
real database. The latency is added to every Graph request the simulator executes, each request
inside a ``$batch`` too, so a batch of 20 takes 21 times the latency, as on a server that runs a
batch's requests one after another.

Requests are HTTP round trips: the client's requests to the simulator counted in the client's
transport by what they ask for (``$batch``, ``calendarView/delta``, an events listing, a calendar
view, ``getSchedule``, tokens); the targets count them. The simulator's own counts per Graph
operation (``GET /_sim/stats`` before and after each workload) are shown beside them: they hold
every request of a ``$batch`` too, so the table's ``operations`` column is the server's work, and
each workload's line below it lists those operations. Wall time is the client's; memory is the
client's peak resident size so far (it only grows), so the first workload's figure is the one that
tells. Workloads:

1. the first export of N reservations of one person, created in ROOMS first through the store
   (a quarter with a room and two participants, one in a hundred a weekly series of 10);
   target ⌈N/20⌉ + 5 requests (``$batch`` takes 20 requests);
2. a cycle over every person with nothing changed, after a first cycle that brought them in sync;
   target one request per person. This is the polling figure: with webhooks (``notification_url``)
   ``roomsync run`` sends none between its safety-net cycles. Two rows are shown, not judged:
   that first cycle, and the idle cycle once more on a fresh runner, which is what every
   ``roomsync sync --once`` starts with (it signs in again);
3. free/busy of 100 mailboxes (95 persons, 5 rooms) over 7 days through the core's free/busy
   path (``roomsync.engine.freebusy``); target one request per 20 mailboxes (``getSchedule``
   takes 20).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from argparse import Namespace
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

import requests
import requests.adapters
from common import (
    ENVIRONMENT,
    ZONE,
    Figures,
    Measure,
    Step,
    added_latency,
    argument_parser,
    difference,
    mailboxes,
    measure,
    parse,
    populate,
    print_table,
    simulated,
    workloads,
)

from roomsync.config import settings_from_mapping
from roomsync_sim.embedded import ServerProcess

SECRET_ENV = "ROOMSYNC_BENCH_O365_SECRET"
GRAPH_SCOPE = "https://graph.microsoft.com"
# Round trips shown first, in this order; any other kind the client sent follows.
KNOWN_KINDS = ("$batch", "calendarView.delta", "events.list", "calendarView", "getSchedule", "token")


def make_seed(persons: list[str], rooms: list[str]) -> dict[str, Any]:
    """The simulated tenant: persons and rooms; its default app may use every mailbox."""
    return {
        "users": [{"smtp": p, "name": f"Person {n}", "time_zone": ZONE} for n, p in enumerate(persons)],
        "rooms": [{"smtp": r, "name": f"Room {n}", "time_zone": ZONE} for n, r in enumerate(rooms)],
    }


def options(sim: ServerProcess) -> dict[str, Any]:
    """The environment's options, as ``roomsync.toml`` would hold them."""
    return {
        "tenant_id": sim.tenant_id,
        "client_id": sim.client_id,
        "client_secret": {"env": SECRET_ENV},
        "graph_url": sim.graph_url,
        "login_url": sim.login_url,
        "token_scope": GRAPH_SCOPE,
        "ca_file": str(sim.ca_file),
        "timezone": ZONE,
    }


# --- round trips, counted in the client's transport ----------------------------------------------


def kind_of(method: str, url: str, graph_path: str) -> str:
    """What a request to the simulator asks for, named as the simulator names its operations."""
    path = unquote(urlsplit(url).path).rstrip("/")
    lowered = path.lower()
    if not lowered.startswith(graph_path.lower() + "/"):
        return "token" if lowered.endswith("/oauth2/v2.0/token") else "sign-in metadata"
    rest = lowered[len(graph_path) :]
    if rest == "/$batch":
        return "$batch"
    if rest.endswith("/calendarview/delta"):
        return "calendarView.delta"
    if rest.endswith("/calendarview"):
        return "calendarView"
    if rest.endswith("/getschedule"):
        return "getSchedule"
    if rest.startswith("/subscriptions"):
        return f"subscriptions.{method.lower()}"
    if re.fullmatch(r"/users/[^/]+(/calendar)?/events", rest):
        return "events.list" if method == "GET" else "events.create"
    return f"{method} other"


class RoundTrips:
    """HTTP requests to one server, by kind: every ``requests`` transport of this process reports here."""

    def __init__(self, base_url: str, graph_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.graph_path = urlsplit(graph_url).path.rstrip("/")
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[RoundTrips]:
        original = requests.adapters.HTTPAdapter.send
        counter = self

        def send(adapter: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
            url = str(request.url or "")
            if url.startswith(counter.base_url + "/"):
                kind = kind_of(str(request.method or "GET"), url, counter.graph_path)
                with counter._lock:
                    counter.counts[kind] += 1
            return original(adapter, request, *args, **kwargs)

        with mock.patch.object(requests.adapters.HTTPAdapter, "send", send):
            yield self

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


# --- measuring ----------------------------------------------------------------------------------


def measured(sim: ServerProcess, trips: RoundTrips, traced: bool) -> Measure:
    """Round trips from the client; the simulator's operations beside them, ``$batch`` requests included."""

    def one(label: str, target: int | None, work: Step) -> Figures:
        ops_before = sim.counts()
        figures = measure(label, target, work, traced, trips.snapshot)
        operations = difference(ops_before, sim.counts())
        figures.operations = sum(operations.values())
        by_count = sorted(operations.items(), key=lambda i: (-i[1], i[0]))
        figures.notes.append(
            "simulator operations: " + (", ".join(f"{kind} {n}" for kind, n in by_count) or "none")
        )
        if operations["$batch"] != figures.counts["$batch"]:
            figures.notes.append(
                f"the simulator counted {operations['$batch']} $batch, the client {figures.counts['$batch']}"
            )
        return figures

    return one


def run(args: Namespace) -> bool:
    """Runs the workloads and prints the table; False when a workload failed."""
    began = time.perf_counter()
    persons, rooms = mailboxes(args)
    with (
        simulated(args, "o365", make_seed(persons, rooms), tls=True) as (sim, database),
        RoundTrips(sim.login_url, sim.graph_url).installed() as trips,
    ):
        os.environ[SECRET_ENV] = sim.client_secret
        stats = sim.stats()
        print(
            f"== o365: Microsoft Graph v1.0 over HTTPS, simulator {stats['dialect']} in its own process "
            f"(added latency {added_latency(stats)} ms per request, each request of a $batch "
            f"too), database {args.database}, {args.reservations} reservations, {args.persons} persons"
        )
        start0 = populate(database, persons, rooms, args.reservations)
        settings = settings_from_mapping(
            {"environments": {ENVIRONMENT: {"plugin": "o365", "options": options(sim)}}}
        )
        # Graph writes 20 per $batch and asks 20 schedules at once.
        measure_one = measured(sim, trips, bool(args.tracemalloc))
        figures = workloads(settings, database, persons, rooms, start0, args, 20, measure_one)
        print_table(figures, KNOWN_KINDS, "requests")
    print(f"o365: whole run {time.perf_counter() - began:.1f} s\n")
    return all(f.failure is None for f in figures)


def main() -> int:
    return 0 if run(parse(argument_parser((__doc__ or "").splitlines()[0]))) else 1


if __name__ == "__main__":
    sys.exit(main())
