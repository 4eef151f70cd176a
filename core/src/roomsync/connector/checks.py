"""The sync test's shared parts: the probe entry, the steps every connector runs, their order."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from roomsync.connector.types import CalendarEntry, CheckStep, EntryDraft, FreeBusy, ItemRef, WriteResult
from roomsync.domain import EventFields, ShowAs
from roomsync.errors import ConnectorError

PROBE_PREFIX = "roomsync-probe-"


def probe_draft(now: datetime) -> EntryDraft:
    """The entry a sync test writes and removes: tomorrow, five minutes, free, no reminder."""
    start = now.replace(second=0, microsecond=0) + timedelta(days=1)
    return EntryDraft(
        stamp=f"{PROBE_PREFIX}{uuid.uuid4().hex}",
        fields=EventFields(
            title="roomsync probe (safe to delete)",
            start=start,
            end=start + timedelta(minutes=5),
            reminder_minutes=None,
            show_as=ShowAs.FREE,
        ),
    )


NOT_TRIED = "not tried"
"""How the detail of a step that was not tried starts, so a report can tell it from a failure."""


def run_check(connect: Callable[[], str], steps: Sequence[tuple[str, Callable[[], str]]]) -> list[CheckStep]:
    """The sync test's steps in order, each ok with its detail or failed with the reason.

    Nothing is tried after a failed ``connect`` (every later step would fail for the same reason
    and bury it); the check reports every failure, it never raises.
    """

    def run(name: str, action: Callable[[], str]) -> CheckStep:
        try:
            return CheckStep(name=name, ok=True, detail=action())
        except Exception as exc:
            return CheckStep(name=name, ok=False, detail=str(exc) or type(exc).__name__)

    first = run("connect", connect)
    if not first.ok:
        return [first] + [
            CheckStep(name=name, ok=False, detail=f"{NOT_TRIED}: the connect step failed")
            for name, _ in steps
        ]
    return [first] + [run(name, action) for name, action in steps]


@dataclass(frozen=True)
class SyncTestActions:
    """What a connector does for each step of the sync test; :func:`sync_test` does the rest.

    Each action reaches the server as the hook it stands for would, and raises what it cannot do;
    the wording of every step's detail is the same for all connectors.
    """

    connect: Callable[[], str]
    """Open the mailbox's calendar; answers what was opened and where."""
    list_entries: Callable[[datetime, datetime], Sequence[CalendarEntry]]
    create: Callable[[list[EntryDraft]], list[WriteResult]]
    delete: Callable[[list[ItemRef]], list[WriteResult]]
    free_busy: Callable[[list[str], datetime, datetime], list[FreeBusy]]
    changes: Callable[[], str]
    """Read the first page of changes; answers what the change detection said."""
    free_busy_request: str = ""
    """The server's request for free/busy (``getSchedule``), named when it answers an error."""


class _Hooks(Protocol):
    def roomsync_list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]: ...
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]: ...
    def roomsync_delete_entries(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]: ...
    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]: ...


def through_hooks(
    connector: _Hooks,
    mailbox: str,
    connect: Callable[[], str],
    changes: Callable[[], str],
    free_busy_request: str = "",
    **instead: Any,
) -> SyncTestActions:
    """The actions of a connector whose steps read, write and ask free/busy through its own hooks.

    ``instead`` replaces some of them (``delete=...``), by the names of :class:`SyncTestActions`.
    """
    actions = SyncTestActions(
        connect=connect,
        list_entries=lambda start, end: connector.roomsync_list_entries(mailbox, start, end),
        create=lambda drafts: connector.roomsync_create_entries(mailbox, drafts),
        delete=lambda refs: connector.roomsync_delete_entries(mailbox, refs),
        free_busy=connector.roomsync_free_busy,
        changes=changes,
        free_busy_request=free_busy_request,
    )
    return replace(actions, **instead)


def sync_test(mailbox: str, actions: SyncTestActions, now: datetime | None = None) -> list[CheckStep]:
    """The connector's part of ``roomsync test``: connect, read, write, free/busy, change detection."""
    now = now if now is not None else datetime.now(UTC)
    return run_check(
        actions.connect,
        [
            ("read", lambda: _read(actions, now)),
            ("write", lambda: _write_probe(actions, now)),
            ("free/busy", lambda: _free_busy(mailbox, actions, now)),
            ("change detection", actions.changes),
        ],
    )


def _read(actions: SyncTestActions, now: datetime) -> str:
    entries = actions.list_entries(now, now + timedelta(days=7))
    return f"read {len(entries)} entries of the next 7 days"


def _write_probe(actions: SyncTestActions, now: datetime) -> str:
    [created] = actions.create([probe_draft(now)])
    if not created.ok or created.item_id is None:
        raise RuntimeError(f"could not create a probe entry: {created.error}")
    [removed] = actions.delete([ItemRef(item_id=created.item_id)])
    if not removed.ok:
        raise RuntimeError(f"created probe entry {created.item_id} but could not remove it: {removed.error}")
    return "created and removed a probe entry"


def _free_busy(mailbox: str, actions: SyncTestActions, now: datetime) -> str:
    [answer] = actions.free_busy([mailbox], now, now + timedelta(days=1))
    if answer.error:
        if actions.free_busy_request:
            raise ConnectorError(f"{actions.free_busy_request} answered for {mailbox}: {answer.error}")
        raise RuntimeError(answer.error)
    return f"{len(answer.intervals)} busy intervals in the next 24 hours"
