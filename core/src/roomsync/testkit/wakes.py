"""A ``wake`` callback for tests: keeps what a watching connector reported, from any thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable


class WakeRecorder:
    """Pass it as ``wake`` to :meth:`~roomsync.connector.host.ConnectorHost.watch`; then wait on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, list[str]]] = []  # (monotonic time, mailboxes) per wake
        self._cond = threading.Condition()

    def __call__(self, mailboxes: list[str]) -> None:
        with self._cond:
            self.calls.append((time.monotonic(), list(mailboxes)))
            self._cond.notify_all()

    def woken(self, since: float = 0.0) -> set[str]:
        """Every mailbox woken at or after the monotonic time ``since``."""
        with self._cond:
            return {m for at, mailboxes in self.calls if at >= since for m in mailboxes}

    def wait_for(self, mailboxes: Iterable[str], timeout: float, since: float = 0.0) -> bool:
        """True as soon as each of ``mailboxes`` was woken since ``since``; False after ``timeout``."""
        wanted = set(mailboxes)
        with self._cond:
            return self._cond.wait_for(lambda: wanted <= self.woken(since), timeout)
