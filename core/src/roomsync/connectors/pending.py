"""A connector whose configuration works but whose protocol is not in this release.

Plugin distributions use it to ship their options, documentation and capabilities ahead of their
protocol code: every hook that would reach a server raises a
:class:`~roomsync.errors.ConnectorError` naming the distribution and what could not be done,
instead of failing less clearly further down. Capabilities stay with the subclass, since they
are known without a server and the host reads them before every batched call.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from roomsync.connector.base import Connector
from roomsync.connector.types import (
    CalendarEntry,
    ChangeSet,
    CheckStep,
    EntryDraft,
    EntryUpdate,
    FreeBusy,
    ItemRef,
    WriteResult,
)
from roomsync.errors import ConnectorError, Fault
from roomsync.hookspecs import hookimpl


def pending_phrase(protocol: str) -> str:
    return f"validates configuration but does not yet speak {protocol} to servers"


class PendingProtocolConnector(Connector):
    name: ClassVar[str] = ""
    """The plugin's name, its entry point in ``roomsync.connectors``."""

    protocol: ClassVar[str] = ""
    """What it will speak to servers, as an administrator would say it (``EWS``)."""

    @classmethod
    def distribution(cls) -> str:
        return f"roomsync-{cls.name}"

    @classmethod
    def pending_note(cls) -> str:
        return f"this release of {cls.distribution()} {pending_phrase(cls.protocol)}"

    def _pending(self, hook: str, doing: str) -> ConnectorError:
        return ConnectorError(
            f"{self.pending_note()}: environment {self.environment!r} cannot {doing} ({hook}); "
            "protocol support comes in a later release",
            fault=Fault.PLUGIN,  # the installed plugin cannot serve the environment yet
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
