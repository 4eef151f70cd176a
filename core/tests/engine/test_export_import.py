"""The sync rules end to end: ROOMS store, engine, reference connector, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from roomsync.connector.types import EntryDraft
from roomsync.domain import Participant, Recurrence, ReservationStatus
from roomsync.notify.message import NotificationKind

from .conftest import ALICE, BASE, BOB, CAROL, ROOM_A, ROOM_B, World


def test_new_reservation_is_exported_to_the_organizer_only(world: World) -> None:
    r = world.book(ALICE, title="Planning", rooms=(ROOM_A,), participants=(Participant(email=BOB),))
    reports = world.sync_ok()
    entry = world.entry(ALICE, r.id or "")
    assert entry.fields.title == "Planning"
    assert entry.fields.rooms == (ROOM_A,)
    assert [p.email for p in entry.fields.participants] == [BOB]
    assert world.exchange.entries(BOB) == []  # participants get invitations, not synced copies
    assert sum(report.created for report in reports) == 1


def test_booking_for_someone_else_goes_into_the_organizers_calendar(world: World) -> None:
    r = world.book(BOB, title="For Bob", creator=CAROL)
    world.sync_ok()
    assert world.entry(BOB, r.id or "").organizer == BOB
    assert world.exchange.entries(CAROL) == []


def test_export_is_batched(world: World) -> None:
    for i in range(25):
        world.book(ALICE, title=f"R{i}", hour=i * 2)
    world.exchange.calls.clear()
    world.sync_ok(ALICE)
    assert len(world.exchange.entries(ALICE)) == 25
    # max_batch is 10 in the test world: 25 creates take 3 requests, not 25
    assert world.exchange.calls["create_entries"] == 3


def test_changes_and_cancellation_in_rooms_reach_exchange(world: World) -> None:
    r = world.book(ALICE, title="Old")
    world.sync_ok()
    world.edit(r.id or "", title="New", reminder_minutes=30)
    world.sync_ok()
    assert world.entry(ALICE, r.id or "").fields.title == "New"
    assert world.entry(ALICE, r.id or "").fields.reminder_minutes == 30
    world.cancel(r.id or "")
    world.sync_ok()
    assert world.exchange.entries(ALICE) == []


def test_own_writes_echo_back_without_changes(world: World) -> None:
    r = world.book(ALICE)
    world.sync_ok()
    version = world.reservation(r.id or "").version
    reports = world.sync_ok()  # the echo of the create arrives now
    assert not any(report.changed_anything for report in reports)
    assert world.reservation(r.id or "").version == version


def test_outlook_edit_updates_the_reservation(world: World) -> None:
    r = world.book(ALICE, title="Before")
    world.sync_ok()
    entry = world.entry(ALICE, r.id or "")
    world.exchange.user_update(ALICE, entry.item_id, title="After", private=True)
    world.sync_ok()
    stored = world.reservation(r.id or "")
    assert stored.fields.title == "After"
    assert stored.fields.private is True
    # and nothing is written back: the entry already has those values
    assert world.entry(ALICE, r.id or "").change_key != entry.change_key
    reports = world.sync_ok()
    assert not any(report.updated for report in reports)


def test_field_level_merge_keeps_both_sides(world: World) -> None:
    r = world.book(ALICE, title="Title")
    world.sync_ok()
    entry = world.entry(ALICE, r.id or "")
    world.exchange.user_update(ALICE, entry.item_id, title="Renamed in Outlook")
    moved = world.edit(
        r.id or "", start=r.fields.start + timedelta(hours=2), end=r.fields.end + timedelta(hours=2)
    )
    world.sync_ok()
    stored = world.reservation(r.id or "")
    entry = world.entry(ALICE, r.id or "")
    assert stored.fields.title == entry.fields.title == "Renamed in Outlook"
    assert stored.fields.start == entry.fields.start == moved.fields.start


def test_deletion_in_outlook_cancels(world: World) -> None:
    a = world.book(ALICE, title="Hard")
    b = world.book(ALICE, title="Soft", hour=3)
    world.sync_ok()
    world.exchange.user_delete(ALICE, world.entry(ALICE, a.id or "").item_id)
    world.exchange.user_delete(ALICE, world.entry(ALICE, b.id or "").item_id, to_deleted_items=True)
    world.sync_ok()
    assert world.reservation(a.id or "").status is ReservationStatus.CANCELLED
    assert world.reservation(b.id or "").status is ReservationStatus.CANCELLED


def test_organizer_change_creates_then_deletes(world: World) -> None:
    r = world.synced_then_handed_over("Moving")
    world.sync_ok()
    assert world.moved_entry(r.id).fields.title == "Moving"


def test_organizer_change_keeps_old_entry_while_new_one_cannot_be_created(world: World) -> None:
    r = world.synced_then_handed_over("Moving")
    world.exchange.deny(BOB)
    reports = world.sync()
    assert any(not report.ok and report.mailbox == BOB for report in reports)
    assert world.entry(ALICE, r.id or "").fields.title == "Moving"  # not lost
    world.exchange.allow(BOB)
    world.sync_ok()
    assert world.moved_entry(r.id)


def test_organizer_change_to_unsynced_person_removes_the_old_entry(world: World) -> None:
    r = world.book(ALICE)
    world.sync_ok()
    world.set_person(CAROL, environment=None)
    world.edit(r.id or "", organizer=CAROL)
    world.sync(ALICE)
    assert world.exchange.entries(ALICE) == []


def test_outlook_entry_inviting_a_room_becomes_a_reservation(world: World) -> None:
    created = world.exchange.user_create(BOB, world.fields("From Outlook", rooms=(ROOM_B,)))
    world.sync_ok()
    [booked] = world.reservations(organizer=BOB)
    assert booked.fields.title == "From Outlook"
    assert booked.fields.rooms == (ROOM_B,)
    assert world.entry(BOB, booked.id or "").item_id == created.item_id  # stamped, same item


def test_outlook_entry_without_room_is_left_alone(world: World) -> None:
    world.exchange.user_create(BOB, world.fields("Dentist"))
    world.sync_ok()
    assert world.reservations(organizer=BOB) == []
    assert world.exchange.entries(BOB)[0].stamp is None


def test_outlook_entry_with_taken_room_is_rejected_once(world: World) -> None:
    world.book(ALICE, title="First", rooms=(ROOM_A,))
    world.sync_ok()
    world.exchange.user_create(BOB, world.fields("Second", rooms=(ROOM_A,)))
    world.sync_ok()
    assert world.reservations(organizer=BOB) == []
    rejected = [n for n in world.notes.sent if n.kind is NotificationKind.REJECTED]
    assert [n.recipient for n in rejected] == [BOB]
    world.sync_ok()
    world.exchange.user_create(ALICE, world.fields("Unrelated", hour=5))
    world.sync_ok()
    assert len([n for n in world.notes.sent if n.kind is NotificationKind.REJECTED]) == 1


def test_a_taken_room_is_named_to_the_organizer_as_rooms_calls_it(world: World) -> None:
    world.book(ALICE, title="First", rooms=(ROOM_A,))
    world.sync_ok()
    world.exchange.user_create(BOB, world.fields("Second", rooms=(ROOM_A, ROOM_B)))
    world.sync_ok()

    [rejected] = [n for n in world.notes.sent if n.kind is NotificationKind.REJECTED]
    name_a, name_b = ROOM_A.split("@")[0], ROOM_B.split("@")[0]  # the names the world gives them
    assert rejected.facts["rooms"] == f"{name_a}, {name_b}" and rejected.facts["taken"] == name_a
    assert f"invites {name_a}, {name_b}, but {name_a} is not free at that time" in rejected.body
    assert "@" not in rejected.body and "@" not in rejected.subject


def test_stamped_entry_from_the_add_in_is_linked(world: World) -> None:
    r = world.book(ALICE, title="Add-in")
    # the add-in wrote the entry with the stamp itself before roomsync ever ran
    world.exchange.create_entries(ALICE, [EntryDraft(stamp=world.stamp(r.id), fields=r.fields)])
    world.sync_ok()
    assert len(world.exchange.entries(ALICE)) == 1


def test_series_round_trip_with_exception_from_outlook(world: World) -> None:
    series = Recurrence(frequency="weekly", weekdays=("MO", "TU", "WE", "TH", "FR"), count=10)
    r = world.book(ALICE, title="Daily", rooms=(ROOM_A,), recurrence=series)
    world.sync_ok()
    entry = world.entry(ALICE, r.id or "")
    assert entry.fields.recurrence == series
    world.exchange.user_update(ALICE, entry.item_id, reminder_minutes=5)
    world.sync_ok()
    assert world.reservation(r.id or "").fields.reminder_minutes == 5
    assert world.reservation(r.id or "").fields.recurrence == series


def test_cancelled_after_organizer_change_and_outlook_edit_leaves_no_entry(world: World) -> None:
    # found by the convergence test: the old organizer's changed entry outlived the cancellation
    r = world.book(ALICE, title="Doomed")
    world.sync_ok()
    world.exchange.user_update(ALICE, world.entry(ALICE, r.id or "").item_id, title="Touched")
    world.edit(r.id or "", organizer=BOB)
    world.cancel(r.id or "")
    world.sync_ok()
    assert world.exchange.entries(ALICE) == []
    assert world.exchange.entries(BOB) == []


def test_first_cycle_leaves_history_alone(world: World) -> None:
    long_ago = BASE - timedelta(days=400)
    old = world.book(ALICE, title="Last year")
    with world.database.unit_of_work() as uow:
        past = old.fields.model_copy(update={"start": long_ago, "end": long_ago + timedelta(hours=1)})
        uow.rooms.update_reservation(old.id or "", fields=past)
        uow.commit()
    world.exchange.user_create(
        BOB,
        world.fields("Old Outlook booking", rooms=(ROOM_B,)).model_copy(
            update={"start": long_ago, "end": long_ago + timedelta(hours=1)}
        ),
    )
    current = world.book(ALICE, title="Next week")
    world.sync_ok()
    assert [e.stamp for e in world.exchange.entries(ALICE)] == [world.stamp(current.id)]
    assert world.reservations(organizer=BOB) == []


def test_outlook_room_change_is_taken_when_free(world: World) -> None:
    r = world.book(ALICE, title="Moves rooms", rooms=(ROOM_A,))
    world.sync_ok()
    world.exchange.user_update(ALICE, world.entry(ALICE, r.id or "").item_id, rooms=(ROOM_B,))
    world.sync_ok()
    assert world.reservation(r.id or "").fields.rooms == (ROOM_B,)


def test_resources_rooms_does_not_know_survive_rewrites(world: World) -> None:
    projector = "projector.3@example.org"
    r = world.book(ALICE, title="Talk", rooms=(ROOM_A,))
    world.sync_ok()
    world.exchange.user_update(ALICE, world.entry(ALICE, r.id or "").item_id, rooms=(ROOM_A, projector))
    world.edit(r.id or "", title="Talk, revised")
    world.sync_ok()
    entry = world.entry(ALICE, r.id or "")
    assert entry.fields.title == "Talk, revised"
    assert entry.fields.rooms == (projector, ROOM_A)  # the projector stays in Outlook...
    assert world.reservation(r.id or "").fields.rooms == (ROOM_A,)  # ...and is no ROOMS room
    world.edit(r.id or "", title="Talk, final")
    world.sync_ok()
    assert projector in world.entry(ALICE, r.id or "").fields.rooms
    assert not any(report.changed_anything for report in world.sync_ok())
