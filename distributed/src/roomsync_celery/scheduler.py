"""The scheduler: every mailbox's cycle enqueued each interval, wakes enqueued at once, one at a time.

Only the scheduler holding the lock (:data:`~roomsync_celery.marks.LOCK`, renewed every third
of ``scheduler_lease_seconds``) schedules; another one started beside it stands by, trying for
the lock as often, and takes over once the active one stopped renewing it (it died, or lost its
database): at most ``scheduler_lease_seconds`` without a scheduler. A scheduler that finds its
lock taken from it stops scheduling and stands by.

The active scheduler

* enqueues each person's and each active room's cycle every ``[sync] interval_seconds``; those
  whose environment watches their mailbox every ``watched_interval_seconds`` (the safety net);
* holds the connectors' watches (EWS streaming, Graph webhooks) and turns their wakes into tasks
  for the mailbox, debounced as the runner does (:data:`~roomsync.engine.runner.WAKE_DEBOUNCE_SECONDS`);
* follows the changes made in ROOMS (:class:`roomsync.engine.rooms_changes.RoomsChangeFeed`)
  and enqueues the organizers' cycles at once;
* runs the differences scans (``[repair] scan_every_hours``), as ``roomsync run`` does;
* never piles up tasks: a mailbox whose task waits in the broker gets no second one
  (the ``queued`` marks of :mod:`roomsync_celery.marks`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from celery import Celery

from roomsync.config import Settings
from roomsync.connector.base import Wake
from roomsync.domain import Person, Room
from roomsync.engine.difference_schedule import DifferenceSchedule
from roomsync.engine.heartbeat import heartbeat
from roomsync.engine.rooms_changes import RoomsChangeFeed
from roomsync.engine.runner import WAKE_DEBOUNCE_SECONDS, SyncRunner
from roomsync.engine.wakes import WakeQueue
from roomsync.engine.watching import Announce, Watches
from roomsync.storage.database import Database
from roomsync_celery.app import TASK_NAME, queue_of
from roomsync_celery.config import CeleryConfig
from roomsync_celery.marks import LOCK, QUEUED, Marks

log = logging.getLogger("roomsync.celery")
Say = Callable[[str], None]
LONGEST_WAIT_SECONDS = 1.0  # the scheduler looks at its lock and the clock at least this often


def holder_name() -> str:
    """This scheduler as its lock names it: host, pid and a random id."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def describe(holder: str) -> str:
    host, pid, _ = [*holder.split(":"), "", ""][:3]
    return f"host {host}, pid {pid}"


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        config: CeleryConfig,
        app: Celery,
        database: Database,
        runner: SyncRunner,
        say: Say = lambda text: None,
        announce: Announce | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.app = app
        self.database = database
        self.runner = runner
        self.marks = Marks(database.engine)
        self.holder = holder_name()
        self.say = say
        self.announce = announce
        self.enqueued = 0  # tasks sent, for the tests and the log

    # --- the lock ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Stand by or schedule until ``stop``; the lock is given back at the end."""
        lease = self.config.scheduler_lease_seconds
        standing_by = False
        while not stop.is_set():
            if self.marks.hold(LOCK, self.holder, lease):
                self.say(f"scheduler active: holding the lock ({describe(self.holder)})")
                standing_by = False
                self._active(stop)
                continue
            if not standing_by:
                other = self.marks.get(LOCK)
                who = describe(other.holder) if other else "another scheduler"
                self.say(f"scheduler standing by: the lock is held by {who}")
                standing_by = True
            stop.wait(lease / 3)
        self.marks.release(LOCK, self.holder)

    def _active(self, stop: threading.Event) -> None:
        lost = threading.Event()
        lease = self.config.scheduler_lease_seconds

        def renew() -> None:
            if not self.marks.hold(LOCK, self.holder, lease):
                lost.set()

        with heartbeat(lease / 3, renew, "scheduler lock"):
            self._schedule(stop, lost)
        if lost.is_set() and not stop.is_set():
            log.warning("the scheduler lock was taken over; this scheduler stands by")
            self.say("scheduler lost the lock: standing by")

    # --- scheduling --------------------------------------------------------------------------

    def _schedule(self, stop: threading.Event, lost: threading.Event) -> None:
        wakes = WakeQueue(WAKE_DEBOUNCE_SECONDS)
        watches = Watches(
            self.runner.host, lambda environment: self._waker(environment, wakes), self.announce
        )
        last: dict[str, float] = {}  # monotonic time each mailbox was last enqueued
        next_round = 0.0
        try:
            # The differences scans ([repair] scan_every_hours) run beside, as under 'roomsync run'.
            with self._rooms_changes(wakes.wake, stop), DifferenceSchedule(self.runner).running(stop):
                while not stop.is_set() and not lost.is_set():
                    try:
                        if time.monotonic() >= next_round:
                            next_round = time.monotonic() + self.settings.sync.interval_seconds
                            self._round(watches, wakes, last)
                        until = min(next_round, time.monotonic() + LONGEST_WAIT_SECONDS)
                        due = wakes.wait(until, stop)
                        if due and not lost.is_set():
                            self._woken(sorted(due, key=due.__getitem__), wakes, last)
                    except Exception as exc:  # the database or broker away: the next round tries again
                        log.warning("scheduling failed: %s: %s", type(exc).__name__, exc)
                        stop.wait(LONGEST_WAIT_SECONDS)
        finally:
            watches.stop()

    def _rooms_changes(self, wake: Wake, stop: threading.Event) -> AbstractContextManager[None]:
        """Organizers whose reservations changed in ROOMS (LISTEN/NOTIFY on PostgreSQL)."""
        return RoomsChangeFeed(self.database, self.settings.sync.rooms_poll_seconds).running(wake, stop)

    def _waker(self, environment: str, wakes: WakeQueue) -> Wake:
        def wake(mailboxes: list[str]) -> None:
            log.info(
                "environment %s reports changes in %d mailboxes",
                environment,
                len(mailboxes),
                extra={"environment": environment, "count": len(mailboxes)},
            )
            wakes.wake(mailboxes)

        return wake

    def _round(self, watches: Watches, wakes: WakeQueue, last: dict[str, float]) -> None:
        persons, rooms = self.runner.persons(), self.runner.rooms()
        room_mailboxes = [
            (env, room.mailbox) for room in rooms if (env := self.runner.room_environment(room))
        ]
        watches.update(persons, room_mailboxes)
        seldom = self.settings.sync.watched_interval_seconds
        at = time.monotonic()

        def due(mailbox: str, environment: str | None) -> bool:
            watched = environment in watches.watching
            return not watched or at - last.get(mailbox, -float("inf")) >= seldom

        work = [
            (p.email, "person", p.environment)
            for p in persons
            if p.environment and due(p.email, p.environment)
        ]
        for room in rooms:
            environment = self.runner.room_environment(room)
            if environment and due(room.mailbox, environment):
                work.append((room.mailbox, "room", environment))
        sent = self.enqueue(work, "interval", last, wakes)
        log.info(
            "scheduler round: %d mailboxes due, %d enqueued",
            len(work),
            sent,
            extra={"due": len(work), "enqueued": sent},
        )

    def _woken(self, mailboxes: Sequence[str], wakes: WakeQueue, last: dict[str, float]) -> None:
        work: list[tuple[str, str, str | None]] = []
        with self.database.unit_of_work() as uow:
            for mailbox in mailboxes:
                person: Person | None = uow.rooms.get_person(mailbox)
                room: Room | None = uow.rooms.room_by_mailbox(mailbox) if person is None else None
                if room is not None and room.active:
                    work.append((mailbox, "room", self.runner.room_environment(room)))
                elif (
                    person is not None and person.environment and person.sync_enabled and not person.paused_at
                ):
                    work.append((mailbox, "person", person.environment))
        self.enqueue(work, "wake", last, wakes)

    def enqueue(
        self,
        work: Sequence[tuple[str, str, str | None]],
        reason: str,
        last: dict[str, float],
        wakes: WakeQueue | None = None,
    ) -> int:
        """Send a task for each (mailbox, kind, environment) with no task waiting; answers how many.

        A mailbox whose task still waits counts as served: that task reads everything up to its
        own start, after this wake or round. So do the mailboxes' pending ``wakes``, forgotten
        before the tasks are sent (a wake after that gets a task of its own): the watches' first
        wake of every mailbox, arriving while the round is enqueued, costs no second cycle each.
        """
        if not work:
            return 0
        if wakes is not None:
            for mailbox, _, _ in work:
                wakes.discard(mailbox)
        at = time.monotonic()
        claimed = self.marks.claim(
            (QUEUED + mailbox for mailbox, _, _ in work), self.holder, self.config.queued_marker_seconds
        )
        sent = 0
        for mailbox, kind, environment in work:
            last[mailbox] = at
            if QUEUED + mailbox not in claimed:
                continue
            try:
                self.app.send_task(
                    TASK_NAME, args=[mailbox, kind, reason], queue=queue_of(self.config, environment)
                )
            except Exception as exc:  # the broker is away: the next round tries again
                self.marks.release(QUEUED + mailbox, self.holder)
                last.pop(mailbox, None)
                log.warning(
                    "enqueueing the cycle of %s failed: %s: %s",
                    mailbox,
                    type(exc).__name__,
                    exc,
                    extra={"mailbox": mailbox},
                )
                continue
            sent += 1
        self.enqueued += sent
        return sent
