"""The connector base of the EWS plugins.

This release validates an environment's options and answers what a plugin is (its name, the EWS
dialect it pins, its capabilities); every hook that would talk to a server raises a
:class:`~roomsync.errors.ConnectorError` that says so, instead of failing in some less clear way
further down. The EWS protocol code replaces those methods here, once, for all three plugins.
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
from roomsync_ews_common.options import EwsOptions

PROTOCOL_PENDING = "validates configuration but does not yet speak EWS to servers"


class EwsConnector(Connector):
    """Base of the EWS connectors; a subclass sets the class attributes below and nothing else."""

    Options: ClassVar[type[BaseModel]] = EwsOptions

    name: ClassVar[str] = ""
    """The plugin's name, its entry point in ``roomsync.connectors`` (``exchange2010``)."""

    request_server_version: ClassVar[str] = ""
    """The EWS dialect sent as ``RequestServerVersion``; pinned, so no version guessing happens."""

    serves: ClassVar[str] = ""
    """The Exchange releases this plugin is for, as a person would say them."""

    capability_notes: ClassVar[tuple[str, ...]] = ()
    """What an administrator should know about this generation (shown with the capabilities)."""

    options: EwsOptions

    @classmethod
    def distribution(cls) -> str:
        return f"roomsync-{cls.name}"

    def _pending(self, hook: str, doing: str) -> ConnectorError:
        return ConnectorError(
            f"this release of {self.distribution()} {PROTOCOL_PENDING}: environment "
            f"{self.environment!r} cannot {doing} ({hook}); protocol support comes in a later release"
        )

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        # Known without a server, and what the host reads before any batched call, so it answers.
        return Capabilities(
            push=False,
            max_batch=100,
            max_freebusy_mailboxes=100,
            max_freebusy_days=42,
            notes=(
                f"this release of {self.distribution()} {PROTOCOL_PENDING}",
                f"for {self.serves}; EWS dialect {self.request_server_version}",
                *self.capability_notes,
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
        return f"{type(self).__name__}(environment={self.environment!r}, url={self.options.url!r})"
