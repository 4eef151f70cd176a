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
