"""Running many mailboxes' cycles at once, within each environment's limits.

The work of a cycle is waiting for servers and the database, so cycles of different mailboxes
run in threads of one pool. The :class:`Dispatcher` decides which cycle starts next:

* at most ``workers`` at once (``[sync] max_parallel_cycles``);
* per environment at most its connector's ``max_concurrency`` in flight from this process, so a
  slow or limited environment never takes the threads another could use (the cycle itself also
  holds a slot of the environment's :mod:`~roomsync.engine.budgets`, which counts across processes);
* none of an environment that :class:`~roomsync.engine.budgets.Backoff` pauses, while the others
  go on;
* never two of one mailbox: a job for a mailbox whose cycle is running waits for it to end;
* ``urgent`` jobs (woken mailboxes) go before every job not yet started;
* once ``stop`` is set, no job starts; those running finish.

Each job's ``done`` is called in the dispatching thread, one at a time, in the order the jobs
finish, so progress callbacks need no locking of their own.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from roomsync.engine.budgets import Backoff

POLL_SECONDS = 0.05
"""How often a dispatcher looks for urgent jobs, a stop, or an environment whose pause ended."""


@dataclass
class Job:
    """One cycle to run: ``run`` in a pool thread, then ``done`` with its result."""

    key: str  # the mailbox: one job per key at a time
    environment: str | None
    run: Callable[[], Any]
    done: Callable[[Any], None] | None = None
    seq: int = field(default=0, compare=False)


class Dispatcher:
    """Runs batches of jobs on ``pool`` (see the module's description)."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        workers: int,
        limit_of: Callable[[str], int],
        backoff: Backoff,
    ) -> None:
        self.pool = pool
        self.workers = max(1, workers)
        self.limit_of = limit_of
        self.backoff = backoff
        self._limits: dict[str, int] = {}
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.peak: dict[str | None, int] = {}  # the most jobs of each environment seen running at once

    def limit(self, environment: str | None) -> int:
        if environment is None:  # a person without an environment: their cycle fails at once
            return self.workers
        if environment not in self._limits:
            self._limits[environment] = max(1, self.limit_of(environment))
        return self._limits[environment]

    def run(
        self,
        jobs: Iterable[Job],
        stop: threading.Event | None = None,
        urgent: Callable[[], list[Job]] | None = None,
    ) -> None:
        """Run every job (unless stopped) and return once all that started have finished.

        An exception a job raises (only what is not an ``Exception``, such as an interrupt, since
        cycles record their failures) stops new starts and is raised once the others finished.
        """
        queues: dict[str | None, deque[Job]] = {}
        for job in jobs:
            job.seq = next(self._seq)
            queues.setdefault(job.environment, deque()).append(job)
        running: dict[Future[Any], Job] = {}
        busy_keys: set[str] = set()
        in_flight: dict[str | None, int] = {}
        waiting: dict[str, deque[Job]] = {}  # jobs whose mailbox's cycle is running
        raised: BaseException | None = None
        while True:
            stopping = raised is not None or (stop is not None and stop.is_set())
            if urgent is not None and not stopping:
                for job in urgent():
                    job.seq = -next(self._seq)  # before everything queued, the first woken first
                    queues.setdefault(job.environment, deque()).appendleft(job)
            while not stopping and len(running) < self.workers:
                start = self._next(queues, in_flight, busy_keys, waiting)
                if start is None:
                    break
                future = self.pool.submit(start.run)
                running[future] = start
                busy_keys.add(start.key)
                count = in_flight[start.environment] = in_flight.get(start.environment, 0) + 1
                self.peak[start.environment] = max(self.peak.get(start.environment, 0), count)
            if not running:
                if stopping or not any(queues.values()):
                    break
                time.sleep(self._pause(queues))
                continue
            # Not only a finished job calls for a look: a wake, a stop or a pause that ran out.
            finished, _ = wait(list(running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                busy_keys.discard(job.key)
                in_flight[job.environment] -= 1
                for later in reversed(waiting.pop(job.key, deque())):
                    queues.setdefault(later.environment, deque()).appendleft(later)
                try:
                    result = future.result()
                except BaseException as exc:  # an interrupt: the others finish first
                    raised = raised or exc
                    continue
                if job.done is not None:
                    job.done(result)
        if raised is not None:
            raise raised

    def _next(
        self,
        queues: dict[str | None, deque[Job]],
        in_flight: dict[str | None, int],
        busy_keys: set[str],
        waiting: dict[str, deque[Job]],
    ) -> Job | None:
        """The earliest queued job of an environment with room and not paused."""
        while True:
            best: deque[Job] | None = None
            for environment, queue in queues.items():
                if not queue or in_flight.get(environment, 0) >= self.limit(environment):
                    continue
                if environment is not None and self.backoff.paused_until(environment) is not None:
                    continue
                if best is None or queue[0].seq < best[0].seq:
                    best = queue
            if best is None:
                return None
            job = best.popleft()
            if job.key not in busy_keys:
                return job
            waiting.setdefault(job.key, deque()).append(job)

    def _pause(self, queues: dict[str | None, deque[Job]]) -> float:
        """How long to sleep while every queued environment is paused: until the first pause ends."""
        ends = [
            until
            for environment, queue in queues.items()
            if queue and environment is not None
            if (until := self.backoff.paused_until(environment)) is not None
        ]
        return min(max(min(ends, default=0.0) - time.monotonic(), 0.001), POLL_SECONDS * 4)
