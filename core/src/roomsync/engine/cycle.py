"""One sync cycle of one person's mailbox: read, plan, apply, commit.

A failing cycle leaves everything it had not committed untouched and records the failure on the
mailbox; it never affects another person's cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pluggy

from roomsync.config import SyncConfig
from roomsync.connector.host import ConnectorHost
from roomsync.domain import Person
from roomsync.engine.apply import HostFor, OnBatch, PlanApplier, Visit, WriteProgress, now
from roomsync.engine.groups import CycleGroups
from roomsync.engine.plan import plan
from roomsync.engine.read_phase import (
    build_view,
    map_imported,
    quiet_rooms,
    read_exchange_changes,
    relocate_links,
    require_relocated,
)
from roomsync.engine.report import CycleReport
from roomsync.notify.message import Notification
from roomsync.storage.protocols import MailboxState, UnitOfWork

log = logging.getLogger("roomsync.engine")


@dataclass
class CycleContext:
    limits: SyncConfig
    pm: pluggy.PluginManager
    host_for: HostFor
    syncable: Callable[[str], bool]
    allow_mass_delete: bool = False
    on_batch: OnBatch | None = None  # hears (written, to write) after every batch of the cycle
    visit: Visit | None = None  # another mailbox to this cycle for a write in it


# A pass that created entries is followed by another, at most this many in one cycle once
# the pages of ROOMS changes are done (each page is a pass of its own).
MAX_PASSES = 3

IDLE_TIME_RESOLUTION = timedelta(minutes=5)
"""How stale a mailbox's stored last attempt and success may grow while its cycles find nothing:
status shows the last success to this resolution, the health figures (the age of the newest
cycle per environment) see one within it. A failure, a change or a new sync state is written at once."""


def sync_mailbox(uow: UnitOfWork, host: ConnectorHost, person: Person, ctx: CycleContext) -> CycleReport:
    """Run one cycle; raises on failure after rolling back what was not committed.

    Servers report the deletion of an item only to a sync state that has seen the item. So when
    a pass created entries, the next pass reads the changes again, from the state the first
    pass got, which now includes those entries; their echoes are recognised as our own, anything
    else that happened meanwhile is synchronised as usual. Without it, an entry deleted in
    Outlook before the next cycle would never cancel its reservation.

    The mailbox state names the environment its sync state and links belong to; only a cycle
    that succeeds moves it to the person's current one.
    """
    report = CycleReport(mailbox=person.email, environment=host.environment, started=now())
    state = uow.sync.mailbox_state(person.email)
    sync_state, cursor = state.sync_state, state.rooms_cursor
    moved_from = state.environment if state.environment not in (None, host.environment) else None
    changes = read_exchange_changes(host, person.email, None if moved_from else sync_state)
    if moved_from is None and changes.quiet:
        quiet_cursor = quiet_rooms(uow, person.email, cursor)
        if quiet_cursor is not None:
            # Neither side changed and nothing is pending: no view, no plan, no write but the state's.
            _succeeded(uow, state, host.environment, changes.sync_state, quiet_cursor, idle=True)
            uow.commit()
            report.finished = now()
            return report
    moved: list[str] = []
    if moved_from is not None:
        # The person now lives in another environment (a mailbox migration): the old server's
        # sync state and item ids mean nothing here. Read everything, find entries by stamp.
        sync_state = None
        moved = relocate_links(uow, person.email)
    notifications = []
    progress = WriteProgress(ctx.on_batch)
    rooms = uow.rooms.list_rooms()
    groups = CycleGroups(host, ctx.limits, {room.mailbox for room in rooms})
    first = cursor is None  # a first cycle exports what is current, page after page
    passes = after_pages = 0
    while True:
        created_before = report.created
        if passes:
            changes = read_exchange_changes(host, person.email, sync_state)
        passes += 1
        if moved_from is not None:
            require_relocated(person.email, moved_from, changes, moved, ctx.allow_mass_delete)
            moved_from = None
        changes.entries = map_imported(ctx.pm, changes.entries)
        report.exchange_changes += len(changes.entries) + len(changes.deleted)
        view, cursor, more = build_view(
            uow,
            host,
            person,
            changes,
            cursor,
            ctx.limits,
            ctx.syncable,
            ctx.allow_mass_delete,
            groups,
            rooms,
            first,
        )
        applier = PlanApplier(
            uow, host, ctx.host_for, ctx.pm, plan(view), report, view.known_rooms, progress, groups, ctx.visit
        )
        del view  # a page's reservations and entries are not held while the next is read
        applier.record()
        applier.write()
        notifications.extend(applier.notifications)
        sync_state = changes.sync_state
        if more:
            # The next page of ROOMS changes follows; this one is done, and its cursor kept.
            _progressed(uow, state, host.environment, sync_state, cursor)
            uow.commit()
            continue
        after_pages += 1
        if report.created == created_before or after_pages >= MAX_PASSES:
            break

    notifications = [_in_their_language(uow, person, notification) for notification in notifications]
    _succeeded(uow, state, host.environment, sync_state, cursor)
    groups.record(uow, person.email, report)
    uow.commit()

    for notification in notifications:
        deliver(ctx.pm, notification)
    report.finished = now()
    return report


def _succeeded(
    uow: UnitOfWork,
    state: MailboxState,
    environment: str,
    sync_state: str | None,
    cursor: int | None,
    idle: bool = False,
) -> None:
    """The mailbox state after a successful cycle; the store writes only the fields that changed.

    An ``idle`` cycle that changes nothing else leaves the stored times as they are while they are
    younger than :data:`IDLE_TIME_RESOLUTION`: a write, and on SQLite its synchronous commit,
    would cost more than the rest of the cycle.
    """
    before = replace(state)
    state.environment = environment
    state.sync_state = sync_state
    state.rooms_cursor = cursor
    state.last_error = state.last_fault = None
    state.consecutive_failures = 0
    at = now()
    if (
        not idle
        or state != before
        or not _fresh(state.last_success, at)
        or not _fresh(state.last_attempt, at)
    ):
        state.last_attempt = state.last_success = at
    uow.sync.save_mailbox_state(state)


def _progressed(
    uow: UnitOfWork, state: MailboxState, environment: str, sync_state: str | None, cursor: int | None
) -> None:
    """The mailbox state after a page of a cycle that goes on: its sync state and cursor are
    what a cycle ending there would keep, so a crash resumes after the page; the times and the
    failures are the cycle's to set when it ends."""
    state.environment = environment
    state.sync_state = sync_state
    state.rooms_cursor = cursor
    uow.sync.save_mailbox_state(state)


def _fresh(stored: datetime | None, at: datetime) -> bool:
    return stored is not None and timedelta(0) <= at - stored < IDLE_TIME_RESOLUTION


def _in_their_language(uow: UnitOfWork, person: Person, notification: Notification) -> Notification:
    """The notification with its recipient's mail language, where they have one."""
    if notification.recipient is None or notification.language is not None:
        return notification
    recipient = (
        person if notification.recipient == person.email else uow.rooms.get_person(notification.recipient)
    )
    if recipient is None or recipient.language is None:
        return notification
    return notification.model_copy(update={"language": recipient.language})


def deliver(pm: pluggy.PluginManager, notification: object) -> None:
    try:
        pm.hook.roomsync_notify(notification=notification)
    except Exception:  # a notifier must never undo a finished sync
        log.exception("a notifier failed")
