"""The organisation's data: mailboxes, folders, items and the change log of every folder.

Everything lives in memory behind one re-entrant lock, taken by the dispatcher around each
operation, so an operation sees and leaves a consistent state. Item properties are kept as the
XML elements the client sent (EWS values round-trip without conversion); what the server
computes (ids, change keys, times, occurrence data) is derived when an item is written out.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from roomsync_sim import ids

# Distinguished folders of every mailbox: name -> (element, folder class, display name).
DISTINGUISHED: dict[str, tuple[str, str | None, str]] = {
    "root": ("Folder", None, ""),
    "msgfolderroot": ("Folder", None, "Top of Information Store"),
    "calendar": ("CalendarFolder", "IPF.Appointment", "Calendar"),
    "contacts": ("ContactsFolder", "IPF.Contact", "Contacts"),
    "deleteditems": ("Folder", "IPF.Note", "Deleted Items"),
    "drafts": ("Folder", "IPF.Note", "Drafts"),
    "inbox": ("Folder", "IPF.Note", "Inbox"),
    "journal": ("Folder", "IPF.Journal", "Journal"),
    "notes": ("Folder", "IPF.StickyNote", "Notes"),
    "outbox": ("Folder", "IPF.Note", "Outbox"),
    "sentitems": ("Folder", "IPF.Note", "Sent Items"),
    "tasks": ("TasksFolder", "IPF.Task", "Tasks"),
    "junkemail": ("Folder", "IPF.Note", "Junk E-Mail"),
    "searchfolders": ("SearchFolder", None, "Finder"),
    "voicemail": ("SearchFolder", "IPF.Note.Microsoft.Voicemail", "Voice Mail"),
    "recoverableitemsdeletions": ("Folder", None, "Deletions"),
}
_UNDER_ROOT = {"msgfolderroot", "searchfolders", "recoverableitemsdeletions"}

# Extended property identity: (property set, tag, name, id) — the type is not part of it.
ExtKey = tuple[str | None, int | None, str | None, int | None]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Change:
    """Where an item stands in its folder's change log."""

    created_seq: int
    last_seq: int
    deleted: bool = False
    item_id: str = ""
    change_key: str = ""


@dataclass(frozen=True)
class StoreEvent:
    """A change as notifications report it: ``kind`` is Created, Modified, Deleted or Moved.

    ``object_id``/``change_key`` name the item or folder after the change, ``parent`` the folder
    holding it; a move also names the old id and parent.
    """

    kind: str
    mailbox: str
    is_folder: bool
    object_id: str
    change_key: str
    parent: Folder | None
    timestamp: datetime
    old_id: str | None = None
    old_change_key: str | None = None
    old_parent: Folder | None = None


@dataclass(eq=False)
class Folder:
    key: bytes
    mailbox: Mailbox
    distinguished: str | None
    element: str
    folder_class: str | None
    display_name: str
    parent: Folder | None
    version: int = 1
    items: dict[bytes, Item] = field(default_factory=dict)
    changes: dict[bytes, Change] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return ids.folder_id(self.key)

    @property
    def change_key(self) -> str:
        return ids.change_key(self.key, self.version)


@dataclass(eq=False)
class Item:
    """A stored item. ``props`` maps element local names to their (types namespace) element."""

    key: bytes
    kind: str  # response element name: CalendarItem, Message, Item, ...
    folder: Folder
    props: dict[str, etree._Element]
    extended: dict[ExtKey, etree._Element]
    created: datetime
    modified: datetime
    version: int = 1
    field_versions: dict[str, int] = field(default_factory=dict)
    # Recurring masters: exceptions by occurrence index (property overrides) and deleted indexes.
    exceptions: dict[int, dict[str, etree._Element]] = field(default_factory=dict)
    deleted_occurrences: set[int] = field(default_factory=set)
    # Meeting state (see roomsync_sim.meetings): organizer, own response, copies, cancellation.
    meeting: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return ids.item_id(self.key)

    @property
    def change_key(self) -> str:
        return ids.change_key(self.key, self.version)

    @property
    def mailbox(self) -> Mailbox:
        return self.folder.mailbox

    def touch(self, names: list[str] | None = None) -> None:
        """Record a modification: a new change key, and which properties changed."""
        self.version += 1
        self.modified = now()
        for name in names or ():
            self.field_versions[name] = self.version


@dataclass(eq=False)
class Mailbox:
    smtp: str
    name: str
    kind: str = "person"  # person or room
    # By distinguished name; a folder a client created is kept under "~" and its key in hex.
    folders: dict[str, Folder] = field(default_factory=dict)
    # The folder hierarchy's change log (SyncFolderHierarchy), by folder key.
    hierarchy: dict[bytes, Change] = field(default_factory=dict)

    def folder(self, distinguished: str) -> Folder:
        return self.folders[distinguished]


class Store:
    """All mailboxes of the organisation, with id indexes and per-folder change logs."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self._folders: dict[bytes, Folder] = {}
        self._items: dict[bytes, Item] = {}
        self._seq = itertools.count(1)
        # Where a moved item went (old key -> new key), for references the server keeps
        # (meeting copies, meeting requests); ids a client holds are not forwarded.
        self.forward: dict[bytes, bytes] = {}
        # Identifies this store's sync states: a state from another store is invalid.
        self.epoch = ids.new_key()[:8]
        # Called (under the lock) with every change; notifications subscribe here.
        self.listeners: list[Callable[[StoreEvent], None]] = []

    def __getstate__(self) -> dict[str, Any]:
        """For persistence: no lock, no listeners, the sequence as a number."""
        state = self.__dict__.copy()
        del state["lock"], state["listeners"]
        state["_seq"] = next(self._seq)
        self._seq = itertools.count(state["_seq"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_seq"] = itertools.count(state["_seq"])
        self.__dict__.update(state)
        self.lock = threading.RLock()
        self.listeners = []

    def _emit(self, kind: str, obj: Item | Folder, **old: Any) -> None:
        if not self.listeners:
            return
        if isinstance(obj, Item):
            event = StoreEvent(
                kind, obj.mailbox.smtp, False, obj.id, obj.change_key, obj.folder, now(), **old
            )
        else:
            event = StoreEvent(kind, obj.mailbox.smtp, True, obj.id, obj.change_key, obj.parent, now(), **old)
        for listener in self.listeners:
            listener(event)

    # --- mailboxes and folders ---------------------------------------------------------------

    def add_mailbox(self, smtp: str, name: str, kind: str = "person") -> Mailbox:
        with self.lock:
            smtp = smtp.lower()
            if smtp in self.mailboxes:
                return self.mailboxes[smtp]
            mbx = Mailbox(smtp=smtp, name=name, kind=kind)
            root = self._new_folder(mbx, "root", None)
            top = self._new_folder(mbx, "msgfolderroot", root)
            for dname in DISTINGUISHED:
                if dname in ("root", "msgfolderroot"):
                    continue
                self._new_folder(mbx, dname, root if dname in _UNDER_ROOT else top)
            self.mailboxes[smtp] = mbx
            return mbx

    def _new_folder(self, mbx: Mailbox, dname: str, parent: Folder | None) -> Folder:
        element, cls, display = DISTINGUISHED[dname]
        f = Folder(ids.new_key(), mbx, dname, element, cls, display, parent)
        mbx.folders[dname] = f
        self._folders[f.key] = f
        return f

    def mailbox(self, smtp: str) -> Mailbox | None:
        return self.mailboxes.get(smtp.lower())

    def folder_by_key(self, key: bytes) -> Folder | None:
        return self._folders.get(key)

    def child_folders(self, parent: Folder) -> list[Folder]:
        return [f for f in parent.mailbox.folders.values() if f.parent is parent]

    def _hierarchy(self, mbx: Mailbox) -> dict[bytes, Change]:
        if not hasattr(mbx, "hierarchy"):  # a mailbox persisted before the hierarchy log
            mbx.hierarchy = {}
        return mbx.hierarchy

    def record_folder(self, folder: Folder, *, deleted: bool = False) -> None:
        """Enter a folder's creation, change or deletion into its mailbox's hierarchy log."""
        with self.lock:
            log = self._hierarchy(folder.mailbox)
            seq = self.next_seq()
            change = log.get(folder.key)
            if change is None:
                change = log[folder.key] = Change(seq, seq)
            change.last_seq = seq
            change.deleted = deleted
            change.item_id = folder.id
            change.change_key = folder.change_key

    def hierarchy_changes(self, mbx: Mailbox) -> dict[bytes, Change]:
        return self._hierarchy(mbx)

    def add_folder(self, parent: Folder, element: str, folder_class: str | None, name: str) -> Folder:
        """A folder a client creates (not distinguished) under ``parent``."""
        with self.lock:
            f = Folder(ids.new_key(), parent.mailbox, None, element, folder_class, name, parent)
            parent.mailbox.folders["~" + f.key.hex()] = f
            self._folders[f.key] = f
            parent.version += 1
            self.record_folder(f)
            self._emit("Created", f)
            self._emit("Modified", parent)
            return f

    def remove_folder(self, folder: Folder) -> None:
        """Delete a created folder with its subfolders and items."""
        with self.lock:
            for child in self.child_folders(folder):
                self.remove_folder(child)
            for item in list(folder.items.values()):
                self.remove_item(item)
            folder.mailbox.folders.pop("~" + folder.key.hex(), None)
            self._folders.pop(folder.key, None)
            self.record_folder(folder, deleted=True)
            self._emit("Deleted", folder)
            if folder.parent is not None:
                folder.parent.version += 1
                self._emit("Modified", folder.parent)

    def move_folder(self, folder: Folder, target: Folder) -> None:
        with self.lock:
            old = folder.parent
            folder.parent = target
            folder.version += 1
            self.record_folder(folder)
            self._emit("Moved", folder, old_id=folder.id, old_change_key=folder.change_key, old_parent=old)

    # --- items ---------------------------------------------------------------------------------

    def item_by_key(self, key: bytes) -> Item | None:
        return self._items.get(key)

    def current(self, key: bytes | None) -> Item | None:
        """The item the server knows by ``key``, following moves (not for client ids)."""
        forward = getattr(self, "forward", {})
        seen = 0
        while key is not None and key not in self._items and key in forward and seen < 64:
            key, seen = forward[key], seen + 1
        return self._items.get(key) if key is not None else None

    def next_seq(self) -> int:
        return next(self._seq)

    def add_item(
        self,
        folder: Folder,
        kind: str,
        props: dict[str, etree._Element],
        extended: dict[ExtKey, etree._Element],
        *,
        notify: bool = True,
    ) -> Item:
        with self.lock:
            ts = now()
            item = Item(ids.new_key(), kind, folder, props, extended, ts, ts)
            self._items[item.key] = item
            folder.items[item.key] = item
            seq = self.next_seq()
            folder.changes[item.key] = Change(seq, seq)
            if notify:
                self._emit("Created", item)
                self._emit("Modified", folder)
            return item

    def record_update(self, item: Item) -> None:
        with self.lock:
            change = item.folder.changes.get(item.key)
            seq = self.next_seq()
            if change is None:
                item.folder.changes[item.key] = Change(seq, seq)
            else:
                change.last_seq = seq
            self._emit("Modified", item)

    def remove_item(self, item: Item, *, notify: bool = True) -> None:
        """Take the item out of its folder; the change log keeps a tombstone for sync."""
        with self.lock:
            folder = item.folder
            folder.items.pop(item.key, None)
            self._items.pop(item.key, None)
            change = folder.changes.get(item.key)
            seq = self.next_seq()
            if change is None:
                change = folder.changes[item.key] = Change(seq, seq)
            change.last_seq = seq
            change.deleted = True
            change.item_id = item.id
            change.change_key = item.change_key
            if notify:
                self._emit("Deleted", item)
                self._emit("Modified", folder)

    def move_item(self, item: Item, target: Folder) -> Item:
        """Move to another folder; the item gets a new id there, as in Exchange."""
        with self.lock:
            self.remove_item(item, notify=False)
            moved = self.add_item(target, item.kind, item.props, item.extended, notify=False)
            moved.exceptions = item.exceptions
            moved.deleted_occurrences = item.deleted_occurrences
            moved.meeting = item.meeting
            moved.created = item.created
            if not hasattr(self, "forward"):
                self.forward = {}
            self.forward[item.key] = moved.key
            self._emit("Moved", moved, old_id=item.id, old_change_key=item.change_key, old_parent=item.folder)
            self._emit("Modified", item.folder)
            self._emit("Modified", target)
            return moved

    def copy_item(self, item: Item, target: Folder) -> Item:
        """A copy with a new id; a meeting's copy does not take over its attendees' copies."""
        with self.lock:
            props = {k: copy.deepcopy(v) for k, v in item.props.items()}
            extended = {k: copy.deepcopy(v) for k, v in item.extended.items()}
            created = self.add_item(target, item.kind, props, extended)
            created.exceptions = copy.deepcopy(item.exceptions)
            created.deleted_occurrences = set(item.deleted_occurrences)
            created.meeting = {k: copy.deepcopy(v) for k, v in item.meeting.items() if k != "copies"}
            return created

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "mailboxes": len(self.mailboxes),
                "folders": len(self._folders),
                "items": len(self._items),
            }
