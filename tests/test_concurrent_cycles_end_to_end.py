"""Concurrent cycles over the simulator: two environments (Exchange 2013 over EWS and Exchange
Online over Graph), each within its own concurrency, and one's throttling leaving the other alone.

The EWS server refuses a request beyond the account's concurrency (EWSMaxConcurrency, a fault
rule of the simulator) and logs every request with its times; Graph's round trips are timed in
the client's transport (``requests``' adapter), per mailbox. Both databases.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

import pytest
import requests

from roomsync.config import settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.databases import empty_database_url
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import simulator_options as graph_options
from roomsync_sim.testing import RunningSimulator, running_simulator

START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=8, minute=0, second=0, microsecond=0)
PERSONS = 6
EWS_LIMIT, GRAPH_LIMIT = 3, 2
LATENCY_MS = 30
PAUSE_MS = 1500  # the Retry-After Graph's throttled answer asks for
SERVICE = "svc@example.org"


def ews_persons() -> list[str]:
    return [f"ews{n}@example.org" for n in range(PERSONS)]


def graph_persons() -> list[str]:
    return [f"graph{n}@example.org" for n in range(PERSONS)]


@dataclass
class GraphTrips:
    """Graph requests in flight, per mailbox and in all, timed in the client's transport."""

    graph_path: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    now: Counter[str] = field(default_factory=Counter)
    peak: Counter[str] = field(default_factory=Counter)
    started: list[tuple[float, str, int]] = field(default_factory=list)  # (when, mailbox, status)

    def mailbox_of(self, url: str) -> str | None:
        path = unquote(urlsplit(url).path)
        if not path.startswith(self.graph_path + "/users/"):
            return None
        return path[len(self.graph_path + "/users/") :].split("/")[0].lower()

    @contextmanager
    def installed(self) -> Iterator[GraphTrips]:
        original = requests.adapters.HTTPAdapter.send
        trips = self

        def send(adapter: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
            mailbox = trips.mailbox_of(str(request.url or ""))
            if mailbox is None:
                return original(adapter, request, *args, **kwargs)
            began = time.time()
            with trips.lock:
                for key in (mailbox, "*"):
                    trips.now[key] += 1
                    trips.peak[key] = max(trips.peak[key], trips.now[key])
            status = 0
            try:
                answer = original(adapter, request, *args, **kwargs)
                status = answer.status_code
                return answer
            finally:
                with trips.lock:
                    trips.now[mailbox] -= 1
                    trips.now["*"] -= 1
                    trips.started.append((began, mailbox, status))

        with mock.patch.object(requests.adapters.HTTPAdapter, "send", send):
            yield self


@dataclass
class Estate:
    ews: RunningSimulator
    graph: RunningSimulator
    database: Database
    runner: SyncRunner
    trips: GraphTrips

    def book_for_everyone(self) -> None:
        with self.database.unit_of_work() as uow:
            for n, email in enumerate(ews_persons() + graph_persons()):
                start = START + timedelta(hours=n)
                fields = EventFields(
                    title=f"Meeting of {email}",
                    start=start,
                    end=start + timedelta(minutes=30),
                    timezone="UTC",
                )
                uow.rooms.create_reservation(Reservation(fields=fields, organizer=email), origin=Origin.ROOMS)
            uow.commit()

    def ews_in_flight_peak(self) -> int:
        """The most EWS requests of the service account in progress at once, from the server's log."""
        entries = [e for e in self.ews.simulator.requests.entries() if e.finished is not None]
        edges = sorted([(e.started, 1) for e in entries] + [(e.finished or 0.0, -1) for e in entries])
        peak = now = 0
        for _, step in edges:
            now += step
            peak = max(peak, now)
        return peak


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema on the PostgreSQL test server."""
    with empty_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def estate(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    ews_seed = {
        "users": [
            {"smtp": SERVICE, "name": "ROOMS service", "password": SIM_USERS[SERVICE]},
            *({"smtp": p, "name": p} for p in ews_persons()),
        ],
        "grants": [{"kind": "impersonation", "grantee": SERVICE}],
    }
    graph_seed = {"users": [{"smtp": p, "name": p} for p in graph_persons()]}
    with ExitStack() as stack:
        ews = stack.enter_context(running_simulator("exchange2013", ews_seed, validate=False))
        graph = stack.enter_context(running_simulator("o365", graph_seed, tls_dir=tmp_path / "tls"))
        monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS[SERVICE])
        monkeypatch.setenv(SECRET_ENV, graph.client_secret)
        settings = settings_from_mapping(
            {
                "environments": {
                    "ews": {
                        "plugin": "exchange2013",
                        "options": ews_options(ews.ews_url, max_concurrency=EWS_LIMIT),
                    },
                    # Graph's throttling reaches the runner at once, not after the client's waits.
                    "graph": {
                        "plugin": "o365",
                        "options": graph_options(
                            graph, max_concurrency=GRAPH_LIMIT, max_retry_wait_seconds=0
                        ),
                    },
                },
                "sync": {"max_parallel_cycles": 8},
            }
        )
        database = Database(database_url)
        database.upgrade()
        stack.callback(database.dispose)
        with database.unit_of_work() as uow:
            for email in ews_persons():
                uow.rooms.upsert_person(Person(email=email, environment="ews"))
            for email in graph_persons():
                uow.rooms.upsert_person(Person(email=email, environment="graph"))
            uow.commit()
        runner = SyncRunner(settings, database)
        stack.callback(runner.close)
        trips = stack.enter_context(GraphTrips(urlsplit(graph.graph_url).path.rstrip("/")).installed())
        # the server refuses what goes beyond the account's concurrency; every request takes a while
        ews.simulator.faults.add("concurrency", limit=EWS_LIMIT)
        for sim in (ews, graph):
            sim.simulator.faults.add("latency", ms=LATENCY_MS)
        yield Estate(ews, graph, database, runner, trips)


def test_each_environment_runs_its_cycles_at_once_within_its_limit(estate: Estate) -> None:
    estate.book_for_everyone()

    reports = estate.runner.sync_once()

    assert len(reports) == 2 * PERSONS and all(r.ok and r.created == 1 for r in reports), [
        r.error for r in reports if not r.ok
    ]
    # EWS: cycles overlapped up to the account's concurrency, never beyond (the server refused none).
    assert 2 <= estate.ews_in_flight_peak() <= EWS_LIMIT
    assert estate.ews.simulator.counts.get("_exceeded_connection_count", 0) == 0
    # Graph: up to its limit in all, one request at a time per mailbox (Graph allows 4).
    assert estate.trips.peak["*"] <= GRAPH_LIMIT
    assert max(n for m, n in estate.trips.peak.items() if m != "*") == 1
    # and again, idle: nothing to write, everyone converged
    again = estate.runner.sync_once()
    assert all(r.ok and not r.changed_anything for r in again)


def test_a_throttled_environment_pauses_while_the_other_goes_on(estate: Estate) -> None:
    estate.book_for_everyone()
    # the first Graph request is answered 429 with Retry-After
    estate.graph.simulator.faults.add("server_busy", count=1, back_off_ms=PAUSE_MS)

    first = {r.mailbox: r for r in estate.runner.sync_once()}

    throttled = [m for m, r in first.items() if not r.ok]
    assert len(throttled) == 1 and throttled[0].startswith("graph"), [r.error for r in first.values()]
    refused = [t for t, m, status in estate.trips.started if status == 429]
    assert len(refused) == 1
    refused_at = refused[0]
    pause_end = refused_at + PAUSE_MS / 1000 * 0.9
    # No Graph cycle started in the pause: its only requests then are those of the cycle that was
    # already running beside the refused one (GRAPH_LIMIT is 2).
    graph_in_pause = {m for t, m, _ in estate.trips.started if refused_at < t < pause_end}
    assert len(graph_in_pause - set(throttled)) <= GRAPH_LIMIT - 1
    assert any(t >= pause_end for t, _, _ in estate.trips.started), "Graph never resumed"
    # EWS went on at full speed meanwhile: all its cycles ran, most of them inside the pause.
    ews_times = [e.started for e in estate.ews.simulator.requests.entries()]
    assert any(refused_at < t < pause_end for t in ews_times)
    assert all(first[p].ok for p in ews_persons())

    again = estate.runner.sync_once()
    assert all(r.ok for r in again)
    assert sum(r.created for r in again) == 1  # the throttled person's entry, and nothing twice
