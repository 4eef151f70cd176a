"""The EWS requests a simulator served: operation, mailbox, and when each began and ended.

Tests of several processes working on one organisation read it to prove what no single client
can see: that two requests on one mailbox never were in progress at the same time, or which
mailboxes were written to how often. The mailbox is the one the request acts as (the
impersonated user under ``ExchangeImpersonation``, else the account that signed in). Times are
``time.time()`` of this process, so they compare with the clients' wall clocks on this host.

Kept in memory, bounded (:data:`LIMIT` entries, the oldest forgotten first).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

LIMIT = 200_000


@dataclass
class LoggedRequest:
    """One request; ``finished`` is None while it is in progress."""

    account: str
    started: float
    operation: str = "?"
    mailbox: str | None = None
    finished: float | None = None
    status: int | None = None

    @property
    def acting_as(self) -> str:
        return self.mailbox or self.account


class RequestLog:
    """Every request the simulator answers, in the order they began; safe from any thread."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def begin(self, account: str) -> LoggedRequest:
        entry = LoggedRequest(account=account, started=time.time())
        with self._lock:
            self._entries.append(entry)
        return entry

    @staticmethod
    def end(entry: LoggedRequest, status: int) -> None:
        entry.finished = time.time()
        entry.status = status

    def entries(self) -> list[LoggedRequest]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
