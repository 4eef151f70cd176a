"""Conflicts: a field changed on both sides, or a room Exchange asks for that is taken."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from roomsync.domain import ConflictPolicy, Language, ReservationStatus
from roomsync.notify.message import NotificationKind

from .conftest import ALICE, BOB, ROOM_A, World


def _both_rename(world: World, reservation_id: str, n: int) -> None:
    entry = world.entry(ALICE, reservation_id)
    world.exchange.user_update(ALICE, entry.item_id, title=f"Outlook {n}")
    world.edit(reservation_id, title=f"ROOMS {n}")


def test_rollback_rooms_wins_and_organizer_is_told(world: World) -> None:
    r = world.book(ALICE, title="Start")
    world.sync_ok()
    _both_rename(world, r.id or "", 1)
    reports = world.sync_ok()
    assert sum(report.conflicts for report in reports) == 1
    assert world.reservation(r.id or "").fields.title == "ROOMS 1"
    assert world.entry(ALICE, r.id or "").fields.title == "ROOMS 1"
    [note] = [n for n in world.notes.sent if n.kind is NotificationKind.CONFLICT]
    assert note.recipient == ALICE
    assert note.reservation_id == r.id
    assert "title" in note.body


def test_the_organizer_is_told_in_their_language_with_the_reservations_time_and_rooms(world: World) -> None:
    world.set_person(ALICE, language=Language.FR)
    r = world.book(ALICE, title="Start", rooms=(ROOM_A,))
    world.sync_ok()
    _both_rename(world, r.id or "", 1)
    world.sync_ok()
    [note] = [n for n in world.notes.sent if n.kind is NotificationKind.CONFLICT]
    assert note.language is Language.FR
    assert note.facts["start"] == r.fields.start.astimezone(ZoneInfo(r.fields.timezone)).isoformat()
    assert note.facts["rooms"] == ROOM_A.split("@")[0]  # the room's name, not its mailbox


def test_rollback_disables_sync_after_five_conflicts(world: World) -> None:
    r = world.book(ALICE, title="Start")
    world.sync_ok()
    for n in range(1, 5):
        _both_rename(world, r.id or "", n)
        world.sync_ok()
        assert not world.reservation(r.id or "").sync_disabled
    _both_rename(world, r.id or "", 5)
    world.sync_ok()
    stored = world.reservation(r.id or "")
    assert stored.sync_disabled
    assert stored.status is ReservationStatus.ACTIVE
    assert [n.kind for n in world.notes.sent][-1] is NotificationKind.SYNC_DISABLED
    # a disabled reservation is left alone from then on
    world.edit(r.id or "", title="ROOMS later")
    world.sync_ok()
    assert world.entry(ALICE, r.id or "").fields.title == "Outlook 5"


def test_cancel_policy_cancels_at_second_conflict(world: World) -> None:
    world.set_person(ALICE, conflict_policy=ConflictPolicy.CANCEL)
    r = world.book(ALICE, title="Start")
    world.sync_ok()
    _both_rename(world, r.id or "", 1)
    world.sync_ok()
    assert world.reservation(r.id or "").active
    _both_rename(world, r.id or "", 2)
    world.sync_ok()
    assert world.reservation(r.id or "").status is ReservationStatus.CANCELLED
    assert world.exchange.entries(ALICE) == []
    assert NotificationKind.CANCELLED in [n.kind for n in world.notes.sent]


def test_exchange_wins_policy(world: World) -> None:
    world.set_person(ALICE, conflict_policy=ConflictPolicy.EXCHANGE_WINS)
    r = world.book(ALICE, title="Start")
    world.sync_ok()
    _both_rename(world, r.id or "", 1)
    world.sync_ok()
    assert world.reservation(r.id or "").fields.title == "Outlook 1"
    assert world.entry(ALICE, r.id or "").fields.title == "Outlook 1"


def test_room_taken_by_outlook_move_is_a_conflict_under_every_policy(world: World) -> None:
    world.set_person(BOB, conflict_policy=ConflictPolicy.EXCHANGE_WINS)
    world.book(ALICE, title="Holds room", rooms=(ROOM_A,), hour=0)
    r = world.book(BOB, title="Wants to move", rooms=(ROOM_A,), hour=4)
    world.sync_ok()
    entry = world.entry(BOB, r.id or "")
    world.exchange.user_update(
        BOB,
        entry.item_id,
        start=entry.fields.start - timedelta(hours=4),
        end=entry.fields.end - timedelta(hours=4),
        title="Moved and renamed",
    )
    world.sync_ok()
    stored = world.reservation(r.id or "")
    assert stored.fields.start == r.fields.start  # the room could not follow
    assert stored.fields.title == "Moved and renamed"  # the rest of the change still applies
    assert world.entry(BOB, r.id or "").fields.start == r.fields.start
    assert any(n.kind is NotificationKind.CONFLICT and n.recipient == BOB for n in world.notes.sent)


def test_same_change_on_both_sides_is_no_conflict(world: World) -> None:
    r = world.book(ALICE, title="Start")
    world.sync_ok()
    world.exchange.user_update(ALICE, world.entry(ALICE, r.id or "").item_id, title="Same")
    world.edit(r.id or "", title="Same")
    reports = world.sync_ok()
    assert sum(report.conflicts for report in reports) == 0
    assert world.notes.sent == []
