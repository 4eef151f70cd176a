"""Room calendars: Outlook bookings of rooms by people roomsync does not synchronise."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from roomsync.connector.types import Answer
from roomsync.domain import (
    ConflictPolicy,
    Frequency,
    OccurrenceChange,
    OutlookBookings,
    Participant,
    Recurrence,
    Reservation,
    Weekday,
)
from roomsync.engine.difference_scans import ScanRequest, scan
from roomsync.engine.differences import DifferenceKind
from roomsync.engine.room_cycle import DECLINE_COMMENTS
from roomsync.notify.message import Notification, NotificationKind
from roomsync.storage.protocols import LinkState
from roomsync.sync_test import sync_test

from .conftest import ALICE, ROOM_A, ROOM_B, World

OUTSIDER = "olga@partner.example.org"


def room_reservations(world: World, room: str = ROOM_A, include_cancelled: bool = False) -> list[Reservation]:
    return [r for r in world.reservations(include_cancelled=include_cancelled) if room in r.fields.rooms]


def sync_rooms_ok(world: World, *rooms: str) -> None:
    reports = world.runner.sync_rooms_once(list(rooms) or None)
    failed = [f"{r.mailbox}: {r.error}" for r in reports if not r.ok]
    assert not failed, failed


def test_an_outsiders_booking_becomes_a_reservation_and_follows_its_changes_and_cancellation(
    world: World,
) -> None:
    fields = world.fields(
        "Partner workshop", hour=2, participants=(Participant(email="x@partner.example.org"),)
    )
    booking = world.exchange.user_book_room(ROOM_A, OUTSIDER, fields)
    sync_rooms_ok(world)

    [reservation] = room_reservations(world)
    assert reservation.organizer == OUTSIDER
    assert reservation.fields.title == "Partner workshop"
    assert reservation.fields.start == fields.start and reservation.fields.rooms == (ROOM_A,)
    assert [p.email for p in reservation.fields.participants] == ["x@partner.example.org"]
    with world.database.unit_of_work() as uow:
        [link] = uow.sync.links_in_mailbox(ROOM_A)
        organizer = uow.rooms.get_person(OUTSIDER)
    assert link.state is LinkState.FOLLOWED and link.item_id == booking.item_id
    assert organizer is not None and not organizer.sync_enabled  # known to ROOMS, never synchronised

    sync_rooms_ok(world)  # nothing changed: nothing booked twice
    assert len(room_reservations(world)) == 1

    moved = fields.start + timedelta(hours=1)
    world.exchange.user_update(ROOM_A, booking.item_id, start=moved, end=moved + timedelta(hours=1))
    sync_rooms_ok(world)
    assert world.reservation(reservation.id or "").fields.start == moved

    world.exchange.user_delete(ROOM_A, booking.item_id)
    sync_rooms_ok(world)
    assert not world.reservation(reservation.id or "").active


def test_a_rooms_booking_made_by_rooms_or_a_synced_person_is_not_imported_again(world: World) -> None:
    ours = world.book(ALICE, title="Exported", rooms=(ROOM_A,))
    world.sync_ok(ALICE)
    exported = world.entry(ALICE, ours.id or "")
    # The room's copy of the exported meeting carries its stamp; a stamp is all the room cycle
    # needs, whoever organises the meeting now.
    world.exchange.user_book_room(ROOM_A, OUTSIDER, exported.fields, stamp=exported.stamp)
    world.exchange.user_book_room(ROOM_A, ALICE, world.fields("Alice's own Outlook booking", hour=5))

    sync_rooms_ok(world)
    assert [r.id for r in room_reservations(world)] == [ours.id]  # the synced person's cycle books hers


def test_a_collision_with_a_sync_master_room_is_declined_and_the_administrators_told(world: World) -> None:
    held = world.book(ALICE, title="Board", rooms=(ROOM_A,))  # in ROOMS, not yet in Exchange
    booking = world.exchange.user_book_room(ROOM_A, OUTSIDER, world.fields("Clash"))
    sync_rooms_ok(world)

    assert [r.id for r in room_reservations(world)] == [held.id]
    assert world.exchange.entries(ROOM_A) == []
    assert world.exchange.declines == [
        (ROOM_A, OUTSIDER, "Clash", DECLINE_COMMENTS[world.settings.notify.language])
    ]
    [note] = [n for n in world.notes.sent if n.kind is NotificationKind.ROOM_COLLISION]
    assert note.facts["outcome"] == "declined" and note.facts["person"] == OUTSIDER
    assert note.facts["holder"] == "Board" and note.reservation_id == held.id
    assert booking.item_id in str(note.facts["detail"])


def test_a_collision_with_a_room_that_is_not_sync_master_keeps_both_and_is_told_once(world: World) -> None:
    with world.database.unit_of_work() as uow:
        uow.rooms.update_room(ROOM_B, sync_master=False)
        uow.commit()
    held = world.book(ALICE, title="Board", rooms=(ROOM_B,))
    world.exchange.user_book_room(ROOM_B, OUTSIDER, world.fields("Clash"))
    sync_rooms_ok(world)
    sync_rooms_ok(world)

    assert [r.id for r in room_reservations(world, ROOM_B)] == [held.id]
    assert len(world.exchange.entries(ROOM_B)) == 1 and world.exchange.declines == []
    notes = [n for n in world.notes.sent if n.kind is NotificationKind.ROOM_COLLISION]
    assert [n.facts["outcome"] for n in notes] == ["kept"]


def test_a_followed_booking_moved_onto_a_rooms_reservation_is_declined_and_released(world: World) -> None:
    booking = world.exchange.user_book_room(ROOM_A, OUTSIDER, world.fields("Partner", hour=4))
    sync_rooms_ok(world)
    [followed] = room_reservations(world)
    held = world.book(ALICE, title="Board", rooms=(ROOM_A,))
    world.exchange.user_update(ROOM_A, booking.item_id, start=held.fields.start, end=held.fields.end)
    sync_rooms_ok(world)

    assert not world.reservation(followed.id or "").active
    assert [r.id for r in room_reservations(world)] == [held.id]


def test_a_room_of_blockers_records_a_blocker_without_participants_and_a_private_title_as_busy(
    world: World,
) -> None:
    with world.database.unit_of_work() as uow:
        uow.rooms.update_room(ROOM_A, outlook_bookings=OutlookBookings.BLOCKER)
        uow.commit()
    fields = world.fields("Secret", private=True, participants=(Participant(email="x@partner.example.org"),))
    world.exchange.user_book_room(ROOM_A, OUTSIDER, fields)
    sync_rooms_ok(world)

    [blocker] = room_reservations(world)
    assert blocker.blocker and blocker.fields.title == "Busy" and blocker.fields.participants == ()


def test_an_unreadable_room_fails_alone(world: World) -> None:
    world.exchange.deny(ROOM_A)
    world.exchange.user_book_room(ROOM_B, OUTSIDER, world.fields("Partner"))
    reports = {r.mailbox: r for r in world.runner.sync_rooms_once()}

    assert not reports[ROOM_A].ok and "no impersonation right" in (reports[ROOM_A].error or "")
    assert reports[ROOM_B].ok and len(room_reservations(world, ROOM_B)) == 1
    with world.database.unit_of_work() as uow:
        assert uow.sync.mailbox_state(ROOM_A).consecutive_failures == 1


def test_past_bookings_are_not_imported(world: World) -> None:
    world.exchange.user_book_room(ROOM_A, OUTSIDER, world.fields("Long ago", hour=-24 * 30))
    sync_rooms_ok(world)
    assert room_reservations(world) == []


# --- a room's answer to a meeting roomsync wrote --------------------------------------------


def declined_by_room(world: World, policy: str) -> tuple[Reservation, list[Notification]]:
    """Alice (conflict policy ``policy``) books ROOM_A in ROOMS; the room declines the meeting."""
    world.set_person(ALICE, conflict_policy=ConflictPolicy(policy))
    booked = world.book(ALICE, title="Offsite", rooms=(ROOM_A, ROOM_B))
    world.sync_ok(ALICE)
    entry = world.entry(ALICE, booked.id or "")
    world.exchange.record_answer(ALICE, entry.item_id, ROOM_A, Answer.DECLINED)
    world.sync_ok(ALICE)
    return world.reservation(booked.id or ""), [
        n for n in world.notes.sent if n.kind is NotificationKind.ROOM_DECLINED
    ]


def test_a_declining_room_under_rollback_keeps_the_reservation_and_tells_the_organizer_once(
    world: World,
) -> None:
    reservation, [note] = declined_by_room(world, "rollback")
    assert reservation.active and reservation.fields.rooms == (ROOM_A, ROOM_B)
    assert note.recipient == ALICE and note.facts["outcome"] == "kept"
    assert note.facts["rooms"] == "room.a" and note.facts["reason"] == "policy"
    world.sync_ok(ALICE)
    assert len([n for n in world.notes.sent if n.kind is NotificationKind.ROOM_DECLINED]) == 1


def test_a_declining_room_under_cancel_cancels_the_reservation_and_its_meeting(world: World) -> None:
    reservation, [note] = declined_by_room(world, "cancel")
    assert not reservation.active and note.facts["outcome"] == "cancelled"
    assert world.exchange.entries(ALICE) == []


def test_a_declining_room_under_exchange_wins_leaves_the_reservation_and_the_meeting(world: World) -> None:
    reservation, [note] = declined_by_room(world, "exchange-wins")
    assert reservation.active and reservation.fields.rooms == (ROOM_B,)
    assert note.facts["outcome"] == "room-removed"
    assert world.entry(ALICE, reservation.id or "").fields.rooms == (ROOM_B,)


def test_a_room_declining_while_taken_in_exchange_says_it_was_taken(world: World) -> None:
    world.exchange.user_book_room(ROOM_A, OUTSIDER, world.fields("Olga's", hours=2))  # not yet read
    _, [note] = declined_by_room(world, "rollback")
    assert note.facts["reason"] == "conflict"


def test_a_room_declining_beyond_its_booking_window_says_so(world: World) -> None:
    with world.database.unit_of_work() as uow:
        uow.rooms.set_booking_window(ROOM_A, 1)
        uow.commit()
    world.exchange.calls.clear()
    _, [note] = declined_by_room(world, "rollback")
    assert note.facts["reason"] == "booking-window"
    assert world.exchange.calls["free_busy"] == 0  # the window explains it: nothing to ask


def part_declined(world: World, policy: str) -> tuple[Reservation, Reservation, list[Notification]]:
    """Alice's weekly series of four in ROOM_A; the room's copy lacks the second occurrence."""
    world.set_person(ALICE, conflict_policy=ConflictPolicy(policy))
    day = list(Weekday)[world.fields().start.astimezone(ZoneInfo("Europe/Berlin")).weekday()]
    series = Recurrence(frequency=Frequency.WEEKLY, weekdays=(day,), count=4)
    booked = world.book(ALICE, title="Weekly", rooms=(ROOM_A,), recurrence=series)
    world.sync_ok(ALICE)
    exported = world.entry(ALICE, booked.id or "")
    second = booked.fields.start + timedelta(weeks=1)
    copy = exported.fields.model_copy(
        update={"occurrences": (OccurrenceChange(original_start=second, cancelled=True),)}
    )
    world.exchange.user_book_room(ROOM_A, ALICE, copy, stamp=exported.stamp)
    sync_rooms_ok(world)
    notes = [n for n in world.notes.sent if n.kind is NotificationKind.ROOM_DECLINED]
    return booked, world.reservation(booked.id or ""), notes


def test_a_room_declining_one_occurrence_under_rollback_keeps_it_and_tells_which(world: World) -> None:
    booked, after, [note] = part_declined(world, "rollback")
    assert after.fields == booked.fields
    assert note.facts["outcome"] == "kept" and note.facts["reason"] == "conflict"
    second = (booked.fields.start + timedelta(weeks=1)).astimezone(ZoneInfo("Europe/Berlin"))
    assert note.facts["occurrences"] == second.isoformat()
    sync_rooms_ok(world)  # the room's copy is unchanged: told once
    assert len([n for n in world.notes.sent if n.kind is NotificationKind.ROOM_DECLINED]) == 1


def test_a_room_declining_one_occurrence_under_exchange_wins_cancels_it_in_rooms_and_outlook(
    world: World,
) -> None:
    booked, after, [note] = part_declined(world, "exchange-wins")
    second = booked.fields.start + timedelta(weeks=1)
    assert [c.original_start for c in after.fields.occurrences if c.cancelled] == [second]
    assert note.facts["outcome"] == "room-removed"
    world.sync_ok(ALICE)  # the organizer's cycle takes the cancelled occurrence to the meeting
    entry = world.entry(ALICE, booked.id or "")
    assert [c.original_start for c in entry.fields.occurrences if c.cancelled] == [second]


def test_a_kept_collision_is_listed_in_the_differences_until_it_is_settled(world: World) -> None:
    with world.database.unit_of_work() as uow:
        uow.rooms.update_room(ROOM_B, sync_master=False)
        uow.commit()
    held = world.book(ALICE, title="Board", rooms=(ROOM_B,))
    booking = world.exchange.user_book_room(ROOM_B, OUTSIDER, world.fields("Clash"))
    sync_rooms_ok(world)

    [found] = [d for d in scan(world.runner, ScanRequest()).open if d.mailbox == ROOM_B]
    assert found.kind is DifferenceKind.ROOM_COLLISION and found.holder == held.id
    assert found.item_id == booking.item_id and found.record is not None

    world.exchange.user_delete(ROOM_B, booking.item_id)  # the organizer gave the room up
    assert [d for d in scan(world.runner, ScanRequest()).open if d.mailbox == ROOM_B] == []


def test_the_room_test_shows_rooms_policy_and_what_the_room_did(world: World) -> None:
    world.exchange.user_book_room(ROOM_A, OUTSIDER, world.fields("Partner"))
    sync_rooms_ok(world)
    steps = {s.name: s for s in sync_test(world.runner, ROOM_A)}

    assert list(steps) == ["room", "plugin", "read", "policy", "activity"]
    assert all(s.ok for s in steps.values()), steps
    assert "sync master" in steps["room"].detail and "become reservations" in steps["room"].detail
    assert steps["read"].detail.startswith("1 bookings")
    assert "Set-CalendarProcessing" in steps["policy"].detail
    assert "1 Outlook bookings followed" in steps["activity"].detail


def test_the_room_test_of_an_unreadable_room_says_why(world: World) -> None:
    world.exchange.deny(ROOM_B)
    steps = {s.name: s for s in sync_test(world.runner, ROOM_B)}
    assert not steps["read"].ok and "no impersonation right" in steps["read"].detail
