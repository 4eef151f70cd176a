"""The Exchange Online connector, over Microsoft Graph.

EWS in Exchange Online is blocked since 2026-10-01 and switched off on 2027-04-01, so this plugin
speaks Graph. This release validates an environment's options and answers what the plugin is;
every hook that would talk to Graph raises a :class:`~roomsync.errors.ConnectorError` saying so.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from roomsync.connector import Connector
from roomsync.errors import ConnectorError
from roomsync.hookspecs import hookimpl
from roomsync.model import (
    CalendarEntry,
    Capabilities,
    ChangeSet,
    CheckStep,
    EntryDraft,
    EntryUpdate,
    FreeBusy,
    ItemRef,
    WriteResult,
)
from roomsync_o365.options import O365Options

DISTRIBUTION = "roomsync-o365"
PROTOCOL_PENDING = "validates configuration but does not yet speak Microsoft Graph to servers"


class O365Connector(Connector):
    Options: ClassVar[type[BaseModel]] = O365Options
    name: ClassVar[str] = "o365"
    serves: ClassVar[str] = "Exchange Online (Microsoft 365)"

    options: O365Options

    def _pending(self, hook: str, doing: str) -> ConnectorError:
        return ConnectorError(
            f"this release of {DISTRIBUTION} {PROTOCOL_PENDING}: environment {self.environment!r} "
            f"cannot {doing} ({hook}); protocol support comes in a later release"
        )

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        # Graph's limits: $batch takes 20 requests, getSchedule 20 mailboxes over less than 62 days.
        return Capabilities(
            push=False,
            max_batch=20,
            max_freebusy_mailboxes=20,
            max_freebusy_days=61,
            notes=(
                f"this release of {DISTRIBUTION} {PROTOCOL_PENDING}",
                f"for {self.serves}; Microsoft Graph at {self.options.graph_url}",
                "application permission Calendars.ReadWrite, scoped with RBAC for Applications "
                "or an Application Access Policy",
                f"{1 + len(self.options.tenant_overrides)} tenant(s)",
            ),
        )

    @hookimpl
    def roomsync_check(self, mailbox: str) -> list[CheckStep]:
        raise self._pending("roomsync_check", f"run the sync test for {mailbox}")

    @hookimpl
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        raise self._pending("roomsync_create_entries", f"create entries in {mailbox}")

    @hookimpl
    def roomsync_update_entries(self, mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
        raise self._pending("roomsync_update_entries", f"update entries in {mailbox}")

    @hookimpl
    def roomsync_delete_entries(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
        raise self._pending("roomsync_delete_entries", f"delete entries in {mailbox}")

    @hookimpl
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        raise self._pending("roomsync_changes", f"read the changes of {mailbox}")

    @hookimpl
    def roomsync_list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        raise self._pending("roomsync_list_entries", f"read the calendar of {mailbox}")

    @hookimpl
    def roomsync_find_by_stamp(self, mailbox: str, stamps: list[str]) -> dict[str, list[CalendarEntry]]:
        raise self._pending("roomsync_find_by_stamp", f"look up stamped entries in {mailbox}")

    @hookimpl
    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        raise self._pending("roomsync_free_busy", f"read free/busy of {len(mailboxes)} mailboxes")

    @hookimpl
    def roomsync_close(self) -> None:
        """Nothing is open; a runner that stops must not fail here."""

    def __repr__(self) -> str:
        return f"O365Connector(environment={self.environment!r}, tenant_id={self.options.tenant_id!r})"
