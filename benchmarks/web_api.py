"""The web service against the Exchange simulators: free/busy through the API, and many clients at once.

Benchmarks: with the development environment installed (``pip install -r requirements-dev.txt``),
``python benchmarks/web_api.py`` runs both parts with 20 ms added latency on SQLite and prints a
table for each; ``--latency-ms``, ``--runs`` (free/busy calls per row, median shown),
``--meetings``, ``--clients`` and ``--seconds`` (the load part; 0 leaves it out) change them. The
whole run takes about two minutes on the 2-core development machine, most of it the load part.

How: two simulators run in processes of their own (``roomsync_sim.embedded.serve_process``), an
Exchange 2013 organisation over EWS (environment ``onprem``: 100 persons and 5 rooms, a service
account that may impersonate them) and an Exchange Online tenant over Graph with HTTPS
(environment ``online``: 100 persons). The installation is what an administrator makes: a
``roomsync.toml`` naming both, a SQLite database with the persons and rooms (with
``--meetings N`` also N meetings of an hour in ROOMS per person and day of the 7 asked, so that
free/busy answers carry busy times: the simulated calendars are empty), an admin API key
made with ``roomsync api-key add``, and ``roomsync serve`` as a process of its own. Exchange
requests are the simulators' counts per operation (``GET /_sim/stats``).

1. Free/busy of 100 mailboxes over 7 days in one ``POST /api/v1/freebusy``: all on EWS, all on
   Graph, and 50 of each (the environments are asked at the same time: the wall time is near the
   slower one's, not the sum; each half is also timed alone through the API). Per row: Exchange
   requests of one call, the median wall time of ``--runs`` API calls, the median of the same
   free/busy made in this process through the product's runner
   (``roomsync.engine.freebusy.free_busy``, no HTTP), each right after an API call, and the
   API's own cost twice: the median of those pairs' differences in wall time, and the server's
   mean CPU time per API call less this process's per direct call. The wall difference is shown
   with its quartiles; on a 2-core machine that also runs both simulators it spreads by tens of
   milliseconds, so the verdict is on the CPU figure. Targets: one Exchange request per 100 EWS
   mailboxes, one per 20 on Graph (``getSchedule`` takes 20), under 20 ms of API overhead.
2. ``--clients`` clients (one connection each) calling ``GET /api/v1/admin/status`` and
   ``GET /api/v1/rooms/free`` (one hour, 5 rooms) in turn for ``--seconds``: requests, errors
   (any answer but 200, by status; failed connections by exception), throughput, latency
   percentiles of the answers, the server's peak resident memory (``VmHWM``, reset before the
   part starts) and CPU time, and the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import FREEBUSY_DAYS, ZONE, difference, ews_seed, first_start

from roomsync.config import load_settings
from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine.freebusy import free_busy
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync_ews_common.testing import simulator_options
from roomsync_sim.embedded import ServerProcess, serve_process

EWS_ENV, GRAPH_ENV = "onprem", "online"
EWS_DOMAIN, GRAPH_DOMAIN = "onprem.example", "online.example"
SERVICE = f"svc@{EWS_DOMAIN}"
PASSWORD_ENV, SECRET_ENV = "ROOMSYNC_BENCH_WEB_EWS_PASSWORD", "ROOMSYNC_BENCH_WEB_O365_SECRET"
PERSONS, ROOMS = 100, 5
OVERHEAD_TARGET_MS = 20.0
FREEBUSY_KINDS = ("GetUserAvailability", "getSchedule")
_LISTENING = re.compile(r"roomsync web service on (https?://\S+)")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=20, help="added latency per request (default 20)")
    parser.add_argument("--runs", type=int, default=31, help="API calls per free/busy row (default 31)")
    parser.add_argument(
        "--meetings", type=int, default=0, help="ROOMS meetings per person and day (default 0)"
    )
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    parser.add_argument(
        "--seconds", type=float, default=60, help="length of the load part (default 60; 0: no load part)"
    )
    return parser


# --- the installation -----------------------------------------------------------------------------


def persons(domain: str) -> list[str]:
    return [f"person{n:03d}@{domain}" for n in range(PERSONS)]


ROOM_MAILBOXES = [f"room.{n}@{EWS_DOMAIN}" for n in range(ROOMS)]


def graph_seed() -> dict[str, Any]:
    return {
        "users": [{"smtp": p, "name": f"Person {p}", "time_zone": ZONE} for p in persons(GRAPH_DOMAIN)],
        "rooms": [],
    }


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_config(directory: Path, ews: ServerProcess, graph: ServerProcess) -> Path:
    """``roomsync.toml`` with both environments (secrets from the environment) and a rate limit
    no benchmark reaches."""
    environments: dict[str, tuple[str, dict[str, Any]]] = {
        EWS_ENV: (
            "exchange2013",
            simulator_options(ews.ews_url, username=SERVICE, password={"env": PASSWORD_ENV}, timezone=ZONE),
        ),
        GRAPH_ENV: (
            "o365",
            {
                "tenant_id": graph.tenant_id,
                "client_id": graph.client_id,
                "client_secret": {"env": SECRET_ENV},
                "graph_url": graph.graph_url,
                "login_url": graph.login_url,
                "token_scope": "https://graph.microsoft.com",
                "ca_file": str(graph.ca_file),
                "timezone": ZONE,
            },
        ),
    }
    lines = [f'data_dir = "data"\ndatabase_url = "sqlite:///{directory / "roomsync.db"}"\n']
    for name, (plugin, options) in environments.items():
        lines.append(f'[environments.{name}]\nplugin = "{plugin}"\n[environments.{name}.options]\n')
        lines += [f"{k} = {_toml(v)}\n" for k, v in options.items()]
    lines.append('[web]\nrate_limit = "1000000/minute"\n')
    config = directory / "roomsync.toml"
    config.write_text("".join(lines), encoding="utf-8")
    return config


def populate(url: str, meetings: int) -> None:
    """The persons of both environments and the rooms; with ``meetings``, each person organises
    that many meetings of an hour in ROOMS on each day of the free/busy window (the simulated
    calendars are empty), so that free/busy answers carry busy times."""
    database = Database(url)
    database.upgrade()
    start = first_start()
    try:
        with database.unit_of_work() as uow:
            for environment, domain in ((EWS_ENV, EWS_DOMAIN), (GRAPH_ENV, GRAPH_DOMAIN)):
                for n, email in enumerate(persons(domain)):
                    uow.rooms.upsert_person(Person(email=email, environment=environment))
                    for day, k in itertools.product(range(FREEBUSY_DAYS), range(meetings)):
                        begins = start + timedelta(days=day, hours=1 + (n + k) % 12)
                        fields = EventFields(title="Meeting", start=begins, end=begins + timedelta(hours=1))
                        meeting = Reservation(fields=fields, organizer=email)
                        uow.rooms.create_reservation(meeting, origin=Origin.ROOMS)
            for n, mailbox in enumerate(ROOM_MAILBOXES):
                uow.rooms.add_room(
                    Room(name=f"Room {n}", mailbox=mailbox, capacity=4 + n, environment=EWS_ENV)
                )
            uow.commit()
    finally:
        database.dispose()


def roomsync_command(config: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from roomsync.cli.main import main; main()",
        "--config",
        str(config),
        *args,
    ]


def api_key(config: Path) -> str:
    done = subprocess.run(
        roomsync_command(config, "--json", "api-key", "add", "bench", "--scope", "admin"),
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(done.stdout)["key"])


@dataclass
class WebServer:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def served(config: Path) -> Iterator[WebServer]:
    """``roomsync serve --port 0`` until the block ends (then SIGINT, as Ctrl-C)."""
    log_path = config.parent / "serve.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            roomsync_command(config, "serve", "--port", "0"), stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while not (found := _LISTENING.search(log_path.read_text(encoding="utf-8"))):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"roomsync serve did not start:\n{log_path.read_text(encoding='utf-8')}")
            time.sleep(0.1)
        yield WebServer(found.group(1), process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- a process's memory and CPU, from /proc ---------------------------------------------------------


def proc_mib(pid: int, name: str) -> float:
    """``VmHWM`` (peak resident) or ``VmRSS`` of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    """Start ``VmHWM`` again from the current resident size (Linux: ``clear_refs`` 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- 1. free/busy of 100 mailboxes -----------------------------------------------------------------


@dataclass
class FreeBusyRow:
    label: str
    counts: Counter[str]
    target: int
    api_ms: float
    direct_ms: float
    overhead_ms: float
    cpu_overhead_ms: float
    notes: list[str] = field(default_factory=list)


def own_cpu_seconds() -> float:
    return sum(resource.getrusage(resource.RUSAGE_SELF)[:2])


@dataclass
class Call:
    ms: float
    cpu_ms: float
    counts: Counter[str]


def counted(sims: list[ServerProcess], work: Callable[[], object], cpu: Callable[[], float]) -> Call:
    """Milliseconds of ``work``, the CPU milliseconds ``cpu`` counted meanwhile (a process's
    user and system time) and the requests the simulators served meanwhile."""
    before = [s.counts() for s in sims]
    cpu_before = cpu()
    began = time.perf_counter()
    work()
    ms = (time.perf_counter() - began) * 1000
    cpu_ms = (cpu() - cpu_before) * 1000
    counts: Counter[str] = Counter()
    for sim, was in zip(sims, before, strict=True):
        counts.update(difference(was, sim.counts()))
    return Call(ms, cpu_ms, counts)


def window() -> tuple[datetime, datetime]:
    start = first_start()
    return start, start + timedelta(days=FREEBUSY_DAYS)


def through_api(api: httpx.Client, mailboxes: list[str]) -> Callable[[], None]:
    """One ``POST /api/v1/freebusy`` of ``mailboxes``; an answer with errors ends the benchmark."""
    start, end = window()
    body = {"mailboxes": mailboxes, "start": start.isoformat(), "end": end.isoformat()}

    def call() -> None:
        answer = api.post("/api/v1/freebusy", json=body)
        answer.raise_for_status()
        failed = [a for a in answer.json() if a["errors"]]
        if len(answer.json()) != len(mailboxes) or failed:
            raise RuntimeError(f"{len(failed)} mailboxes answered errors: {failed[:1]}")

    return call


def direct(runner: SyncRunner, mailboxes: list[str]) -> Callable[[], None]:
    """The same free/busy through the product's runner in this process, without HTTP."""
    start, end = window()

    def call() -> None:
        failed = [a for a in free_busy(runner, mailboxes, start, end) if a.errors]
        if failed:
            raise RuntimeError(f"{len(failed)} mailboxes answered errors (direct): {failed[:1]}")

    return call


def measure_freebusy(
    label: str,
    mailboxes: list[str],
    target: int,
    server: WebServer,
    api: httpx.Client,
    runner: SyncRunner,
    sims: list[ServerProcess],
    runs: int,
) -> FreeBusyRow:
    """``runs`` API calls and as many direct calls, in turn (so each pair sees the same load),
    after one of each to warm up (sign-in, connections). The overhead is the median of the
    pairs' differences in wall time; the CPU overhead is the server's mean CPU time per API call
    less this process's per direct call (steadier on a busy machine; the HTTP client's own CPU
    time is not in it)."""
    api_call, direct_call = through_api(api, mailboxes), direct(runner, mailboxes)
    api_call()
    direct_call()
    pairs = [
        (
            counted(sims, api_call, lambda: cpu_seconds(server.pid)),
            counted(sims, direct_call, own_cpu_seconds),
        )
        for _ in range(runs)
    ]
    calls = [call for pair in pairs for call in pair]
    quartiles = statistics.quantiles([a.ms - d.ms for a, d in pairs], n=4)
    notes = [f"wall time, API minus direct per pair: quartiles {quartiles[0]:.1f} / {quartiles[2]:.1f} ms"]
    if any(c.counts != calls[0].counts for c in calls):
        notes.append(f"requests differ between calls: {sorted({c.counts.total() for c in calls})}")
    return FreeBusyRow(
        label,
        calls[0].counts,
        target,
        statistics.median(a.ms for a, _ in pairs),
        statistics.median(d.ms for _, d in pairs),
        statistics.median(a.ms - d.ms for a, d in pairs),
        statistics.fmean(a.cpu_ms - d.cpu_ms for a, d in pairs),
        notes,
    )


def median_ms(work: Callable[[], None], runs: int) -> float:
    work()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def freebusy_part(
    server: WebServer, key: str, config: Path, sims: list[ServerProcess], runs: int
) -> list[FreeBusyRow]:
    ews, graph = persons(EWS_DOMAIN), persons(GRAPH_DOMAIN)
    half = PERSONS // 2
    settings = load_settings(config)
    database = Database(settings.resolved_database_url())
    runner = SyncRunner(settings, database)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60, trust_env=False) as api:

            def measure(label: str, mailboxes: list[str], target: int) -> FreeBusyRow:
                return measure_freebusy(label, mailboxes, target, server, api, runner, sims, runs)

            rows = [
                measure(f"1a {PERSONS} on EWS ({EWS_ENV})", ews, 1),
                measure(f"1b {PERSONS} on Graph ({GRAPH_ENV})", graph, 5),
                measure(f"1c {half} EWS + {half} Graph", ews[:half] + graph[:half], 4),
            ]
            alone_ews = median_ms(through_api(api, ews[:half]), runs)
            alone_graph = median_ms(through_api(api, graph[:half]), runs)
    finally:
        runner.close()
        database.dispose()
    rows[2].notes.append(
        f"each half alone through the API: EWS {alone_ews:.0f} ms, Graph {alone_graph:.0f} ms, "
        f"sum {alone_ews + alone_graph:.0f} ms, max {max(alone_ews, alone_graph):.0f} ms; "
        f"both in one call {rows[2].api_ms:.0f} ms"
    )
    return rows


def print_freebusy(rows: list[FreeBusyRow]) -> None:
    headers = [*FREEBUSY_KINDS, "other", "target", "API ms", "direct ms", "overhead ms", "CPU overhead"]
    width = max(len(r.label) for r in rows)
    print(f"{'free/busy, 7 days, one API call':<{width}}  " + "  ".join(f"{h:>12}" for h in headers))
    for r in rows:
        other = r.counts.total() - sum(r.counts[k] for k in FREEBUSY_KINDS)
        cells = [*(str(r.counts[k]) for k in FREEBUSY_KINDS), str(other), str(r.target)]
        cells += [f"{r.api_ms:.1f}", f"{r.direct_ms:.1f}", f"{r.overhead_ms:.1f}", f"{r.cpu_overhead_ms:.1f}"]
        print(f"{r.label:<{width}}  " + "  ".join(f"{c:>12}" for c in cells))
    print()
    for r in rows:
        requests = sum(r.counts[k] for k in FREEBUSY_KINDS)
        verdicts = [
            "requests: target met"
            if requests <= r.target
            else f"requests: target missed ({requests} > {r.target})",
            f"overhead: target met (CPU {r.cpu_overhead_ms:.1f} ms < {OVERHEAD_TARGET_MS:.0f} ms)"
            if r.cpu_overhead_ms < OVERHEAD_TARGET_MS
            else f"overhead: target missed by {r.cpu_overhead_ms - OVERHEAD_TARGET_MS:.1f} ms (CPU)",
        ]
        for line in [*r.notes, *verdicts]:
            print(f"{r.label}: {line}")
    print()


# --- 2. many clients at once ----------------------------------------------------------------------


@dataclass
class LoadFigures:
    clients: int
    seconds: float
    latencies_ms: list[float]
    statuses: Counter[int]
    failures: Counter[str]
    server_peak_mib: float
    server_rss_before_mib: float
    server_cpu_s: float
    client_cpu_s: float
    exchange: Counter[str]

    @property
    def requests(self) -> int:
        return self.statuses.total() + self.failures.total()

    @property
    def errors(self) -> int:
        return self.requests - self.statuses[200]


async def _one_client(
    n: int, url: str, key: str, paths: list[str], deadline: float, figures: LoadFigures
) -> None:
    """One client on one connection, calling ``paths`` in turn (each client starting at another)."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60, trust_env=False
    ) as client:
        i = n
        while time.monotonic() < deadline:
            path = paths[i % len(paths)]
            i += 1
            began = time.perf_counter()
            try:
                answer = await client.get(path)
                await answer.aread()
            except httpx.HTTPError as exc:
                figures.failures[type(exc).__name__] += 1
                continue
            figures.latencies_ms.append((time.perf_counter() - began) * 1000)
            figures.statuses[answer.status_code] += 1


def load_part(
    server: WebServer, key: str, sims: list[ServerProcess], clients: int, seconds: float
) -> LoadFigures:
    start = first_start() + timedelta(hours=4)
    window = f"start={start.isoformat()}&end={(start + timedelta(hours=1)).isoformat()}".replace("+", "%2B")
    paths = ["/api/v1/admin/status", f"/api/v1/rooms/free?{window}"]
    figures = LoadFigures(clients, seconds, [], Counter(), Counter(), 0.0, 0.0, 0.0, 0.0, Counter())
    reset_peak(server.pid)
    figures.server_rss_before_mib = proc_mib(server.pid, "VmRSS")
    server_cpu = cpu_seconds(server.pid)
    client_cpu = own_cpu_seconds()
    exchange_before = [s.counts() for s in sims]

    async def everyone() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(_one_client(n, server.url, key, paths, deadline, figures) for n in range(clients))
        )

    began = time.perf_counter()
    asyncio.run(everyone())
    figures.seconds = time.perf_counter() - began
    figures.server_peak_mib = proc_mib(server.pid, "VmHWM")
    figures.server_cpu_s = cpu_seconds(server.pid) - server_cpu
    figures.client_cpu_s = own_cpu_seconds() - client_cpu
    for sim, was in zip(sims, exchange_before, strict=True):
        figures.exchange.update(difference(was, sim.counts()))
    return figures


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def print_load(f: LoadFigures) -> None:
    ordered = sorted(f.latencies_ms)
    by_status = ", ".join(f"{s}: {n}" for s, n in sorted(f.statuses.items()) if s != 200)
    by_failure = ", ".join(f"{k}: {n}" for k, n in sorted(f.failures.items()))
    rows = [
        ("clients (one connection each)", str(f.clients)),
        ("seconds", f"{f.seconds:.1f}"),
        ("requests (status and rooms/free in turn)", str(f.requests)),
        (
            "errors",
            f"{f.errors}" + (f" ({'; '.join(x for x in (by_status, by_failure) if x)})" if f.errors else ""),
        ),
        ("throughput, requests/s", f"{f.requests / f.seconds:.1f}"),
        (
            "latency p50 / p95 / p99 / max, ms",
            " / ".join(f"{percentile(ordered, q):.0f}" for q in (50, 95, 99, 100)),
        ),
        (
            "server: RSS at start / peak (VmHWM), MiB",
            f"{f.server_rss_before_mib:.0f} / {f.server_peak_mib:.0f}",
        ),
        ("server: CPU s (share of one core)", f"{f.server_cpu_s:.1f} ({f.server_cpu_s / f.seconds:.0%})"),
        (
            "client: CPU s; peak RSS, MiB",
            f"{f.client_cpu_s:.1f}; {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
        ),
        (
            "Exchange requests meanwhile",
            ", ".join(f"{k} {n}" for k, n in sorted(f.exchange.items())) or "none",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"load: {f.clients} clients for {f.seconds:.0f} s")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


# --- the run --------------------------------------------------------------------------------------


def main() -> int:
    args = parser().parse_args()
    began = time.perf_counter()
    password = uuid.uuid4().hex
    os.environ[PASSWORD_ENV] = password
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roomsync-bench-web-")))
        for name in ("ews", "graph"):
            (directory / name).mkdir()
        ews = stack.enter_context(
            serve_process(
                "exchange2013",
                ews_seed(SERVICE, persons(EWS_DOMAIN), ROOM_MAILBOXES, password),
                directory=directory / "ews",
                latency_ms=args.latency_ms,
            )
        )
        graph = stack.enter_context(
            serve_process(
                "o365", graph_seed(), directory=directory / "graph", latency_ms=args.latency_ms, tls=True
            )
        )
        os.environ[SECRET_ENV] = graph.client_secret
        config = write_config(directory, ews, graph)
        populate(load_settings(config).resolved_database_url(), args.meetings)
        key = api_key(config)
        server = stack.enter_context(served(config))
        print(
            f"== roomsync serve (pid {server.pid}) at {server.url}, SQLite; simulators exchange2013 and o365 "
            f"in their own processes, {args.latency_ms} ms added latency; "
            f"{args.meetings * FREEBUSY_DAYS * 2 * PERSONS} reservations; {os.cpu_count()} cores"
        )
        sims = [ews, graph]
        print_freebusy(freebusy_part(server, key, config, sims, args.runs))
        if args.seconds > 0:
            print_load(load_part(server, key, sims, args.clients, args.seconds))
    print(f"\nwhole run {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
