"""Many machines on Celery: real brokers, real worker processes, a scheduler killed and replaced.

Three ``roomsync worker`` processes (prefork, a pool process each) and two ``roomsync
scheduler`` processes share a PostgreSQL database and a broker (Redis: 200 persons; RabbitMQ:
30); the exchange2013 plugin goes over HTTP to a simulator answering 20 ms late. Every person
has a reservation to export. While the cycles run, one pool process is killed (SIGKILL) in the
middle of a cycle, then a whole worker with its pool (a machine gone), then the active
scheduler; the standby takes over, and reservations made in ROOMS meanwhile reach Exchange
through it. The record of what happened is the simulator's request log (who acted on which
mailbox, when) and the cycles the workers logged.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from roomsync_celery.marks import LOCK, QUEUED, Marks
from roomsync_celery.testing import (
    Cluster,
    Process,
    broker_or_skip,
    configuration,
    cycles_logged,
    delete_queues,
)

from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.apply import now
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.databases import empty_database_url
from roomsync_ews_common.testing import SIM_PASSWORD_ENV
from roomsync_sim.request_log import LoggedRequest
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.testing import running_simulator

LATENCY_MS = 20
BUDGET = 2  # cycles of the environment at once, over all workers ([celery.environment_concurrency])
LEASE_SECONDS = 3.0  # the scheduler's lock
# Watched persons (EWS streaming) get a safety-net round only after the test; woken cycles do.
SYNC = '[sync]\ninterval_seconds = 5\nwatched_interval_seconds = 60\n[logging]\nlevel = "info"'
NOTIFICATIONS = {"Subscribe", "GetStreamingEvents", "Unsubscribe", "GetEvents"}
START = (datetime.now(UTC) + timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)


def reservation(email: str, n: int, title: str) -> Reservation:
    start = START + timedelta(days=n % 20, minutes=30 * (n % 16))
    fields = EventFields(
        title=title, start=start, end=start + timedelta(minutes=30), timezone="Europe/Berlin"
    )
    return Reservation(fields=fields, organizer=email)


@pytest.fixture
def postgresql_url(tmp_path: Path) -> Iterator[str]:
    with empty_database_url("postgresql", tmp_path) as url:
        yield url


@pytest.mark.postgresql
@pytest.mark.parametrize(("broker", "count"), [("redis", 200), ("rabbitmq", 30)])
def test_cycles_over_three_workers_survive_a_killed_worker_and_scheduler(
    broker: str, count: int, postgresql_url: str, tmp_path: Path
) -> None:
    broker_url = broker_or_skip(broker)
    environment = f"onprem{uuid.uuid4().hex[:8]}"  # queues of their own on a shared broker
    persons = [f"p{n}@example.org" for n in range(count)]
    seed = deepcopy(DEFAULT_SEED)
    seed["users"] += [{"smtp": p, "name": p.split("@")[0], "password": "pw"} for p in persons]
    expected: dict[str, list[str]] = {p: [f"Export {p}"] for p in persons}
    with running_simulator("exchange2013", seed, validate=False) as sim:
        sim.simulator.faults.add("latency", ms=LATENCY_MS)
        config = tmp_path / "roomsync.toml"
        config.write_text(
            configuration(
                database_url=postgresql_url,
                broker_url=broker_url,
                environment=environment,
                ews_url=sim.ews_url,
                password_env=SIM_PASSWORD_ENV,
                extra=SYNC,
                # Redis hands a dead worker's unacknowledged task out again after this long.
                celery=f"scheduler_lease_seconds = {LEASE_SECONDS}\nvisibility_timeout_seconds = 10\n"
                f"[celery.environment_concurrency]\n{environment} = {BUDGET}",
            ),
            encoding="utf-8",
        )
        database = Database(postgresql_url)
        database.upgrade()
        with database.unit_of_work() as uow:
            for n, email in enumerate(persons):
                uow.rooms.upsert_person(Person(email=email, environment=environment))
                uow.rooms.create_reservation(reservation(email, n, expected[email][0]), origin=Origin.ROOMS)
            uow.commit()
        env = {**os.environ, SIM_PASSWORD_ENV: "svc-password"}
        try:
            with Cluster(config, env) as cluster:
                workers = [cluster.worker(f"w{n}", concurrency=1, wait=False) for n in range(3)]
                for worker in workers:
                    cluster.wait_for(worker, "roomsync worker ready")
                first = cluster.scheduler("a")
                cluster.wait_for(first, "scheduler active")
                standby = cluster.scheduler("b")
                cluster.wait_for(standby, "scheduler standing by")

                # A pool process of the first worker, killed while it holds a mailbox's lease;
                # then the whole third worker (a machine gone), in a cycle as well.
                killed = dict([kill_mid_cycle(database, workers[0])])
                killed.update([kill_mid_cycle(database, workers[2], whole=True)])
                assert len(killed) == 2
                # The active scheduler, killed once it has enqueued its first round.
                first.popen.send_signal(signal.SIGKILL)
                killed_scheduler_at = time.time()
                # Made in ROOMS while no scheduler runs: the new one's first round enqueues them.
                later = persons[:: max(1, count // 10)]
                with database.unit_of_work() as uow:
                    for n, email in enumerate(later):
                        title = f"Later {email}"
                        expected[email].append(title)
                        uow.rooms.create_reservation(reservation(email, n + 7, title), origin=Origin.ROOMS)
                    uow.commit()

                cluster.wait_for(standby, "scheduler active", timeout=LEASE_SECONDS * 4)
                took_over_after = time.time() - killed_scheduler_at
                holder = Marks(database.engine).get(LOCK)
                assert holder is not None and f":{standby.popen.pid}:" in holder.holder

                wait_until_converged(sim, expected, lambda m: explain(m, sim, database, workers), timeout=420)
                for process in [workers[0], workers[1], standby]:
                    assert cluster.stop(process) == 0, process.text()[-3000:]
                assert "scheduler stopped after enqueueing" in standby.text()
                logged = list(cycles_logged(workers))
        finally:
            delete_queues(broker_url, ["roomsync", f"roomsync.{environment}"])
            requests = sim.simulator.requests.entries()
            database.dispose()

    # Every person converged: their calendar holds each of their reservations exactly once.
    for email, titles in expected.items():
        assert sim_calendar(sim, email) == sorted(titles), email
    assert took_over_after <= 2 * LEASE_SECONDS + 2  # the lock's expiry, and the standby's next look

    cycles = [c for c in logged if c["skipped"] is None and c["cycle_started"]]
    assert all(c["ok"] for c in cycles), [c for c in cycles if not c["ok"]][:3]
    assert {c["mailbox"] for c in cycles} == set(persons)
    assert {c["process"] for c in cycles} == {"w0", "w1", "w2"}
    # The killed cycles' mailboxes were synchronised afterwards by a live process.
    for mailbox, at in killed.items():
        assert any(
            c["mailbox"] == mailbox and c["task_started"] > at and c["process"] != "w2" for c in cycles
        )
    # Each entry was created once: by the cycles the workers logged, plus at most the killed ones.
    created = Counter[str]()
    for c in cycles:
        created[c["mailbox"]] += c["entries_created"]
    for email, titles in expected.items():
        assert created[email] in ((len(titles),) if email not in killed else (len(titles) - 1, len(titles)))

    assert_no_overlapping_cycles(cycles)
    assert_no_mailbox_served_twice_at_once(requests)
    assert max_mailboxes_in_flight(requests) <= BUDGET


def kill_mid_cycle(database: Database, worker: Process, whole: bool = False) -> tuple[str, float]:
    """SIGKILL the pool process of ``worker`` that holds a mailbox's lease (so is in a cycle), or
    with ``whole`` the worker with its pool; answers the mailbox and when."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = set(worker.children())
        for lease in database.leases.leases(now()):
            if lease.holder.pid in children and not lease.mailbox.startswith("budget:"):
                if whole:
                    os.killpg(worker.popen.pid, signal.SIGKILL)
                else:
                    os.kill(lease.holder.pid, signal.SIGKILL)
                return lease.mailbox, time.time()
        time.sleep(0.01)
    raise AssertionError(f"no pool process of {worker.name} was ever seen in a cycle")


def sim_calendar(sim: object, mailbox: str) -> list[str]:
    return list(sim.calendar_subjects(mailbox))  # type: ignore[attr-defined]


def wait_until_converged(
    sim: object, expected: dict[str, list[str]], explain: Callable[[str], str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        behind = [m for m, titles in expected.items() if sim_calendar(sim, m) != sorted(titles)]
        if not behind:
            return
        if time.monotonic() > deadline:
            details = "\n".join(explain(m) for m in behind[:5])
            raise AssertionError(f"{len(behind)} persons never converged:\n{details}")
        time.sleep(0.5)


def explain(mailbox: str, sim: object, database: Database, workers: list[Process]) -> str:
    """What became of a mailbox: its calendar, its marks and lease, the cycles logged for it."""
    marks = Marks(database.engine)
    leases = [lease for lease in database.leases.leases(now()) if lease.mailbox == mailbox]
    mine = [
        {k: c.get(k) for k in ("process", "pid", "task_started", "skipped", "entries_created", "ok")}
        for c in cycles_logged(workers)
        if c["mailbox"] == mailbox
    ]
    return (
        f"{mailbox}: calendar {sim_calendar(sim, mailbox)}, queued mark {marks.get(QUEUED + mailbox)}, "
        f"lease {leases}, cycles {mine}"
    )


def assert_no_overlapping_cycles(cycles: list[dict[str, object]]) -> None:
    """From the workers' logs: one mailbox's cycles (lease held) follow each other."""
    by_mailbox: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for c in cycles:
        started = datetime.fromisoformat(str(c["cycle_started"]))
        finished = datetime.fromisoformat(str(c["cycle_finished"]))
        by_mailbox[str(c["mailbox"])].append((started, finished, str(c["process"])))
    for mailbox, spans in by_mailbox.items():
        for before, after in itertools.pairwise(sorted(spans)):
            assert before[1] <= after[0], f"{mailbox}: cycle {before} overlaps {after}"


def _served(requests: list[LoggedRequest]) -> list[LoggedRequest]:
    return [r for r in requests if r.operation not in NOTIFICATIONS and r.finished is not None]


def assert_no_mailbox_served_twice_at_once(requests: list[LoggedRequest]) -> None:
    """From the simulator's log: no two requests on one mailbox were ever in progress together."""
    by_mailbox: dict[str, list[LoggedRequest]] = defaultdict(list)
    for request in _served(requests):
        by_mailbox[request.acting_as].append(request)
    assert len(by_mailbox) > 1
    for mailbox, served in by_mailbox.items():
        served.sort(key=lambda r: r.started)
        for before, after in itertools.pairwise(served):
            assert before.finished is not None and before.finished <= after.started, (
                f"{mailbox}: {before.operation} and {after.operation} at once"
            )


def max_mailboxes_in_flight(requests: list[LoggedRequest]) -> int:
    """The most mailboxes the server was serving at one instant (at most one cycle each)."""
    events = []
    for request in _served(requests):
        events += [(request.started, 1, request.acting_as), (request.finished or request.started, -1, "")]
    busy = most = 0
    for _, step, _ in sorted(events, key=lambda e: (e[0], e[1])):
        busy += step
        most = max(most, busy)
    return most
