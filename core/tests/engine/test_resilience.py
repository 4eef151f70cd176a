"""Crashes, failing persons, lost sync states and suspicious mass deletions."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from roomsync import hookspecs
from roomsync.connector.types import EntryDraft
from roomsync.domain import ReservationStatus
from roomsync.errors import AccessDenied, TransientConnectorError
from roomsync.storage import Database

from .conftest import ALICE, BOB, CAROL, World, make_world


def test_killed_after_create_relinks_instead_of_duplicating(world: World) -> None:
    r = world.book(ALICE, title="Once")
    assert world.killed_sync(ALICE)
    assert len(world.exchange.entries(ALICE)) == 1  # the server has it, the database does not know
    world.sync_ok()
    world.sync_ok()
    assert len(world.exchange.entries(ALICE)) == 1
    world.edit(r.id or "", title="Still linked")
    world.sync_ok()
    assert world.entry(ALICE, r.id or "").fields.title == "Still linked"


def test_timed_out_create_is_not_repeated(world: World) -> None:
    world.book(ALICE, title="A")
    world.book(ALICE, title="B", hour=2)
    world.exchange.drop_after_write("create_entries")
    [report] = world.sync(ALICE)
    assert not report.ok
    world.sync_ok()
    titles = sorted(e.fields.title for e in world.exchange.entries(ALICE))
    assert titles == ["A", "B"]


def test_one_failing_person_does_not_stop_the_others(world: World) -> None:
    a = world.book(ALICE)
    b = world.book(BOB)
    c = world.book(CAROL)
    world.exchange.deny(BOB)
    reports = {r.mailbox: r for r in world.sync()}
    assert reports[ALICE].ok and reports[CAROL].ok
    assert not reports[BOB].ok
    assert "bob@example.org" in (reports[BOB].error or "")
    world.entry(ALICE, a.id or "")
    world.entry(CAROL, c.id or "")
    with world.database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(BOB)
    assert state.consecutive_failures == 1
    world.exchange.allow(BOB)
    world.sync_ok()
    world.entry(BOB, b.id or "")


def test_repeated_failures_notify_the_organizer_once(world: World) -> None:
    world.exchange.deny(BOB)
    for _ in range(5):
        world.sync(BOB)
    failures = [n for n in world.notes.sent if n.recipient == BOB and n.kind.value == "failure"]
    assert len(failures) == 1


def test_transient_failure_loses_nothing(world: World) -> None:
    r = world.book(ALICE, title="Before")
    world.sync_ok()
    entry = world.entry(ALICE, r.id or "")
    world.exchange.user_update(ALICE, entry.item_id, title="From Outlook")
    world.exchange.fail_next("changes", TransientConnectorError("server busy"))
    [report] = world.sync(ALICE)
    assert not report.ok
    world.sync_ok()
    assert world.reservation(r.id or "").fields.title == "From Outlook"


def test_person_without_environment_gets_a_clear_error(world: World) -> None:
    world.set_person(BOB, environment=None)
    [report] = world.sync(BOB)
    assert not report.ok
    assert "roomsync persons set bob@example.org --environment" in (report.error or "")


def test_plugin_not_installed_names_what_to_install(database: Database) -> None:
    world = make_world(database)
    world.settings.environments["ref"].plugin = "exchange2003"
    reports = world.sync()
    assert all(not r.ok for r in reports)
    assert "pip install roomsync-exchange2003" in (reports[0].error or "")


def test_invalid_sync_state_resyncs_without_duplicates(world: World) -> None:
    kept = world.book(ALICE, title="Kept")
    gone = world.book(ALICE, title="Gone", hour=2)
    world.sync_ok()
    world.sync_ok()
    world.exchange.user_delete(ALICE, world.entry(ALICE, gone.id or "").item_id)
    with world.database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(ALICE)
        state.sync_state = "garbage"
        uow.sync.save_mailbox_state(state)
        uow.commit()
    world.sync_ok()
    assert len(world.exchange.entries(ALICE)) == 1
    assert world.reservation(kept.id or "").active
    # a full listing that lacks a linked entry means it was deleted
    assert world.reservation(gone.id or "").status is ReservationStatus.CANCELLED


def test_mass_deletion_is_refused_until_confirmed(world: World) -> None:
    booked = [world.book(ALICE, title=f"R{i}", hour=i * 2) for i in range(12)]
    world.sync_ok()
    world.sync_ok()
    for r in booked:
        world.exchange.user_delete(ALICE, world.entry(ALICE, r.id or "").item_id)
    [report] = world.sync(ALICE)
    assert not report.ok
    assert "--allow-mass-delete" in (report.error or "")
    assert all(world.reservation(r.id or "").active for r in booked)
    [report] = world.sync(ALICE, allow_mass_delete=True)
    assert report.ok
    assert all(not world.reservation(r.id or "").active for r in booked)


def test_access_denied_message_reaches_the_report(world: World) -> None:
    world.exchange.fail_next("changes", AccessDenied("the service account lacks ApplicationImpersonation"))
    [report] = world.sync(ALICE)
    assert "ApplicationImpersonation" in (report.error or "")


def test_killed_create_then_organizer_change_leaves_one_entry(world: World) -> None:
    # found by the crash state machine: the stray entry of the lost create stayed behind
    r = world.book(ALICE, title="Moves")
    assert world.killed_sync(ALICE)
    world.edit(r.id or "", organizer=BOB)
    world.sync_ok()
    world.sync_ok()
    assert world.moved_entry(r.id).fields.title == "Moves"


def test_killed_create_in_new_organizer_still_removes_the_old_entry(world: World) -> None:
    # found by the crash state machine: the adopted entry never triggered the old one's removal
    r = world.synced_then_handed_over("Moves")
    assert world.killed_sync(BOB)
    world.sync_ok()
    assert world.moved_entry(r.id).fields.title == "Moves"


def test_old_entry_is_removed_later_when_its_mailbox_was_unreachable(world: World) -> None:
    r = world.synced_then_handed_over("Moves")
    world.exchange.deny(ALICE)
    world.sync_ok(BOB)
    assert len(world.exchange.entries(ALICE)) == 1
    world.exchange.allow(ALICE)
    world.sync_ok(ALICE)  # the old mailbox's own cycle finishes the move
    assert world.moved_entry(r.id)


def test_a_mailbox_that_reads_empty_is_not_believed(world: World) -> None:
    # found by trying the sample configuration: a second process saw a new, empty organisation
    r = world.book(ALICE, title="Only one")
    world.sync_ok()
    world.sync_ok()
    world.exchange.user_delete(ALICE, world.entry(ALICE, r.id or "").item_id)
    with world.database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(ALICE)
        state.sync_state = None  # a full listing, as after a lost or unusable state
        uow.sync.save_mailbox_state(state)
        uow.commit()
    [report] = world.sync(ALICE)
    assert not report.ok
    assert "reads empty" in (report.error or "")
    assert world.reservation(r.id or "").active
    [report] = world.sync(ALICE, allow_mass_delete=True)
    assert report.ok
    assert not world.reservation(r.id or "").active


class DraftRecorder:
    """Keeps every draft the engine hands to the connector, to see what it claims about them."""

    def __init__(self) -> None:
        self.drafts: list[EntryDraft] = []

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> Generator[None, Any, Any]:
        self.drafts.extend(drafts)
        return (yield)


def recorded_drafts(world: World, *persons: str) -> dict[str, bool]:
    """Sync ``persons`` and answer, per created stamp, whether the draft was marked ``known_new``."""
    recorder = DraftRecorder()
    host = world.runner.host("ref")
    host.pm.register(recorder)
    try:
        world.sync(*persons)
    finally:
        host.pm.unregister(recorder)
    return {world.runner.stamps().decode(d.stamp)[0] or d.stamp: d.known_new for d in recorder.drafts}


def test_only_never_attempted_creates_are_marked_known_new(world: World) -> None:
    first = world.book(ALICE, title="First")
    assert recorded_drafts(world, ALICE) == {first.id: True}

    retried = world.book(ALICE, title="Retried", hour=2)
    world.exchange.drop_after_write("create_entries")
    assert recorded_drafts(world, ALICE) == {retried.id: True}
    # The answer was lost: the next attempt is a retry and the connector must look first.
    assert recorded_drafts(world, ALICE) == {}  # adopted by the engine's own lookup instead
    assert sorted(e.fields.title for e in world.exchange.entries(ALICE)) == ["First", "Retried"]


def test_a_create_tried_before_is_never_known_new(world: World) -> None:
    r = world.book(ALICE, title="Failed once")
    world.exchange.fail_next("create_entries")
    assert recorded_drafts(world, ALICE) == {r.id: True}
    # Whether the failed attempt reached the server is unknown to the engine: the connector looks.
    assert recorded_drafts(world, ALICE) == {r.id: False}
    assert len([e for e in world.exchange.entries(ALICE) if e.stamp == world.stamp(r.id)]) == 1
