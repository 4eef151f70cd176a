"""Keeping a lease or a daemon's registration alive while the work it guards runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("roomsync.runner")


@contextmanager
def heartbeat(every: float, beat: Callable[[], None], name: str) -> Iterator[None]:
    """Call ``beat`` every ``every`` seconds in a thread of its own until the block ends.

    A failing beat is logged and tried again at the next one: renewals are spaced so that one
    lost to a busy database does not let anything lapse.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                beat()
            except Exception as exc:  # the next beat tries again
                log.warning("%s failed: %s: %s", name, type(exc).__name__, exc)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Renewals:
    """One thread renewing every lease a holder has, for as many blocks as hold one at a time.

    A thread per cycle cost more than an idle cycle's own work; ``renew`` extends all of the
    holder's leases in one statement and answers the keys it still holds, so one beat serves every
    cycle in progress, and a key held but not answered is reported as lost. The thread ends at
    the first beat that finds nothing held.
    """

    def __init__(self, every: float, renew: Callable[[], set[str]], name: str) -> None:
        self.every = every
        self._renew = renew
        self._name = name
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        with self._lock:
            self._held[key] = self._held.get(key, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                if not self._held[key]:
                    del self._held[key]

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            with self._lock:
                if not self._held:  # nothing to keep: the next block held starts a thread anew
                    self._thread = None
                    return
            try:
                still = self._renew()
            except Exception as exc:  # the next beat tries again
                log.warning("%s failed: %s: %s", self._name, type(exc).__name__, exc)
                continue
            with self._lock:
                lost = sorted(key for key in self._held if key not in still)
            for key in lost:
                log.warning("the lease of %s was lost during its cycle", key, extra={"mailbox": key})

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self._stop.clear()
