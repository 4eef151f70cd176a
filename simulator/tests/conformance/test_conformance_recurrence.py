"""Recurring series and all-day items as Exchange expands and returns them, read through exchangelib
in every EWS dialect.

Each test names the Microsoft page that documents the behaviour it checks. Expected occurrence
starts are computed here with dateutil's rrule, in the series' zone, independently of the simulator.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from dateutil import rrule
from exchangelib import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from sim_support import Org, calendar_item_class

BERLIN = EWSTimeZone("Europe/Berlin")
ZURICH = EWSTimeZone("Europe/Zurich")
NEW_YORK = EWSTimeZone("America/New_York")
UTC = EWSTimeZone("UTC")
RANGE_START = dt.date(2030, 1, 1)  # a Tuesday
HOUR = 10


def zone(org: Org) -> EWSTimeZone:
    # A 2007 client sends its times in UTC and no MeetingTimeZone (see sim_support).
    return UTC if org.dialect == "exchange2007" else BERLIN


def local(org: Org, when: dt.datetime) -> EWSDateTime:
    return EWSDateTime.from_datetime(when.replace(tzinfo=zone(org)))


def save(org: Org, account: Any, **fields: Any) -> Any:
    item = calendar_item_class(org.dialect)(account=account, folder=account.calendar, **fields)
    item.save(send_meeting_invitations="SendToNone")
    return item


def view_starts(account: Any, subject: str, start: EWSDateTime, end: EWSDateTime) -> list[EWSDateTime]:
    return sorted(o.start for o in account.calendar.view(start=start, end=end) if o.subject == subject)


# --- every pattern and range ---------------------------------------------------------------------
# https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/recurrence-recurrencetype
# The pattern elements (DailyRecurrence, WeeklyRecurrence, AbsoluteMonthlyRecurrence,
# RelativeMonthlyRecurrence, AbsoluteYearlyRecurrence, RelativeYearlyRecurrence) and the ranges
# (NoEndRecurrence, EndDateRecurrence, NumberedRecurrence); FirstOccurrence/LastOccurrence,
# ModifiedOccurrences and DeletedOccurrences of the master:
# https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-access-a-recurring-series-by-using-ews


@dataclass(frozen=True)
class Case:
    name: str
    pattern: Any
    rule: dict[str, Any]
    range: str  # numbered, enddate or noend
    needs_2010: bool = False  # FirstDayOfWeek, which exchangelib always writes, came with 2010


WEEK = ("First", "Second", "Third", "Fourth", "Last")
CASES = [
    Case("daily-interval-2", DailyPattern(interval=2), {"freq": rrule.DAILY, "interval": 2}, "numbered"),
    Case("daily-noend", DailyPattern(interval=3), {"freq": rrule.DAILY, "interval": 3}, "noend"),
    Case(
        "weekly-mo-we-fr-interval-2",
        WeeklyPattern(interval=2, weekdays=[1, 3, 5], first_day_of_week=1),
        {"freq": rrule.WEEKLY, "interval": 2, "byweekday": (rrule.MO, rrule.WE, rrule.FR), "wkst": rrule.MO},
        "enddate",
        needs_2010=True,
    ),
    # With two weeks' interval, Sunday and Monday fall in the same week or in different ones
    # depending on FirstDayOfWeek.
    Case(
        "weekly-su-mo-first-day-sunday",
        WeeklyPattern(interval=2, weekdays=[1, 7], first_day_of_week=7),
        {"freq": rrule.WEEKLY, "interval": 2, "byweekday": (rrule.SU, rrule.MO), "wkst": rrule.SU},
        "numbered",
        needs_2010=True,
    ),
    Case(
        "weekly-su-mo-first-day-monday",
        WeeklyPattern(interval=2, weekdays=[1, 7], first_day_of_week=1),
        {"freq": rrule.WEEKLY, "interval": 2, "byweekday": (rrule.SU, rrule.MO), "wkst": rrule.MO},
        "numbered",
        needs_2010=True,
    ),
    Case(
        "absolute-monthly",
        AbsoluteMonthlyPattern(interval=1, day_of_month=15),
        {"freq": rrule.MONTHLY, "bymonthday": 15},
        "noend",
    ),
    Case(
        "absolute-monthly-interval-2",
        AbsoluteMonthlyPattern(interval=2, day_of_month=3),
        {"freq": rrule.MONTHLY, "interval": 2, "bymonthday": 3},
        "enddate",
    ),
    *(
        Case(
            f"relative-monthly-{week.lower()}-tuesday",
            RelativeMonthlyPattern(interval=1, weekday="Tuesday", week_number=week),
            {
                "freq": rrule.MONTHLY,
                "byweekday": rrule.TU,
                "bysetpos": WEEK.index(week) + 1 if week != "Last" else -1,
            },
            "numbered",
        )
        for week in WEEK
    ),
    Case(
        "relative-monthly-last-day",
        RelativeMonthlyPattern(interval=1, weekday="Day", week_number="Last"),
        {"freq": rrule.MONTHLY, "bymonthday": -1},
        "enddate",
    ),
    Case(
        "relative-monthly-second-weekday",
        RelativeMonthlyPattern(interval=1, weekday="Weekday", week_number="Second"),
        {
            "freq": rrule.MONTHLY,
            "byweekday": (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR),
            "bysetpos": 2,
        },
        "numbered",
    ),
    Case(
        "absolute-yearly",
        AbsoluteYearlyPattern(day_of_month=12, month=6),
        {"freq": rrule.YEARLY, "bymonth": 6, "bymonthday": 12},
        "numbered",
    ),
    Case(
        "relative-yearly",
        RelativeYearlyPattern(weekday="Thursday", week_number="Fourth", month=11),
        {"freq": rrule.YEARLY, "bymonth": 11, "byweekday": rrule.TH, "bysetpos": 4},
        "enddate",
    ),
]
COUNT = 5  # occurrences of a bounded case (the end date of an EndDate case is the 5th's day)


def expected(case: Case, start: dt.date = RANGE_START, count: int = COUNT) -> list[dt.datetime]:
    rule = rrule.rrule(dtstart=dt.datetime.combine(start, dt.time(HOUR)), count=count, **case.rule)
    return list(rule)


def boundary(case: Case, starts: list[dt.datetime]) -> Any:
    if case.range == "numbered":
        return NumberedPattern(start=RANGE_START, number=len(starts))
    if case.range == "enddate":
        return EndDatePattern(start=RANGE_START, end=starts[-1].date())
    return NoEndPattern(start=RANGE_START)


def skip_unless_supported(org: Org, case: Case) -> None:
    if case.needs_2010 and org.dialect == "exchange2007":
        pytest.skip("exchangelib writes FirstDayOfWeek, which Exchange 2007's schema lacks (added in 2010)")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pattern_reads_back_and_expands_as_documented(org: Org, case: Case) -> None:
    skip_unless_supported(org, case)
    account = org.account()
    starts = [local(org, s) for s in expected(case)]
    recurrence = Recurrence(pattern=case.pattern, boundary=boundary(case, starts))
    master = save(
        org,
        account,
        subject=case.name,
        start=starts[0],
        end=starts[0] + dt.timedelta(hours=1),
        recurrence=recurrence,
    )
    master.refresh()
    assert master.type == "RecurringMaster"
    assert master.recurrence.pattern == case.pattern, str(master.recurrence.pattern)
    got = master.recurrence.boundary
    assert type(got) is type(recurrence.boundary) and got.start == RANGE_START
    if case.range == "enddate":
        assert got.end == starts[-1].date()
    if case.range == "numbered":
        assert got.number == COUNT
    assert master.first_occurrence.start == starts[0]
    assert master.first_occurrence.end == starts[0] + dt.timedelta(hours=1)
    if case.range != "noend":  # the docs say nothing of an open series' LastOccurrence (README)
        assert master.last_occurrence.start == starts[-1]
    window = (local(org, dt.datetime(2029, 12, 1)), starts[-1] + dt.timedelta(days=1))
    assert view_starts(account, case.name, *window) == starts
    for index in (1, 3, COUNT):
        occurrence = account.calendar.get(id=master.id).occurrence(index=index)
        occurrence.refresh()
        assert occurrence.type == "Occurrence"
        assert (occurrence.start, occurrence.original_start) == (starts[index - 1], starts[index - 1])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_modified_and_deleted_occurrences_on_master_and_in_the_view(org: Org, case: Case) -> None:
    skip_unless_supported(org, case)
    account = org.account()
    starts = [local(org, s) for s in expected(case)]
    recurrence = Recurrence(pattern=case.pattern, boundary=boundary(case, starts))
    master = save(
        org,
        account,
        subject=case.name,
        start=starts[0],
        end=starts[0] + dt.timedelta(hours=1),
        recurrence=recurrence,
    )
    moved = master.occurrence(index=2)
    moved.refresh()
    moved.start, moved.end = starts[1] + dt.timedelta(hours=2), starts[1] + dt.timedelta(hours=3)
    moved.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")
    gone = master.occurrence(index=4)
    gone.refresh()
    gone.delete(send_meeting_cancellations="SendToNone")
    master.refresh()
    [modified] = master.modified_occurrences
    assert (modified.original_start, modified.start) == (starts[1], starts[1] + dt.timedelta(hours=2))
    assert [d.start for d in master.deleted_occurrences] == [starts[3]]
    window = (local(org, dt.datetime(2029, 12, 1)), starts[-1] + dt.timedelta(days=1))
    view = [o for o in account.calendar.view(start=window[0], end=window[1]) if o.subject == case.name]
    assert sorted((o.start, o.type) for o in view) == [
        (starts[0], "Occurrence"),
        (starts[1] + dt.timedelta(hours=2), "Exception"),
        (starts[2], "Occurrence"),
        (starts[4], "Occurrence"),
    ]
    exception = account.calendar.get(id=master.id).occurrence(index=2)
    exception.refresh()
    assert exception.type == "Exception" and exception.start == starts[1] + dt.timedelta(hours=2)


# --- range boundaries ----------------------------------------------------------------------------
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/enddate-recurrence
# EndDate "represents the end date of a recurring item": the series runs through that day.
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/numberofoccurrences
# NumberOfOccurrences: 1 is the smallest value.


def test_end_date_on_the_last_occurrences_day_includes_it(org: Org) -> None:
    account = org.account()
    first = local(org, dt.datetime(2030, 1, 7, 23, 0))  # late in the day: the range is in local days
    master = save(
        org,
        account,
        subject="Late",
        start=first,
        end=first + dt.timedelta(minutes=30),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1),
            boundary=EndDatePattern(start=first.date(), end=EWSDate(2030, 1, 9)),
        ),
    )
    master.refresh()
    assert master.last_occurrence.start == first + dt.timedelta(days=2)
    starts = view_starts(
        account, "Late", local(org, dt.datetime(2030, 1, 1)), local(org, dt.datetime(2030, 2, 1))
    )
    assert starts == [first + dt.timedelta(days=n) for n in range(3)]


def test_numbered_with_one_occurrence(org: Org) -> None:
    account = org.account()
    first = local(org, dt.datetime(2030, 1, 8, HOUR))
    master = save(
        org,
        account,
        subject="Once",
        start=first,
        end=first + dt.timedelta(hours=1),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1), boundary=NumberedPattern(start=first.date(), number=1)
        ),
    )
    master.refresh()
    assert master.recurrence.boundary.number == 1
    assert master.first_occurrence.start == master.last_occurrence.start == first
    starts = view_starts(
        account, "Once", local(org, dt.datetime(2030, 1, 1)), local(org, dt.datetime(2030, 6, 1))
    )
    assert starts == [first]
    only = account.calendar.get(id=master.id).occurrence(index=1)
    only.refresh()
    assert only.start == first


# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/absolutemonthlyrecurrence
# DayOfMonth: "If for a particular month this value is larger than the number of days in the month,
# the last day of the month is assumed for this property."


@pytest.mark.parametrize("day", [29, 30, 31])
def test_month_days_past_the_end_of_short_months_fall_on_the_last_day(org: Org, day: int) -> None:
    account = org.account()
    first = local(org, dt.datetime(2030, 1, day, HOUR))
    master = save(
        org,
        account,
        subject=f"Day {day}",
        start=first,
        end=first + dt.timedelta(hours=1),
        recurrence=Recurrence(
            pattern=AbsoluteMonthlyPattern(interval=1, day_of_month=day),
            boundary=NumberedPattern(start=first.date(), number=6),
        ),
    )
    want = [
        local(org, dt.datetime(2030, month, min(day, calendar.monthrange(2030, month)[1]), HOUR))
        for month in range(1, 7)
    ]
    master.refresh()
    assert master.last_occurrence.start == want[-1]
    window = (local(org, dt.datetime(2030, 1, 1)), local(org, dt.datetime(2030, 7, 1)))
    assert view_starts(account, f"Day {day}", *window) == want
    february = account.calendar.get(id=master.id).occurrence(index=2)
    february.refresh()
    assert february.start == want[1]


# --- all-day items across zones ------------------------------------------------------------------
# https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-create-all-day-events-by-using-ews-in-exchange
# An all-day event runs from midnight to midnight in the time zone of the appointment
# (StartTimeZone, or the request's TimeZoneContext); in UTC that is the zone's midnights.
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendarview
# A view returns the items that overlap it.


def all_day(org: Org, account: Any, tz: EWSTimeZone, subject: str, first: dt.date, last: dt.date) -> Any:
    if org.dialect == "exchange2007":
        pytest.skip("a 2007 client sends no MeetingTimeZone (see sim_support): its all-day items are in UTC")
    start = EWSDateTime(first.year, first.month, first.day, tzinfo=tz)
    end = EWSDateTime(last.year, last.month, last.day, tzinfo=tz) + dt.timedelta(days=1)
    return save(
        org,
        account,
        subject=subject,
        is_all_day=True,
        start=start,
        end=end,
    )


def utc_midnight(tz: EWSTimeZone, day: dt.date) -> EWSDateTime:
    return EWSDateTime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize("tz", [ZURICH, NEW_YORK], ids=["zurich", "new-york"])
def test_all_day_item_reads_back_at_the_zones_midnights(org: Org, tz: EWSTimeZone) -> None:
    day = dt.date(2030, 1, 15)
    utc_account = org.account()
    all_day(org, utc_account, tz, "Away", day, day)
    raw = next(iter(utc_account.calendar.filter(subject="Away").only("start", "end")))
    assert raw.start.astimezone(UTC) == utc_midnight(tz, day)
    assert raw.end.astimezone(UTC) == utc_midnight(tz, day + dt.timedelta(days=1))
    # the view of that day in the item's zone contains it, the day before does not (the item starts
    # at its EndDate); the day after does, as CalendarView returns an item ending at its StartDate
    # (only one ending *before* StartDate is left out), the day after that does not
    for offset, inside in ((-1, False), (0, True), (1, True), (2, False)):
        other = day + dt.timedelta(days=offset)
        start = EWSDateTime(other.year, other.month, other.day, tzinfo=tz)
        end = start + dt.timedelta(days=1)
        subjects = [i.subject for i in utc_account.calendar.view(start=start, end=end)]
        assert ("Away" in subjects) is inside, (other, subjects)
    # a UTC day overlaps it partly: New York's day ends at 05:00 UTC the next day, Zurich's
    # begins at 23:00 UTC the day before
    utc_day = EWSDateTime(2030, 1, 16, tzinfo=UTC) if tz is NEW_YORK else EWSDateTime(2030, 1, 14, tzinfo=UTC)
    subjects = [
        i.subject for i in utc_account.calendar.view(start=utc_day, end=utc_day + dt.timedelta(days=1))
    ]
    assert "Away" in subjects


@pytest.mark.parametrize(
    ("tz", "first"),
    [(ZURICH, dt.date(2030, 3, 30)), (NEW_YORK, dt.date(2030, 3, 9))],
    ids=["zurich", "new-york"],
)
def test_all_day_item_across_a_dst_change(org: Org, tz: EWSTimeZone, first: dt.date) -> None:
    # Europe: summer time begins on 31 March 2030; the US: on 10 March 2030.
    account = org.account()
    last = first + dt.timedelta(days=2)
    all_day(org, account, tz, "Long weekend", first, last)
    raw = next(iter(account.calendar.filter(subject="Long weekend").only("start", "end")))
    start, end = raw.start.astimezone(UTC), raw.end.astimezone(UTC)
    assert start == utc_midnight(tz, first) and end == utc_midnight(tz, last + dt.timedelta(days=1))
    assert end - start == dt.timedelta(days=3, hours=-1)  # one local hour is skipped
    assert start.astimezone(tz).time() == end.astimezone(tz).time() == dt.time(0)
