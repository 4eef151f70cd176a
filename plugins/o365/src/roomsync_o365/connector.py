"""The Exchange Online connector, over Microsoft Graph.

EWS in Exchange Online is blocked since 2026-10-01 and switched off on 2027-04-01, so this plugin
speaks Graph v1.0: events for export (``$batch``, 20 requests per round trip), ``calendarView/delta``
for changes, ``getSchedule`` for free/busy, and (with ``notification_url``) change notifications
that wake the runner between polls. Each hook's work lives in its own module; this class holds
the connection (one pooled session, one token cache per tenant) and turns failures of a whole
call into the core's errors, each naming the environment, the mailbox and what to do.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import ClassVar

import requests
from pydantic import BaseModel

from roomsync.connector.base import Connector
from roomsync.connector.checks import sync_test, through_hooks
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
    WriteLimits,
    WriteResult,
)
from roomsync.connector.windows import require_window
from roomsync.errors import ConfigError, ConnectorError, Fault
from roomsync.hookspecs import hookimpl
from roomsync_o365 import places, schedule
from roomsync_o365.batch import MAX_BATCH
from roomsync_o365.delta import DeltaReader, reported
from roomsync_o365.errors import from_graph_error
from roomsync_o365.events import MailboxCalendar
from roomsync_o365.graph_client import GraphClient, GraphError, user
from roomsync_o365.groups import group_members
from roomsync_o365.options import O365Options
from roomsync_o365.tokens import TokenRegistry
from roomsync_o365.transport import new_session
from roomsync_o365.watch import Watcher
from roomsync_o365.writes import Writer

LIMITS = WriteLimits(
    max_title_length=255,  # the store's Subject, as over EWS
    max_attendees=500,  # Exchange Online's recipients per message
    earliest=datetime(1601, 1, 1, tzinfo=UTC),
    latest=datetime(4501, 1, 1, tzinfo=UTC),
    # JSON could carry them, but the body must be UTF-8 (no lone surrogates) and the store
    # serves every item over EWS and MAPI too, whose XML cannot carry control characters.
    xml_text=True,
)
"""The values Exchange Online takes in one event; the engine checks drafts against them."""


class O365Connector(Connector):
    Options: ClassVar[type[BaseModel]] = O365Options
    name: ClassVar[str] = "o365"
    protocol: ClassVar[str] = "Microsoft Graph"
    serves: ClassVar[str] = "Exchange Online (Microsoft 365)"

    options: O365Options

    def __init__(self, environment: str, options: BaseModel) -> None:
        super().__init__(environment, options)
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._tokens: TokenRegistry | None = None
        self._client: GraphClient | None = None
        self._written = WrittenEntries()
        self.watcher: Watcher | None = None
        """The webhook receiver and subscriptions, once ``roomsync_watch`` started them."""

    @classmethod
    def distribution(cls) -> str:
        return f"roomsync-{cls.name}"

    # --- the hooks --------------------------------------------------------------------------

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        # Graph's limits: $batch takes 20 requests, getSchedule 20 mailboxes over less than 62 days.
        options = self.options
        return Capabilities(
            recurrence=True,
            push=options.notification_url is not None,
            max_batch=MAX_BATCH,
            max_freebusy_mailboxes=schedule.MAX_MAILBOXES,
            max_freebusy_days=schedule.MAX_WINDOW.days,
            max_concurrency=options.max_concurrency,
            limits=LIMITS,
            notes=(
                f"{self.distribution()} speaks Microsoft Graph v1.0 at {options.graph_url}; changes by "
                "calendarView/delta"
                + (
                    f", woken by change notifications at {options.notification_url}"
                    if options.notification_url
                    else ""
                ),
                f"for {self.serves}",
                "application permission Calendars.ReadWrite, scoped with RBAC for Applications "
                "or an Application Access Policy",
                f"{len(options.tenants())} tenant(s)",
            ),
        )

    @hookimpl
    def roomsync_check(self, mailbox: str) -> list[CheckStep]:
        actions = through_hooks(
            self, mailbox, lambda: self._connect(mailbox), lambda: self._check_changes(mailbox), "getSchedule"
        )
        return sync_test(mailbox, actions)

    @hookimpl
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        with self._calling(mailbox, f"create entries in {mailbox}"):
            return Writer(self._calendar(mailbox), self._written).create(drafts)

    @hookimpl
    def roomsync_update_entries(self, mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
        with self._calling(mailbox, f"update entries in {mailbox}"):
            return Writer(self._calendar(mailbox), self._written).update(updates)

    @hookimpl
    def roomsync_delete_entries(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
        with self._calling(mailbox, f"delete entries in {mailbox}"):
            return Writer(self._calendar(mailbox)).delete(refs)

    @hookimpl
    def roomsync_decline_entries(self, mailbox: str, refs: list[ItemRef], comment: str) -> list[WriteResult]:
        with self._calling(mailbox, f"decline meetings in {mailbox}"):
            return Writer(self._calendar(mailbox), self._written).decline(refs, comment)

    @hookimpl
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        with self._calling(mailbox, f"read the changes of {mailbox}"):
            reader = DeltaReader(
                self._calendar(mailbox),
                self.options.delta_past_days,
                self.options.delta_future_days,
                self._written,
            )
            return reader.changes(sync_state)

    @hookimpl
    def roomsync_list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        require_window(start, end)
        with self._calling(mailbox, f"read the calendar of {mailbox}"):
            calendar = self._calendar(mailbox)
            entries, _ = calendar.read_entries(calendar.window_ids(start, end))
            return reported(entries)

    @hookimpl
    def roomsync_find_by_stamp(self, mailbox: str, stamps: list[str]) -> dict[str, list[CalendarEntry]]:
        with self._calling(mailbox, f"look up stamped entries in {mailbox}"):
            found: dict[str, list[CalendarEntry]] = {}
            for entry in reported(self._calendar(mailbox).find_stamped(stamps)):
                if entry.stamp is not None:
                    found.setdefault(entry.stamp, []).append(entry)
            return found

    @hookimpl
    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        require_window(start, end)
        if not mailboxes:
            return []
        with self._calling(mailboxes[0], f"read free/busy of {len(mailboxes)} mailboxes"):
            tokens = self._registry()
            return schedule.free_busy(
                self._graph(), tokens.for_mailbox, [m.lower() for m in mailboxes], start, end
            )

    @hookimpl
    def roomsync_watch(self, mailboxes: list[str], wake: Callable[[list[str]], None]) -> bool:
        """Change notifications through the webhook receiver; ``False`` without ``notification_url``."""
        if self.options.notification_url is None:
            return False
        with self._lock:
            watcher = self.watcher
        if watcher is None:
            tokens, client = self._open()
            try:
                watcher = Watcher(
                    self.options, client, tokens.for_mailbox, wake, own_server=not self.webhooks_elsewhere
                )
            except OSError as exc:
                raise ConnectorError(
                    f"{self.distribution()}, environment {self.environment!r}: cannot start the webhook "
                    f"receiver on webhook_bind {self.options.webhook_bind} ({exc.strerror or exc}); "
                    "choose a free address and port"
                ) from None
            with self._lock:  # before start: Graph validates the URL while subscriptions are made
                self.watcher = watcher
            watcher.start()
        watcher.manager.wake = wake
        watcher.manager.watch(mailboxes)
        return True

    def webhook_answer(self, path: str, query: str, body: bytes, client: str) -> tuple[int, str]:
        """Graph's posts, received by the web service at ``/webhooks/graph/<environment>/...``."""
        with self._lock:
            watcher = self.watcher
        if watcher is None:
            return 503, "this environment is not watching for changes"
        return watcher.receiver.answer(path, query, body, client)

    @hookimpl
    def roomsync_room_directory(self, room_list: str | None) -> list[RoomList]:
        with self._calling("", "read the room directory (Graph places)"):
            tokens, client = self._open()
            tenants = [tokens.for_credentials(credentials) for credentials in self.options.tenants()]
            return places.read_directory(client, tenants, room_list)

    @hookimpl
    def roomsync_close(self) -> None:
        with self._lock:
            watcher, self.watcher = self.watcher, None
            session, self._session = self._session, None
            self._tokens = None
            self._client = None
        if watcher is not None:
            with contextlib.suppress(Exception):
                watcher.stop()
        if session is not None:
            session.close()

    @hookimpl
    def roomsync_expand_group(self, address: str) -> list[GroupMember] | None:
        with self._calling("", f"expand the distribution group {address}"):
            return group_members(self._graph(), self._registry().for_mailbox(address), address)

    def __repr__(self) -> str:
        return f"O365Connector(environment={self.environment!r}, tenant_id={self.options.tenant_id!r})"

    # --- connection and errors --------------------------------------------------------------

    def _open(self) -> tuple[TokenRegistry, GraphClient]:
        with self._lock:
            if self._client is None or self._tokens is None:
                options = self.options
                self._session = new_session(options.verify_tls, options.ca_file)
                self._session.hooks["response"].append(self.requests_sent.response_hook)
                self._tokens = TokenRegistry(options, self._session, options.timeouts)
                self._client = GraphClient(
                    options.graph_url,
                    self._session,
                    options.timeouts,
                    options.max_retry_wait_seconds,
                )
            return self._tokens, self._client

    def _registry(self) -> TokenRegistry:
        return self._open()[0]

    def _graph(self) -> GraphClient:
        return self._open()[1]

    def _calendar(self, mailbox: str) -> MailboxCalendar:
        tokens, client = self._open()
        mailbox = mailbox.strip().lower()
        return MailboxCalendar(client, tokens.for_mailbox(mailbox), mailbox, self.options.timezone)

    @contextlib.contextmanager
    def _calling(self, mailbox: str, doing: str) -> Iterator[None]:
        """Runs a hook's server work, turning failures of the whole call into the core's errors."""
        where = f"{self.distribution()}, environment {self.environment!r}: cannot {doing}"
        try:
            yield
        except ConnectorError as exc:
            raise type(exc)(f"{where}: {exc}", fault=exc.fault) from None
        except GraphError as exc:
            who = self._registry().for_mailbox(mailbox).who if mailbox else "the app"
            error = from_graph_error(exc, mailbox, who, self.options.graph_url)
            raise type(error)(f"{where}: {error}", fault=error.fault) from None
        except ConfigError as exc:
            raise ConnectorError(f"{where}: {exc}", fault=Fault.CONFIGURATION) from None

    # --- the check --------------------------------------------------------------------------

    def _connect(self, mailbox: str) -> str:
        with self._calling(mailbox, f"open the calendar of {mailbox}"):
            calendar = self._calendar(mailbox)
            body = calendar.get(user(calendar.mailbox, "calendar", params={"$select": "id,name"}))
            return (
                f"opened the calendar of {mailbox} ({body.get('name', 'Calendar')}) at "
                f"{self.options.graph_url} as {calendar.tokens.who}"
            )

    def _check_changes(self, mailbox: str) -> str:
        page = self.roomsync_changes(mailbox, None)
        return f"calendarView/delta answered ({len(page.entries)} entries on the first page)"


__all__ = ["O365Connector"]
