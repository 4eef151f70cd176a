"""The organisation in a file across restarts (``roomsync sim serve --state FILE``).

The whole store (mailboxes, folders, items with their XML properties, change logs and the epoch
that sync states name) is pickled under the store lock and written atomically: a temporary file
in the same directory, fsync, then rename over the old one, so a crash leaves the previous state.
Writes are batched: at most one per ``interval`` seconds after a change, and one at shutdown.
Subscriptions are not kept: after a restart they are unknown (``ErrorSubscriptionNotFound``), as
after a restart of Exchange's EWS process.

Loading accepts only the simulator's own classes and a few standard types, so a state file
cannot name arbitrary code.
"""

from __future__ import annotations

import copyreg
import io
import logging
import os
import pickle
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from roomsync_sim.store import Store

if TYPE_CHECKING:
    from roomsync_sim.simulator import Simulator

log = logging.getLogger("roomsync_sim.persistence")

_FORMAT = b"roomsync-sim-state 1\n"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _element(data: bytes) -> etree._Element:
    return etree.fromstring(data, _PARSER)


def _reduce_element(elem: etree._Element) -> tuple[Any, tuple[bytes]]:
    return _element, (etree.tostring(elem),)


_ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("collections", "Counter"),
    ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}


class _Pickler(pickle.Pickler):
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[etree._Element] = _reduce_element


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("roomsync_sim.") or (module, name) in _ALLOWED:
            if module == "roomsync_sim.persistence" and name != "_element":
                raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a state file")
            return super().find_class(module, name)
        if module == "zoneinfo" and name == "ZoneInfo":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a state file")


def dumps(store: Store) -> bytes:
    buf = io.BytesIO()
    buf.write(_FORMAT)
    with store.lock:
        _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(store)
    return buf.getvalue()


def loads(data: bytes) -> Store:
    if not data.startswith(_FORMAT):
        raise ValueError("not a roomsync simulator state file")
    store = _Unpickler(io.BytesIO(data[len(_FORMAT) :])).load()
    if not isinstance(store, Store):
        raise ValueError("the state file holds no store")
    return store


class Persistence:
    """Keeps one state file up to date with the simulator's store."""

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self.saves = 0

    def load(self) -> Store | None:
        if not self.path.exists():
            return None
        return loads(self.path.read_bytes())

    def save(self, sim: Simulator) -> None:
        data = dumps(sim.store)
        with self._write_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self.saves += 1

    def attach(self, store: Store) -> None:
        """Watch a (new) store for changes."""
        store.listeners.append(lambda _event: self._dirty.set())
        self._dirty.set()

    def start(self, sim: Simulator) -> None:
        """Save now (the seed's mailboxes), then after every change, batched."""
        self._sim = sim
        self.save(sim)
        self.attach(sim.store)
        self._thread = threading.Thread(target=self._run, args=(sim,), name="roomsync-sim-state", daemon=True)
        self._thread.start()

    def _run(self, sim: Simulator) -> None:
        while not self._stop.is_set():
            if not self._dirty.wait(0.5):
                continue
            self._stop.wait(self.interval)
            self._dirty.clear()
            try:
                self.save(sim)
            except OSError:
                log.exception("could not write the state file %s", self.path)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            self.save(self._sim)
