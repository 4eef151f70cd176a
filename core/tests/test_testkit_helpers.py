"""The test kit's helpers: the series builders' days, times and zones, and the poller."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from roomsync.domain import EventFields, Frequency, Recurrence, Weekday
from roomsync.testkit import ConnectorKit
from roomsync.testkit.kit import eventually_true
from roomsync.testkit.suite import next_dst_change, occurrence_spans, series, span, weekly, weekly_across_dst

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def kit() -> ConnectorKit:
    """A kit for builders that read only its date and zone: no connector behind it."""
    nothing: Any = None
    return ConnectorKit(
        host=nothing, mailbox="ada@example.org", other_mailbox="bo@example.org", room="r@x.org", user=nothing
    )


def test_series_starts_on_its_first_local_occurrence_and_lasts_its_minutes(kit: ConnectorKit) -> None:
    recurrence = Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.TH,), count=3)
    fields = series(kit, "Night shift", recurrence, 7, 0, 30, minutes=45, rooms=("r@x.org",))
    start = fields.start
    assert start.tzinfo == kit.zone and (start.hour, start.minute) == (0, 30)
    first_day = start.date() - kit.today
    assert start.weekday() == 3 and timedelta(days=7) <= first_day < timedelta(days=14)
    assert fields.end - start == timedelta(minutes=45)
    assert (fields.timezone, fields.recurrence, fields.rooms) == (kit.timezone, recurrence, ("r@x.org",))


def test_weekly_repeats_on_the_weekday_of_its_start_in_its_zone() -> None:
    # 23:30 UTC on a Sunday is Monday in Berlin
    start = datetime(2030, 3, 3, 23, 30, tzinfo=ZoneInfo("UTC"))
    fields = weekly("Weekly", start, "Europe/Berlin", 4, body="agenda")
    assert fields.recurrence == Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), count=4)
    assert (fields.start, fields.end - fields.start) == (start, timedelta(hours=1))
    assert (fields.timezone, fields.body) == ("Europe/Berlin", "agenda")


def test_next_dst_change_is_the_first_day_with_another_offset() -> None:
    assert next_dst_change(BERLIN, date(2030, 3, 1)) == date(2030, 3, 31)
    assert next_dst_change(BERLIN, date(2030, 4, 1)) == date(2030, 10, 27)
    assert next_dst_change(ZoneInfo("UTC"), date(2030, 3, 1)) is None


def test_weekly_across_dst_puts_the_change_in_the_middle() -> None:
    across = weekly_across_dst(BERLIN, date(2030, 3, 1), 5, "Across DST")
    assert across is not None
    fields, starts = across
    assert starts == [
        datetime.combine(date(2030, 3, 17) + timedelta(weeks=n), time(9), BERLIN) for n in range(5)
    ]
    assert [s.utcoffset() for s in starts] == [timedelta(hours=1)] * 2 + [timedelta(hours=2)] * 3
    assert fields == weekly("Across DST", starts[0], "Europe/Berlin", 5)
    assert weekly_across_dst(ZoneInfo("UTC"), date(2030, 3, 1), 5, "Never") is None


def test_occurrence_spans_are_the_occurrences_in_the_window() -> None:
    start = datetime(2030, 3, 4, 9, tzinfo=BERLIN)
    fields = weekly("Weekly", start, "Europe/Berlin", 3)
    window_end = start + timedelta(days=8)
    assert occurrence_spans(fields, start, window_end) == {
        span(start + timedelta(weeks=n), start + timedelta(weeks=n, hours=1)) for n in range(2)
    }
    single = EventFields(title="Once", start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin")
    assert occurrence_spans(single, start + timedelta(hours=2), window_end) == set()


def test_eventually_true_waits_for_a_condition_until_its_time_is_up() -> None:
    asked: list[int] = []

    def third_time() -> bool:
        asked.append(1)
        return len(asked) == 3

    assert eventually_true(third_time, seconds=5)
    assert len(asked) == 3
    assert eventually_true(lambda: True, seconds=0)
    assert not eventually_true(lambda: False, seconds=0.2)
