"""The daemon's own differences scans: every ``[repair] scan_every_hours``, within a budget.

Each environment gets a round of scans (one person after another) every interval; a round
spends at most ``requests_per_hour`` requests of its connector in any hour, measured by the
connector's own counter, and continues where it stopped when the budget allows again. After each
person's scan the repair policy is applied (nothing is done where it is ``report``). The scans
run in a thread of their own beside the cycles; a repair takes the mailbox's lease, so it never
runs beside a cycle of that person.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from roomsync.domain import Person
from roomsync.engine.difference_scans import ScanRequest, repair_scope
from roomsync.engine.runner import SyncRunner

log = logging.getLogger(__name__)
HOUR = 3600.0
TICK_SECONDS = 5.0


@dataclass
class _Round:
    queue: deque[str] = field(default_factory=deque)
    next_at: float = 0.0
    spent: deque[tuple[float, int]] = field(default_factory=deque)
    cost: int = 1  # the last scan's requests: what the next one is expected to need


class DifferenceSchedule:
    def __init__(self, runner: SyncRunner, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self.settings = runner.settings.repair
        self._rounds: dict[str, _Round] = {}
        self._monotonic = monotonic

    @property
    def enabled(self) -> bool:
        return self.settings.scan_every_hours > 0

    def tick(self, stop: threading.Event) -> int:
        """Scan whoever is due and within budget; answers the number of persons scanned.

        The persons are read only when an environment's round begins: between rounds a tick
        costs nothing."""
        scanned = 0
        persons: list[Person] | None = None
        for environment in sorted(self.runner.settings.environments):
            state = self._rounds.setdefault(environment, _Round())
            if not state.queue and self._monotonic() >= state.next_at:
                if persons is None:
                    persons = [p for p in self.runner.persons() if p.environment]
                state.queue.extend(p.email for p in persons if p.environment == environment)
                state.next_at = self._monotonic() + self.settings.scan_every_hours * HOUR
            while state.queue and not stop.is_set() and self._affordable(state):
                email = state.queue.popleft()
                scanned += 1
                state.cost = max(1, self._scan(environment, email))
                state.spent.append((self._monotonic(), state.cost))
        return scanned

    def _affordable(self, state: _Round) -> bool:
        now = self._monotonic()
        while state.spent and state.spent[0][0] <= now - HOUR:
            state.spent.popleft()
        used = sum(n for _, n in state.spent)
        return used + state.cost <= self.settings.requests_per_hour

    def _scan(self, environment: str, email: str) -> int:
        """One person's scan and repair (with the cycle before it); answers the requests it cost."""
        counter = getattr(self.runner.host(environment).connector, "requests_sent", None)
        before = counter.value if counter is not None else 0
        result, outcomes = repair_scope(self.runner, ScanRequest(days=self.settings.days, persons=[email]))
        spent = counter.value - before if counter is not None else 0
        if email in result.not_compared:
            log.warning("scheduled scan of %s: %s", email, result.not_compared[email])
        log.info(
            "scheduled scan of %s: %d open differences, %d repaired",
            email,
            len(result.open),
            sum(1 for o in outcomes if o.done),
            extra={"mailbox": email, "environment": environment, "requests": spent},
        )
        return spent

    @contextmanager
    def running(self, stop: threading.Event) -> Iterator[threading.Thread | None]:
        """Scan in a thread until ``stop`` is set or the block ends; nothing when scans are off."""
        if not self.enabled:
            yield None
            return
        done = threading.Event()

        def loop() -> None:
            while not (stop.is_set() or done.is_set()):
                try:
                    self.tick(stop)
                except Exception:  # the next tick tries again; the daemon goes on
                    log.exception("scheduled differences scan failed")
                done.wait(TICK_SECONDS)

        thread = threading.Thread(target=loop, name="roomsync-difference-scans", daemon=True)
        thread.start()
        try:
            yield thread
        finally:
            done.set()
            thread.join(timeout=30)
