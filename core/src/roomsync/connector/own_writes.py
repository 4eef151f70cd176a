"""The entries a connector wrote itself, kept until its change feed reports them back.

Exchange gives an item a new change key on every modification, whether written over EWS or
Graph, so an item the feed reports with the change key our own write received still holds
exactly what we wrote: its entry is known without reading it again. That saves reading back
every created entry on the pass after an export and every updated entry on the next cycle.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from roomsync.connector.types import CalendarEntry, EntryDraft, EntryUpdate, WriteResult

LIMIT = 20_000
"""Entries kept at most; the oldest go first. A forgotten entry is read again, nothing more."""


class WrittenEntries:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._entries: OrderedDict[tuple[str, str], CalendarEntry] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, entry: CalendarEntry) -> None:
        key = (entry.mailbox, entry.item_id)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def remember_write(self, mailbox: str, result: WriteResult, written: EntryDraft | EntryUpdate) -> None:
        """The entry as a successful write left it in ``mailbox``, the organizer's own calendar.

        An entry that invites rooms is not kept: each room answers the meeting by its booking
        policy, and Exchange records the answer on the organizer's item, so the item is read
        back once to learn it (:attr:`~roomsync.connector.types.CalendarEntry.answers`).
        """
        if written.fields.rooms:
            self.forget(mailbox, result.item_id or "")
            return
        if result.ok and result.item_id and result.change_key:
            self.remember(
                CalendarEntry(
                    item_id=result.item_id,
                    change_key=result.change_key,
                    mailbox=mailbox,
                    organizer=mailbox,
                    stamp=written.stamp or None,
                    fields=written.fields,
                    setup_minutes=written.setup_minutes,
                    followup_minutes=written.followup_minutes,
                )
            )

    def take(self, mailbox: str, item_id: str, change_key: str) -> CalendarEntry | None:
        """The entry as written if the item is still in that version; forgotten either way."""
        with self._lock:
            entry = self._entries.pop((mailbox, item_id), None)
        if entry is None or not change_key or entry.change_key != change_key:
            return None
        return entry

    def peek(self, mailbox: str, item_id: str, change_key: str) -> CalendarEntry | None:
        """Like :meth:`take`, but kept: a series is reported once per occurrence."""
        with self._lock:
            entry = self._entries.get((mailbox, item_id))
        if entry is None or not change_key or entry.change_key != change_key:
            return None
        return entry

    def forget(self, mailbox: str, item_id: str) -> None:
        with self._lock:
            self._entries.pop((mailbox, item_id), None)

    def __len__(self) -> int:
        return len(self._entries)
