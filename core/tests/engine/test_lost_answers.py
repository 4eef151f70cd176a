"""A write whose answer was lost is roomsync's own write, never an Outlook edit or a conflict."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest

from roomsync import hookspecs
from roomsync.domain import ConflictPolicy
from roomsync.notify.message import NotificationKind

from .conftest import ALICE, World


class KillAfterUpdate:
    """Stands for the process dying while the server's answer to an update was in flight."""

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_update_entries(self, mailbox: str, updates: list[Any]) -> Generator[None, Any, Any]:
        yield
        raise KeyboardInterrupt("killed after the server committed")


def killed_update(world: World) -> None:
    host = world.runner.host("ref")
    killer = KillAfterUpdate()
    host.pm.register(killer)
    try:
        with pytest.raises(KeyboardInterrupt):
            world.sync(ALICE)
    finally:
        host.pm.unregister(killer)


def assert_no_conflict(world: World, reports: list[Any]) -> None:
    assert sum(r.conflicts for r in reports) == 0
    troubles = {NotificationKind.CONFLICT, NotificationKind.SYNC_DISABLED, NotificationKind.CANCELLED}
    assert [n for n in world.notes.sent if n.kind in troubles] == []


@pytest.mark.parametrize("policy", list(ConflictPolicy))
def test_an_update_whose_answer_was_lost_then_edited_again_is_no_conflict(
    world: World, policy: ConflictPolicy
) -> None:
    world.set_person(ALICE, conflict_policy=policy)
    r = world.book(ALICE, title="First")
    world.sync_ok()
    world.edit(r.id or "", title="Second")
    killed_update(world)
    assert world.entry(ALICE, r.id or "").fields.title == "Second"  # the server has it

    for n in range(3):  # under cancel, the second conflict would have cancelled
        world.edit(r.id or "", title=f"Third {n}")
        assert_no_conflict(world, world.sync_ok())
        world.edit(r.id or "", title=f"Fourth {n}")
        killed_update(world)

    world.edit(r.id or "", title="Last")
    assert_no_conflict(world, world.sync_ok())
    stored = world.reservation(r.id or "")
    assert stored.active and not stored.sync_disabled and stored.fields.title == "Last"
    assert world.entry(ALICE, r.id or "").fields.title == "Last"


def test_a_lost_update_and_an_outlook_edit_of_another_field_both_survive(world: World) -> None:
    r = world.book(ALICE, title="First")
    world.sync_ok()
    world.edit(r.id or "", title="Second")
    killed_update(world)
    entry = world.entry(ALICE, r.id or "")
    moved = entry.fields.start + timedelta(hours=2)
    world.exchange.user_update(ALICE, entry.item_id, start=moved, end=moved + timedelta(hours=1))
    world.edit(r.id or "", title="Third")

    assert_no_conflict(world, world.sync_ok())

    stored = world.reservation(r.id or "")
    assert (stored.fields.title, stored.fields.start) == ("Third", moved)
    assert world.entry(ALICE, r.id or "").fields.title == "Third"


def test_an_outlook_rename_after_a_lost_create_is_imported_not_reverted(world: World) -> None:
    r = world.book(ALICE, title="Planned in ROOMS")
    assert world.killed_sync(ALICE)
    [entry] = world.exchange.entries(ALICE)
    world.exchange.user_update(ALICE, entry.item_id, title="Renamed in Outlook")
    later = r.fields.start + timedelta(hours=1)
    world.edit(r.id or "", start=later, end=later + timedelta(hours=1))

    assert_no_conflict(world, world.sync_ok())

    stored = world.reservation(r.id or "")
    assert (stored.fields.title, stored.fields.start) == ("Renamed in Outlook", later)
    [entry] = world.exchange.entries(ALICE)
    assert (entry.fields.title, entry.fields.start) == ("Renamed in Outlook", later)


def test_an_outlook_rename_against_a_rooms_rename_after_a_lost_create_is_a_conflict(world: World) -> None:
    r = world.book(ALICE, title="Planned in ROOMS")
    assert world.killed_sync(ALICE)
    [entry] = world.exchange.entries(ALICE)
    world.exchange.user_update(ALICE, entry.item_id, title="Renamed in Outlook")
    world.edit(r.id or "", title="Renamed in ROOMS")

    reports = world.sync_ok()

    assert sum(report.conflicts for report in reports) == 1  # rollback: ROOMS wins, and says so
    assert world.reservation(r.id or "").fields.title == "Renamed in ROOMS"
    assert [n.kind for n in world.notes.sent] == [NotificationKind.CONFLICT]
