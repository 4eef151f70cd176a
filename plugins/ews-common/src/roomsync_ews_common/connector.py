"""The connector base of the EWS plugins: every connector hook over exchangelib, written once.

A version plugin subclasses :class:`EwsConnector` and sets its class attributes (the pinned
dialect, what it serves, its notes and the impersonation right of its generation). Dialects in
:data:`SPOKEN_DIALECTS` speak EWS; the others (Exchange 2007, where exchangelib writes items the
2007 schema refuses) keep answering every server hook with the clear "protocol pending" error.

How the parts that every connector must get right are done here:

* create is idempotent by stamp: stamps are looked up before writing, and a create whose answer
  was lost (time-out, dropped connection) is looked up again before anything is repeated;
* updates carry the change key with ``NeverOverwrite``, so a change made meanwhile gives ``STALE``;
* change detection is ``SyncFolderItems`` on the calendar, one page (at most 512 changes) per
  call, the state wrapped so that anything not ours, or refused by the server, starts over with
  ``reset``; created and changed items are read in full, series with their exceptions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from exchangelib import CalendarItem, EWSTimeZone
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorChangeKeyRequiredForWriteOperations,
    ErrorExceededConnectionCount,
    ErrorImpersonateUserDenied,
    ErrorImpersonationDenied,
    ErrorInvalidChangeKey,
    ErrorInvalidSyncStateData,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    EWSError,
    RateLimitError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.items import (
    ALWAYS_OVERWRITE,
    ID_ONLY,
    MOVE_TO_DELETED_ITEMS,
    NEVER_OVERWRITE,
    SAVE_ONLY,
    SEND_TO_ALL_AND_SAVE_COPY,
    SEND_TO_NONE,
)
from exchangelib.properties import ItemId, OccurrenceItemId, RecurringMasterItemId
from exchangelib.services import SyncFolderItems, UpdateItem
from pydantic import BaseModel

from roomsync.connector import probe_draft, run_check
from roomsync.connectors.pending import PendingProtocolConnector, pending_phrase
from roomsync.errors import AccessDenied, ConnectorError, TransientConnectorError
from roomsync.hookspecs import hookimpl
from roomsync.model import (
    CalendarEntry,
    Capabilities,
    ChangeSet,
    CheckStep,
    EntryDraft,
    EntryUpdate,
    EventFields,
    FreeBusy,
    ItemRef,
    WriteErrorKind,
    WriteResult,
)
from roomsync_ews_common import mapping
from roomsync_ews_common import stamp as props
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.availability import free_busy
from roomsync_ews_common.options import EwsOptions
from roomsync_ews_common.written import WrittenEntries

PROTOCOL_PENDING = pending_phrase("EWS")

SPOKEN_DIALECTS = frozenset({"Exchange2007_SP1", "Exchange2010_SP1", "Exchange2013"})
"""Dialects this release speaks; Exchange2007_SP1 waits for exchangelib's 2007 gaps to close."""

STATE_PREFIX = "ews1:"
PAGE_SIZE = 512  # SyncFolderItems' MaxChangesReturned maximum
BATCH = 100

TRANSIENT = (ErrorServerBusy, ErrorTimeoutExpired, RateLimitError, ErrorExceededConnectionCount)
STALE = (ErrorIrresolvableConflict, ErrorInvalidChangeKey, ErrorChangeKeyRequiredForWriteOperations)


class PerItemUpdate(UpdateItem):
    """UpdateItem answering a stale change key per item: exchangelib would fail the whole batch."""

    ERRORS_TO_CATCH_IN_RESPONSE = (*UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE, ErrorIrresolvableConflict)


def bulk_update(
    account: Any, items: list[tuple[Any, list[str]]], conflict_resolution: str, send: str
) -> list[Any]:
    """``account.bulk_update`` with per-item conflicts; one request per 100 items."""
    if not items:
        return []
    service = PerItemUpdate(account=account, chunk_size=BATCH)
    return list(
        service.call(
            items=items,
            conflict_resolution=conflict_resolution,
            message_disposition=SAVE_ONLY,
            send_meeting_invitations_or_cancellations=send,
            suppress_read_receipts=True,
        )
    )


class EwsConnector(PendingProtocolConnector):
    """Base of the EWS connectors; a subclass sets the class attributes below and nothing else."""

    Options: ClassVar[type[BaseModel]] = EwsOptions

    protocol: ClassVar[str] = "EWS"

    request_server_version: ClassVar[str] = ""
    """The EWS dialect sent as ``RequestServerVersion``; pinned, so no version guessing happens."""

    serves: ClassVar[str] = ""
    """The Exchange releases this plugin is for, as a person would say them."""

    capability_notes: ClassVar[tuple[str, ...]] = ()
    """What an administrator should know about this generation (shown with the capabilities)."""

    impersonation_right: ClassVar[str] = (
        "the RBAC role ApplicationImpersonation (New-ManagementRoleAssignment -Role "
        "ApplicationImpersonation -User SERVICE-ACCOUNT, optionally -CustomRecipientWriteScope SCOPE)"
    )
    """How an administrator grants impersonation on this generation, named in AccessDenied."""

    options: EwsOptions

    def __init__(self, environment: str, options: BaseModel) -> None:
        super().__init__(environment, options)
        self._pool: AccountPool | None = None
        self._written = WrittenEntries()

    @classmethod
    def speaks_ews(cls) -> bool:
        return cls.request_server_version in SPOKEN_DIALECTS

    @classmethod
    def status_note(cls) -> str:
        if not cls.speaks_ews():
            return cls.pending_note()
        return (
            f"this release of {cls.distribution()} speaks EWS; free/busy (GetUserAvailability) and "
            "notifications are not in it yet: changes are polled with SyncFolderItems"
        )

    # --- the hooks ------------------------------------------------------------------------

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        # Known without a server, and what the host reads before any batched call, so it answers.
        return Capabilities(
            recurrence=True,
            push=False,
            free_busy=True,
            max_batch=BATCH,
            max_freebusy_mailboxes=100,
            max_freebusy_days=42,
            notes=(
                self.status_note(),
                f"for {self.serves}; EWS dialect {self.request_server_version}",
                *self.capability_notes,
            ),
        )

    @hookimpl
    def roomsync_check(self, mailbox: str) -> list[CheckStep]:
        if not self.speaks_ews():
            return super().roomsync_check(mailbox)
        now = datetime.now(UTC)
        return run_check(
            lambda: self._connect(mailbox),
            [
                ("read", lambda: self._check_read(mailbox, now)),
                ("write", lambda: self._check_write(mailbox, now)),
                ("free/busy", lambda: self._check_free_busy(mailbox, now)),
                ("change detection", lambda: self._check_changes(mailbox)),
            ],
        )

    def _check_free_busy(self, mailbox: str, now: datetime) -> str:
        [answer] = free_busy(self._account(mailbox).protocol, [mailbox], now, now + timedelta(days=1))
        if answer.error:
            raise ConnectorError(f"GetUserAvailability answered for {mailbox}: {answer.error}")
        return f"{len(answer.intervals)} busy intervals in the next 24 hours"

    @hookimpl
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        with self._calling("roomsync_create_entries", mailbox, f"create entries in {mailbox}"):
            return self._create(mailbox, drafts)

    @hookimpl
    def roomsync_update_entries(self, mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
        with self._calling("roomsync_update_entries", mailbox, f"update entries in {mailbox}"):
            return self._update(mailbox, updates)

    @hookimpl
    def roomsync_delete_entries(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
        with self._calling("roomsync_delete_entries", mailbox, f"delete entries in {mailbox}"):
            account = self._account(mailbox)
            answers = account.bulk_delete(
                [ItemId(id=ref.item_id) for ref in refs],
                delete_type=MOVE_TO_DELETED_ITEMS,
                send_meeting_cancellations=self._send(),
                chunk_size=BATCH,
            )
            return [
                WriteResult.success(ref.item_id, "") if answer is True else self._failure(answer, ref.item_id)
                for ref, answer in zip(refs, answers, strict=True)
            ]

    @hookimpl
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        with self._calling("roomsync_changes", mailbox, f"read the changes of {mailbox}"):
            state: str | None = None
            usable = True
            if sync_state is not None:
                if sync_state.startswith(STATE_PREFIX) and len(sync_state) > len(STATE_PREFIX):
                    state = sync_state[len(STATE_PREFIX) :]
                else:
                    usable = False
            try:
                page = self._sync_page(mailbox, state)
            except ErrorInvalidSyncStateData:
                usable = False
                page = self._sync_page(mailbox, None)
            entries, deleted, new_state, more = page
            return ChangeSet(
                entries=tuple(entries),
                deleted=tuple(deleted),
                sync_state=f"{STATE_PREFIX}{new_state}",
                more=more,
                reset=not usable,
            )

    @hookimpl
    def roomsync_list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        _require_window(start, end)
        with self._calling("roomsync_list_entries", mailbox, f"read the calendar of {mailbox}"):
            return self._list(mailbox, start, end)

    @hookimpl
    def roomsync_find_by_stamp(self, mailbox: str, stamps: list[str]) -> dict[str, list[CalendarEntry]]:
        with self._calling("roomsync_find_by_stamp", mailbox, f"look up stamped entries in {mailbox}"):
            found: dict[str, list[CalendarEntry]] = {}
            for entry in self._find(mailbox, stamps):
                if entry.stamp is not None:
                    found.setdefault(entry.stamp, []).append(entry)
            return found

    @hookimpl
    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        _require_window(start, end)
        if not self.speaks_ews():
            return super().roomsync_free_busy(mailboxes, start, end)
        doing = f"read free/busy of {len(mailboxes)} mailboxes"
        with self._calling("roomsync_free_busy", mailboxes[0] if mailboxes else "", doing):
            return free_busy(self._account(mailboxes[0]).protocol, mailboxes, start, end)

    @hookimpl
    def roomsync_close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(environment={self.environment!r}, url={self.options.url!r})"

    # --- accounts and errors ----------------------------------------------------------------

    def _account(self, mailbox: str) -> Any:
        if self._pool is None:
            self._pool = AccountPool(self.options, self.request_server_version)
        return self._pool.account(mailbox)

    def _send(self) -> str:
        return SEND_TO_ALL_AND_SAVE_COPY if self.options.send_invitations != "none" else SEND_TO_NONE

    @contextlib.contextmanager
    def _calling(self, hook: str, mailbox: str, doing: str) -> Iterator[None]:
        """Runs a hook's server work, turning exchangelib's failures of the whole call into ours."""
        if not self.speaks_ews():
            raise self._pending(hook, doing)
        try:
            yield
        except ConnectorError:
            raise
        except Exception as exc:
            raise self._whole_call_error(exc, mailbox, doing) from exc

    def _whole_call_error(self, exc: BaseException, mailbox: str, doing: str) -> ConnectorError:
        where = f"{self.distribution()}, environment {self.environment!r}: cannot {doing}"
        account = self.options.username
        if isinstance(exc, (ErrorImpersonateUserDenied, ErrorImpersonationDenied)):
            return AccessDenied(
                f"{where}: the service account {account} may not impersonate {mailbox}. "
                f"An Exchange administrator grants it {self.impersonation_right}"
            )
        if isinstance(exc, ErrorAccessDenied):
            right = (
                f"impersonation of {mailbox} ({self.impersonation_right})"
                if self.options.access == "impersonation"
                else f"delegate access to the calendar of {mailbox} (Add-MailboxFolderPermission "
                f"-Identity {mailbox}:\\Calendar -User {account} -AccessRights Editor)"
            )
            return AccessDenied(f"{where}: access denied to the service account {account}; it needs {right}")
        if isinstance(exc, ErrorNonExistentMailbox):
            return ConnectorError(f"{where}: the server has no mailbox {mailbox}")
        if isinstance(exc, UnauthorizedError):
            return ConnectorError(
                f"{where}: the server at {self.options.url} refused the credentials of {account} "
                f"({self.options.auth} authentication); check the password and the authentication "
                "methods enabled on the EWS virtual directory"
            )
        if isinstance(exc, TRANSIENT):
            return TransientConnectorError(
                f"{where}: the server at {self.options.url} is busy or did not answer in time, "
                f"also after retrying ({type(exc).__name__}: {exc})"
            )
        if isinstance(exc, ResponseMessageError):
            return ConnectorError(f"{where}: the server answered {type(exc).__name__}: {exc}")
        if isinstance(exc, TransportError):
            return TransientConnectorError(
                f"{where}: cannot reach the EWS endpoint {self.options.url} ({exc}); check the url, "
                "the network path and the TLS settings (verify_tls, ca_file)"
            )
        if isinstance(exc, EWSError):
            return ConnectorError(f"{where}: the server answered {type(exc).__name__}: {exc}")
        return ConnectorError(f"{where}: {type(exc).__name__}: {exc}")

    def _failure(self, answer: Any, item_id: str | None = None) -> WriteResult:
        """The failed result of one item; errors that concern the whole mailbox are raised."""
        if isinstance(answer, (ErrorImpersonateUserDenied, ErrorImpersonationDenied, UnauthorizedError)):
            raise answer
        message = f"{type(answer).__name__}: {answer}"
        if isinstance(answer, ErrorItemNotFound):
            kind = WriteErrorKind.NOT_FOUND
        elif isinstance(answer, STALE):
            kind = WriteErrorKind.STALE
        elif isinstance(answer, ErrorAccessDenied):
            kind = WriteErrorKind.DENIED
        elif isinstance(answer, TRANSIENT):
            kind = WriteErrorKind.TRANSIENT
        else:
            kind = WriteErrorKind.INVALID
        return WriteResult.failure(kind, message, item_id=item_id)

    # --- reading ----------------------------------------------------------------------------

    def _read_items(self, mailbox: str, ids: Sequence[Any]) -> list[Any]:
        """GetItem in batches; items that are gone are left out."""
        if not ids:
            return []
        account = self._account(mailbox)
        found: list[Any] = []
        for answer in account.fetch(list(ids), chunk_size=BATCH):
            if isinstance(answer, ErrorItemNotFound):
                continue
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, CalendarItem):
                found.append(answer)
        return found

    def _entries(self, mailbox: str, items: Sequence[Any]) -> list[CalendarEntry]:
        """Entries of full items; series masters with the subjects of their modified occurrences."""
        occurrence_ids = [i for item in items for i in mapping.modified_occurrence_ids(item)]
        subjects: dict[str, str | None] = {}
        if occurrence_ids:
            for occurrence in self._read_items(mailbox, [ItemId(id=i) for i in occurrence_ids]):
                subjects[occurrence.id] = occurrence.subject
        unique: dict[str, Any] = {}
        for item in items:
            unique.setdefault(item.id, item)
        return [mapping.to_entry(item, mailbox, self.options.timezone, subjects) for item in unique.values()]

    def _list(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        calendar = self._account(mailbox).calendar
        utc = EWSTimeZone("UTC")
        view = calendar.view(start=mapping.ews_time(start, utc), end=mapping.ews_time(end, utc))
        ids: dict[str, Any] = {}
        for item in view.only("id", "changekey", "type"):
            if isinstance(item, Exception):
                raise item
            if item.type in ("Occurrence", "Exception"):
                ids.setdefault(f"occ:{item.id}", RecurringMasterItemId(id=item.id))
            else:
                ids.setdefault(item.id, ItemId(id=item.id))
        return self._entries(mailbox, self._read_items(mailbox, list(ids.values())))

    def _find(self, mailbox: str, stamps: Sequence[str]) -> list[CalendarEntry]:
        calendar = self._account(mailbox).calendar
        ids = [ItemId(id=item.id) for item in self._stamped(calendar, stamps)]
        return self._entries(mailbox, self._read_items(mailbox, ids))

    @staticmethod
    def _stamped(calendar: Any, stamps: Sequence[str]) -> list[Any]:
        return list(props.find_stamped(calendar, stamps))

    def _sync_page(self, mailbox: str, state: str | None) -> tuple[list[CalendarEntry], list[str], str, bool]:
        account = self._account(mailbox)
        service = SyncFolderItems(account=account)
        changed: dict[str, Any] = {}
        known: dict[str, CalendarEntry] = {}  # our own writes, still in the version we wrote
        deleted: list[str] = []
        for change in service.call(
            folder=account.calendar,
            shape=ID_ONLY,
            additional_fields=set(),
            sync_state=state,
            ignore=None,
            max_changes_returned=PAGE_SIZE,
            sync_scope=None,
        ):
            if isinstance(change, Exception):
                raise change
            kind, item = change
            if kind == SyncFolderItems.DELETE:
                changed.pop(item.id, None)
                known.pop(item.id, None)
                self._written.forget(mailbox, item.id)
                deleted.append(item.id)
            elif kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE) and isinstance(item, CalendarItem):
                ours = self._written.take(mailbox, item.id, item.changekey or "")
                if ours is not None:
                    known[item.id] = ours
                    changed.pop(item.id, None)
                else:
                    known.pop(item.id, None)
                    changed[item.id] = ItemId(id=item.id)
            # read-flag changes do not concern a calendar
        items = self._read_items(mailbox, list(changed.values()))
        read = {item.id for item in items}
        deleted.extend(i for i in changed if i not in read)  # gone before it could be read
        return (
            [*self._entries(mailbox, items), *known.values()],
            deleted,
            service.sync_state,
            not service.includes_last_item_in_range,
        )

    # --- writing ----------------------------------------------------------------------------

    def _create(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        account = self._account(mailbox)
        calendar = account.calendar
        stamps = list(dict.fromkeys(d.stamp for d in drafts if not d.known_new))
        # A create whose answer was lost may have been carried out: look the stamps up first,
        # unless the engine knows there cannot be an entry yet (a FindItem saved per batch).
        made: dict[str, WriteResult] = {
            item_stamp: WriteResult.success(item.id, item.changekey)
            for item in (self._stamped(calendar, stamps) if stamps else ())
            if (item_stamp := getattr(item, props.STAMP, None))
        }
        missing: dict[str, EntryDraft] = {}
        for draft in drafts:
            if draft.stamp not in made:
                missing.setdefault(draft.stamp, draft)  # the same stamp twice in a batch: one entry
        if missing:
            try:
                answers = self._bulk_create(account, list(missing.values()))
            except (ErrorTimeoutExpired, TransportError):
                # The request may have been applied before the connection broke: never twice.
                for item in self._stamped(calendar, list(missing)):
                    item_stamp = getattr(item, props.STAMP, None)
                    if item_stamp in missing:
                        made[item_stamp] = WriteResult.success(item.id, item.changekey)
                        del missing[item_stamp]
                answers = self._bulk_create(account, list(missing.values())) if missing else []
            series: list[tuple[str, EventFields]] = []
            for item_stamp, answer in zip(missing, answers, strict=True):
                if isinstance(answer, Exception):
                    made[item_stamp] = self._failure(answer)
                else:
                    made[item_stamp] = WriteResult.success(answer.id, answer.changekey)
                    if missing[item_stamp].fields.occurrences:
                        series.append((answer.id, missing[item_stamp].fields))
            if series:
                keys = self._apply_occurrences(mailbox, series)
                for item_stamp, result in list(made.items()):
                    if result.ok and result.item_id in keys:
                        made[item_stamp] = WriteResult.success(result.item_id, keys[result.item_id])
            for item_stamp, draft in missing.items():
                self._remember(mailbox, made[item_stamp], draft)
        return [made[d.stamp] for d in drafts]

    def _remember(self, mailbox: str, result: WriteResult, written: EntryDraft | EntryUpdate) -> None:
        if result.ok and result.item_id and result.change_key:
            self._written.remember(
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

    def _bulk_create(self, account: Any, drafts: list[EntryDraft]) -> list[Any]:
        items = [
            mapping.to_item(account, d.fields, d.stamp, d.setup_minutes, d.followup_minutes) for d in drafts
        ]
        return list(
            account.bulk_create(
                folder=account.calendar,
                items=items,
                send_meeting_invitations=self._send(),
                chunk_size=BATCH,
            )
        )

    def _update(self, mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
        account = self._account(mailbox)
        results: list[WriteResult | None] = [None] * len(updates)
        # With a change key the server refuses to overwrite a newer version; without one the
        # caller asked to overwrite.
        for keyed in (True, False):
            chosen = [n for n, u in enumerate(updates) if bool(u.change_key) is keyed]
            if not chosen:
                continue
            batch = []
            for n in chosen:
                update = updates[n]
                identity: dict[str, Any] = {"id": update.item_id}
                if update.change_key:
                    identity["changekey"] = update.change_key
                item = mapping.to_item(
                    account,
                    update.fields,
                    update.stamp,
                    update.setup_minutes,
                    update.followup_minutes,
                    **identity,
                )
                batch.append((item, list(mapping.SYNCED_FIELDS)))
            answers = bulk_update(
                account, batch, NEVER_OVERWRITE if keyed else ALWAYS_OVERWRITE, self._send()
            )
            for n, answer in zip(chosen, answers, strict=True):
                if isinstance(answer, Exception):
                    results[n] = self._failure(answer, updates[n].item_id)
                else:
                    item_id, change_key = answer
                    results[n] = WriteResult.success(item_id, change_key)
        series = [
            (r.item_id, u.fields)
            for r, u in zip(results, updates, strict=True)
            if r is not None
            and r.ok
            and r.item_id
            and u.fields.recurrence is not None
            and u.fields.occurrences
        ]
        if series:
            keys = self._apply_occurrences(mailbox, series)
            results = [
                WriteResult.success(r.item_id, keys[r.item_id])
                if r is not None and r.ok and r.item_id in keys
                else r
                for r in results
            ]
        done = [r for r in results if r is not None]
        for result, update in zip(done, updates, strict=True):
            self._remember(mailbox, result, update)
        return done

    def _apply_occurrences(self, mailbox: str, series: list[tuple[str, EventFields]]) -> dict[str, str]:
        """Make the exceptions of freshly written series as drafted; answers the masters' change keys."""
        account = self._account(mailbox)
        masters = {
            item.id: item for item in self._read_items(mailbox, [ItemId(id=i) for i in series_ids(series)])
        }
        modify: list[tuple[Any, list[str]]] = []
        cancel: list[Any] = []
        for master_id, fields in series:
            master = masters.get(master_id)
            if master is None:
                continue
            already_gone = {d.start.astimezone(UTC) for d in master.deleted_occurrences or ()}
            zone = EWSTimeZone(fields.timezone)
            for change in fields.occurrences:
                index = mapping.occurrence_index(fields, change.original_start)
                occurrence_id = OccurrenceItemId(id=master_id, instance_index=index)
                if change.cancelled:
                    if change.original_start.astimezone(UTC) not in already_gone:
                        cancel.append(occurrence_id)
                    continue
                assert change.start is not None and change.end is not None
                occurrence = CalendarItem(
                    account=account,
                    folder=account.calendar,
                    _id=occurrence_id,
                    subject=change.title or fields.title,
                    start=mapping.ews_time(change.start, zone),
                    end=mapping.ews_time(change.end, zone),
                )
                modify.append((occurrence, ["subject", "start", "end"]))
        if modify:
            for answer in bulk_update(account, modify, ALWAYS_OVERWRITE, self._send()):
                if isinstance(answer, Exception):
                    raise answer
        if cancel:
            for answer in account.bulk_delete(
                cancel,
                delete_type=MOVE_TO_DELETED_ITEMS,
                send_meeting_cancellations=self._send(),
                chunk_size=BATCH,
            ):
                if isinstance(answer, Exception) and not isinstance(
                    answer, ErrorCalendarOccurrenceIsDeletedFromRecurrence
                ):
                    raise answer
        if not (modify or cancel):
            return {master_id: master.changekey for master_id, master in masters.items()}
        fresh = self._read_items(mailbox, [ItemId(id=i) for i in masters])
        return {item.id: item.changekey for item in fresh}

    # --- the check --------------------------------------------------------------------------

    def _connect(self, mailbox: str) -> str:
        with self._calling("roomsync_check", mailbox, f"open the calendar of {mailbox}"):
            calendar = self._account(mailbox).calendar
            return f"opened the calendar of {mailbox} ({calendar.name}) at {self.options.url}"

    def _check_read(self, mailbox: str, now: datetime) -> str:
        entries = self.roomsync_list_entries(mailbox, now, now + timedelta(days=7))
        return f"read {len(entries)} entries of the next 7 days"

    def _check_write(self, mailbox: str, now: datetime) -> str:
        draft = probe_draft(now)
        [created] = self.roomsync_create_entries(mailbox, [draft])
        if not created.ok or created.item_id is None:
            raise RuntimeError(f"could not create a probe entry: {created.error}")
        with self._calling("roomsync_check", mailbox, f"remove the probe entry from {mailbox}"):
            account = self._account(mailbox)
            [removed] = account.bulk_delete([ItemId(id=created.item_id)], delete_type="HardDelete")
        if removed is not True:
            raise RuntimeError(f"created probe entry {created.item_id} but could not remove it: {removed}")
        return "created and removed a probe entry"

    def _check_changes(self, mailbox: str) -> str:
        page = self.roomsync_changes(mailbox, None)
        return f"SyncFolderItems answered ({len(page.entries)} entries on the first page)"


def series_ids(series: Sequence[tuple[str, EventFields]]) -> list[str]:
    return list(dict.fromkeys(item_id for item_id, _ in series))


def _require_window(start: datetime, end: datetime) -> None:
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must carry a time zone offset")
    if end <= start:
        raise ValueError(
            f"the window ends ({end.isoformat()}) before or when it starts ({start.isoformat()})"
        )


__all__ = ["PROTOCOL_PENDING", "SPOKEN_DIALECTS", "EwsConnector"]
