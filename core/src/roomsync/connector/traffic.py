"""What a connector sent to its server, counted where it is sent: for ``/metrics`` and the status.

A connector's transport calls :meth:`RequestCounter.add` once per HTTP request (a requests
response hook, an adapter's ``send``); the count is read from any thread.
"""

from __future__ import annotations

import threading
from typing import Any


class RequestCounter:
    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def add(self, count: int = 1) -> None:
        with self._lock:
            self._value += count

    @property
    def value(self) -> int:
        with self._lock:
            return self._value

    def response_hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """A ``requests`` response hook counting each response: ``session.hooks["response"]``."""
        self.add()
        return response
