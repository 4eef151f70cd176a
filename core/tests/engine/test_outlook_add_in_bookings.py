"""Bookings made in the Outlook add-in: the entry comes from Outlook, never from roomsync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roomsync import booking
from roomsync.connector.types import EntryDraft
from roomsync.domain import Participant, Reservation, ReservationStatus
from roomsync.notify.message import NotificationKind
from roomsync.storage.protocols import LinkState

from .conftest import ALICE, BOB, ROOM_A, World


def _booked_in_outlook(
    world: World, wait: timedelta = timedelta(minutes=30), **kwargs: object
) -> Reservation:
    r = world.book(ALICE, title="From the pane", rooms=(ROOM_A,), **kwargs)
    with world.database.unit_of_work() as uow:
        booking.await_outlook(uow, r, datetime.now(UTC) + wait)
        uow.commit()
    return r


def _link(world: World, reservation_id: str) -> object:
    with world.database.unit_of_work() as uow:
        return uow.sync.links_for_reservation(reservation_id)


def _sent_from_outlook(world: World, r: Reservation, **changes: object) -> None:
    """Outlook writes the meeting with the add-in's mark, which the connector reads as the stamp."""
    fields = r.fields.model_copy(update=changes)
    world.exchange.create_entries(ALICE, [EntryDraft(stamp=world.stamp(r.id), fields=fields)])


def test_nothing_is_created_while_the_meeting_is_being_written(world: World) -> None:
    r = _booked_in_outlook(world)
    reports = world.sync_ok()
    assert world.exchange.entries(ALICE) == []
    assert sum(report.created for report in reports) == 0
    [link] = _link(world, r.id or "")  # type: ignore[misc]
    assert link.state is LinkState.AWAITING and link.expected_by is not None


def test_the_sent_meeting_is_linked_and_its_echo_writes_nothing(world: World) -> None:
    r = _booked_in_outlook(world)
    world.sync_ok()
    _sent_from_outlook(world, r)
    world.exchange.calls.clear()
    world.sync_ok()
    [entry] = world.exchange.entries(ALICE)
    [link] = _link(world, r.id or "")  # type: ignore[misc]
    assert link.state is LinkState.SYNCED and link.item_id == entry.item_id and link.expected_by is None
    assert not any(world.exchange.calls[c] for c in ("create_entries", "update_entries", "delete_entries"))
    assert world.reservation(r.id or "").version == r.version
    reports = world.sync_ok()
    assert not any(report.changed_anything for report in reports)


def test_outlook_edits_made_before_sending_reach_rooms(world: World) -> None:
    r = _booked_in_outlook(world)
    moved = r.fields.start + timedelta(hours=2)
    _sent_from_outlook(
        world, r, start=moved, end=moved + timedelta(hours=1), participants=(Participant(email=BOB),)
    )
    world.sync_ok()
    stored = world.reservation(r.id or "")
    assert stored.fields.start == moved and [p.email for p in stored.fields.participants] == [BOB]
    assert len(world.exchange.entries(ALICE)) == 1


def test_a_meeting_never_sent_releases_the_room_and_tells_the_organizer(world: World) -> None:
    r = _booked_in_outlook(world, wait=timedelta(seconds=-1))
    assert sum(report.cancelled for report in world.sync_ok()) == 1
    stored = world.reservation(r.id or "")
    assert stored.status is ReservationStatus.CANCELLED
    assert _link(world, r.id or "") == []
    assert world.exchange.entries(ALICE) == []
    [note] = [n for n in world.notes.sent if n.kind is NotificationKind.NOT_SENT]
    assert note.recipient == ALICE and "From the pane" in note.body and "book the room anew" in note.body
    with world.database.unit_of_work() as uow:
        assert [j.action for j in uow.rooms.journal(r.id or "")] == ["cancelled", "created"]
    assert not any(report.changed_anything for report in world.sync_ok())  # released once


def test_a_booking_removed_in_the_pane_before_sending_leaves_nothing(world: World) -> None:
    r = _booked_in_outlook(world)
    world.cancel(r.id or "")
    world.sync_ok()
    assert _link(world, r.id or "") == [] and world.exchange.entries(ALICE) == []


def test_a_meeting_sent_after_its_room_was_released_is_booked_anew_never_deleted(world: World) -> None:
    r = _booked_in_outlook(world, wait=timedelta(seconds=-1))
    world.sync_ok()
    assert world.reservation(r.id or "").status is ReservationStatus.CANCELLED
    _sent_from_outlook(world, r)  # sent at last, still carrying the released booking's mark
    world.exchange.calls.clear()

    assert sum(report.booked for report in world.sync_ok()) == 1

    assert not world.exchange.calls["delete_entries"]
    [entry] = world.exchange.entries(ALICE)
    [booked] = world.reservations(organizer=ALICE)
    assert booked.id != r.id and booked.fields.rooms == (ROOM_A,)
    [link] = _link(world, booked.id or "")  # type: ignore[misc]
    assert link.item_id == entry.item_id
    assert world.reservation(r.id or "").status is ReservationStatus.CANCELLED
    assert not any(report.changed_anything for report in world.sync_ok())
