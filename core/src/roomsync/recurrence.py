"""Expanding a series into occurrences, in the time zone it was booked in.

Occurrences keep their wall-clock time across DST changes (a 09:00 weekly meeting stays at 09:00
local time), which is how both ROOMS and Exchange treat series.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo

from dateutil import rrule

from roomsync.domain import EventFields, Frequency, Recurrence, Weekday

_FREQ = {
    Frequency.DAILY: rrule.DAILY,
    Frequency.WEEKLY: rrule.WEEKLY,
    Frequency.MONTHLY: rrule.MONTHLY,
    Frequency.YEARLY: rrule.YEARLY,
}
_DAY = {
    Weekday.MO: rrule.MO,
    Weekday.TU: rrule.TU,
    Weekday.WE: rrule.WE,
    Weekday.TH: rrule.TH,
    Weekday.FR: rrule.FR,
    Weekday.SA: rrule.SA,
    Weekday.SU: rrule.SU,
}
# Open-ended series are expanded only this far: enough for any free/busy or conflict window.
MAX_OCCURRENCES = 5000


class Occurrence(NamedTuple):
    original_start: datetime
    start: datetime
    end: datetime
    title: str


def rule(recurrence: Recurrence, first_start: datetime) -> rrule.rrule:
    """The dateutil rule of a series whose first occurrence starts at ``first_start`` (local)."""
    kwargs: dict[str, object] = {"interval": recurrence.interval, "dtstart": first_start}
    if recurrence.weekdays:
        if recurrence.week_of_month is not None:
            kwargs["byweekday"] = [_DAY[recurrence.weekdays[0]](recurrence.week_of_month)]
        else:
            kwargs["byweekday"] = [_DAY[d] for d in recurrence.weekdays]
    if recurrence.month_day is not None:
        kwargs["bymonthday"] = recurrence.month_day
    if recurrence.month is not None:
        kwargs["bymonth"] = recurrence.month
    if recurrence.count is not None:
        kwargs["count"] = recurrence.count
    elif recurrence.until is not None:
        kwargs["until"] = datetime.combine(recurrence.until, time(23, 59, 59), first_start.tzinfo)
    return rrule.rrule(_FREQ[recurrence.frequency], **kwargs)


def occurrences(fields: EventFields, start: datetime, end: datetime) -> Iterator[Occurrence]:
    """Occurrences of ``fields`` that overlap ``[start, end)``, with modifications applied.

    A single entry yields itself; cancelled occurrences are left out.
    """
    if fields.recurrence is None:
        if fields.start < end and fields.end > start:
            yield Occurrence(fields.start, fields.start, fields.end, fields.title)
        return
    zone = ZoneInfo(fields.timezone)
    local_first = fields.start.astimezone(zone).replace(tzinfo=None)
    duration = fields.duration
    changes = {c.original_start.astimezone(ZoneInfo("UTC")): c for c in fields.occurrences}
    # A modified occurrence may move away from its slot: keep going until past both.
    horizon = max([end, *(c.start for c in changes.values() if c.start is not None)])
    for index, local in enumerate(rule(fields.recurrence, local_first)):
        original = local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
        if index >= MAX_OCCURRENCES or original >= horizon:
            break
        change = changes.get(original)
        if change is None:
            occ_start, occ_end, title = original, original + duration, fields.title
        elif change.cancelled:
            continue
        else:
            assert change.start is not None and change.end is not None
            occ_start, occ_end, title = change.start, change.end, change.title or fields.title
        if occ_start < end and occ_end > start:
            yield Occurrence(original, occ_start, occ_end, title)


def overlaps(a: EventFields, b: EventFields, start: datetime, end: datetime) -> bool:
    """Whether any occurrence of ``a`` overlaps any occurrence of ``b`` within the window."""
    spans_b = [(o.start, o.end) for o in occurrences(b, start, end)]
    return any(
        o.start < b_end and o.end > b_start for o in occurrences(a, start, end) for b_start, b_end in spans_b
    )
