"""The one answer to "is this room free", as the store and the plan both ask it."""

from datetime import UTC, date, datetime, timedelta

import pytest

from roomsync.domain import EventFields, Frequency, Recurrence, Reservation, ReservationStatus, Weekday
from roomsync.room_bookings import first_conflict, span

ROOM = "room.a@example.org"
NINE = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)  # a Monday


def booking(
    rid: str, start: datetime, hours: float = 1, *, rooms: tuple[str, ...] = (ROOM,), **extra: object
) -> Reservation:
    fields = EventFields(
        title=rid, start=start, end=start + timedelta(hours=hours), rooms=list(rooms), **extra
    )  # type: ignore[arg-type]
    return Reservation(id=rid, organizer="ada@example.org", fields=fields)


def ask(start: datetime, hours: float = 1, **extra: object) -> EventFields:
    return EventFields(title="asked", start=start, end=start + timedelta(hours=hours), rooms=[ROOM], **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bookings", "asked", "exclude", "taken_by"),
    [
        ([], ask(NINE), None, None),
        ([booking("1", NINE)], ask(NINE), None, "1"),
        ([booking("1", NINE)], ask(NINE + timedelta(hours=1)), None, None),  # touching is free
        ([booking("1", NINE)], ask(NINE + timedelta(minutes=30)), None, "1"),
        ([booking("1", NINE)], ask(NINE), "1", None),  # a reservation never blocks itself
        ([booking("1", NINE, rooms=("room.b@example.org",))], ask(NINE), None, None),
        (
            [
                booking(
                    "1",
                    NINE - timedelta(days=7),
                    recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), count=3),
                )
            ],
            ask(NINE),
            None,
            "1",
        ),
        (
            [
                booking(
                    "1",
                    NINE - timedelta(days=1),
                    recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.SU,), count=3),
                )
            ],
            ask(NINE),
            None,
            None,
        ),
    ],
    ids=[
        "nothing",
        "same-time",
        "touching",
        "overlap",
        "excluded",
        "other-room",
        "series-hit",
        "series-miss",
    ],
)
def test_first_conflict(
    bookings: list[Reservation], asked: EventFields, exclude: str | None, taken_by: str | None
) -> None:
    assert first_conflict(bookings, ROOM, asked, exclude) == taken_by


def test_a_cancelled_booking_never_holds_its_room() -> None:
    cancelled = booking("1", NINE).model_copy(update={"status": ReservationStatus.CANCELLED})
    assert first_conflict([cancelled], ROOM, ask(NINE)) is None


def test_the_span_of_a_series_reaches_its_last_occurrence() -> None:
    weekly = ask(
        NINE,
        recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), until=date(2031, 3, 17)),
    )
    start, end = span(weekly)
    assert start == NINE and end == datetime(2031, 3, 18, 0, 0, tzinfo=UTC) + timedelta(hours=1)
