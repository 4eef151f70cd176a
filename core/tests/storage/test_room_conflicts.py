"""Room conflicts: a room is held by every occurrence of every active reservation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from roomsync.domain import EventFields, Frequency, OccurrenceChange, Recurrence, Reservation, Weekday
from roomsync.errors import InvalidInput
from roomsync.storage import SqlUnitOfWork

ALICE, BOB = "alice@example.org", "bob@example.org"
ROOM_A, ROOM_B = "room-a@example.org", "room-b@example.org"
BERLIN = ZoneInfo("Europe/Berlin")
MONDAYS = Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), count=6)  # 3 Mar to 7 Apr 2025


def at(year_month_day: str, hour: int, minute: int = 0, tz: ZoneInfo | None = None) -> datetime:
    day = datetime.strptime(year_month_day, "%Y-%m-%d")
    return day.replace(hour=hour, minute=minute, tzinfo=tz or UTC)


def slot(
    start: datetime, minutes: int = 60, rooms: tuple[str, ...] = (ROOM_A,), **extra: object
) -> EventFields:
    return EventFields.model_validate(
        {"title": "Slot", "start": start, "end": start + timedelta(minutes=minutes), "rooms": rooms, **extra}
    )


def berlin_mondays(**extra: object) -> EventFields:
    """Mondays 09:00 to 10:00 Berlin time, across the change to summer time on 30 March."""
    start = at("2025-03-03", 9, tz=BERLIN)
    values = {"start": start, "end": start + timedelta(hours=1), "timezone": "Europe/Berlin"}
    return EventFields.model_validate(
        {"title": "Slot", "rooms": (ROOM_A,), "recurrence": MONDAYS, **values, **extra}
    )


def book(uow: SqlUnitOfWork, fields: EventFields, organizer: str = ALICE) -> str:
    created = uow.rooms.create_reservation(Reservation(fields=fields, organizer=organizer))
    assert created.id is not None
    return created.id


def free(uow: SqlUnitOfWork, fields: EventFields, exclude: str | None = None) -> bool:
    return uow.rooms.room_is_free(ROOM_A, fields, exclude=exclude)


def test_single_against_single(office: SqlUnitOfWork) -> None:
    taken = book(office, slot(at("2025-03-03", 9)))

    assert not free(office, slot(at("2025-03-03", 9, 30)))
    assert not free(office, slot(at("2025-03-03", 8), minutes=180))
    assert free(office, slot(at("2025-03-03", 10)))  # starts as the other ends
    assert free(office, slot(at("2025-03-03", 8)))  # ends as the other starts
    assert office.rooms.room_is_free(ROOM_B, slot(at("2025-03-03", 9), rooms=(ROOM_B,)))
    assert not office.rooms.room_is_free("Room-A@Example.org", slot(at("2025-03-03", 9)))
    with pytest.raises(InvalidInput, match=rf"{ROOM_A}.*{taken}"):
        book(office, slot(at("2025-03-03", 9, 30)), organizer=BOB)


def test_a_taken_second_room_is_named(office: SqlUnitOfWork) -> None:
    taken = book(office, slot(at("2025-03-03", 9), rooms=(ROOM_B,)))

    with pytest.raises(InvalidInput, match=rf"{ROOM_B}.*{taken}"):
        book(office, slot(at("2025-03-03", 9), rooms=(ROOM_A, ROOM_B)))
    assert office.rooms.reservations() == [office.rooms.get_reservation(taken)]


def test_series_against_single_follows_local_time(office: SqlUnitOfWork) -> None:
    series = book(office, berlin_mondays())

    assert not free(office, slot(at("2025-03-17", 9, 30, tz=BERLIN)))
    assert not free(office, slot(at("2025-03-31", 7)))  # 09:00 summer time is 07:00 UTC
    assert free(office, slot(at("2025-03-31", 8)))  # 10:00 Berlin, after the meeting
    assert free(office, slot(at("2025-03-18", 9, tz=BERLIN)))  # a Tuesday
    assert free(office, slot(at("2025-04-14", 9, tz=BERLIN)))  # after the sixth and last Monday
    assert free(office, slot(at("2025-02-24", 9, tz=BERLIN)))  # before the first
    with pytest.raises(InvalidInput, match=series):
        book(office, slot(at("2025-04-07", 9, tz=BERLIN)))


def test_single_blocks_a_later_occurrence_of_a_new_series(office: SqlUnitOfWork) -> None:
    single = book(office, slot(at("2025-04-07", 9, 30, tz=BERLIN)))

    assert not free(office, berlin_mondays())
    with pytest.raises(InvalidInput, match=rf"{ROOM_A}.*{single}"):
        book(office, berlin_mondays())


def test_series_against_series(office: SqlUnitOfWork) -> None:
    book(office, berlin_mondays())

    wednesdays = slot(
        at("2025-03-05", 9, tz=BERLIN),
        timezone="Europe/Berlin",
        recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.WE,)),
    )
    daily = slot(
        at("2025-03-25", 9, 30, tz=BERLIN),
        timezone="Europe/Berlin",
        recurrence=Recurrence(frequency=Frequency.DAILY, count=7),
    )
    monthly_after = slot(
        at("2025-05-05", 9, tz=BERLIN),
        timezone="Europe/Berlin",
        recurrence=Recurrence(frequency=Frequency.MONTHLY, weekdays=(Weekday.MO,), week_of_month=1),
    )
    assert free(office, wednesdays)
    assert not free(office, daily)  # reaches Monday 31 March
    assert free(office, monthly_after)  # starts after the last Monday


def test_interleaved_fortnightly_series_do_not_conflict(office: SqlUnitOfWork) -> None:
    fortnightly = Recurrence(frequency=Frequency.WEEKLY, interval=2, weekdays=(Weekday.MO,))
    book(office, slot(at("2025-03-03", 9), recurrence=fortnightly))

    assert free(office, slot(at("2025-03-10", 9), recurrence=fortnightly))
    assert not free(office, slot(at("2025-03-17", 9), recurrence=fortnightly))


def test_open_ended_series_blocks_for_years(office: SqlUnitOfWork) -> None:
    every_monday = Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,))
    book(office, slot(at("2025-03-03", 9), recurrence=every_monday))

    assert not free(office, slot(at("2027-03-01", 9)))  # two years on, still a Monday
    assert free(office, slot(at("2027-03-02", 9)))
    assert not free(office, slot(at("2027-03-01", 9), recurrence=every_monday))


def test_cancelled_and_moved_occurrences(office: SqlUnitOfWork) -> None:
    book(
        office,
        berlin_mondays(
            occurrences=(
                OccurrenceChange(original_start=at("2025-03-10", 9, tz=BERLIN), cancelled=True),
                OccurrenceChange(
                    original_start=at("2025-03-17", 9, tz=BERLIN),
                    start=at("2025-03-19", 14, tz=BERLIN),
                    end=at("2025-03-19", 15, tz=BERLIN),
                ),
            )
        ),
    )

    assert free(office, slot(at("2025-03-10", 9, tz=BERLIN)))
    assert free(office, slot(at("2025-03-17", 9, tz=BERLIN)))
    assert not free(office, slot(at("2025-03-19", 14, 30, tz=BERLIN)))
    assert not free(office, slot(at("2025-03-24", 9, tz=BERLIN)))


def test_cancelled_reservation_does_not_block(office: SqlUnitOfWork) -> None:
    single = book(office, slot(at("2025-03-03", 9)))
    series = book(office, slot(at("2025-03-04", 9), recurrence=Recurrence(frequency=Frequency.DAILY)))
    office.rooms.cancel_reservation(single)
    office.rooms.cancel_reservation(series)

    assert free(office, slot(at("2025-03-03", 9)))
    assert free(office, slot(at("2025-03-05", 9)))
    book(office, slot(at("2025-03-05", 9)), organizer=BOB)


def test_exclude_ignores_the_reservation_being_changed(office: SqlUnitOfWork) -> None:
    single = book(office, slot(at("2025-03-03", 9)))

    assert not free(office, slot(at("2025-03-03", 9, 30)))
    assert free(office, slot(at("2025-03-03", 9, 30)), exclude=single)
    moved = office.rooms.update_reservation(single, fields=slot(at("2025-03-03", 9, 30)))
    assert moved.fields.start == at("2025-03-03", 9, 30)


def test_series_can_be_changed_over_its_own_occurrences(office: SqlUnitOfWork) -> None:
    series = book(office, berlin_mondays())

    renamed = office.rooms.update_reservation(series, fields=berlin_mondays(title="Renamed"))
    assert renamed.version == 2
    assert not free(office, berlin_mondays())
    assert free(office, berlin_mondays(), exclude=series)


def test_update_into_a_taken_room_is_refused(office: SqlUnitOfWork) -> None:
    book(office, slot(at("2025-03-03", 9)))
    mine = office.rooms.create_reservation(Reservation(fields=slot(at("2025-03-03", 11)), organizer=BOB))

    with pytest.raises(InvalidInput, match=ROOM_A):
        office.rooms.update_reservation(mine.id or "", fields=slot(at("2025-03-03", 9, 30)))
    assert office.rooms.get_reservation(mine.id or "") == mine
