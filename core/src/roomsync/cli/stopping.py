"""Stop requests (SIGTERM, SIGINT) for ``roomsync run``, caught from the first moment of the process.

The console script catches both before it imports the command line, which loads every installed
plugin and takes a while, so a stop arriving while the daemon is still starting is kept and
honoured before the first cycle instead of killing the process. Every other command gives the
signals their usual handling back as soon as it is known, and a signal that arrived meanwhile is
delivered again. Standard library only: this module is imported before anything heavy.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)

Listener = Callable[[signal.Signals], None]


class StopRequests:
    """Whether a stop was asked for (``event``), by which signal, and who hears of it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}
        self._listener: Listener | None = None

    @property
    def catching(self) -> bool:
        return bool(self._previous)

    def catch(self) -> None:
        """Handle SIGTERM and SIGINT from now on (main thread only); idempotent.

        They are also unblocked: a parent that blocked them while it started the process (as a
        supervisor may, and the tests do to send a signal before the handler exists) then has its
        signal delivered here, at once.
        """
        if self.catching:
            return
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)
        self.event.set()
        if self._listener is not None:
            self._listener(self.received)

    def listen(self, listener: Listener) -> None:
        """Tell ``listener`` of every stop request, at once of one received before."""
        self._listener = listener
        if self.received is not None:
            listener(self.received)

    def release(self, *, redeliver: bool) -> None:
        """Give the signals their earlier handling back.

        ``redeliver``: a signal received while caught was not acted on, so it is raised again
        and has its usual effect (SIGTERM ends the process, SIGINT interrupts).
        """
        if not self.catching:
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        self._listener = None
        received, self.received = self.received, None
        self.event.clear()
        if redeliver and received is not None:
            signal.raise_signal(received)


STOPS = StopRequests()
"""The process's stop requests: caught by the console script, used by ``roomsync run``."""
