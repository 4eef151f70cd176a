"""The connector base of the EWS plugins: every connector hook over exchangelib, written once.

A version plugin subclasses :class:`EwsConnector` and sets its class attributes (the pinned
dialect, what it serves, its notes and the impersonation right of its generation). A generation
whose EWS differs from what exchangelib writes and reads (Exchange
2007) overrides the few extension points: :attr:`EwsConnector.build_item`,
:attr:`EwsConnector.build_occurrence`, :attr:`EwsConnector.update_fields`,
:meth:`EwsConnector._fetch` and :meth:`EwsConnector._free_busy`.

How the parts that every connector must get right are done here:

* create is idempotent by stamp: stamps are looked up before writing, and a create whose answer
  was lost (time-out, dropped connection) is looked up again before anything is repeated;
* updates carry the change key with ``NeverOverwrite``, so a change made meanwhile gives ``STALE``;
* one item never fails its batch: the values Exchange refuses are declared in the capabilities
  (:data:`LIMITS`) for the engine to check first, and a request refused whole for its content
  (exchangelib's own checks, ``ErrorSchemaValidation``) is sent again item by item;
* change detection is ``SyncFolderItems`` on the calendar, one page (at most 512 changes) per
  call, the state wrapped so that anything not ours, or refused by the server, starts over with
  ``reset``; created and changed items are read in full, series with their exceptions;
* a room declines as itself with DeclineItem response objects, many in one CreateItem
  (:mod:`roomsync_ews_common.declines`), each item answered on its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, TypeVar

from exchangelib import CalendarItem, EWSTimeZone
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorBatchProcessingStopped,
    ErrorCalendarDurationIsTooLong,
    ErrorCalendarEndDateIsEarlierThanStartDate,
    ErrorCalendarInvalidPropertyValue,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorCalendarOutOfRange,
    ErrorChangeKeyRequiredForWriteOperations,
    ErrorDataSizeLimitExceeded,
    ErrorExceededConnectionCount,
    ErrorImpersonateUserDenied,
    ErrorImpersonationDenied,
    ErrorInvalidChangeKey,
    ErrorInvalidPropertySet,
    ErrorInvalidRecipients,
    ErrorInvalidSyncStateData,
    ErrorInvalidValueForProperty,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorNonExistentMailbox,
    ErrorPropertyValidationFailure,
    ErrorRecurrenceHasNoOccurrence,
    ErrorSchemaValidation,
    ErrorServerBusy,
    ErrorStaleObject,
    ErrorTimeoutExpired,
    ErrorValueOutOfRange,
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
from exchangelib.services import CreateItem, SyncFolderItems, UpdateItem
from pydantic import BaseModel

from roomsync.connector.base import Connector
from roomsync.connector.checks import sync_test, through_hooks
from roomsync.connector.companions import (
    companion_drafts,
    companion_lookups,
    companion_stamps,
    is_companion,
    reconcile_companions,
)
from roomsync.connector.directory import RoomList
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
    WriteErrorKind,
    WriteLimits,
    WriteResult,
)
from roomsync.connector.windows import require_window
from roomsync.domain import EventFields
from roomsync.engine.limits import problems
from roomsync.errors import AccessDenied, ConfigError, ConnectorError, Fault, TransientConnectorError
from roomsync.hookspecs import hookimpl
from roomsync_ews_common import declines, mapping, room_lists
from roomsync_ews_common import stamp as props
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.availability import MAX_WINDOW, free_busy
from roomsync_ews_common.calendar_sync import CalendarChanges
from roomsync_ews_common.explain import kerberos_refused
from roomsync_ews_common.groups import expand_dl
from roomsync_ews_common.notifications import EwsNotifications
from roomsync_ews_common.options import EwsOptions

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE_PREFIX = "ews1:"
PAGE_SIZE = 512  # SyncFolderItems' MaxChangesReturned maximum
BATCH = 100

TRANSIENT = (ErrorServerBusy, ErrorTimeoutExpired, RateLimitError, ErrorExceededConnectionCount)
STALE = (
    ErrorIrresolvableConflict,
    ErrorInvalidChangeKey,
    ErrorChangeKeyRequiredForWriteOperations,
    ErrorStaleObject,
)
# What refuses a whole batch for the content of its items: exchangelib's checks of field values
# before sending (a Subject over 255 characters, text lxml cannot write) and the server's schema
# validation. Sent again one by one, only the bad items fail.
REFUSED_WHOLE = (ValueError, ErrorSchemaValidation)

LIMITS = WriteLimits(
    max_title_length=255,  # Subject: "limited to 255 characters"; exchangelib refuses more
    max_attendees=500,  # the default recipient limit of a message (MaxRecipientEnvelopeLimit)
    earliest=datetime(1601, 1, 1, tzinfo=UTC),  # the store's times are FILETIMEs
    latest=datetime(4501, 1, 1, tzinfo=UTC),  # Outlook's "none" date; ErrorCalendarOutOfRange beyond
    xml_text=True,  # ErrorSchemaValidation for the whole request
)
"""The values Exchange takes in one calendar item, on every generation."""
XML_ONLY = WriteLimits(xml_text=True)


def unsendable(fields: EventFields) -> WriteResult | None:
    """The refusal of text XML cannot carry, which exchangelib would write with '?' in its place."""
    found = problems(fields, XML_ONLY)
    if not found:
        return None
    return WriteResult.failure(WriteErrorKind.INVALID, "not sent: " + "; ".join(map(str, found)))


def each_alone(write: Callable[[list[T]], list[Any]], items: list[T]) -> list[Any]:
    """``write(items)``; when the whole request is refused for its content, each item on its own,
    a refused one answering its exception."""
    try:
        return write(items)
    except REFUSED_WHOLE as exc:
        if len(items) == 1:
            return [exc]
    answers: list[Any] = []
    for item in items:
        try:
            answers.extend(write([item]))
        except REFUSED_WHOLE as exc:
            answers.append(exc)
    return answers


# What Exchange answers for one item whose values it does not take. exchangelib raises them, and
# an unknown code (ErrorExceededMaxRecipientLimit) as a TransportError, for the whole batch; here
# they are that item's answer. Only codes of response messages, which each belong to one item.
REFUSED_ITEM = (
    ErrorDataSizeLimitExceeded,
    ErrorCalendarOutOfRange,
    ErrorInvalidRecipients,
    ErrorCalendarEndDateIsEarlierThanStartDate,
    ErrorCalendarDurationIsTooLong,
    ErrorCalendarInvalidPropertyValue,
    ErrorRecurrenceHasNoOccurrence,
    ErrorPropertyValidationFailure,
    ErrorInvalidValueForProperty,
    ErrorValueOutOfRange,
    ErrorInvalidPropertySet,
    TransportError,
)


def occurrence_item(
    account: Any,
    occurrence_id: OccurrenceItemId,
    title: str,
    start: datetime,
    end: datetime,
    zone: str,
    item_cls: type[CalendarItem] = CalendarItem,
) -> CalendarItem:
    """A modified occurrence of a series, its times in the series' zone."""
    ews_zone = EWSTimeZone(zone)
    return item_cls(
        account=account,
        folder=account.calendar,
        _id=occurrence_id,
        subject=title,
        start=mapping.ews_time(start, ews_zone),
        end=mapping.ews_time(end, ews_zone),
    )


class PerItemCreate(CreateItem):
    """CreateItem answering an item's refused values for that item alone."""

    ERRORS_TO_CATCH_IN_RESPONSE = (*CreateItem.ERRORS_TO_CATCH_IN_RESPONSE, *REFUSED_ITEM)


class PerItemUpdate(UpdateItem):
    """UpdateItem answering a stale change key, or refused values, per item: exchangelib would fail
    the whole batch."""

    ERRORS_TO_CATCH_IN_RESPONSE = (
        *UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE,
        ErrorIrresolvableConflict,
        *REFUSED_ITEM,
    )


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


class EwsConnector(EwsNotifications, Connector):
    """Base of the EWS connectors; a subclass sets the class attributes below and nothing else."""

    Options: ClassVar[type[BaseModel]] = EwsOptions

    name: ClassVar[str] = ""
    """The plugin's name, its entry point in ``roomsync.connectors``."""

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
    """How an administrator grants impersonation on this generation, named in AccessDenied;
    ``SERVICE-ACCOUNT`` is replaced by the configured username."""

    impersonation_right_name: ClassVar[str] = "ApplicationImpersonation"
    """The right's short name, which every AccessDenied about impersonation contains."""

    update_fields: ClassVar[tuple[str, ...]] = mapping.SYNCED_FIELDS
    """The item fields an update replaces (see :data:`roomsync_ews_common.mapping.SYNCED_FIELDS`)."""

    options: EwsOptions

    def __init__(self, environment: str, options: BaseModel) -> None:
        super().__init__(environment, options)
        self._pool: AccountPool | None = None
        self._written = WrittenEntries()

    @classmethod
    def distribution(cls) -> str:
        return f"roomsync-{cls.name}"

    @classmethod
    def status_note(cls) -> str:
        return (
            f"this release of {cls.distribution()} speaks EWS; changes arrive by {cls.notifications} "
            "notifications (impersonation only: delegate access is polled), and SyncFolderItems every "
            "cycle catches whatever they miss"
        )

    # --- the hooks ------------------------------------------------------------------------

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        # Known without a server, and what the host reads before any batched call, so it answers.
        return Capabilities(
            recurrence=True,
            push=self.can_watch(),
            free_busy=True,
            max_batch=BATCH,
            max_freebusy_mailboxes=100,
            max_freebusy_days=MAX_WINDOW.days,
            max_concurrency=self.options.max_concurrency,
            limits=LIMITS,
            notes=(
                self.status_note(),
                f"for {self.serves}; EWS dialect {self.request_server_version}",
                *self.capability_notes,
            ),
        )

    @hookimpl
    def roomsync_check(self, mailbox: str) -> list[CheckStep]:
        actions = through_hooks(
            self,
            mailbox,
            connect=lambda: self._connect(mailbox),
            changes=lambda: self._check_changes(mailbox),
            free_busy_request="GetUserAvailability",
            delete=lambda refs: self._remove_probe(mailbox, refs),
            free_busy=self._check_free_busy,
        )
        return sync_test(mailbox, actions)

    @hookimpl
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        with self._calling(mailbox, f"create entries in {mailbox}"):
            extra = companion_drafts(drafts)
            results = self._create(mailbox, [*drafts, *extra])
            self._log_companion_failures(mailbox, extra, results[len(drafts) :])
            return results[: len(drafts)]

    @hookimpl
    def roomsync_update_entries(self, mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
        with self._calling(mailbox, f"update entries in {mailbox}"):
            results = self._update(mailbox, updates)
            self._update_companions(mailbox, [u for u, r in zip(updates, results, strict=True) if r.ok])
            return results

    @hookimpl
    def roomsync_delete_entries(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
        with self._calling(mailbox, f"delete entries in {mailbox}"):
            account = self._account(mailbox)
            stamps = [stamp for ref in refs if ref.stamp for stamp in companion_stamps(ref.stamp)]
            extra = [ItemId(id=item.id) for item in self._stamped(account.calendar, stamps)] if stamps else []
            answers = account.bulk_delete(
                [*(ItemId(id=ref.item_id) for ref in refs), *extra],
                delete_type=MOVE_TO_DELETED_ITEMS,
                send_meeting_cancellations=self._send(),
                chunk_size=BATCH,
            )
            return [
                WriteResult.success(ref.item_id, "") if answer is True else self._failure(answer, ref.item_id)
                for ref, answer in zip(refs, answers[: len(refs)], strict=True)
            ]

    @hookimpl
    def roomsync_decline_entries(self, mailbox: str, refs: list[ItemRef], comment: str) -> list[WriteResult]:
        """DeclineItems as ``mailbox`` (impersonated or as its delegate), up to 100 per CreateItem."""
        with self._calling(mailbox, f"decline meetings in {mailbox}"):
            answers = declines.decline(self._account(mailbox), refs, comment, BATCH)
            results = []
            for ref, answer in zip(refs, answers, strict=True):
                if answer is True:
                    self._written.forget(mailbox, ref.item_id)
                    results.append(WriteResult.success(ref.item_id, ""))
                elif isinstance(answer, ErrorBatchProcessingStopped):  # not tried: an earlier one failed
                    results.append(WriteResult.failure(WriteErrorKind.TRANSIENT, str(answer), ref.item_id))
                else:
                    results.append(self._failure(answer, ref.item_id))
            return results

    @hookimpl
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        with self._calling(mailbox, f"read the changes of {mailbox}"):
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
            entries, deleted, new_state, more, unchanged = page
            return ChangeSet(
                entries=tuple(entries),
                deleted=tuple(deleted),
                unchanged=tuple(unchanged),
                sync_state=f"{STATE_PREFIX}{new_state}",
                more=more,
                reset=not usable,
            )

    @hookimpl
    def roomsync_list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        require_window(start, end)
        with self._calling(mailbox, f"read the calendar of {mailbox}"):
            return self._list(mailbox, start, end)

    @hookimpl
    def roomsync_find_by_stamp(self, mailbox: str, stamps: list[str]) -> dict[str, list[CalendarEntry]]:
        with self._calling(mailbox, f"look up stamped entries in {mailbox}"):
            found: dict[str, list[CalendarEntry]] = {}
            for entry in self._find(mailbox, stamps):
                if entry.stamp is not None:
                    found.setdefault(entry.stamp, []).append(entry)
            return found

    @hookimpl
    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        require_window(start, end)
        doing = f"read free/busy of {len(mailboxes)} mailboxes"
        with self._calling(mailboxes[0] if mailboxes else "", doing):
            return self._free_busy(mailboxes, start, end)

    @hookimpl
    def roomsync_room_directory(self, room_list: str | None) -> list[RoomList]:
        doing = "read the room directory (GetRoomLists, GetRooms)"
        with self._calling(self.options.account, doing):
            if self._pool is None:
                self._pool = AccountPool(
                    self.options, self.request_server_version, counter=self.requests_sent
                )
            where = f"{self.distribution()}, environment {self.environment!r}"
            return room_lists.read_directory(self._pool.protocol(), room_list, where)

    @hookimpl
    def roomsync_close(self) -> None:
        self.close_watcher()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @hookimpl
    def roomsync_expand_group(self, address: str) -> list[GroupMember] | None:
        with self._calling(address, f"expand the distribution group {address} (ExpandDL)"):
            return expand_dl(self._account(address).protocol, address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(environment={self.environment!r}, url={self.options.url!r})"

    # --- what a generation may do differently -----------------------------------------------

    build_item: ClassVar[Callable[..., CalendarItem]] = staticmethod(mapping.to_item)
    """The item written for an entry (created, or updated when ``identity`` names it):
    ``build_item(account, fields, stamp, setup_minutes, followup_minutes, **identity)``."""

    build_occurrence: ClassVar[Callable[..., CalendarItem]] = staticmethod(occurrence_item)
    """A modified occurrence of a series, whose subject, start and end are updated:
    ``build_occurrence(account, occurrence_id, title, start, end, zone)``."""

    def _fetch(self, account: Any, ids: list[Any]) -> Iterable[Any]:
        """GetItem of full calendar items; answers (items or errors) in the order of ``ids``."""
        return account.fetch(ids, chunk_size=BATCH)

    def _free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        """Busy times of the mailboxes, asked through the account of the first one."""
        return free_busy(self._account(mailboxes[0]).protocol, mailboxes, start, end)

    # --- accounts and errors ----------------------------------------------------------------

    def _account(self, mailbox: str) -> Any:
        if self._pool is None:
            self._pool = AccountPool(self.options, self.request_server_version, counter=self.requests_sent)
        return self._pool.account(mailbox)

    def _send(self) -> str:
        return SEND_TO_ALL_AND_SAVE_COPY if self.options.send_invitations != "none" else SEND_TO_NONE

    @contextlib.contextmanager
    def _calling(self, mailbox: str, doing: str) -> Iterator[None]:
        """Runs a hook's server work, turning exchangelib's failures of the whole call into ours."""
        try:
            yield
        except ConnectorError:
            raise
        except Exception as exc:
            raise self._whole_call_error(exc, mailbox, doing) from exc

    def _whole_call_error(self, exc: BaseException, mailbox: str, doing: str) -> ConnectorError:
        where = f"{self.distribution()}, environment {self.environment!r}: cannot {doing}"
        account = self.options.account
        grant = self.impersonation_right.replace("SERVICE-ACCOUNT", account)
        if isinstance(exc, (ErrorImpersonateUserDenied, ErrorImpersonationDenied)):
            return AccessDenied(
                f"{where}: the service account {account} may not impersonate {mailbox}. "
                f"An Exchange administrator grants it {grant}"
            )
        if isinstance(exc, ErrorAccessDenied):
            right = (
                f"impersonation of {mailbox} ({grant})"
                if self.options.access == "impersonation"
                else self.delegate_right(mailbox)
            )
            return AccessDenied(f"{where}: access denied to the service account {account}; it needs {right}")
        if isinstance(exc, ErrorNonExistentMailbox):
            return ConnectorError(f"{where}: the server has no mailbox {mailbox}", fault=Fault.MAILBOX)
        if isinstance(exc, ConfigError):  # e.g. Kerberos without requests-gssapi
            return ConnectorError(f"{where}: {exc}", fault=Fault.CONFIGURATION)
        if self.options.auth == "kerberos" and (
            isinstance(exc, UnauthorizedError) or type(exc).__module__.startswith("requests_gssapi")
        ):
            return ConnectorError(
                f"{where}: {kerberos_refused(exc, self.options.url)}", fault=Fault.CREDENTIALS
            )
        if isinstance(exc, UnauthorizedError):
            method = "Basic" if self.options.auth == "basic" else "Windows (NTLM)"
            return ConnectorError(
                f"{where}: the server at {self.options.url} refused the logon of {account} (HTTP 401, "
                f"{method} authentication). Check the username, the password (read from "
                f"{self.options.password}), that the account is neither locked nor expired, and that "
                f"{method} authentication is on for the EWS virtual directory "
                "(Get-WebServicesVirtualDirectory | Format-List BasicAuthentication,WindowsAuthentication)",
                fault=Fault.CREDENTIALS,
            )
        from roomsync_ews_common.explain import endpoint_problem  # why the url could not be used

        # Only what failed on the way to EWS: an answer from EWS itself is no problem of the url.
        if isinstance(exc, (TransportError, ErrorTimeoutExpired)) or not isinstance(exc, EWSError):
            problem = endpoint_problem(exc, self.options.url, account)
            if problem is not None:
                fault, text = problem
                return TransientConnectorError(f"{where}: {text}", fault=fault)
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
                "the network path and the TLS settings (verify_tls, ca_file)",
                fault=Fault.SERVER,
            )
        if isinstance(exc, EWSError):
            return ConnectorError(f"{where}: the server answered {type(exc).__name__}: {exc}")
        return ConnectorError(f"{where}: {type(exc).__name__}: {exc}")

    def delegate_right(self, mailbox: str) -> str:
        """How an administrator grants the service account delegate access to ``mailbox``."""
        return (
            f"delegate access to the calendar of {mailbox} (Add-MailboxFolderPermission "
            f"-Identity {mailbox}:\\Calendar -User {self.options.account} -AccessRights Editor)"
        )

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
        for answer in self._fetch(account, list(ids)):
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
            if not is_companion(getattr(item, props.STAMP, None)):  # buffers are ours alone
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

    def _sync_page(
        self, mailbox: str, state: str | None
    ) -> tuple[list[CalendarEntry], list[str], str, bool, list[ItemRef]]:
        account = self._account(mailbox)
        service = CalendarChanges(account=account)
        changed: dict[str, Any] = {}
        known: dict[str, ItemRef] = {}  # our own writes, still in the version we wrote
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
            elif kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE) and item is not None:
                # A full listing (no state) reads everything; a later page knows our writes.
                ours = self._written.take(mailbox, item.id, item.changekey or "") if state else None
                if ours is not None:
                    known[item.id] = ours  # a buffer's has no link: the engine passes it over
                    changed.pop(item.id, None)
                else:
                    known.pop(item.id, None)
                    changed[item.id] = ItemId(id=item.id)
            # read-flag changes do not concern a calendar
        items = self._read_items(mailbox, list(changed.values()))
        read = {item.id for item in items}
        deleted.extend(i for i in changed if i not in read)  # gone before it could be read
        return (
            self._entries(mailbox, items),
            deleted,
            service.sync_state,
            not service.includes_last_item_in_range,
            list(known.values()),
        )

    # --- writing ----------------------------------------------------------------------------

    def _create(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        account = self._account(mailbox)
        stamps = list(dict.fromkeys(d.stamp for d in drafts if not d.known_new))
        # A create whose answer was lost may have been carried out: look the stamps up first,
        # unless the engine knows there cannot be an entry yet (a FindItem saved per batch).
        made = dict(self._found(account.calendar, stamps, mailbox)) if stamps else {}
        missing = _to_create(drafts, made)
        if missing:
            answers = self._create_once(account, missing, made)
            series = _record_created(missing, answers, made, self._failure)
            if series:
                keys = self._apply_occurrences(mailbox, series)
                made = {stamp: rekeyed(result, keys) for stamp, result in made.items()}
            for item_stamp, draft in missing.items():
                self._written.remember_write(mailbox, made[item_stamp], draft)
        return [made[d.stamp] for d in drafts]

    def _found(self, calendar: Any, stamps: Sequence[str], mailbox: str) -> list[tuple[str, WriteResult]]:
        """The items carrying these stamps that ``mailbox`` organizes, as the results of having
        created them. An attendee's copy of a meeting carries its organizer's stamp too: taken
        for the entry of a reservation handed to that attendee, it would vanish with the old
        organizer's cancellation."""
        return [
            (item_stamp, WriteResult.success(item.id, item.changekey))
            for item in self._stamped(calendar, stamps)
            if (item_stamp := getattr(item, props.STAMP, None)) and _organized_by(item, mailbox)
        ]

    def _create_once(
        self, account: Any, missing: dict[str, EntryDraft], made: dict[str, WriteResult]
    ) -> list[Any]:
        """Create the missing drafts; after a lost answer, only those still missing, never twice.

        Drafts found after all leave ``missing`` for ``made``."""
        try:
            return self._bulk_create(account, list(missing.values()))
        except (ErrorTimeoutExpired, TransportError):
            # The request may have been applied before the connection broke: look again first.
            for item_stamp, result in self._found(
                account.calendar, list(missing), account.primary_smtp_address
            ):
                if item_stamp in missing:
                    made[item_stamp] = result
                    del missing[item_stamp]
            return self._bulk_create(account, list(missing.values())) if missing else []

    def _update_companions(self, mailbox: str, updates: list[EntryUpdate]) -> None:
        """Bring the buffer entries beside updated entries in line: rewrite, add or remove them."""
        if not updates:
            return
        account = self._account(mailbox)
        lookups = companion_lookups(updates)
        existing = {
            stamp: item.id
            for item in (self._stamped(account.calendar, lookups) if lookups else [])
            if (stamp := getattr(item, props.STAMP, None))
        }
        changes = reconcile_companions(updates, existing)
        failed = (
            [r for r in self._update(mailbox, list(changes.update)) if not r.ok] if changes.update else []
        )
        failed += (
            [r for r in self._create(mailbox, list(changes.create)) if not r.ok] if changes.create else []
        )
        if changes.delete:
            answers = account.bulk_delete(
                [ItemId(id=item_id) for item_id in changes.delete],
                delete_type=MOVE_TO_DELETED_ITEMS,
                send_meeting_cancellations=self._send(),
            )
            failed += [self._failure(a) for a in answers if a is not True]
        for result in failed:
            log.warning("buffer entry in %s not brought up to date: %s", mailbox, result.error)

    def _log_companion_failures(
        self, mailbox: str, drafts: list[EntryDraft], results: list[WriteResult]
    ) -> None:
        for draft, result in zip(drafts, results, strict=True):
            if not result.ok:
                log.warning("buffer entry %s not written in %s: %s", draft.stamp, mailbox, result.error)

    def _bulk_create(self, account: Any, drafts: list[EntryDraft]) -> list[Any]:
        def create(some: list[EntryDraft]) -> list[Any]:
            items = [
                self.build_item(account, d.fields, d.stamp, d.setup_minutes, d.followup_minutes) for d in some
            ]
            service = PerItemCreate(account=account, chunk_size=BATCH)
            return list(
                service.call(
                    folder=account.calendar,
                    items=items,
                    message_disposition=SAVE_ONLY,
                    send_meeting_invitations=self._send(),
                )
            )

        return each_alone(create, drafts)

    def _update(self, mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
        account = self._account(mailbox)
        found: list[WriteResult | None] = [unsendable(update.fields) for update in updates]
        # With a change key the server refuses to overwrite a newer version; without one the
        # caller asked to overwrite.
        for keyed in (True, False):
            chosen = [n for n, u in enumerate(updates) if bool(u.change_key) is keyed and found[n] is None]
            if chosen:
                answers = each_alone(partial(self._rewrite, account, keyed), [updates[n] for n in chosen])
                for n, answer in zip(chosen, answers, strict=True):
                    found[n] = self._updated(answer, updates[n].item_id)
        results = [r for r in found if r is not None]
        series = _rewritten_series(results, updates)
        if series:
            keys = self._apply_occurrences(mailbox, series)
            results = [rekeyed(result, keys) for result in results]
        for result, update in zip(results, updates, strict=True):
            self._written.remember_write(mailbox, result, update)
        return results

    def _rewrite(self, account: Any, keyed: bool, updates: list[EntryUpdate]) -> list[Any]:
        """One UpdateItem of these entries, guarded by their change keys when ``keyed``."""
        batch = []
        for update in updates:
            identity: dict[str, Any] = {"id": update.item_id}
            if update.change_key:
                identity["changekey"] = update.change_key
            item = self.build_item(
                account,
                update.fields,
                update.stamp,
                update.setup_minutes,
                update.followup_minutes,
                **identity,
            )
            batch.append((item, list(self.update_fields)))
        return bulk_update(account, batch, NEVER_OVERWRITE if keyed else ALWAYS_OVERWRITE, self._send())

    def _updated(self, answer: Any, item_id: str) -> WriteResult:
        if isinstance(answer, Exception):
            return self._failure(answer, item_id)
        new_id, change_key = answer
        return WriteResult.success(new_id, change_key)

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
            if master is not None:
                self._occurrence_changes(account, master, fields, modify, cancel)
        if not (modify or cancel):
            return {master_id: master.changekey for master_id, master in masters.items()}
        self._modify_occurrences(account, modify)
        self._cancel_occurrences(account, cancel)
        fresh = self._read_items(mailbox, [ItemId(id=i) for i in masters])
        return {item.id: item.changekey for item in fresh}

    def _occurrence_changes(
        self,
        account: Any,
        master: Any,
        fields: EventFields,
        modify: list[tuple[Any, list[str]]],
        cancel: list[Any],
    ) -> None:
        """Adds what makes the occurrences of ``master`` as ``fields`` draft them to the two lists."""
        already_gone = {d.start.astimezone(UTC) for d in master.deleted_occurrences or ()}
        for change in fields.occurrences:
            index = mapping.occurrence_index(fields, change.original_start)
            occurrence_id = OccurrenceItemId(id=master.id, instance_index=index)
            if change.cancelled:
                if change.original_start.astimezone(UTC) not in already_gone:
                    cancel.append(occurrence_id)
                continue
            assert change.start is not None and change.end is not None
            occurrence = self.build_occurrence(
                account,
                occurrence_id,
                change.title or fields.title,
                change.start,
                change.end,
                fields.timezone,
            )
            modify.append((occurrence, ["subject", "start", "end"]))

    def _modify_occurrences(self, account: Any, modify: list[tuple[Any, list[str]]]) -> None:
        if not modify:
            return
        for answer in bulk_update(account, modify, ALWAYS_OVERWRITE, self._send()):
            if isinstance(answer, Exception):
                raise answer

    def _cancel_occurrences(self, account: Any, cancel: list[Any]) -> None:
        if not cancel:
            return
        answers = account.bulk_delete(
            cancel,
            delete_type=MOVE_TO_DELETED_ITEMS,
            send_meeting_cancellations=self._send(),
            chunk_size=BATCH,
        )
        for answer in answers:
            if isinstance(answer, Exception) and not isinstance(
                answer, ErrorCalendarOccurrenceIsDeletedFromRecurrence
            ):
                raise answer

    # --- the check --------------------------------------------------------------------------

    def _connect(self, mailbox: str) -> str:
        with self._calling(mailbox, f"open the calendar of {mailbox}"):
            account = self._account(mailbox)
            # A real GetFolder: the account addresses its calendar without asking the server.
            calendar = type(account.calendar).get_distinguished(root=account.root)
            return f"opened the calendar of {mailbox} ({calendar.name}) at {self.options.url}"

    def _remove_probe(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
        """Removes the probe for good: it never reaches Deleted Items."""
        with self._calling(mailbox, f"remove the probe entry from {mailbox}"):
            answers = self._account(mailbox).bulk_delete(
                [ItemId(id=ref.item_id) for ref in refs], delete_type="HardDelete"
            )
        return [
            WriteResult.success(ref.item_id, "")
            if answer is True
            else WriteResult.failure(WriteErrorKind.INVALID, str(answer), ref.item_id)
            for ref, answer in zip(refs, answers, strict=True)
        ]

    def _check_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        with self._calling(mailboxes[0], f"read free/busy of {mailboxes[0]}"):
            return self._free_busy(mailboxes, start, end)

    def _check_changes(self, mailbox: str) -> str:
        page = self.roomsync_changes(mailbox, None)
        return f"SyncFolderItems answered ({len(page.entries)} entries on the first page)"


def series_ids(series: Sequence[tuple[str, EventFields]]) -> list[str]:
    return list(dict.fromkeys(item_id for item_id, _ in series))


def rekeyed(result: WriteResult, keys: dict[str, str]) -> WriteResult:
    """The result with the change key its item got since (writing a series' exceptions)."""
    if result.ok and result.item_id in keys:
        return WriteResult.success(result.item_id, keys[result.item_id])
    return result


def _to_create(drafts: Sequence[EntryDraft], made: dict[str, WriteResult]) -> dict[str, EntryDraft]:
    """The drafts to send, by stamp; a draft XML cannot carry gets its refusal in ``made``."""
    missing: dict[str, EntryDraft] = {}
    for draft in drafts:
        refused = unsendable(draft.fields)
        if refused is not None:
            made.setdefault(draft.stamp, refused)
        elif draft.stamp not in made:
            missing.setdefault(draft.stamp, draft)  # the same stamp twice in a batch: one entry
    return missing


def _record_created(
    missing: dict[str, EntryDraft],
    answers: Sequence[Any],
    made: dict[str, WriteResult],
    failure: Callable[[Any], WriteResult],
) -> list[tuple[str, EventFields]]:
    """Puts CreateItem's answers into ``made``; answers the created series with exceptions."""
    series: list[tuple[str, EventFields]] = []
    for item_stamp, answer in zip(missing, answers, strict=True):
        if isinstance(answer, Exception):
            made[item_stamp] = failure(answer)
            continue
        made[item_stamp] = WriteResult.success(answer.id, answer.changekey)
        if missing[item_stamp].fields.occurrences:
            series.append((answer.id, missing[item_stamp].fields))
    return series


def _organized_by(item: Any, mailbox: str) -> bool:
    """Whether ``mailbox`` organizes the item (an item without an organizer is its own)."""
    address = getattr(getattr(item, "organizer", None), "email_address", None)
    return not address or address.strip().lower() == mailbox.strip().lower()


def _rewritten_series(
    results: Sequence[WriteResult], updates: Sequence[EntryUpdate]
) -> list[tuple[str, EventFields]]:
    """The series rewritten with exceptions, which are to be made next."""
    series = []
    for result, update in zip(results, updates, strict=True):
        fields = update.fields
        if result.ok and result.item_id and fields.recurrence is not None and fields.occurrences:
            series.append((result.item_id, fields))
    return series


__all__ = ["EwsConnector"]
