"""How the reference connector watches mailboxes: a listener on its directory, restored when dropped.

It follows the pattern every watching connector needs: wake everyone once the watch stands;
when the connection drops, reconnect after growing pauses and wake everyone again once it is
back, because changes made while it was down were never reported. A file-backed directory is
also read every second, so changes written by other processes are reported too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from roomsync.connector.base import Wake
from roomsync.connectors.reference_directory import Listener, MailboxDirectory
from roomsync.connectors.reference_file import FileBackedDirectory
from roomsync.errors import ConnectorError

log = logging.getLogger("roomsync.connectors.reference")

RETRY_SECONDS = (0.05, 2.0)
"""The first pause before reconnecting and the longest one; each failed attempt doubles it."""

REFRESH_SECONDS = 1.0
"""How often a file-backed directory is read for changes of other processes."""


class DirectoryWatch:
    """One watch: a set of mailboxes, the wake to call, and the listener currently carrying it."""

    def __init__(self, directory: MailboxDirectory, mailboxes: Sequence[str], wake: Wake) -> None:
        self.directory = directory
        self.mailboxes = sorted(set(mailboxes))
        self.wake = wake
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._listener: Listener | None = None

    def start(self) -> None:
        if not self._connect():
            self._background(self._reconnect, "reconnect")
        if isinstance(self.directory, FileBackedDirectory):
            self._background(self._refresh, "refresh")

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            self.directory.unlisten(listener)

    def _connect(self) -> bool:
        try:
            listener = self.directory.listen(self.mailboxes, self._changed, self._dropped)
        except ConnectorError as exc:
            log.warning("cannot listen to directory %s: %s", self.directory.name, exc)
            return False
        with self._lock:
            if self._stopped.is_set():
                self.directory.unlisten(listener)
                return True
            self._listener = listener
        self.wake(self.mailboxes)  # whatever changed before the listener stood was not reported
        return True

    def _changed(self, mailboxes: list[str]) -> None:
        if not self._stopped.is_set():
            self.wake(mailboxes)

    def _dropped(self) -> None:
        with self._lock:
            self._listener = None
        if not self._stopped.is_set():
            self._background(self._reconnect, "reconnect")

    def _reconnect(self) -> None:
        pause, longest = RETRY_SECONDS
        while not self._stopped.wait(pause):
            if self._connect():
                return
            pause = min(pause * 2, longest)

    def _refresh(self) -> None:
        assert isinstance(self.directory, FileBackedDirectory)
        while not self._stopped.wait(REFRESH_SECONDS):
            try:
                self.directory.refresh()
            except Exception as exc:  # the next read tries again
                log.warning("reading directory %s failed: %s", self.directory.name, exc)

    @staticmethod
    def _background(target: Callable[[], None], what: str) -> None:
        threading.Thread(target=target, name=f"roomsync-reference-{what}", daemon=True).start()
