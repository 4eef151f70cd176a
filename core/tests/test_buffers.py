"""Buffer companions: the entries that make setup and follow-up time busy in Exchange."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roomsync.connector.companions import Buffer, companion_stamp, companion_stamps, companions, is_companion
from roomsync.domain import EventFields, OccurrenceChange, Participant, Recurrence, ShowAs

START = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Berlin


def meeting(**changes: object) -> EventFields:
    values: dict[str, object] = {
        "title": "Board",
        "start": START,
        "end": START + timedelta(hours=1),
        "timezone": "Europe/Berlin",
        "rooms": ("room.1@example.org",),
        "participants": (Participant(email="bob@example.org"),),
        "reminder_minutes": 15,
    }
    return EventFields.model_validate({**values, **changes})


def test_buffers_surround_the_meeting_with_its_rooms_and_nobody_invited() -> None:
    found = companions(meeting(), 30, 15)

    setup, followup = found[Buffer.SETUP], found[Buffer.FOLLOWUP]
    assert (setup.start, setup.end) == (START - timedelta(minutes=30), START)
    assert (followup.start, followup.end) == (START + timedelta(hours=1), START + timedelta(minutes=75))
    for companion in (setup, followup):
        assert companion.rooms == ("room.1@example.org",)
        assert companion.participants == ()
        assert companion.reminder_minutes is None
        assert companion.show_as is ShowAs.BUSY
    assert setup.title == "Setup: Board" and followup.title == "Follow-up: Board"


def test_no_buffer_no_companion_and_none_for_a_free_meeting() -> None:
    assert companions(meeting(), 0, 0) == {}
    assert set(companions(meeting(), 0, 10)) == {Buffer.FOLLOWUP}
    assert companions(meeting(show_as=ShowAs.FREE), 30, 30) == {}


def test_a_series_buffer_follows_moved_and_cancelled_occurrences() -> None:
    second = START + timedelta(days=7)
    third = START + timedelta(days=14)
    fields = meeting(
        recurrence=Recurrence(frequency="weekly", weekdays=("MO",), count=4),
        occurrences=(
            OccurrenceChange(
                original_start=second, start=second + timedelta(hours=2), end=second + timedelta(hours=3)
            ),
            OccurrenceChange(original_start=third, cancelled=True),
        ),
    )

    found = companions(fields, 30, 15)

    moved, cancelled = found[Buffer.SETUP].occurrences
    assert moved.original_start == second - timedelta(minutes=30)
    assert (moved.start, moved.end) == (second + timedelta(minutes=90), second + timedelta(hours=2))
    assert cancelled.cancelled and cancelled.original_start == third - timedelta(minutes=30)
    moved_after, cancelled_after = found[Buffer.FOLLOWUP].occurrences
    assert moved_after.original_start == second + timedelta(hours=1)
    assert (moved_after.start, moved_after.end) == (
        second + timedelta(hours=3),
        second + timedelta(minutes=195),
    )
    assert cancelled_after.original_start == third + timedelta(hours=1)
    assert found[Buffer.SETUP].recurrence == fields.recurrence


def test_a_series_buffer_on_another_day_is_left_out() -> None:
    early = datetime(2026, 3, 22, 23, 15, tzinfo=UTC)  # Monday 00:15 in Berlin
    fields = meeting(
        start=early,
        end=early + timedelta(hours=1),
        recurrence=Recurrence(frequency="weekly", weekdays=("MO",), count=2),
    )

    assert set(companions(fields, 30, 15)) == {Buffer.FOLLOWUP}  # a setup would fall on Sundays
    assert set(companions(fields.model_copy(update={"recurrence": None}), 30, 15)) == set(Buffer)


def test_companion_stamps_are_recognised() -> None:
    assert companion_stamps("r-1") == [
        companion_stamp("r-1", Buffer.SETUP),
        companion_stamp("r-1", Buffer.FOLLOWUP),
    ]
    assert all(is_companion(stamp) for stamp in companion_stamps("r-1"))
    assert not is_companion("r-1") and not is_companion(None)
