"""Wakes from watching connectors, coalesced into the mailboxes whose cycles are due.

Connectors call in from their own threads, often several times for one change (an item and its
folder, a batch of writes); a mailbox is due once ``debounce`` seconds have passed since its first
wake, so such a burst becomes one cycle. A cycle that starts for a mailbox satisfies every wake
before it (:meth:`WakeQueue.discard`): it reads all changes up to its start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

STOP_POLL_SECONDS = 0.1
"""How often a waiting runner looks at its stop event (an Event cannot wake a Condition)."""


class WakeQueue:
    """Pending mailboxes with the monotonic time of their first wake; safe from any thread."""

    def __init__(self, debounce: float = 0.5) -> None:
        self.debounce = debounce
        self._pending: dict[str, float] = {}
        self._cond = threading.Condition()

    def wake(self, mailboxes: Iterable[str]) -> None:
        at = time.monotonic()
        with self._cond:
            for mailbox in mailboxes:
                self._pending.setdefault(mailbox, at)
            self._cond.notify_all()

    def discard(self, mailbox: str) -> None:
        """Forget the mailbox's wakes: a cycle is about to start for it."""
        with self._cond:
            self._pending.pop(mailbox, None)

    def pending(self) -> dict[str, float]:
        with self._cond:
            return dict(self._pending)

    def due(self) -> dict[str, float]:
        """Take the mailboxes woken at least ``debounce`` ago, with when they were first woken."""
        with self._cond:
            return self._take(time.monotonic())

    def wait(self, until: float, stop: threading.Event) -> dict[str, float]:
        """The due mailboxes, waiting for some until the monotonic time ``until`` or ``stop``."""
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                due = self._take(now)
                if due or now >= until:
                    return due
                next_due = min(self._pending.values(), default=until) + self.debounce
                timeout = min(until, next_due) - now
                self._cond.wait(min(max(timeout, 0.001), STOP_POLL_SECONDS))
            return {}

    def _take(self, now: float) -> dict[str, float]:
        due = {m: at for m, at in self._pending.items() if now - at >= self.debounce}
        for mailbox in due:
            del self._pending[mailbox]
        return due
