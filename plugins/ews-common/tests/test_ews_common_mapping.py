"""Reading items the way exchangelib hands them over, without a server."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.properties import ItemId

from roomsync_ews_common import mapping

BERLIN = ZoneInfo("Europe/Berlin")


def item(**values: object) -> CalendarItem:
    return CalendarItem(_id=ItemId(id="AAMkAD", changekey="CQAAAB"), **values)


def test_an_all_day_item_reads_as_the_days_it_covers() -> None:
    """exchangelib gives an all-day item's times as dates (the end inclusive): read as midnights."""
    holiday = item(subject="Holiday", is_all_day=True, start=EWSDate(2027, 5, 3), end=EWSDate(2027, 5, 4))
    holiday._start_timezone = EWSTimeZone("Europe/Berlin")

    entry = mapping.to_entry(holiday, "alice@example.org", "UTC")

    assert entry.fields.timezone == "Europe/Berlin"
    assert entry.fields.start == datetime(2027, 5, 3, tzinfo=BERLIN)
    assert entry.fields.end == datetime(2027, 5, 5, tzinfo=BERLIN)


def test_a_timed_item_reads_as_its_instants() -> None:
    berlin = EWSTimeZone("Europe/Berlin")
    planning = item(
        subject="Planning",
        start=EWSDateTime(2027, 5, 3, 9, tzinfo=berlin),
        end=EWSDateTime(2027, 5, 3, 10, tzinfo=berlin),
    )
    planning._start_timezone = berlin

    entry = mapping.to_entry(planning, "alice@example.org", "UTC")

    assert entry.fields.start == datetime(2027, 5, 3, 9, tzinfo=BERLIN)
    assert entry.fields.end == datetime(2027, 5, 3, 10, tzinfo=BERLIN)
    assert type(entry.fields.start) is datetime
