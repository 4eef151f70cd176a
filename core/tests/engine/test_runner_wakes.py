"""The runner as a daemon: woken persons get a cycle at once, everyone gets one every interval.

The reference connector watches its directory, so an "Outlook" change there wakes the runner the
way an Exchange notification does. Intervals are long wherever a test proves that a wake, not the
polling, brought a cycle.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

from roomsync import hookspecs
from roomsync.connector.base import Connector, Wake
from roomsync.connector.host import ConnectorHost
from roomsync.connector.options import NoOptions
from roomsync.connectors.reference import ReferenceConnector
from roomsync.domain import Person
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import WAKE_DEBOUNCE_SECONDS
from roomsync.errors import ConnectorError
from roomsync.storage import Database
from roomsync.testkit.wakes import WakeRecorder

from .conftest import ALICE, BOB, CAROL, ROOM_A, World, make_world

EVERYONE = {ALICE, BOB, CAROL}
DAVE = "dave@example.org"


class Running:
    """``runner.run`` in a thread of its own, recording every finished cycle and announcement."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.stop = threading.Event()
        self.cycles: list[tuple[float, str]] = []
        self.announced: list[tuple[str, bool, int]] = []
        self.full_cycles = -1
        self._cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.full_cycles = self.world.runner.run(self.stop, self._progress, self._announce)

    def _progress(self, person: Person, report: CycleReport) -> None:
        assert report.ok, report.error
        with self._cond:
            self.cycles.append((time.monotonic(), person.email))
            self._cond.notify_all()

    def _announce(self, environment: str, watching: bool, mailboxes: int) -> None:
        with self._cond:
            self.announced.append((environment, watching, mailboxes))
            self._cond.notify_all()

    def persons_since(self, since: float) -> list[str]:
        with self._cond:
            return [email for at, email in self.cycles if at >= since]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))  # the condition may look at the database too
            return True

    def wait_for_cycles(self, persons: set[str], since: float, timeout: float = 5.0) -> bool:
        return self.wait_for(lambda: persons <= set(self.persons_since(since)), timeout)


@contextmanager
def running(world: World) -> Iterator[Running]:
    run = Running(world)
    run.thread.start()
    try:
        yield run
    finally:
        run.stop.set()
        run.thread.join(timeout=5)
        assert not run.thread.is_alive(), "the runner did not stop"


@contextmanager
def daemon(database: Database, **sync: Any) -> Iterator[tuple[World, Running]]:
    world = make_world(database, **sync)
    try:
        with running(world) as run:
            assert run.wait_for_cycles(EVERYONE, 0.0), "the first full cycle did not happen"
            yield world, run
    finally:
        world.runner.close()


def test_a_change_in_outlook_wakes_only_its_persons_cycle_at_once(database: Database) -> None:
    with daemon(database, interval_seconds=60) as (world, run):
        assert run.announced == [("ref", True, 5)]  # three persons and the two rooms
        assert run.wait_for(lambda: len(run.cycles) == 3)  # the watch's first wake found them all due
        since = time.monotonic()
        world.exchange.user_create(ALICE, world.fields("Booked in Outlook", rooms=(ROOM_A,)))

        assert run.wait_for(lambda: bool(world.reservations(organizer=ALICE)), timeout=5)
        latency = time.monotonic() - since
        time.sleep(WAKE_DEBOUNCE_SECONDS + 0.3)  # room for a stray cycle to show itself

        assert latency < 3, f"the booking took {latency:.2f} s to reach ROOMS"
        assert set(run.persons_since(since)) == {ALICE}, run.persons_since(since)


def test_an_outlook_booking_of_a_room_wakes_the_rooms_cycle_at_once(database: Database) -> None:
    with daemon(database, interval_seconds=60) as (world, run):
        assert run.wait_for(lambda: len(run.cycles) == 3)
        time.sleep(WAKE_DEBOUNCE_SECONDS + 0.3)  # the first wake of everyone has been served
        since = time.monotonic()
        world.exchange.user_book_room(ROOM_A, DAVE, world.fields("Booked by an outsider"))

        assert run.wait_for(lambda: bool(world.reservations(organizer=DAVE)), timeout=5)
        latency = time.monotonic() - since
        assert latency < 2, f"the room's booking took {latency:.2f} s to reach ROOMS"
        assert run.persons_since(since) == []  # the room's cycle, no person's


class CannotWatch(ReferenceConnector):
    """The reference connector, except that its server offers no notifications."""

    @hookspecs.hookimpl
    def roomsync_watch(self, mailboxes: list[str], wake: Wake) -> bool:
        return False


def test_without_watching_every_interval_still_syncs_everyone(database: Database) -> None:
    world = make_world(database, interval_seconds=0.2)
    # Only an environment's connector answers its hooks, so the connector itself is swapped.
    options = world.settings.environments["ref"].options
    world.runner._hosts["ref"] = ConnectorHost("ref", CannotWatch.from_config("ref", options))
    try:
        with running(world) as run:
            assert run.wait_for(lambda: ("ref", False, 5) in run.announced)
            assert run.wait_for_cycles(EVERYONE, 0.0)
            world.exchange.user_create(BOB, world.fields("Polled booking", rooms=(ROOM_A,)))
            since = time.monotonic()
            assert run.wait_for(lambda: bool(world.reservations(organizer=BOB)), timeout=5)
            assert run.wait_for_cycles(EVERYONE, since)  # and the polling goes on
    finally:
        world.runner.close()


def test_polling_also_catches_what_no_notification_reported(database: Database) -> None:
    with daemon(database, interval_seconds=0.3, watched_interval_seconds=0.3) as (world, run):
        world.exchange.fail_next("listen")  # the watch cannot be restored at once
        world.exchange.fail_next("listen")
        world.exchange.drop_listeners()
        world.exchange.user_create(CAROL, world.fields("While nobody listened", rooms=(ROOM_A,)))
        assert run.wait_for(lambda: bool(world.reservations(organizer=CAROL)), timeout=5)


def test_watched_persons_are_polled_only_at_the_watched_interval(database: Database) -> None:
    with daemon(database, interval_seconds=0.2, watched_interval_seconds=60) as (world, run):
        assert run.wait_for(lambda: len(run.cycles) >= 3)
        time.sleep(0.3)  # the first wake of everyone has been served
        quiet = time.monotonic()
        time.sleep(1.0)  # five intervals: a polled person would have had five cycles
        assert run.persons_since(quiet) == []
        world.exchange.user_create(BOB, world.fields("Still heard", rooms=(ROOM_A,)))
        assert run.wait_for(lambda: bool(world.reservations(organizer=BOB)), timeout=5)
        assert run.wait_for_cycles({BOB}, quiet)
        assert set(run.persons_since(quiet)) == {BOB}


def test_stop_ends_the_daemon_promptly(database: Database) -> None:
    world = make_world(database, interval_seconds=60)
    try:
        run = Running(world)
        run.thread.start()
        assert run.wait_for_cycles(EVERYONE, 0.0)
        asked = time.monotonic()
        run.stop.set()
        run.thread.join(timeout=2)
        assert not run.thread.is_alive()
        assert time.monotonic() - asked < 0.5
        assert run.full_cycles == 1
        recorder = WakeRecorder()
        world.exchange.listen([ALICE], recorder, lambda: None)
        assert world.exchange.drop_listeners() == 1, "the runner's watch must end with it"
    finally:
        world.runner.close()


def test_a_new_person_is_watched_from_the_next_full_cycle(database: Database) -> None:
    with daemon(database, interval_seconds=0.2) as (world, run):
        with world.database.unit_of_work() as uow:
            uow.rooms.upsert_person(Person(email=DAVE, environment="ref"))
            uow.commit()
        assert run.wait_for(lambda: ("ref", True, 6) in run.announced)
        world.settings.sync.interval_seconds = 60
        # Quiet for five short intervals: the runner now waits the long one, only wakes bring cycles.
        assert run.wait_for(lambda: time.monotonic() - run.cycles[-1][0] > 1.0)
        since = time.monotonic()
        world.exchange.user_create(DAVE, world.fields("Dave's booking", rooms=(ROOM_A,)))
        assert run.wait_for(lambda: bool(world.reservations(organizer=DAVE)), timeout=5)
        assert run.wait_for_cycles({DAVE}, since)
        assert set(run.persons_since(since)) == {DAVE}


class SlowChanges:
    """Holds every change read for a moment and records when each one ran, per mailbox."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> Generator[None, Any, Any]:
        began = time.monotonic()
        time.sleep(0.1)
        try:
            return (yield)
        finally:
            self.spans.append((mailbox, began, time.monotonic()))


def test_two_cycles_of_one_person_never_overlap(world: World) -> None:
    slow = SlowChanges()
    world.runner.host("ref").pm.register(slow)
    with world.database.unit_of_work() as uow:
        alice = uow.rooms.get_person(ALICE)
    assert alice is not None
    threads = [threading.Thread(target=world.runner.sync_person, args=(alice,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    spans = sorted((began, ended) for mailbox, began, ended in slow.spans if mailbox == ALICE)
    assert len(spans) >= 2
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


class Breaks(ReferenceConnector):
    @hookspecs.hookimpl
    def roomsync_watch(self, mailboxes: list[str], wake: Wake) -> bool:
        raise RuntimeError("the watcher thread could not start")


class Silent(Connector):
    """A connector without the hook: only what a minimal connector implements."""

    @hookspecs.hookimpl
    def roomsync_close(self) -> None:
        pass


def test_host_watch_without_the_hook_or_with_a_failure() -> None:
    host = ConnectorHost("plain", Silent("plain", NoOptions()))
    assert host.watch([ALICE], WakeRecorder()) is False

    failing = ConnectorHost("failing", Breaks("failing", None))
    try:
        failing.watch([ALICE], WakeRecorder())
    except ConnectorError as exc:
        assert "'failing'" in str(exc) and "the watcher thread could not start" in str(exc)
    else:
        raise AssertionError("a failing watch must raise ConnectorError")
