"""How many cycles of one environment may run at once, and when an environment must wait.

A server allows its service account only so many requests at once (EWSMaxConcurrency: 10 per
account by default; Graph: 4 per app and mailbox). Every cycle holds one *slot* of its
environment's budget (:meth:`Budgets.slot`) while it runs, so however many threads or processes
cycle, an environment never has more cycles in flight than its connector declares
(:attr:`~roomsync.connector.types.Capabilities.max_concurrency`).

* :class:`LocalBudgets` counts the slots of one process (semaphores);
* :class:`SharedBudgets` counts them across every process sharing the database: a slot is a lease
  row ``budget:<environment>:<n>`` in the mailbox lease table, so a holder that crashed frees
  its slot when the lease expires, as it frees its mailbox.

:class:`Backoff` pauses one environment's new cycles after the server throttled it, while the
other environments go on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Protocol

from roomsync.engine.heartbeat import heartbeat
from roomsync.errors import Fault, TransientConnectorError
from roomsync.storage.database import Database
from roomsync.storage.leases import BUDGET_PREFIX, LEASE_SECONDS, Holder

log = logging.getLogger("roomsync.runner")

SLOT_POLL_SECONDS = (0.02, 0.5)
"""How often a cycle waiting for a shared slot looks again: from the first, growing to the second."""
BACKOFF_FIRST_SECONDS = 1.0
"""An environment's first pause after throttling when the server gave no hint; doubled each time."""
BACKOFF_MAX_SECONDS = 60.0
"""The longest pause, also for a server's hint: a cycle then tells again whether it still throttles."""


class Budgets(Protocol):
    def slot(self, environment: str) -> AbstractContextManager[None]:
        """Hold one of the environment's concurrent cycles for the block; waits for one."""


class LocalBudgets:
    """The slots of one process: a semaphore per environment, sized by ``limit_of`` when first used."""

    def __init__(self, limit_of: Callable[[str], int]) -> None:
        self.limit_of = limit_of
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _semaphore(self, environment: str) -> threading.BoundedSemaphore:
        with self._lock:
            semaphore = self._semaphores.get(environment)
        if semaphore is None:
            limit = max(1, self.limit_of(environment))  # outside the lock: it may open a connector
            with self._lock:
                semaphore = self._semaphores.setdefault(environment, threading.BoundedSemaphore(limit))
        return semaphore

    @contextmanager
    def slot(self, environment: str) -> Iterator[None]:
        semaphore = self._semaphore(environment)
        with semaphore:
            yield


def slot_key(environment: str, n: int) -> str:
    """The lease row standing for slot ``n`` of an environment's shared budget."""
    return f"{BUDGET_PREFIX}{environment}:{n}"


class SharedBudgets:
    """Slots shared by every process on the database, as leases ``budget:<environment>:<n>``.

    Each slot taken is a lease of its own holder (``holder``'s host and pid, a fresh id), so two
    threads of one process never share a slot, a crashed process's slots expire after
    ``lease_seconds`` (at once for a process of this host that is gone), and a live holder renews
    its slot while the cycle runs. A cycle that finds every slot taken waits, polling.
    """

    def __init__(
        self,
        database: Database,
        limit_of: Callable[[str], int],
        holder: Holder,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.database = database
        self.limit_of = limit_of
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.clock = clock or (lambda: datetime.now(UTC))

    def _take(self, environment: str) -> tuple[str, Holder] | None:
        leases = self.database.leases
        mine = Holder(Holder.of_this_process().runner_id, self.holder.host, self.holder.pid)
        limit = max(1, self.limit_of(environment))
        first = random.randrange(limit)  # waiting processes spread over the slots
        for i in range(limit):
            key = slot_key(environment, (first + i) % limit)
            if leases.acquire(key, mine, self.clock(), self.lease_seconds).holder == mine:
                return key, mine
        return None

    @contextmanager
    def slot(self, environment: str) -> Iterator[None]:
        wait = SLOT_POLL_SECONDS[0]
        while (taken := self._take(environment)) is None:
            time.sleep(wait * random.uniform(0.5, 1.5))
            wait = min(wait * 2, SLOT_POLL_SECONDS[1])
        key, mine = taken
        leases = self.database.leases

        def renew() -> None:
            if key not in leases.renew(mine, self.clock(), self.lease_seconds):
                log.warning("the budget slot %s was lost during its cycle", key)

        try:
            with heartbeat(self.lease_seconds / 6, renew, f"slot {key}"):
                yield
        finally:
            try:
                leases.release(key, mine)
            except Exception as exc:  # it expires on its own
                log.warning("releasing the budget slot %s failed: %s: %s", key, type(exc).__name__, exc)


def throttled(exc: BaseException) -> bool:
    """A failure that says the server is busy or throttling: its environment should pause."""
    return isinstance(exc, TransientConnectorError) and exc.fault is Fault.SERVER


def hinted_seconds(exc: BaseException) -> float | None:
    """The wait the server asked for, where the error or one of its causes carries it.

    Read by duck typing, as the core knows no plugin: ``back_off_seconds`` (set by a connector),
    ``back_off`` (exchangelib's ErrorServerBusy, from BackOffMilliseconds), ``retry_after``
    (a number or a method, as Graph's Retry-After), also on the error's ``response``.
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for holder in (error, getattr(error, "response", None)):
            for name in ("back_off_seconds", "back_off", "retry_after"):
                value = getattr(holder, name, None)
                if callable(value):
                    try:
                        value = value()
                    except Exception:
                        value = None
                if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                    return float(value)
        error = error.__cause__ or error.__context__
    return None


class Backoff:
    """Per environment, until when its new cycles wait after the server throttled it.

    A hint from the server is honoured (up to :data:`BACKOFF_MAX_SECONDS`); without one the pause
    starts at :data:`BACKOFF_FIRST_SECONDS` and doubles with every throttled cycle in a row. The
    first cycle of the environment that succeeds starts the doubling afresh. Safe from any thread.
    """

    def __init__(
        self,
        first: float = BACKOFF_FIRST_SECONDS,
        cap: float = BACKOFF_MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first, self.cap, self.clock = first, cap, clock
        self._until: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def throttled(self, environment: str, hint: float | None = None) -> float:
        """Pause the environment; answers the seconds of the pause."""
        with self._lock:
            step = self._next.get(environment, self.first)
            pause = min(hint if hint is not None else step, self.cap)
            self._next[environment] = min(step * 2, self.cap)
            self._until[environment] = max(self._until.get(environment, 0.0), self.clock() + pause)
        log.warning(
            "environment %s is throttling: its new cycles wait %.1f s",
            environment,
            pause,
            extra={"environment": environment, "seconds": round(pause, 3)},
        )
        return pause

    def succeeded(self, environment: str) -> None:
        """A cycle went through: the next pause starts short again. One in flight during the
        pause does not end it; the pause runs out."""
        with self._lock:
            self._next.pop(environment, None)

    def paused_until(self, environment: str) -> float | None:
        """The monotonic time the environment's pause ends, or ``None`` when it is not paused."""
        with self._lock:
            until = self._until.get(environment)
        return until if until is not None and until > self.clock() else None
