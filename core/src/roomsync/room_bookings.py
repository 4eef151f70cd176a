"""Whether a room is free: one pure answer for the SQL store and the sync plan.

The store asks it over the reservations its query found; the plan over the bookings the read
phase loaded for the rooms of one cycle, so that planning needs no database.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from roomsync.domain import EventFields, Reservation
from roomsync.recurrence import overlaps, rule

OPEN_ENDED_CONFLICT_SPAN = relativedelta(years=3)
"""How far an open-ended series holds its rooms when looking for conflicts (as ROOMS does)."""


def span(fields: EventFields) -> tuple[datetime, datetime]:
    """From the earliest start to the latest end of any occurrence (open-ended series capped)."""
    start, end = fields.start, fields.end
    if fields.recurrence is not None:
        end = max(end, _series_end(fields))
    for change in fields.occurrences:
        if change.start is not None and change.end is not None:
            start, end = min(start, change.start), max(end, change.end)
    return start.astimezone(UTC), end.astimezone(UTC)


def _series_end(fields: EventFields) -> datetime:
    recurrence = fields.recurrence
    assert recurrence is not None
    if recurrence.open_ended:
        return fields.start + OPEN_ENDED_CONFLICT_SPAN
    zone = ZoneInfo(fields.timezone)
    if recurrence.until is not None:
        after_last_day = datetime.combine(recurrence.until + timedelta(days=1), time(), zone)
        return after_last_day.astimezone(UTC) + fields.duration
    # Ends by count: walk the rule to its last start (at most 999 of them).
    last = deque(rule(recurrence, fields.start.astimezone(zone).replace(tzinfo=None)), maxlen=1)
    if not last:
        return fields.end
    return last[0].replace(tzinfo=zone).astimezone(UTC) + fields.duration


def first_conflict(
    bookings: Iterable[Reservation], room: str, fields: EventFields, exclude: str | None = None
) -> str | None:
    """The id of the first active booking other than ``exclude`` holding ``room`` during an
    occurrence of ``fields``; None when the room is free."""
    span_start, span_end = span(fields)
    for booking in bookings:
        if not booking.active or booking.id == exclude or room not in booking.fields.rooms:
            continue
        other = booking.fields
        other_start, other_end = span(other)
        if other.recurrence is None and fields.recurrence is None:
            if other.start.astimezone(UTC) < span_end and other.end.astimezone(UTC) > span_start:
                return booking.id
            continue
        if overlaps(fields, other, min(span_start, other_start), max(span_end, other_end)):
            return booking.id
    return None
