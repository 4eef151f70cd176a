"""One sync cycle of one person's mailbox: read, plan, apply, commit.

A failing cycle leaves everything it had not committed untouched and records the failure on the
mailbox; it never affects another person's cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import pluggy

from roomsync.config import SyncConfig
from roomsync.connector import ConnectorHost
from roomsync.engine.apply import HostFor, PlanApplier, now
from roomsync.engine.collect import build_view, map_imported, read_exchange_changes
from roomsync.engine.merge import snapshot
from roomsync.engine.plan import plan
from roomsync.engine.report import CycleReport
from roomsync.model import Person
from roomsync.store import UnitOfWork

log = logging.getLogger("roomsync.engine")


@dataclass
class CycleContext:
    limits: SyncConfig
    pm: pluggy.PluginManager
    host_for: HostFor
    syncable: Callable[[str], bool]
    allow_mass_delete: bool = False


def sync_mailbox(uow: UnitOfWork, host: ConnectorHost, person: Person, ctx: CycleContext) -> CycleReport:
    """Run one cycle; raises on failure after rolling back what was not committed."""
    report = CycleReport(mailbox=person.email, environment=host.environment, started=now())
    state = uow.sync.mailbox_state(person.email)
    changes = read_exchange_changes(host, person.email, state.sync_state)
    changes.entries = map_imported(ctx.pm, changes.entries)
    report.exchange_changes = len(changes.entries) + len(changes.deleted)
    view, cursor = build_view(
        uow, host, person, changes, state.rooms_cursor, ctx.limits, ctx.syncable, ctx.allow_mass_delete
    )
    actions = plan(view)
    applier = PlanApplier(uow, host, ctx.host_for, ctx.pm, actions, report)
    applier.record()
    applier.write()

    sync_state = changes.sync_state
    if report.created:
        sync_state = absorb_echoes(uow, host, person.email, sync_state)

    state = uow.sync.mailbox_state(person.email)
    state.environment = host.environment
    state.sync_state = sync_state
    state.rooms_cursor = cursor
    state.last_attempt = state.last_success = now()
    state.last_error = None
    state.consecutive_failures = 0
    uow.sync.save_mailbox_state(state)
    uow.commit()

    for notification in applier.outcome.notifications:
        deliver(ctx.pm, notification)
    report.finished = now()
    return report


def absorb_echoes(uow: UnitOfWork, host: ConnectorHost, mailbox: str, sync_state: str) -> str:
    """Move the sync state past the entries this cycle created, when nothing else changed.

    Servers report the deletion of an item only to a sync state that has seen the item; without
    this read, an entry deleted in Outlook before the next cycle would never cancel its
    reservation. Anything besides our own echoes keeps the earlier state, so the next cycle reads
    those changes in full.
    """
    echoes = read_exchange_changes(host, mailbox, sync_state)
    if echoes.reset or echoes.deleted:
        return sync_state
    for entry in echoes.entries:
        link = uow.sync.link_by_item(mailbox, entry.item_id)
        if link is None or link.exchange_snapshot != snapshot(entry.fields):
            return sync_state
    for entry in echoes.entries:
        link = uow.sync.link_by_item(mailbox, entry.item_id)
        assert link is not None
        uow.sync.save_link(replace(link, change_key=entry.change_key))
    return echoes.sync_state


def deliver(pm: pluggy.PluginManager, notification: object) -> None:
    try:
        pm.hook.roomsync_notify(notification=notification)
    except Exception:  # a notifier must never undo a finished sync
        log.exception("a notifier failed")
