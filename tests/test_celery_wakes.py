"""The scheduler turns changes into tasks at once: a reservation made in ROOMS reaches the
organizer's calendar long before the next round (the ROOMS change feed, SQLite's journal poll),
through a real Celery worker (in a thread, Celery's in-memory broker) and the reference connector."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from roomsync_celery.scheduler import Scheduler
from roomsync_celery.testing import in_memory_scheduler

from roomsync.config import settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.runner import WAKE_DEBOUNCE_SECONDS
from roomsync.storage.protocols import Origin

ALICE = "alice@example.org"
ROUND_SECONDS = 3600  # no round but the first one during the test


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[Scheduler]:
    settings = settings_from_mapping(
        {
            "database_url": f"sqlite:///{tmp_path / 'roomsync.db'}",
            "sync": {"interval_seconds": ROUND_SECONDS, "watched_interval_seconds": ROUND_SECONDS},
            "environments": {"local": {"plugin": "reference"}},
            "celery": {"broker_url": "memory://", "single_host": True, "scheduler_lease_seconds": 2},
        }
    )
    with in_memory_scheduler(settings, [Person(email=ALICE, environment="local")]) as scheduler:
        yield scheduler


def eventually(condition: Callable[[], bool], timeout: float = 30) -> float:
    """Seconds until ``condition`` held."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "never happened"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_reservation_made_in_rooms_becomes_a_task_at_once(scheduler: Scheduler) -> None:
    database = scheduler.database

    def synchronised() -> bool:
        with database.unit_of_work() as uow:
            return uow.sync.mailbox_state(ALICE).last_success is not None

    def linked() -> bool:
        with database.unit_of_work() as uow:
            return any(link.item_id for link in uow.sync.links_in_mailbox(ALICE))

    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    try:
        eventually(synchronised)  # the first round's cycle
        enqueued = scheduler.enqueued
        start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
        fields = EventFields(title="Planning", start=start, end=start + timedelta(hours=1), timezone="UTC")
        with database.unit_of_work() as uow:
            uow.rooms.create_reservation(Reservation(fields=fields, organizer=ALICE), origin=Origin.ROOMS)
            uow.commit()
        eventually(linked, timeout=ROUND_SECONDS / 100)
        assert scheduler.enqueued > enqueued  # a woken task, not a round: the next is an hour away
    finally:
        stop.set()
        thread.join()


def test_the_watchs_first_wake_of_a_mailbox_is_served_by_the_rounds_task(scheduler: Scheduler) -> None:
    """A watch wakes every mailbox once it stands (what changed before was not reported), while
    the round that started it enqueues the same mailboxes: their round's task reads it all."""
    database = scheduler.database

    def cycled() -> bool:
        with database.unit_of_work() as uow:
            return uow.sync.mailbox_state(ALICE).last_success is not None

    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    try:
        eventually(cycled)
        time.sleep(3 * WAKE_DEBOUNCE_SECONDS)  # the wake would have been due meanwhile
        assert scheduler.enqueued == 1
    finally:
        stop.set()
        thread.join()
