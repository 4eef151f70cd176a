"""Series between the model's :class:`~roomsync.domain.Recurrence` and Graph's ``patternedRecurrence``.

Graph v1.0 lists a series' occurrences and exceptions (``/instances``) but not its cancelled
occurrences, so those are found as the pattern's occurrences that ``/instances`` lacks; for that
the pattern is expanded with the core's own rule, in the series' zone, like ROOMS does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from roomsync.domain import Frequency, Recurrence, Weekday
from roomsync.recurrence import MAX_OCCURRENCES, rule

DAY_NAMES = {
    Weekday.MO: "monday",
    Weekday.TU: "tuesday",
    Weekday.WE: "wednesday",
    Weekday.TH: "thursday",
    Weekday.FR: "friday",
    Weekday.SA: "saturday",
    Weekday.SU: "sunday",
}
WEEKDAYS = {name: day for day, name in DAY_NAMES.items()}
INDEX_NAMES = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
INDEXES = {name: number for number, name in INDEX_NAMES.items()}

OPEN_ENDED_HORIZON = timedelta(days=730)
"""How far ahead the exceptions of an open-ended series are read."""


def to_graph(recurrence: Recurrence, first_day: date, zone: str) -> dict[str, Any]:
    """The ``patternedRecurrence`` of a series whose first occurrence is on ``first_day``."""
    days = [DAY_NAMES[d] for d in recurrence.weekdays]
    pattern: dict[str, Any] = {"interval": recurrence.interval}
    if recurrence.frequency is Frequency.DAILY:
        pattern["type"] = "daily"
    elif recurrence.frequency is Frequency.WEEKLY:
        pattern.update(type="weekly", daysOfWeek=days, firstDayOfWeek="monday")
    else:
        yearly = recurrence.frequency is Frequency.YEARLY
        if recurrence.month_day is not None:
            pattern.update(
                type="absoluteYearly" if yearly else "absoluteMonthly", dayOfMonth=recurrence.month_day
            )
        else:
            assert recurrence.week_of_month is not None
            pattern.update(
                type="relativeYearly" if yearly else "relativeMonthly",
                daysOfWeek=days,
                index=INDEX_NAMES[recurrence.week_of_month],
            )
        if yearly:
            pattern["month"] = recurrence.month
    span: dict[str, Any] = {"startDate": first_day.isoformat(), "recurrenceTimeZone": zone}
    if recurrence.count is not None:
        span.update(type="numbered", numberOfOccurrences=recurrence.count)
    elif recurrence.until is not None:
        span.update(type="endDate", endDate=recurrence.until.isoformat())
    else:
        span["type"] = "noEnd"
    return {"pattern": pattern, "range": span}


def from_graph(value: dict[str, Any] | None) -> Recurrence | None:
    """The model's series of a ``patternedRecurrence``; ``None`` for none or one it cannot express."""
    if not value:
        return None
    pattern = value.get("pattern") or {}
    span = value.get("range") or {}
    kind = str(pattern.get("type") or "")
    frequencies = {
        "daily": Frequency.DAILY,
        "weekly": Frequency.WEEKLY,
        "absoluteMonthly": Frequency.MONTHLY,
        "relativeMonthly": Frequency.MONTHLY,
        "absoluteYearly": Frequency.YEARLY,
        "relativeYearly": Frequency.YEARLY,
    }
    frequency = frequencies.get(kind)
    if frequency is None:
        return None
    data: dict[str, Any] = {"frequency": frequency, "interval": int(pattern.get("interval") or 1)}
    days = tuple(WEEKDAYS[d.lower()] for d in pattern.get("daysOfWeek") or () if d.lower() in WEEKDAYS)
    if kind == "weekly":
        data["weekdays"] = days
    elif kind.startswith("relative"):
        data["weekdays"] = days[:1]
        data["week_of_month"] = INDEXES.get(str(pattern.get("index") or "first").lower(), 1)
    else:
        if kind.startswith("absolute"):
            data["month_day"] = pattern.get("dayOfMonth")
    if frequency is Frequency.YEARLY:
        data["month"] = pattern.get("month")
    end_kind = span.get("type")
    if end_kind == "numbered" and span.get("numberOfOccurrences"):
        data["count"] = int(span["numberOfOccurrences"])
    elif end_kind == "endDate" and span.get("endDate"):
        data["until"] = date.fromisoformat(str(span["endDate"])[:10])
    try:
        return Recurrence.model_validate(data)
    except ValueError:
        return None


def originals(recurrence: Recurrence, first_start: datetime, zone: str, until: datetime) -> list[datetime]:
    """Original starts (UTC) of the pattern's occurrences from the first up to ``until``."""
    tz = ZoneInfo(zone)
    local_first = first_start.astimezone(tz).replace(tzinfo=None)
    found = []
    for index, local in enumerate(rule(recurrence, local_first)):
        at = local.replace(tzinfo=tz).astimezone(UTC)
        if at >= until or index >= MAX_OCCURRENCES:
            break
        found.append(at)
    return found


def instance_window(
    recurrence: Recurrence, first_start: datetime, zone: str, now: datetime, reach: datetime | None = None
) -> tuple[datetime, datetime]:
    """The window whose ``/instances`` show every exception roomsync reads or writes.

    A series that ends is read to its end; an open-ended one ``OPEN_ENDED_HORIZON`` ahead (and at
    least to ``reach``, the latest occurrence a write concerns).
    """
    start = first_start.astimezone(UTC) - timedelta(days=1)
    if recurrence.count is not None:
        last = originals(recurrence, first_start, zone, datetime.max.replace(tzinfo=UTC))
        end = (last[-1] if last else first_start) + timedelta(days=2)
    elif recurrence.until is not None:
        end = datetime.combine(recurrence.until, time(0), ZoneInfo(zone)).astimezone(UTC) + timedelta(days=2)
    else:
        end = max(now, first_start) + OPEN_ENDED_HORIZON
    if reach is not None:
        end = max(end, reach + timedelta(days=2))
    return start, max(end, start + timedelta(days=2))
