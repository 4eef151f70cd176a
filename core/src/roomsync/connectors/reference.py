"""The reference connector: every connector hook, against an in-memory Exchange organisation.

It backs the engine's tests and the first-look demo, and it is the example a vendor copies: each
hook maps onto requests of a server (here a :class:`MailboxDirectory`, for a real plugin an EWS or
Graph client), and the parts every connector has to get right are done here the same way:

* create is idempotent by stamp: the stamps are looked up before writing, so a create retried
  after a time-out returns the entry the first attempt made instead of a second one;
* the sync state is opaque, names the directory instance it belongs to, and anything unusable
  starts a full listing with ``reset`` set instead of failing;
* input a server would refuse (a free/busy window that ends before it starts) is refused before
  any request, with a message that says what is wrong;
* watching (``push``) wakes every watched mailbox once the watch stands and again whenever the
  directory dropped it and it was restored (:mod:`roomsync.connectors.reference_watch`).

Configuration::

    [environments.local]
    plugin = "reference"
    [environments.local.options]
    directory = "default"   # connectors naming the same directory share its mailboxes
    page_size = 100         # changes per ChangeSet page
    max_batch = 100         # items per batched write
    max_concurrency = 1     # cycles of this environment at once
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from roomsync.connector.base import Connector, Wake
from roomsync.connector.checks import SyncTestActions, sync_test
from roomsync.connector.groups import GroupMember
from roomsync.connector.own_writes import WrittenEntries
from roomsync.connector.types import (
    CalendarEntry,
    Capabilities,
    ChangeSet,
    CheckStep,
    EntryDraft,
    EntryUpdate,
    FreeBusy,
    ItemRef,
    WriteLimits,
    WriteResult,
)
from roomsync.connectors.reference_directory import (
    DirectoryUser,
    MailboxDirectory,
    Operation,
    SyncPage,
    require_window,
)
from roomsync.connectors.reference_file import FileBackedDirectory
from roomsync.connectors.reference_watch import DirectoryWatch
from roomsync.hookspecs import hookimpl

__all__ = [
    "DirectoryUser",
    "MailboxDirectory",
    "Operation",
    "ReferenceConnector",
    "ReferenceOptions",
    "SyncPage",
]

STATE_PREFIX = "ref1"


class ReferenceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: str = "default"
    state_file: Path | None = None  # keep the mailboxes in this file instead of in memory
    page_size: int = Field(default=100, ge=1)
    max_batch: int = Field(default=100, ge=1)
    # The directory answers one call at a time (its lock), so more cycles at once only overlap
    # their database work; and one at a time keeps the cycles in the order they were asked for.
    max_concurrency: int = Field(default=1, ge=1)
    limits: WriteLimits = WriteLimits()  # declared like a server's, to try out what the engine does


class ReferenceConnector(Connector):
    """Connects an environment to the named in-memory :class:`MailboxDirectory`."""

    Options = ReferenceOptions
    options: ReferenceOptions

    def __init__(self, environment: str, options: BaseModel | None = None) -> None:
        super().__init__(environment, ReferenceOptions.model_validate(options or {}))
        state_file = self.options.state_file
        self.directory = (
            FileBackedDirectory.at(state_file)
            if state_file
            else MailboxDirectory.named(self.options.directory)
        )
        self._watch: DirectoryWatch | None = None
        self._written = WrittenEntries()  # what this connector wrote, reported back unchanged
        self._watch_lock = threading.Lock()

    @classmethod
    def from_config(
        cls, environment: str, raw_options: dict[str, Any], source: str | None = None
    ) -> Connector:
        """A relative ``state_file`` is relative to the configuration file, like ``data_dir``."""
        connector = super().from_config(environment, raw_options, source)
        options = cast(ReferenceOptions, connector.options)
        if options.state_file is not None and not options.state_file.is_absolute() and source:
            options = options.model_copy(update={"state_file": Path(source).parent / options.state_file})
            connector = cls(environment, options)
        return connector

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        return Capabilities(
            recurrence=True,
            push=True,
            max_batch=self.options.max_batch,
            max_concurrency=self.options.max_concurrency,
            limits=self.options.limits,
            notes=(
                f"mailboxes kept in {self.options.state_file}"
                if self.options.state_file
                else f"in-memory directory {self.options.directory!r}: contents end with the process",
            ),
        )

    @hookimpl
    def roomsync_check(self, mailbox: str) -> list[CheckStep]:
        def connect() -> str:
            self.directory.connect(mailbox)
            return f"opened mailbox {mailbox} in directory {self.directory.name!r}"

        return sync_test(
            mailbox,
            SyncTestActions(
                connect=connect,
                list_entries=lambda start, end: self.directory.list_entries(mailbox, start, end),
                create=lambda drafts: self.roomsync_create_entries(mailbox, drafts),
                delete=lambda refs: self.directory.delete_entries(mailbox, refs),
                free_busy=self.directory.free_busy,
                changes=lambda: self._read_changes(mailbox),
            ),
        )

    @hookimpl
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        # Look the stamps up first: if an earlier attempt was written but its answer lost, the
        # entry is there and is returned instead of creating a second one.
        stamps = list(dict.fromkeys(d.stamp for d in drafts if not d.known_new))
        made = (
            {stamp: found[0] for stamp, found in self.directory.find_by_stamp(mailbox, stamps).items()}
            if stamps
            else {}
        )
        missing: dict[str, EntryDraft] = {}
        for draft in drafts:
            if draft.stamp not in made:
                missing.setdefault(draft.stamp, draft)  # the same stamp twice in a batch: one entry
        if missing:
            created = self.directory.create_entries(mailbox, list(missing.values()))
            made.update(zip(missing, created, strict=True))
        results = [WriteResult.success(made[d.stamp].item_id, made[d.stamp].change_key) for d in drafts]
        for stamp, draft in missing.items():
            made_entry = made[stamp]
            self._written.remember_write(
                mailbox, WriteResult.success(made_entry.item_id, made_entry.change_key), draft
            )
        return results

    @hookimpl
    def roomsync_update_entries(self, mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
        results = self.directory.update_entries(mailbox, updates)
        for update, result in zip(updates, results, strict=True):
            self._written.remember_write(mailbox, result, update)
        return results

    @hookimpl
    def roomsync_delete_entries(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
        return self.directory.delete_entries(mailbox, refs)

    @hookimpl
    def roomsync_decline_entries(self, mailbox: str, refs: list[ItemRef], comment: str) -> list[WriteResult]:
        return self.directory.decline_entries(mailbox, refs, comment)

    @hookimpl
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        position = 0 if sync_state is None else self._position(sync_state)
        # An unusable state is not an error: list the whole calendar again and say so.
        usable = position is not None
        page: SyncPage = self.directory.changes(mailbox, position or 0, self.options.page_size)
        # Like a server's connector, report our own writes by id and change key, as unchanged,
        # except in a full listing, which reads everything.
        entries: list[CalendarEntry] = []
        unchanged: list[ItemRef] = []
        for entry in page.entries:
            ours = (
                self._written.take(mailbox, entry.item_id, entry.change_key)
                if sync_state and usable
                else None
            )
            if ours is None:
                entries.append(entry)
            else:
                unchanged.append(ours)
        return ChangeSet(
            entries=tuple(entries),
            deleted=page.deleted,
            unchanged=tuple(unchanged),
            sync_state=f"{STATE_PREFIX}:{self.directory.token}:{page.last_seq}",
            more=page.more,
            reset=not usable,
        )

    @hookimpl
    def roomsync_list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        require_window(start, end)
        return self.directory.list_entries(mailbox, start, end)

    @hookimpl
    def roomsync_find_by_stamp(self, mailbox: str, stamps: list[str]) -> dict[str, list[CalendarEntry]]:
        return self.directory.find_by_stamp(mailbox, stamps)

    @hookimpl
    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        require_window(start, end)
        return self.directory.free_busy(mailboxes, start, end)

    @hookimpl
    def roomsync_watch(self, mailboxes: list[str], wake: Wake) -> bool:
        with self._watch_lock:
            self._stop_watching()
            if mailboxes:
                self._watch = DirectoryWatch(self.directory, mailboxes, wake)
                self._watch.start()
        return True

    @hookimpl
    def roomsync_expand_group(self, address: str) -> list[GroupMember] | None:
        return self.directory.expand_group(address)

    @hookimpl
    def roomsync_close(self) -> None:
        """Only the watch ends: the directory outlives the connector, as a server would."""
        with self._watch_lock:
            self._stop_watching()

    def _stop_watching(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()

    # --- helpers ------------------------------------------------------------------------------

    def _position(self, sync_state: str) -> int | None:
        """The change-log position a state stands for, or ``None`` when this directory cannot use it."""
        prefix, _, rest = sync_state.partition(":")
        token, _, seq = rest.partition(":")
        if prefix != STATE_PREFIX or token != self.directory.token or not seq.isdigit():
            return None
        position = int(seq)
        return position if position <= self.directory.last_seq else None

    def _read_changes(self, mailbox: str) -> str:
        page = self.directory.changes(mailbox, 0, 1)
        return f"sync state at change {page.last_seq}"
