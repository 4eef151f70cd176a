"""The versions a connector wrote itself, so its change feed reports them back without a read.

Exchange gives an item a new change key on every modification, whether written over EWS or
Graph, so an item the feed reports with the change key our own write received still holds
exactly what we wrote. The connector reports it as *unchanged* (:attr:`ChangeSet.unchanged
<roomsync.connector.types.ChangeSet.unchanged>`, by item id and change key) instead of reading
it, and the engine, whose link stored the same change key after the write, knows the entry
already. That saves reading back every created entry on the pass after an export and every
updated entry on the next cycle, at any size.

Only a fingerprint of (mailbox, item id, change key) and the stamp written are kept per written
version: a first export of 100,000 entries holds some megabytes until the feed reports them,
not the entries. The stamp lets the engine find an echo whose write it never settled.
A version is recognised once and forgotten; a fingerprint never seen again (the item changed,
or was deleted) only costs its few bytes until the process ends or :data:`LIMIT` is reached.
"""

from __future__ import annotations

import threading

from roomsync.connector.types import EntryDraft, EntryUpdate, ItemRef, WriteResult

LIMIT = 2_000_000
"""Versions kept at most (some 150 MB); the oldest go first. A forgotten one is read again."""


def _fingerprint(item_id: str, change_key: str) -> int:
    # 64 bits: two different versions of one mailbox agree by chance once in 2**64 tries.
    return hash((item_id, change_key))


class WrittenEntries:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._versions: dict[str, dict[int, str | None]] = {}  # fingerprint -> stamp written
        self._count = 0
        self._lock = threading.Lock()

    def remember(self, mailbox: str, item_id: str, change_key: str, stamp: str | None = None) -> None:
        if self._limit <= 0 or not item_id or not change_key:
            return
        with self._lock:
            versions = self._versions.setdefault(mailbox, {})
            key = _fingerprint(item_id, change_key)
            if key not in versions:
                self._count += 1
            versions[key] = stamp or None
            while self._count > self._limit:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        mailbox = next(iter(self._versions))
        versions = self._versions[mailbox]
        del versions[next(iter(versions))]
        self._count -= 1
        if not versions:
            del self._versions[mailbox]

    def remember_write(self, mailbox: str, result: WriteResult, written: EntryDraft | EntryUpdate) -> None:
        """The version a successful write left in ``mailbox``, the organizer's own calendar.

        An entry that invites rooms is not kept: each room answers the meeting by its booking
        policy, and Exchange records the answer on the organizer's item, so the item is read
        back once to learn it (:attr:`~roomsync.connector.types.CalendarEntry.answers`).
        """
        if written.fields.rooms or not result.ok or not result.item_id or not result.change_key:
            return
        self.remember(mailbox, result.item_id, result.change_key, written.stamp)

    def take(self, mailbox: str, item_id: str, change_key: str) -> ItemRef | None:
        """The item as unchanged since our write if it is still in that version (then forgotten)."""
        if not change_key:
            return None
        key = _fingerprint(item_id, change_key)
        with self._lock:
            versions = self._versions.get(mailbox)
            if versions is None or key not in versions:
                return None
            stamp = versions.pop(key)
            self._count -= 1
            if not versions:
                del self._versions[mailbox]  # a dict does not shrink: the export's memory goes with it
        return ItemRef(item_id=item_id, change_key=change_key, stamp=stamp)

    def peek(self, mailbox: str, item_id: str, change_key: str) -> ItemRef | None:
        """Like :meth:`take`, but kept: a series is reported once per occurrence."""
        if not change_key:
            return None
        with self._lock:
            versions = self._versions.get(mailbox)
            key = _fingerprint(item_id, change_key)
            if versions is None or key not in versions:
                return None
            stamp = versions[key]
        return ItemRef(item_id=item_id, change_key=change_key, stamp=stamp)

    def forget(self, mailbox: str, item_id: str) -> None:
        """Nothing to do: a deleted item's versions are never reported again, so the few bytes
        of their fingerprints go with :data:`LIMIT` or the process."""

    def __len__(self) -> int:
        return self._count
