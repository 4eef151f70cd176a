"""A room's booking window: how far ahead it may be booked, judged as Exchange's room policy does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomsync import booking
from roomsync.domain import Frequency, Recurrence, Weekday
from roomsync.errors import OutsideBookingWindow, RoomTaken
from roomsync.storage import SqlUnitOfWork

ALICE = "alice@example.org"  # the office fixture's persons and rooms
ROOM_A, ROOM_B = "room-a@example.org", "room-b@example.org"


def _at(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)


def _booking(days: int, rooms: tuple[str, ...] = (ROOM_A,), **kwargs: object) -> booking.Booking:
    start = _at(days)
    return booking.Booking(
        title="Planning", start=start, end=start + timedelta(hours=1), organizer=ALICE, rooms=rooms, **kwargs
    )  # type: ignore[arg-type]


def test_a_room_is_booked_within_its_window_and_refused_beyond_it(office: SqlUnitOfWork) -> None:
    office.rooms.set_booking_window(ROOM_A, 30)

    assert booking.book(office, _booking(29)).fields.rooms == (ROOM_A,)
    with pytest.raises(OutsideBookingWindow) as refused:
        booking.book(office, _booking(31))

    assert refused.value.code == "outside-booking-window"
    assert refused.value.facts == {"room": ROOM_A, "days": 30}
    assert "at most 30 days ahead" in str(refused.value)
    assert booking.book(office, _booking(400, rooms=(ROOM_B,))).id  # a room without a window


def test_a_series_must_fit_with_every_occurrence_and_one_without_end_never_does(
    office: SqlUnitOfWork,
) -> None:
    office.rooms.set_booking_window(ROOM_A, 30)
    weekday = list(Weekday)[_at(1).weekday()]
    weekly = Recurrence(frequency=Frequency.WEEKLY, weekdays=(weekday,), count=4)

    assert booking.book(office, _booking(1, recurrence=weekly)).id  # the 4th is 22 days ahead
    with pytest.raises(OutsideBookingWindow, match="reaches"):
        booking.book(office, _booking(10, recurrence=weekly))  # the 4th is 31 days ahead
    with pytest.raises(OutsideBookingWindow, match="without an end"):
        booking.book(office, _booking(1, recurrence=weekly.model_copy(update={"count": None})))


def test_moving_a_booking_beyond_the_window_is_refused_and_a_new_title_is_not(office: SqlUnitOfWork) -> None:
    booked = booking.book(office, _booking(5))
    office.rooms.set_booking_window(ROOM_A, 3)  # narrowed after the booking: it stays
    assert booking.change(office, booked.id or "", {"title": "Renamed"}).fields.title == "Renamed"

    later = _at(40)
    with pytest.raises(OutsideBookingWindow):
        booking.change(office, booked.id or "", {"start": later, "end": later + timedelta(hours=1)})


def test_a_taken_room_is_refused_with_its_own_code(office: SqlUnitOfWork) -> None:
    booking.book(office, _booking(2))
    with pytest.raises(RoomTaken) as refused:
        booking.book(office, _booking(2))
    assert refused.value.code == "room-taken"
