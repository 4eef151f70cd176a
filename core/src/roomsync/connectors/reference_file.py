"""A reference directory kept in a JSON file, so every roomsync process sees one organisation.

The in-memory directory ends with its process; an integrator trying a configuration runs
``roomsync sync`` in one process and ``roomsync status`` or the daemon in others. With the
``state_file`` option the directory is read before and written after every request, under an
exclusive file lock, so processes take turns instead of overwriting each other. Changes another
process wrote reach this process's listeners when the file is next read (:meth:`refresh`).
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from roomsync.connector.types import CalendarEntry
from roomsync.connectors.reference_directory import MailboxDirectory, _Mailbox

F = TypeVar("F", bound=Callable[..., Any])
_READS = ("entries", "deleted_items", "connect", "changes", "list_entries", "find_by_stamp", "free_busy")
_WRITES = (
    "add_room",
    "user_create",
    "user_update",
    "user_delete",
    "create_entries",
    "update_entries",
    "delete_entries",
)


def _shared(method: F, write: bool) -> F:
    @functools.wraps(method)
    def run(self: FileBackedDirectory, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._depth:  # called from within another request: the file is ours already
                return method(self, *args, **kwargs)
            with self._file_lock():
                self._depth += 1
                try:
                    self._load()
                    return method(self, *args, **kwargs)
                finally:
                    self._depth -= 1
                    if write:
                        self._save()  # also after a failed item: what was applied is kept

    return cast(F, run)


class FileBackedDirectory(MailboxDirectory):
    _files: ClassVar[dict[Path, FileBackedDirectory]] = {}

    def __init__(self, path: Path) -> None:
        super().__init__(name=str(path))
        self.path = path
        self._loaded_at: int | None = None
        self._depth = 0

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> FileBackedDirectory:
        """The directory kept in ``path``, shared within this process like a named one."""
        resolved = Path(path).resolve()
        with cls._registry_lock:
            if resolved not in cls._files:
                cls._files[resolved] = cls(resolved)
            return cls._files[resolved]

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if stamp == self._loaded_at:
            return  # nobody wrote since we did
        before = {address: _last(box) for address, box in self._mailboxes.items()}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        self.token, self._seq = data["token"], data["seq"]
        self._ids = itertools.count(data["next_id"])
        self._rooms = set(data["rooms"])
        self._mailboxes.clear()
        for address, box in data["mailboxes"].items():
            self._mailboxes[address] = _Mailbox(
                items={e["item_id"]: CalendarEntry.model_validate(e) for e in box["items"]},
                log=[(seq, item) for seq, item in box["log"]],
                first_seq=box["first_seq"],
                trash={e["item_id"]: CalendarEntry.model_validate(e) for e in box["trash"]},
            )
        self._loaded_at = stamp
        self._changed.update(a for a, box in self._mailboxes.items() if _last(box) != before.get(a, 0))

    def refresh(self) -> None:
        """Read what other processes wrote and tell the listeners of the mailboxes it changed."""
        with self._lock:
            if not self._depth:
                with self._file_lock():
                    self._load()
        self._announce()

    def _save(self) -> None:
        next_id = next(self._ids)
        self._ids = itertools.count(next_id)
        data = {
            "token": self.token,
            "seq": self._seq,
            "next_id": next_id,
            "rooms": sorted(self._rooms),
            "mailboxes": {
                address: {
                    "items": [e.model_dump(mode="json") for e in box.items.values()],
                    "log": box.log,
                    "first_seq": box.first_seq,
                    "trash": [e.model_dump(mode="json") for e in box.trash.values()],
                }
                for address, box in self._mailboxes.items()
            },
        }
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, self.path)  # readers see the old file or the new one, never half
        self._loaded_at = self.path.stat().st_mtime_ns


def _last(box: _Mailbox) -> int:
    return box.log[-1][0] if box.log else 0


for _name in _READS + _WRITES:
    setattr(FileBackedDirectory, _name, _shared(getattr(MailboxDirectory, _name), _name in _WRITES))
