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
in a process of its own (its CPU time is not the client's), an Exchange Online tenant over HTTPS
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

import argparse
import json
import os
import re
import resource
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from unittest import mock
from urllib.parse import unquote, urlsplit

import requests
import requests.adapters

# The EWS benchmark's ROOMS side and figures: the same database, reservations and verdicts.
from ews import (
    DOMAIN,
    ENVIRONMENT,
    FREEBUSY_MAILBOXES,
    POSTGRESQL_URL,
    ROOMS,
    SIM_START_SECONDS,
    ZONE,
    Figures,
    WorkloadFailed,
    database_for,
    populate,
    steps,
)

from roomsync.config import Settings, settings_from_mapping
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database

SECRET_ENV = "ROOMSYNC_BENCH_O365_SECRET"
GRAPH_SCOPE = "https://graph.microsoft.com"
# Round trips shown first, in this order; any other kind the client sent follows.
KNOWN_KINDS = ("$batch", "calendarView.delta", "events.list", "calendarView", "getSchedule", "token")
_TENANT_LINE = re.compile(
    r"^(?P<tenant>\S+) \((?P<domains>[^)]*)\) client_id: (?P<client>\S+) secret: (?P<secret>\S+)$"
)


# --- the simulator in its own process -----------------------------------------------------------


def make_seed(persons: list[str], rooms: list[str]) -> dict[str, Any]:
    """The simulated tenant: persons and rooms; its default app may use every mailbox."""
    return {
        "users": [{"smtp": p, "name": f"Person {n}", "time_zone": ZONE} for n, p in enumerate(persons)],
        "rooms": [{"smtp": r, "name": f"Room {n}", "time_zone": ZONE} for n, r in enumerate(rooms)],
    }


class SimulatorProcess:
    """``roomsync sim serve --dialect o365 --tls`` as a child process; counters over the control endpoint."""

    def __init__(self, seed_file: Path, tls_dir: Path, latency_ms: int, log_file: Path) -> None:
        self.command = [
            str(Path(sys.executable).parent / "roomsync"),
            "sim",
            "serve",
            "--dialect",
            "o365",
            "--tls",
            "--tls-dir",
            str(tls_dir),
            "--seed",
            str(seed_file),
            "--latency-ms",
            str(latency_ms),
        ]
        self.log_file = log_file
        self._log: IO[str] | None = None
        self._process: subprocess.Popen[str] | None = None
        self.values: dict[str, str] = {}
        self.tenant: dict[str, str] = {}
        self._tls: ssl.SSLContext | None = None

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
            if key == "tenant" and not self.tenant and (found := _TENANT_LINE.match(value)):
                self.tenant = found.groupdict()
            elif key:
                self.values[key] = value
            if key == "ready":
                break
        if not all(k in self.values for k in ("graph_url", "login_url", "control_url", "ca_file")) or not (
            self.tenant
        ):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the simulator did not start: {self.log_tail()}")
        self._tls = ssl.create_default_context(cafile=self.values["ca_file"])
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

    @property
    def graph_url(self) -> str:
        return self.values["graph_url"]

    @property
    def base_url(self) -> str:
        return self.values["login_url"]

    def log_tail(self) -> str:
        text = self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""
        return text.strip()[-2000:] or "(no output)"

    def stats(self) -> dict[str, Any]:
        url = f"{self.values['control_url']}stats"
        with urllib.request.urlopen(url, timeout=30, context=self._tls) as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats

    def counts(self) -> Counter[str]:
        return Counter({str(k): int(v) for k, v in self.stats()["counts"].items()})

    def options(self) -> dict[str, Any]:
        """The environment's options, as ``roomsync.toml`` would hold them."""
        return {
            "tenant_id": self.tenant["tenant"],
            "client_id": self.tenant["client"],
            "client_secret": {"env": SECRET_ENV},
            "graph_url": self.graph_url,
            "login_url": self.base_url,
            "token_scope": GRAPH_SCOPE,
            "ca_file": self.values["ca_file"],
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


@dataclass
class GraphFigures(Figures):
    operations: int = 0
    """The simulator's Graph operations, each request of a ``$batch`` included."""


def measure(
    sim: SimulatorProcess,
    trips: RoundTrips,
    label: str,
    target: int | None,
    work: Callable[[], list[str]],
    traced: bool,
) -> GraphFigures:
    """Runs ``work`` (which answers notes); round trips from the client, operations from the simulator."""
    before, ops_before = trips.snapshot(), sim.counts()
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
    after, ops_after = trips.snapshot(), sim.counts()
    counts = Counter({k: after[k] - before[k] for k in after if after[k] != before[k]})
    operations = Counter(
        {k: ops_after[k] - ops_before[k] for k in ops_after if ops_after[k] != ops_before[k]}
    )
    figures = GraphFigures(label, counts, seconds, peak_rss_mib, traced_mib, target, notes, failure)
    figures.operations = sum(operations.values())
    figures.notes.append(
        "simulator operations: "
        + (
            ", ".join(f"{kind} {n}" for kind, n in sorted(operations.items(), key=lambda i: (-i[1], i[0])))
            or "none"
        )
    )
    if operations["$batch"] != counts["$batch"]:
        figures.notes.append(
            f"the simulator counted {operations['$batch']} $batch, the client {counts['$batch']}"
        )
    return figures


def print_table(figures: list[GraphFigures]) -> None:
    seen = {kind for f in figures for kind in f.counts}
    kinds = [k for k in KNOWN_KINDS if k in seen] + sorted(seen - set(KNOWN_KINDS))
    label_width = max(len(f.label) for f in figures)
    headers = [*kinds, "requests", "target", "operations", "wall s", "peak RSS MiB"]
    if any(f.traced_mib is not None for f in figures):
        headers.append("traced MiB")
    widths = [max(len(h), 6) for h in headers]

    def row(label: str, cells: list[str]) -> str:
        return "  ".join(
            [f"{label:<{label_width}}", *(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))]
        )

    print(row("workload", headers))
    for f in figures:
        cells = [str(f.counts.get(kind, 0)) for kind in kinds]
        cells += [str(f.total), "-" if f.target is None else str(f.target)]
        cells += [str(f.operations), f"{f.seconds:.2f}", f"{f.peak_rss_mib:.0f}"]
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


def run(args: argparse.Namespace) -> bool:
    """Runs the workloads and prints the table; False when a workload failed."""
    began = time.perf_counter()
    persons = [f"person{n:03d}@{DOMAIN}" for n in range(args.persons)]
    rooms = [f"room.{n}@{DOMAIN}" for n in range(ROOMS)]
    if args.tracemalloc:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-graph-") as tmp:
        directory = Path(tmp)
        seed_file = directory / "seed.json"
        seed_file.write_text(json.dumps(make_seed(persons, rooms)), encoding="utf-8")
        with (
            SimulatorProcess(
                seed_file, directory / "tls", args.latency_ms, directory / "simulator.log"
            ) as sim,
            database_for(args.database, args.postgresql_url, directory) as database,
            RoundTrips(sim.base_url, sim.graph_url).installed() as trips,
        ):
            os.environ[SECRET_ENV] = sim.tenant["secret"]
            stats = sim.stats()
            latency = [r["ms"] for r in stats["faults"] if r["kind"] == "latency"]
            print(
                f"== o365: Microsoft Graph v1.0 over HTTPS, simulator {stats['dialect']} in its own process "
                f"(added latency {latency[0] if latency else 0} ms per request, each request of a $batch "
                f"too), database {args.database}, {args.reservations} reservations, {args.persons} persons"
            )
            start0 = populate(database, persons, rooms, args.reservations)
            settings = settings_from_mapping(
                {"environments": {ENVIRONMENT: {"plugin": "o365", "options": sim.options()}}}
            )
            figures = workloads(settings, database, sim, trips, persons, rooms, start0, args)
            print_table(figures)
    print(f"o365: whole run {time.perf_counter() - began:.1f} s\n")
    return all(f.failure is None for f in figures)


def workloads(
    settings: Settings,
    database: Database,
    sim: SimulatorProcess,
    trips: RoundTrips,
    persons: list[str],
    rooms: list[str],
    start0: datetime,
    args: argparse.Namespace,
) -> list[GraphFigures]:
    """The EWS benchmark's workloads; Graph writes 20 per ``$batch`` and asks 20 schedules at once."""
    runner = SyncRunner(settings, database)
    try:
        plan = steps(runner, settings, database, persons, rooms, start0, args.reservations, 20, 20)
        return [
            measure(sim, trips, label, target, step, bool(args.tracemalloc)) for label, target, step in plan
        ]
    finally:
        runner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
    return 0 if run(args) else 1


if __name__ == "__main__":
    sys.exit(main())
