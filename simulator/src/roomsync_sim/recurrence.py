"""Expanding a recurring master into its occurrences.

Occurrences are numbered from 1 in series order, as Exchange's ``InstanceIndex`` is; deleted
occurrences keep their number. The pattern is evaluated in the series' zone, so occurrences keep
their local wall-clock time.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil import rrule
from lxml import etree

from roomsync_sim.soap import T

_DAYS = {
    "Monday": [rrule.MO],
    "Tuesday": [rrule.TU],
    "Wednesday": [rrule.WE],
    "Thursday": [rrule.TH],
    "Friday": [rrule.FR],
    "Saturday": [rrule.SA],
    "Sunday": [rrule.SU],
    "Day": [rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU],
    "Weekday": [rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR],
    "WeekendDay": [rrule.SA, rrule.SU],
}
_INDEX = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTHS = {m: i + 1 for i, m in enumerate(MONTH_NAMES)}

# Open-ended series are expanded no further than this many occurrences.
MAX_OCCURRENCES = 5000


class InvalidRecurrence(ValueError):
    """The pattern cannot produce occurrences (``ErrorInvalidRecurrence``)."""


@dataclass(frozen=True)
class Occurrence:
    index: int
    start: datetime  # UTC
    end: datetime


def _text(elem: etree._Element, name: str) -> str | None:
    child = elem.find(f"{{{T}}}{name}")
    return child.text.strip() if child is not None and child.text else None


def _days(value: str | None) -> list[Any]:
    out: list[Any] = []
    for word in (value or "").split():
        out.extend(_DAYS.get(word, []))
    return out


def _date(value: str) -> date:
    return date.fromisoformat(value[:10])


def _day_of_month(day: int) -> dict[str, Any]:
    """rrule arguments for a ``DayOfMonth``: "If for a particular month this value is larger than
    the number of days in the month, the last day of the month is assumed" (AbsoluteMonthlyRecurrence,
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/absolutemonthlyrecurrence).
    rrule would skip such months; the last existing day of 28..day is the one Exchange uses."""
    if day <= 28:
        return {"bymonthday": day}
    return {"bymonthday": list(range(28, day + 1)), "bysetpos": -1}


def _rule(recurrence: etree._Element, first_local: datetime) -> rrule.rrule:
    parts = [c for c in recurrence if isinstance(c.tag, str)]
    pattern, rng = (parts[0], parts[1]) if len(parts) == 2 else (None, None)
    if pattern is None or rng is None:
        raise InvalidRecurrence("a recurrence needs a pattern and a range")
    kind = etree.QName(pattern).localname
    kw: dict[str, Any] = {"interval": int(_text(pattern, "Interval") or 1)}
    days = _days(_text(pattern, "DaysOfWeek"))
    index = _INDEX.get(_text(pattern, "DayOfWeekIndex") or "")
    if kind == "DailyRecurrence":
        freq = rrule.DAILY
    elif kind == "WeeklyRecurrence":
        freq = rrule.WEEKLY
        kw["byweekday"] = days or None
        first = _DAYS.get(_text(pattern, "FirstDayOfWeek") or "Sunday", [rrule.SU])[0]
        kw["wkst"] = first
    elif kind == "AbsoluteMonthlyRecurrence":
        freq = rrule.MONTHLY
        kw.update(_day_of_month(int(_text(pattern, "DayOfMonth") or first_local.day)))
    elif kind == "RelativeMonthlyRecurrence":
        freq = rrule.MONTHLY
        kw.update(byweekday=days, bysetpos=index)
    elif kind == "AbsoluteYearlyRecurrence":
        freq = rrule.YEARLY
        kw.update(
            bymonth=_MONTHS.get(_text(pattern, "Month") or "", first_local.month),
            **_day_of_month(int(_text(pattern, "DayOfMonth") or first_local.day)),
        )
        kw.pop("interval")
    elif kind == "RelativeYearlyRecurrence":
        freq = rrule.YEARLY
        kw.update(
            bymonth=_MONTHS.get(_text(pattern, "Month") or "", first_local.month),
            byweekday=days,
            bysetpos=index,
        )
        kw.pop("interval")
    else:
        raise InvalidRecurrence(f"unsupported pattern {kind}")
    if kw.get("interval", 1) < 1:
        raise InvalidRecurrence("the interval must be positive")
    start_text = _text(rng, "StartDate")
    start_day = _date(start_text) if start_text else first_local.date()
    dtstart = datetime.combine(start_day, first_local.time())
    range_kind = etree.QName(rng).localname
    if range_kind == "NumberedRecurrence":
        count = int(_text(rng, "NumberOfOccurrences") or 0)
        if count < 1:
            raise InvalidRecurrence("NumberOfOccurrences must be at least 1")
        kw["count"] = count
    elif range_kind == "EndDateRecurrence":
        end_text = _text(rng, "EndDate")
        if not end_text:
            raise InvalidRecurrence("EndDate is missing")
        kw["until"] = datetime.combine(_date(end_text), time(23, 59, 59))
    return rrule.rrule(freq, dtstart=dtstart, **kw)


def expand(
    recurrence: etree._Element,
    start: datetime,
    end: datetime,
    zone: tzinfo | None,
    until: datetime | None = None,
) -> Iterator[Occurrence]:
    """Occurrences of a master starting at ``start`` (UTC) in series order, up to ``until``."""
    zone = zone or UTC
    first_local = start.astimezone(zone).replace(tzinfo=None)
    duration = end - start
    rule = _rule(recurrence, first_local)
    for index, local in enumerate(rule, start=1):
        if index > MAX_OCCURRENCES:
            return
        occ_start = local.replace(tzinfo=zone).astimezone(UTC)
        if until is not None and occ_start >= until:
            return
        yield Occurrence(index, occ_start, occ_start + duration)


def occurrence(
    recurrence: etree._Element, start: datetime, end: datetime, zone: tzinfo | None, index: int
) -> Occurrence | None:
    for occ in expand(recurrence, start, end, zone):
        if occ.index == index:
            return occ
        if occ.index > index:
            break
    return None


def last_occurrence(
    recurrence: etree._Element, start: datetime, end: datetime, zone: tzinfo | None
) -> Occurrence | None:
    """The last occurrence of a bounded series; None for an open-ended one."""
    if recurrence.find(f"{{{T}}}NoEndRecurrence") is not None:
        return None
    last = None
    for occ in expand(recurrence, start, end, zone):
        last = occ
    return last


def zoned_date(value: str, zone: tzinfo | None) -> str:
    """An ``xs:date`` of a recurrence range as Exchange writes it: with the offset of the series'
    zone on that day (``2016-01-01+01:00``, ``2016-01-01Z`` in UTC). A client that sent a bare
    date gets it back with the offset; exchangelib, for one, reads a bare date as a date-time."""
    day = _date(value)
    offset = datetime.combine(day, time()).replace(tzinfo=zone or UTC).utcoffset() or timedelta()
    if not offset:
        return f"{day.isoformat()}Z"
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{day.isoformat()}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def with_zoned_dates(recurrence: etree._Element, zone: tzinfo | None) -> etree._Element:
    """A copy of a stored ``Recurrence`` whose range dates carry the series' zone offset."""
    out = copy.deepcopy(recurrence)
    for name in ("StartDate", "EndDate"):
        for elem in out.iter(f"{{{T}}}{name}"):
            if elem.text and elem.text.strip():
                elem.text = zoned_date(elem.text.strip(), zone)
    return out


def window_end_default(start: datetime) -> datetime:
    return start + timedelta(days=365 * 2)
