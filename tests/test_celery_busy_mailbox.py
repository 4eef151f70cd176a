"""A task whose mailbox another runner is synchronising runs after that cycle, never beside it,
and never as a second task waiting: a real Celery worker (in a thread, Celery's in-memory broker)
runs ``roomsync.cycle`` with the reference connector on SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from roomsync_celery.marks import QUEUED
from roomsync_celery.scheduler import Scheduler
from roomsync_celery.testing import in_memory_scheduler

from roomsync.config import settings_from_mapping
from roomsync.domain import Person
from roomsync.engine.apply import now
from roomsync.storage import Database
from roomsync.storage.leases import Holder

ALICE = "alice@example.org"
ELSEWHERE = Holder(runner_id="elsewhere", host="another-host", pid=1)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[Scheduler]:
    settings = settings_from_mapping(
        {
            "database_url": f"sqlite:///{tmp_path / 'roomsync.db'}",
            "environments": {"local": {"plugin": "reference"}},
            "celery": {"broker_url": "memory://", "single_host": True},
        }
    )
    with in_memory_scheduler(settings, [Person(email=ALICE, environment="local")]) as scheduler:
        yield scheduler


def eventually(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def last_success(database: Database) -> object:
    with database.unit_of_work() as uow:
        return uow.sync.mailbox_state(ALICE).last_success


def test_a_task_of_a_busy_mailbox_waits_for_the_cycle_in_progress(scheduler: Scheduler) -> None:
    database, marks = scheduler.database, scheduler.marks
    assert database.leases.acquire(ALICE, ELSEWHERE, now(), 120).holder == ELSEWHERE
    assert scheduler.enqueue([(ALICE, "person", "local")], "interval", {}) == 1
    # The task ran, found the lease taken, and waits again under a mark of its own.
    eventually(lambda: (mark := marks.get(QUEUED + ALICE)) is not None and mark.holder.startswith("task:"))
    assert last_success(database) is None
    assert scheduler.enqueue([(ALICE, "person", "local")], "wake", {}) == 0  # no second task
    time.sleep(2.5)  # it tried again meanwhile, and waits still
    assert last_success(database) is None
    database.leases.release(ALICE, ELSEWHERE)  # the other cycle ends
    eventually(lambda: last_success(database) is not None)
    eventually(lambda: marks.get(QUEUED + ALICE) is None)
