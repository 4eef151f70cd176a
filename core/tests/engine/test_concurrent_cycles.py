"""Cycles of different persons at once: bounded per environment, never two of one person.

The connector measures itself: :class:`Gauged` is the reference connector taking a little time
per call, as a server's round trip does, and counting the calls in flight per environment and
per mailbox. Two environments, each with its own directory, show that one environment's limit
or back-off leaves the other alone.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomsync import hookspecs
from roomsync.config import settings_from_mapping
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CalendarEntry, Capabilities, ChangeSet, EntryDraft, FreeBusy, WriteResult
from roomsync.connectors.reference import ReferenceConnector
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.budgets import Backoff, SharedBudgets, slot_key
from roomsync.engine.dispatch import Dispatcher, Job
from roomsync.engine.freebusy import free_busy
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.errors import TransientConnectorError
from roomsync.plugins import plugin_manager
from roomsync.storage import Database
from roomsync.storage.leases import Holder
from roomsync.storage.protocols import Origin

BASE = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
CALL_SECONDS = 0.03  # what each connector call takes, like a round trip


@dataclass
class Gauge:
    """Calls in flight, per environment and per mailbox, and the most seen at once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    now: Counter[str] = field(default_factory=Counter)
    peak: Counter[str] = field(default_factory=Counter)
    mailbox_now: Counter[str] = field(default_factory=Counter)
    mailbox_peak: Counter[str] = field(default_factory=Counter)
    calls: list[tuple[float, str, str]] = field(default_factory=list)  # (when, environment, mailbox)

    @contextmanager
    def call(self, environment: str, mailbox: str) -> Iterator[None]:
        with self.lock:
            self.now[environment] += 1
            self.peak[environment] = max(self.peak[environment], self.now[environment])
            self.mailbox_now[mailbox] += 1
            self.mailbox_peak[mailbox] = max(self.mailbox_peak[mailbox], self.mailbox_now[mailbox])
            self.calls.append((time.monotonic(), environment, mailbox))
        try:
            time.sleep(CALL_SECONDS)
            yield
        finally:
            with self.lock:
                self.now[environment] -= 1
                self.mailbox_now[mailbox] -= 1


class Gauged(ReferenceConnector):
    """The reference connector, each call taking :data:`CALL_SECONDS` and counted in ``gauge``;
    ``throttle`` answers the next calls with a busy server asking for a back-off."""

    gauges: ClassVar[dict[str, Gauge]] = {}
    throttle: ClassVar[dict[str, list[float]]] = defaultdict(list)  # directory: hints to answer
    refused: ClassVar[dict[str, list[float]]] = defaultdict(list)  # directory: when it answered busy

    @property
    def gauge(self) -> Gauge:
        return self.gauges.setdefault(self.options.directory, Gauge())

    def _busy(self) -> None:
        hints = self.throttle[self.options.directory]
        if hints:
            self.refused[self.options.directory].append(time.monotonic())
            error = TransientConnectorError("the server is busy")
            error.back_off_seconds = hints.pop(0)  # type: ignore[attr-defined]
            raise error

    @hookspecs.hookimpl
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        with self.gauge.call(self.environment, mailbox):
            self._busy()
            return super().roomsync_changes(mailbox, sync_state)

    @hookspecs.hookimpl
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        with self.gauge.call(self.environment, mailbox):
            return super().roomsync_create_entries(mailbox, drafts)

    @hookspecs.hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        return super().roomsync_capabilities().model_copy(update={"max_freebusy_mailboxes": 10})

    @hookspecs.hookimpl
    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        with self.gauge.call(self.environment, f"free/busy {mailboxes[0]}"):
            return super().roomsync_free_busy(mailboxes, start, end)

    @hookspecs.hookimpl
    def roomsync_find_by_stamp(self, mailbox: str, stamps: list[str]) -> dict[str, list[CalendarEntry]]:
        with self.gauge.call(self.environment, mailbox):
            return super().roomsync_find_by_stamp(mailbox, stamps)


@dataclass
class Estate:
    """Persons in two environments, each with its own directory and concurrency limit."""

    database: Database
    runner: SyncRunner
    directories: dict[str, MailboxDirectory]
    persons: dict[str, list[str]]

    def gauge(self, environment: str) -> Gauge:
        return Gauged.gauges[self.directory_name(environment)]

    def directory_name(self, environment: str) -> str:
        return self.runner.settings.environments[environment].options["directory"]

    def book_for_everyone(self, count: int = 1) -> None:
        with self.database.unit_of_work() as uow:
            for emails in self.persons.values():
                for email in emails:
                    for n in range(count):
                        start = BASE + timedelta(hours=n)
                        fields = EventFields(
                            title=f"{email} {n}",
                            start=start,
                            end=start + timedelta(minutes=30),
                            timezone="UTC",
                        )
                        uow.rooms.create_reservation(
                            Reservation(fields=fields, organizer=email), origin=Origin.ROOMS
                        )
            uow.commit()

    def converged(self) -> bool:
        with self.database.unit_of_work() as uow:
            wanted = Counter(r.organizer for r in uow.rooms.reservations())
        return all(
            len(self.directories[env].entries(email)) == wanted[email]
            for env, emails in self.persons.items()
            for email in emails
        )


def estate(
    database: Database, limits: dict[str, int], per_environment: int, budgets: Any = None, **sync: Any
) -> Estate:
    names = {env: f"concurrent-{env}-{uuid.uuid4().hex}" for env in limits}
    settings = settings_from_mapping(
        {
            "data_dir": "unused",
            "environments": {
                env: {"plugin": "reference", "options": {"directory": names[env], "max_concurrency": limit}}
                for env, limit in limits.items()
            },
            "sync": {"max_parallel_cycles": 8, **sync},
        }
    )
    runner = SyncRunner(settings, database, plugin_manager(), budgets=budgets)
    persons = {env: [f"p{n}.{env}@example.org" for n in range(per_environment)] for env in limits}
    with database.unit_of_work() as uow:
        for env, emails in persons.items():
            for email in emails:
                uow.rooms.upsert_person(Person(email=email, environment=env))
        uow.commit()
    use_gauged(runner)
    return Estate(database, runner, {env: MailboxDirectory.named(names[env]) for env in limits}, persons)


def use_gauged(runner: SyncRunner) -> None:
    """Only an environment's connector answers its hooks, so the connector itself is swapped."""
    for env, config in runner.settings.environments.items():
        host = ConnectorHost(env, Gauged.from_config(env, config.options), runner.pm.list_name_plugin())
        host.stamps = runner.stamps()
        runner._hosts[env] = host


@pytest.fixture
def two(database: Database) -> Iterator[Estate]:
    made = estate(database, {"ews": 2, "graph": 3}, per_environment=6)
    yield made
    made.runner.close()


def test_never_more_than_the_limit_in_flight_per_environment(two: Estate) -> None:
    two.book_for_everyone(2)

    reports = two.runner.sync_once()

    assert [r.mailbox for r in reports] == [p.email for p in two.runner.persons()]  # in order
    assert all(r.ok and r.created == 2 for r in reports), [r.error for r in reports]
    assert two.converged()
    # No environment passed its limit, and cycles did run at once.
    ews, graph = two.gauge("ews").peak["ews"], two.gauge("graph").peak["graph"]
    assert ews <= 2 and graph <= 3 and ews + graph >= 4
    assert max(two.gauge("ews").mailbox_peak.values()) == 1


def test_many_cycles_writing_at_once_never_find_the_database_locked(database: Database) -> None:
    """Eight cycles at once, each committing its intents and its writes: on SQLite (write-ahead
    logging, writers taking turns within the busy timeout) as on PostgreSQL, none fails."""
    made = estate(database, {"ews": 8}, per_environment=16, max_parallel_cycles=8)
    try:
        made.book_for_everyone(15)
        reports = made.runner.sync_once()
        assert all(r.ok and r.created == 15 for r in reports), [r.error for r in reports if not r.ok]
        assert 2 <= made.gauge("ews").peak["ews"] <= 8  # at once, within the limit
        assert made.converged()
        if database.engine.dialect.name == "sqlite":
            with database.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        made.runner.close()


def test_the_global_cap_bounds_all_environments_together(database: Database) -> None:
    made = estate(database, {"ews": 4, "graph": 4}, per_environment=6, max_parallel_cycles=3)
    try:
        made.book_for_everyone()
        assert all(r.ok for r in made.runner.sync_once())
        calls = sorted(made.gauge("ews").calls + made.gauge("graph").calls)
        assert made.converged()
        # every call takes CALL_SECONDS: count the calls that overlap each call's start
        overlapping = max(sum(1 for t, *_ in calls if s <= t < s + CALL_SECONDS) for s, *_ in calls)
        assert overlapping <= 3
        assert made.gauge("ews").peak["ews"] + made.gauge("graph").peak["graph"] >= 3
    finally:
        made.runner.close()


def test_a_person_never_has_two_cycles_at_once(two: Estate) -> None:
    """Three callers at once, two of them sharing a runner, the third another runner: the
    person lock and the mailbox lease keep each mailbox to one cycle."""
    two.book_for_everyone(2)
    other = SyncRunner(two.runner.settings, two.database, plugin_manager())
    use_gauged(other)
    reports: list[CycleReport] = []
    lock = threading.Lock()

    def sync(runner: SyncRunner) -> None:
        done = runner.sync_once()
        with lock:
            reports.extend(done)

    callers = [threading.Thread(target=sync, args=(r,)) for r in (two.runner, two.runner, other)]
    try:
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
    finally:
        other.close()
    assert all(r.ok for r in reports), [r.error for r in reports]
    assert set(two.gauge("ews").mailbox_peak.values()) | set(two.gauge("graph").mailbox_peak.values()) == {1}
    assert two.converged()
    for env, emails in two.persons.items():  # each entry once: no cycle wrote what another did
        for email in emails:
            assert len(two.directories[env].entries(email)) == 2


def test_one_failing_person_does_not_stop_the_others(two: Estate) -> None:
    two.book_for_everyone()
    failing = two.persons["ews"][1]
    two.directories["ews"].deny(failing)

    reports = {r.mailbox: r for r in two.runner.sync_once()}

    assert not reports[failing].ok and "impersonation" in (reports[failing].error or "")
    assert all(r.ok and r.created == 1 for m, r in reports.items() if m != failing)
    two.directories["ews"].allow(failing)
    assert all(r.ok for r in two.runner.sync_once())
    assert two.converged()


def test_stop_lets_the_cycles_in_progress_finish_and_starts_no_more(database: Database) -> None:
    made = estate(database, {"ews": 2, "graph": 2}, per_environment=10)
    stop = threading.Event()
    finished: list[str] = []

    def progress(person: Person, report: CycleReport) -> None:
        finished.append(person.email)
        stop.set()  # after the first cycle

    try:
        made.book_for_everyone()
        reports = made.runner.sync_once(progress=progress, stop=stop)
    finally:
        made.runner.close()
    started = {m for g in (made.gauge("ews"), made.gauge("graph")) for _, _, m in g.calls}
    assert 1 <= len(reports) < 20
    assert {r.mailbox for r in reports} == started == set(finished)  # every started cycle finished
    assert all(r.ok and r.created == 1 for r in reports)
    assert made.gauge("ews").now["ews"] == made.gauge("graph").now["graph"] == 0


PAUSE = 1.5


def test_a_throttling_environment_pauses_alone(database: Database) -> None:
    made = estate(database, {"ews": 2, "graph": 2}, per_environment=6)
    Gauged.throttle[made.directory_name("ews")][:] = [PAUSE]  # the server asks for a pause
    try:
        made.book_for_everyone()
        first = {r.mailbox: r for r in made.runner.sync_once()}
        again = made.runner.sync_once()
    finally:
        made.runner.close()
    throttled = [m for m, r in first.items() if not r.ok]
    assert len(throttled) == 1 and throttled[0] in made.persons["ews"]
    assert all(r.ok for r in again) and made.converged()
    [refused_at] = Gauged.refused[made.directory_name("ews")]
    ews = made.gauge("ews").calls
    # No new cycle of ews started during the pause: the calls in it are those of the one cycle
    # that was already running beside the refused one.
    in_pause = {m for t, _, m in ews if refused_at < t < refused_at + PAUSE * 0.9}
    assert len(in_pause - set(throttled)) <= 1
    assert any(t >= refused_at + PAUSE * 0.9 for t, _, _ in ews), "ews never resumed"
    # graph went on meanwhile: every one of its persons had their cycle before the pause ended.
    first_call: dict[str, float] = {}
    for t, _, mailbox in made.gauge("graph").calls:
        first_call.setdefault(mailbox, t)
    assert set(first_call) == set(made.persons["graph"])
    assert max(first_call.values()) < refused_at + PAUSE * 0.9


def test_without_a_hint_the_pause_doubles_up_to_its_cap() -> None:
    clock = [0.0]
    backoff = Backoff(first=1.0, cap=5.0, clock=lambda: clock[0])
    assert [backoff.throttled("ews") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.paused_until("ews") == 5.0 and backoff.paused_until("graph") is None
    assert backoff.throttled("ews", hint=30.0) == 5.0  # a hint is honoured up to the cap
    backoff.succeeded("ews")
    assert backoff.throttled("ews") == 1.0  # a success starts the doubling afresh
    clock[0] = 10.0
    assert backoff.paused_until("ews") is None


def test_free_busy_chunks_are_asked_at_once_within_the_limit(database: Database) -> None:
    made = estate(database, {"ews": 3}, per_environment=60)
    try:
        mailboxes = made.persons["ews"]
        made.book_for_everyone()
        made.runner.sync_once()
        answers = free_busy(made.runner, mailboxes, BASE - timedelta(hours=1), BASE + timedelta(days=1))
    finally:
        made.runner.close()
    assert [a.mailbox for a in answers] == mailboxes  # in the order asked, each once
    assert all(not a.errors and len(a.busy) == 1 for a in answers)  # each person's booking
    chunks = [t for t, _, m in made.gauge("ews").calls if m.startswith("free/busy")]
    assert len(chunks) == 6  # 60 mailboxes, 10 per request
    # each takes CALL_SECONDS: chunks starting within one of them were in flight together
    together = max(sum(1 for t in chunks if s <= t < s + CALL_SECONDS) for s in chunks)
    assert 2 <= together <= 3  # at once, never beyond the limit


# --- budgets shared across processes --------------------------------------------------------------


def test_shared_budgets_bound_an_environment_across_runners(database: Database) -> None:
    """Two runners on one database, as two workers: together never more than the limit."""
    limit_of = {"ews": 2, "graph": 2}.__getitem__
    made = estate(
        database,
        {"ews": 3, "graph": 3},  # each runner alone would allow 3
        per_environment=8,
        budgets=SharedBudgets(database, lambda env: limit_of(env), Holder.of_this_process()),
    )
    other = SyncRunner(
        made.runner.settings,
        database,
        plugin_manager(),
        budgets=SharedBudgets(database, lambda env: limit_of(env), Holder.of_this_process()),
    )
    use_gauged(other)
    made.book_for_everyone()
    reports: list[CycleReport] = []
    halves = {
        made.runner: made.persons["ews"][:4] + made.persons["graph"][:4],
        other: made.persons["ews"][4:] + made.persons["graph"][4:],
    }
    workers = [
        threading.Thread(target=lambda r=r, only=only: reports.extend(r.sync_once(only)))
        for r, only in halves.items()
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        other.close()
        made.runner.close()
    assert len(reports) == 16 and all(r.ok for r in reports), [r.error for r in reports]
    assert made.converged()
    assert made.gauge("ews").peak["ews"] <= 2 and made.gauge("graph").peak["graph"] <= 2
    assert database.leases.budget_slots(datetime.now(UTC)) == []  # every slot given back
    assert database.leases.leases(datetime.now(UTC)) == []


def test_a_crashed_holders_slot_expires_like_a_lease(database: Database) -> None:
    at = datetime.now(UTC)
    crashed = Holder(uuid.uuid4().hex, "another-host", 4242)  # not of this host: only expiry frees it
    leases = database.leases
    leases.acquire(slot_key("ews", 0), crashed, at, seconds=0.5)
    budgets = SharedBudgets(database, lambda env: 1, Holder.of_this_process())
    began = time.monotonic()
    with budgets.slot("ews"):
        waited = time.monotonic() - began
        [held] = leases.budget_slots(datetime.now(UTC))
        assert held.mailbox == "budget:ews:0" and held.holder != crashed
        assert leases.leases(datetime.now(UTC)) == []  # a slot is not a cycle in progress
    assert waited >= 0.3
    assert leases.budget_slots(datetime.now(UTC)) == []


def test_a_slot_of_a_gone_process_of_this_host_is_taken_at_once(database: Database) -> None:
    import socket

    gone = Holder(uuid.uuid4().hex, socket.gethostname(), 2**22 + 7)  # no such pid
    database.leases.acquire(slot_key("ews", 0), gone, datetime.now(UTC), seconds=600)
    budgets = SharedBudgets(database, lambda env: 1, Holder.of_this_process())
    began = time.monotonic()
    with budgets.slot("ews"):
        assert time.monotonic() - began < 5


# --- the dispatcher, as a property ----------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 5)), min_size=1, max_size=25),
    limits=st.fixed_dictionaries({"a": st.integers(1, 3), "b": st.integers(1, 3), "c": st.integers(1, 3)}),
    workers=st.integers(1, 4),
)
def test_dispatcher_bounds_and_order(
    jobs: list[tuple[str, int]], limits: dict[str, int], workers: int
) -> None:
    """Every job runs once; per environment at most its limit at once, in all at most the
    workers, never two of one key; each environment's jobs start in the order given."""
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    now: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    total = [0, 0]
    started: list[tuple[str, int]] = []
    ran: list[int] = []

    def job(i: int, env: str, key: int) -> Job:
        def run() -> int:
            with lock:
                now[env] += 1
                peak[env] = max(peak[env], now[env])
                keys[f"k{key}"] += 1
                assert keys[f"k{key}"] == 1, "two jobs of one key at once"
                total[0] += 1
                total[1] = max(total[1], total[0])
                started.append((env, i))
            time.sleep(0.001)
            with lock:
                now[env] -= 1
                keys[f"k{key}"] -= 1
                total[0] -= 1
            return i

        return Job(f"k{key}", env, run, ran.append)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        Dispatcher(pool, workers, limits.__getitem__, Backoff()).run(
            [job(i, env, key) for i, (env, key) in enumerate(jobs)]
        )
    assert sorted(ran) == list(range(len(jobs)))
    assert all(peak[env] <= limits[env] for env in peak)
    assert total[1] <= workers
    once = {key for key, n in Counter(k for _, k in jobs).items() if n == 1}
    for env in limits:  # in the order given, apart from jobs that waited for their key's cycle
        order = [i for e, i in started if e == env and jobs[i][1] in once]
        assert order == sorted(order)


def test_dispatcher_runs_urgent_jobs_before_the_queued_ones() -> None:
    from concurrent.futures import ThreadPoolExecutor

    ran: list[str] = []
    woken = [Job("urgent", "a", lambda: "urgent", ran.append)]

    def urgent() -> list[Job]:
        taken, woken[:] = list(woken), []
        return taken

    with ThreadPoolExecutor(max_workers=1) as pool:
        jobs = [Job(f"q{i}", "a", lambda i=i: f"q{i}", ran.append) for i in range(3)]
        Dispatcher(pool, 1, lambda env: 1, Backoff()).run(jobs, urgent=urgent)
    assert ran == ["urgent", "q0", "q1", "q2"]


def test_an_interrupt_in_a_cycle_is_raised_after_the_others_finished() -> None:
    from concurrent.futures import ThreadPoolExecutor

    finished: list[str] = []

    def slow() -> str:
        time.sleep(0.1)
        return "slow"

    def interrupted() -> str:
        raise KeyboardInterrupt("stopped")

    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [
            Job("slow", "a", slow, finished.append),
            Job("x", "a", interrupted),
            Job("late", "a", lambda: "late", finished.append),
        ]
        with pytest.raises(KeyboardInterrupt):
            Dispatcher(pool, 2, lambda env: 2, Backoff()).run(jobs)
    assert finished == ["slow"]  # it finished; nothing started after the interrupt
