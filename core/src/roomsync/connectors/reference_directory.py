"""An in-memory Exchange organisation: the server the reference connector talks to.

Mailboxes hold calendar items; every create, update and deletion is appended to the mailbox's
change log, which is what incremental change detection reads. Connectors configured with the same
directory name share one organisation, so the engine's tests, the demo and a test acting as a
person in Outlook all see the same calendars.

The request methods (``connect``, ``create_entries`` ... ``free_busy``, ``listen``) stand for one
server round trip each: they are counted in :attr:`MailboxDirectory.calls` and are where injected
faults strike, so tests can rehearse what real servers do: refuse a mailbox, time out, time out
after the write was committed, or drop the connections notifications arrive on.
"""

from __future__ import annotations

import functools
import itertools
import threading
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar, cast, get_args

from roomsync.connector.groups import GroupMember
from roomsync.connector.types import (
    Answer,
    AttendeeAnswer,
    BusyInterval,
    CalendarEntry,
    EntryDraft,
    EntryUpdate,
    FreeBusy,
    ItemRef,
    WriteErrorKind,
    WriteResult,
)
from roomsync.domain import EventFields, ShowAs
from roomsync.errors import AccessDenied, ConnectorError, TransientConnectorError
from roomsync.recurrence import occurrences

Operation = Literal[
    "connect",
    "create_entries",
    "update_entries",
    "delete_entries",
    "decline_entries",
    "changes",
    "list_entries",
    "find_by_stamp",
    "free_busy",
    "listen",
]
OPERATIONS: frozenset[str] = frozenset(get_args(Operation))
WRITES: frozenset[str] = frozenset({"create_entries", "update_entries", "delete_entries"})


F = TypeVar("F", bound=Callable[..., Any])


def _announcing(method: F) -> F:
    """A write request tells the listeners of its mailboxes once it is done, applied or not."""

    @functools.wraps(method)
    def run(self: MailboxDirectory, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._announce()

    return cast(F, run)


def require_window(start: datetime, end: datetime) -> None:
    """Refuse a window a server would refuse: naive times, or an end not after the start."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"window {name} {value.isoformat()} has no time zone offset")
    if end <= start:
        raise ValueError(f"window end {end.isoformat()} is not after its start {start.isoformat()}")


class SyncPage(NamedTuple):
    """One page of a mailbox's change log: what changed after ``after`` up to ``last_seq``."""

    entries: tuple[CalendarEntry, ...]
    deleted: tuple[str, ...]
    last_seq: int
    more: bool


@dataclass(eq=False)
class Listener:
    """A notification connection to the directory: hears of changes in its mailboxes, or that it
    was dropped (after which it hears nothing until its owner listens again)."""

    mailboxes: frozenset[str]
    changed: Callable[[list[str]], None]
    dropped: Callable[[], None]


@dataclass
class _Mailbox:
    items: dict[str, CalendarEntry] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)  # (seq, item id), seq increasing
    first_seq: dict[str, int] = field(default_factory=dict)  # every item ever, deleted ones too
    trash: dict[str, CalendarEntry] = field(default_factory=dict)  # the Deleted Items folder


class MailboxDirectory:
    """An organisation's mailboxes, shared by every connector that names it.

    Mailbox addresses are lower-cased; a mailbox exists as soon as it is used. Every method takes
    the directory's lock, so runner threads and test threads may share one directory.
    """

    _registry: ClassVar[dict[str, MailboxDirectory]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str = "default") -> None:
        self.name = name
        # Part of every sync state, so a state from a replaced directory is recognised as unusable.
        self.token = uuid.uuid4().hex[:12]
        self.calls: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._mailboxes: dict[str, _Mailbox] = defaultdict(_Mailbox)
        self._rooms: set[str] = set()
        self.declines: list[tuple[str, str, str, str]] = []
        self._groups: dict[str, tuple[str, ...]] = {}
        self._seq = 0
        self._ids = itertools.count(1)
        self._failures: dict[str, deque[ConnectorError]] = defaultdict(deque)
        self._drops: Counter[str] = Counter()
        self._denied: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._changed: set[str] = set()  # mailboxes changed since the listeners were last told

    @classmethod
    def named(cls, name: str) -> MailboxDirectory:
        """The directory of that name, created on first use and shared from then on."""
        with cls._registry_lock:
            if name not in cls._registry:
                cls._registry[name] = cls(name)
            return cls._registry[name]

    @classmethod
    def reset_all(cls) -> None:
        """Forget every named directory; the next ``named()`` starts an empty organisation."""
        with cls._registry_lock:
            cls._registry.clear()

    # --- the organisation -------------------------------------------------------------------

    def add_room(self, mailbox: str) -> None:
        with self._lock:
            self._rooms.add(_normal(mailbox))

    def add_group(self, address: str, members: Iterable[str]) -> None:
        """A distribution group; members may be mailboxes, rooms or groups (even in a loop)."""
        with self._lock:
            self._groups[_normal(address)] = tuple(_normal(m) for m in members)

    def expand_group(self, address: str) -> list[GroupMember] | None:
        """One level of a group, as ExpandDL answers it; ``None`` when the address is no group."""
        with self._lock:
            self.calls["expand_group"] += 1
            members = self._groups.get(_normal(address))
            if members is None:
                return None
            return [GroupMember(address=m, is_group=m in self._groups) for m in members]

    @property
    def rooms(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._rooms)

    @property
    def last_seq(self) -> int:
        """The newest change-log position of any mailbox; sync states never point past it."""
        with self._lock:
            return self._seq

    def entries(self, mailbox: str) -> list[CalendarEntry]:
        """The calendar of a mailbox as it is now, for tests to inspect (not counted)."""
        with self._lock:
            return list(self._mailboxes[_normal(mailbox)].items.values())

    def deleted_items(self, mailbox: str) -> list[CalendarEntry]:
        """Entries a user moved to Deleted Items."""
        with self._lock:
            return list(self._mailboxes[_normal(mailbox)].trash.values())

    # --- a person in Outlook, acting on their own calendar -------------------------------------

    @_announcing
    def user_create(self, mailbox: str, fields: EventFields) -> CalendarEntry:
        """A meeting the person creates themselves: they organise it and it carries no stamp."""
        mailbox = _normal(mailbox)
        with self._lock:
            entry = CalendarEntry(item_id=self._new_id(), mailbox=mailbox, organizer=mailbox, fields=fields)
            return self._store(self._mailboxes[mailbox], entry)

    @_announcing
    def user_update(self, mailbox: str, item_id: str, **field_changes: Any) -> CalendarEntry:
        """The person edits fields of an entry (a stamp stays, as Outlook keeps extended properties)."""
        with self._lock:
            box = self._mailboxes[_normal(mailbox)]
            current = self._item(box, mailbox, item_id)
            fields = EventFields.model_validate({**dict(current.fields), **field_changes})
            return self._store(box, current.model_copy(update={"fields": fields}))

    @_announcing
    def user_delete(self, mailbox: str, item_id: str, to_deleted_items: bool = False) -> None:
        """The person deletes an entry, for good or by moving it to Deleted Items."""
        with self._lock:
            box = self._mailboxes[_normal(mailbox)]
            self._item(box, mailbox, item_id)
            self._remove(box, item_id, to_trash=to_deleted_items)

    @_announcing
    def user_book_room(
        self, room: str, organizer: str, fields: EventFields, stamp: str | None = None
    ) -> CalendarEntry:
        """Someone invites ``room`` in Outlook and the room accepts: the booking in the room's
        calendar, organised by ``organizer`` (who may have no mailbox here). ``stamp``: the
        meeting's, as the room's copy of a meeting roomsync wrote carries it."""
        room = _normal(room)
        with self._lock:
            fields = fields.model_copy(update={"rooms": tuple({*fields.rooms, room})})
            entry = CalendarEntry(
                item_id=self._new_id(), mailbox=room, organizer=_normal(organizer), fields=fields, stamp=stamp
            )
            return self._store(self._mailboxes[room], entry)

    @_announcing
    def record_answer(self, mailbox: str, item_id: str, attendee: str, answer: Answer) -> CalendarEntry:
        """An attendee's (a room's) answer recorded on the organizer's item, as Exchange records
        it when it processes the response: the item changes."""
        with self._lock:
            box = self._mailboxes[_normal(mailbox)]
            current = self._item(box, mailbox, item_id)
            others = [a for a in current.answers if a.mailbox != _normal(attendee)]
            answers = (*others, AttendeeAnswer(mailbox=_normal(attendee), answer=answer))
            return self._store(box, current.model_copy(update={"answers": answers}))

    @_announcing
    def decline_entries(self, mailbox: str, refs: Sequence[ItemRef], comment: str) -> list[WriteResult]:
        """``mailbox`` declines meetings it was invited to: they leave its calendar, and the
        organizer's answer is kept in :attr:`declines` as (mailbox, organizer, title, comment)."""
        mailbox = _normal(mailbox)
        with self._lock:
            self._request("decline_entries", [mailbox])
            box = self._mailboxes[mailbox]
            results = []
            for ref in refs:
                entry = box.items.get(ref.item_id)
                if entry is None:
                    results.append(_not_found(mailbox, ref.item_id))
                    continue
                if entry.organizer == mailbox:
                    results.append(
                        WriteResult.failure(
                            WriteErrorKind.INVALID,
                            "the organizer cannot decline its own meeting",
                            ref.item_id,
                        )
                    )
                    continue
                self._remove(box, ref.item_id, to_trash=True)
                self.declines.append((mailbox, entry.organizer, entry.fields.title, comment))
                results.append(WriteResult(ok=True, item_id=ref.item_id))
            return results

    # --- fault injection --------------------------------------------------------------------

    def fail_next(self, operation: Operation, error: ConnectorError | None = None) -> None:
        """Make the next request of ``operation`` raise ``error`` (default: a time-out) unapplied."""
        _known(operation)
        with self._lock:
            self._failures[operation].append(
                error or TransientConnectorError(f"{operation}: the server did not answer in time")
            )

    def drop_after_write(self, operation: Operation) -> None:
        """Apply the next write of ``operation``, then time out: the reply is lost, not the write."""
        _known(operation)
        if operation not in WRITES:
            raise ValueError(f"{operation!r} is not a write; writes are {', '.join(sorted(WRITES))}")
        with self._lock:
            self._drops[operation] += 1

    def clear_faults(self) -> None:
        """Disarm every pending injected failure and drop; denied mailboxes stay denied."""
        with self._lock:
            self._failures.clear()
            self._drops.clear()

    def deny(self, mailbox: str, right: str = "impersonation") -> None:
        """Take the service account's ``right`` on ``mailbox`` away until :meth:`allow`."""
        with self._lock:
            self._denied[_normal(mailbox)] = right

    def allow(self, mailbox: str) -> None:
        with self._lock:
            self._denied.pop(_normal(mailbox), None)

    def drop_listeners(self) -> int:
        """The server drops every notification connection (a restart, a load balancer's time-out);
        each listener hears it. Answers how many were dropped."""
        with self._lock:
            dropped, self._listeners = self._listeners, []
        for listener in dropped:
            listener.dropped()
        return len(dropped)

    # --- requests of the service account: one server round trip each ---------------------------

    def listen(
        self, mailboxes: Iterable[str], changed: Callable[[list[str]], None], dropped: Callable[[], None]
    ) -> Listener:
        """Open a notification connection: ``changed`` hears, after each write request, which of
        ``mailboxes`` it changed (writes of the service account included, as on Exchange)."""
        with self._lock:
            self._request("listen", [])
            listener = Listener(frozenset(map(_normal, mailboxes)), changed, dropped)
            self._listeners.append(listener)
            return listener

    def unlisten(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def connect(self, mailbox: str) -> None:
        """Open the mailbox (what a real connector's first request proves)."""
        with self._lock:
            self._request("connect", [mailbox])

    @_announcing
    def create_entries(self, mailbox: str, drafts: Sequence[EntryDraft]) -> list[CalendarEntry]:
        """Create stamped entries organised by ``mailbox``; duplicates are the caller's concern."""
        mailbox = _normal(mailbox)
        with self._lock:
            self._request("create_entries", [mailbox])
            box = self._mailboxes[mailbox]
            created = [
                self._store(
                    box,
                    CalendarEntry(
                        item_id=self._new_id(),
                        mailbox=mailbox,
                        organizer=mailbox,
                        stamp=draft.stamp,
                        fields=draft.fields,
                        setup_minutes=draft.setup_minutes,
                        followup_minutes=draft.followup_minutes,
                    ),
                )
                for draft in drafts
            ]
            self._maybe_drop("create_entries")
            return created

    @_announcing
    def update_entries(self, mailbox: str, updates: Sequence[EntryUpdate]) -> list[WriteResult]:
        """Replace synced fields; a change key that is not the current one refuses the item."""
        mailbox = _normal(mailbox)
        with self._lock:
            self._request("update_entries", [mailbox])
            box = self._mailboxes[mailbox]
            results = []
            for update in updates:
                current = box.items.get(update.item_id)
                if current is None:
                    results.append(_not_found(mailbox, update.item_id))
                elif update.change_key is not None and update.change_key != current.change_key:
                    results.append(
                        WriteResult.failure(
                            WriteErrorKind.STALE,
                            f"item {update.item_id} changed since change key {update.change_key} "
                            f"(now {current.change_key})",
                            item_id=update.item_id,
                        )
                    )
                else:
                    changes = update.model_dump(include={"stamp", "setup_minutes", "followup_minutes"})
                    stored = self._store(box, current.model_copy(update={**changes, "fields": update.fields}))
                    results.append(WriteResult.success(stored.item_id, stored.change_key))
            self._maybe_drop("update_entries")
            return results

    @_announcing
    def delete_entries(self, mailbox: str, refs: Sequence[ItemRef]) -> list[WriteResult]:
        """Delete for good. Like EWS DeleteItem, change keys are not checked."""
        mailbox = _normal(mailbox)
        with self._lock:
            self._request("delete_entries", [mailbox])
            box = self._mailboxes[mailbox]
            results = []
            for ref in refs:
                if ref.item_id not in box.items:
                    results.append(_not_found(mailbox, ref.item_id))
                    continue
                self._remove(box, ref.item_id, to_trash=False)
                results.append(WriteResult(ok=True, item_id=ref.item_id))
            self._maybe_drop("delete_entries")
            return results

    def changes(self, mailbox: str, after: int, max_changes: int) -> SyncPage:
        """Items changed after log position ``after``, oldest change first, each once (latest).

        A deletion is reported only for items that existed at ``after``: an item created and
        deleted since then was never seen by the caller (a full listing, ``after`` 0, reports none).
        """
        mailbox = _normal(mailbox)
        with self._lock:
            self._request("changes", [mailbox])
            box = self._mailboxes[mailbox]
            latest: dict[str, int] = {}
            for seq, item_id in box.log:
                if seq > after:
                    latest.pop(item_id, None)  # re-insert, so the dict stays ordered by latest change
                    latest[item_id] = seq
            page = list(latest.items())[:max_changes]
            entries = tuple(box.items[i] for i, _ in page if i in box.items)
            deleted = tuple(i for i, _ in page if i not in box.items and box.first_seq[i] <= after)
            last = page[-1][1] if page else after
            return SyncPage(entries, deleted, last, more=len(latest) > len(page))

    def list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        """Entries with an occurrence overlapping the window; a series comes as its master."""
        require_window(start, end)
        mailbox = _normal(mailbox)
        with self._lock:
            self._request("list_entries", [mailbox])
            items = self._mailboxes[mailbox].items.values()
            return [e for e in items if next(occurrences(e.fields, start, end), None) is not None]

    def find_by_stamp(self, mailbox: str, stamps: Iterable[str]) -> dict[str, list[CalendarEntry]]:
        """Entries carrying each stamp, oldest first; stamps without entries are absent."""
        mailbox = _normal(mailbox)
        wanted = set(stamps)
        with self._lock:
            self._request("find_by_stamp", [mailbox])
            found: dict[str, list[CalendarEntry]] = {}
            for entry in self._mailboxes[mailbox].items.values():
                if entry.stamp in wanted:
                    found.setdefault(entry.stamp, []).append(entry)
            return found

    def free_busy(self, mailboxes: Sequence[str], start: datetime, end: datetime) -> list[FreeBusy]:
        """Availability in the order asked; a mailbox the account may not read gets an ``error``."""
        require_window(start, end)
        with self._lock:
            self._request("free_busy", [])
            answers = []
            for mailbox in map(_normal, mailboxes):
                if mailbox in self._denied:
                    answers.append(FreeBusy(mailbox=mailbox, error=self._denied_message(mailbox)))
                else:
                    answers.append(FreeBusy(mailbox=mailbox, intervals=self._busy(mailbox, start, end)))
            return answers

    # --- internals ----------------------------------------------------------------------------

    def _request(self, operation: str, mailboxes: Iterable[str]) -> None:
        self.calls[operation] += 1
        if self._failures[operation]:
            raise self._failures[operation].popleft()
        for mailbox in map(_normal, mailboxes):
            if mailbox in self._denied:
                raise AccessDenied(self._denied_message(mailbox))

    def _denied_message(self, mailbox: str) -> str:
        return (
            f"the service account has no {self._denied[mailbox]} right on mailbox {mailbox} "
            f"(directory {self.name!r})"
        )

    def _maybe_drop(self, operation: str) -> None:
        if self._drops[operation]:
            self._drops[operation] -= 1
            raise TransientConnectorError(f"{operation}: the connection dropped before the server answered")

    def _announce(self) -> None:
        """Tell the listeners which of their mailboxes changed; outside the lock, so they may call in."""
        with self._lock:
            changed, self._changed = self._changed, set()
            listeners = list(self._listeners)
        for listener in listeners:
            mine = sorted(changed & listener.mailboxes)
            if mine:
                listener.changed(mine)

    def _new_id(self) -> str:
        return f"{self.token}.{next(self._ids)}"

    def _log(self, box: _Mailbox, item_id: str) -> int:
        self._seq += 1
        box.log.append((self._seq, item_id))
        box.first_seq.setdefault(item_id, self._seq)
        return self._seq

    def _store(self, box: _Mailbox, entry: CalendarEntry) -> CalendarEntry:
        seq = self._log(box, entry.item_id)
        self._changed.add(entry.mailbox)
        stored = entry.model_copy(
            update={
                "change_key": f"ck{seq}",
                "modified": datetime.now(UTC),
                "uid": entry.uid or f"uid-{entry.item_id}",
            }
        )
        box.items[entry.item_id] = stored
        return stored

    def _remove(self, box: _Mailbox, item_id: str, *, to_trash: bool) -> None:
        entry = box.items.pop(item_id)
        self._changed.add(entry.mailbox)
        if to_trash:
            box.trash[item_id] = entry
        self._log(box, item_id)

    @staticmethod
    def _item(box: _Mailbox, mailbox: str, item_id: str) -> CalendarEntry:
        try:
            return box.items[item_id]
        except KeyError:
            raise LookupError(f"no item {item_id} in the calendar of {mailbox}") from None

    def _busy(self, mailbox: str, start: datetime, end: datetime) -> tuple[BusyInterval, ...]:
        """Entries the mailbox organises or is invited to (as room or participant) and has not
        declined, buffers included."""
        intervals = []
        for owner, box in self._mailboxes.items():
            for entry in box.items.values():
                fields = entry.fields
                involved = (owner == mailbox and entry.organizer == mailbox) or mailbox in fields.rooms
                involved = involved or any(p.email == mailbox for p in fields.participants)
                declined = any(a.mailbox == mailbox and a.answer is Answer.DECLINED for a in entry.answers)
                if not involved or declined or fields.show_as is ShowAs.FREE:
                    continue
                before = timedelta(minutes=entry.setup_minutes)
                after = timedelta(minutes=entry.followup_minutes)
                for occ in occurrences(fields, start - after, end + before):
                    intervals.append(
                        BusyInterval(
                            start=occ.start - before,
                            end=occ.end + after,
                            status=fields.show_as,
                            subject=None if fields.private else occ.title,
                        )
                    )
        return tuple(sorted(intervals, key=lambda i: (i.start, i.end)))


def _normal(mailbox: str) -> str:
    return mailbox.strip().lower()


def _known(operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; known: {', '.join(sorted(OPERATIONS))}")


def _not_found(mailbox: str, item_id: str) -> WriteResult:
    return WriteResult.failure(
        WriteErrorKind.NOT_FOUND, f"item {item_id} is not in the calendar of {mailbox}", item_id=item_id
    )


class DirectoryUser:
    """The test kit's :class:`~roomsync.testkit.MailboxUser` for a reference directory."""

    def __init__(self, directory: MailboxDirectory) -> None:
        self.directory = directory

    def create(self, mailbox: str, fields: EventFields) -> str:
        return self.directory.user_create(mailbox, fields).item_id

    def update(self, mailbox: str, item_id: str, fields: EventFields) -> None:
        self.directory.user_update(mailbox, item_id, **dict(fields))

    def delete(self, mailbox: str, item_id: str, to_deleted_items: bool = False) -> None:
        self.directory.user_delete(mailbox, item_id, to_deleted_items=to_deleted_items)
