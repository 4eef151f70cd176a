"""Faults and throttling, switchable at run time (per test, or from the control endpoint).

Each rule applies to the next ``count`` matching requests (``None``: until cleared), optionally
only to some operations:

- ``latency``: wait ``ms`` before answering;
- ``server_busy``: answer ``ErrorServerBusy`` with ``BackOffMilliseconds`` = ``back_off_ms``;
- ``http_503``: answer HTTP 503 Service Unavailable;
- ``reset``: close the connection without answering, before doing anything;
- ``drop_after_apply``: carry out the operation, then close the connection without answering
  (what makes naive clients create duplicates);
- ``slow``: carry out the operation, then hold the answer back ``ms`` (past a client's timeout;
  given up as soon as the client closes the connection);
- ``concurrency``: at most ``limit`` requests of one account in progress at once (EWSMaxConcurrency);
  one more is answered ``ErrorExceededConnectionCount``. ``count`` limits the refusals;
- ``cut_stream``: an open ``GetStreamingEvents`` connection breaks (TCP reset) at its next write,
  events or keep-alive; what that write carried is lost, as when a load balancer or a recycled
  front end drops a connection. ``count`` is the number of connections cut.

``reset`` sends a TCP reset (RST) rather than an orderly close.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "latency",
    "server_busy",
    "http_503",
    "reset",
    "drop_after_apply",
    "slow",
    "concurrency",
    "cut_stream",
)


@dataclass
class FaultRule:
    kind: str
    count: int | None = None
    operations: frozenset[str] | None = None
    ms: int = 0
    back_off_ms: int = 1000
    fired: int = 0
    limit: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "operations": sorted(self.operations) if self.operations else None,
            "ms": self.ms,
            "back_off_ms": self.back_off_ms,
            "limit": self.limit,
            "fired": self.fired,
        }


@dataclass
class FaultPlan:
    rules: list[FaultRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        kind: str,
        *,
        count: int | None = None,
        operations: list[str] | None = None,
        ms: int = 0,
        back_off_ms: int = 1000,
        limit: int = 0,
    ) -> FaultRule:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(KINDS)}")
        if kind == "concurrency" and limit < 1:
            raise ValueError("a concurrency rule needs a limit of at least 1")
        rule = FaultRule(kind, count, frozenset(operations) if operations else None, ms, back_off_ms)
        rule.limit = limit
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, kind: str, operation: str | None) -> FaultRule | None:
        """The first live rule of ``kind`` for the operation, consuming one of its uses."""
        with self._lock:
            for rule in self.rules:
                if rule.kind != kind or (rule.count is not None and rule.count <= 0):
                    continue
                if rule.operations is not None and operation not in rule.operations:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                rule.fired += 1
                return rule
        return None

    def peek(self, kind: str) -> FaultRule | None:
        """The first live rule of ``kind`` (any operation), without using it up."""
        with self._lock:
            for rule in self.rules:
                if rule.kind == kind and (rule.count is None or rule.count > 0):
                    return rule
        return None

    def to_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_dict() for r in self.rules]
