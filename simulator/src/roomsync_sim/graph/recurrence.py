"""``patternedRecurrence`` (Graph) to and from the store's EWS ``Recurrence`` element.

Graph's six pattern types and three range types map one to one onto EWS's; the store expands
them (``roomsync_sim.recurrence``). EWS yearly patterns have no interval, so Graph's yearly
``interval`` must be 1.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from roomsync_sim.graph.errors import GraphError
from roomsync_sim.recurrence import MONTH_NAMES
from roomsync_sim.soap import t

_PATTERNS = {
    "daily": "DailyRecurrence",
    "weekly": "WeeklyRecurrence",
    "absolutemonthly": "AbsoluteMonthlyRecurrence",
    "relativemonthly": "RelativeMonthlyRecurrence",
    "absoluteyearly": "AbsoluteYearlyRecurrence",
    "relativeyearly": "RelativeYearlyRecurrence",
}
_GRAPH_PATTERN = {v: k for k, v in _PATTERNS.items()}
_GRAPH_PATTERN_NAME = {
    "daily": "daily",
    "weekly": "weekly",
    "absolutemonthly": "absoluteMonthly",
    "relativemonthly": "relativeMonthly",
    "absoluteyearly": "absoluteYearly",
    "relativeyearly": "relativeYearly",
}
_RANGES = {"enddate": "EndDateRecurrence", "noend": "NoEndRecurrence", "numbered": "NumberedRecurrence"}
_GRAPH_RANGE = {"EndDateRecurrence": "endDate", "NoEndRecurrence": "noEnd", "NumberedRecurrence": "numbered"}
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_INDEX = ("first", "second", "third", "fourth", "last")
_MONTHS = MONTH_NAMES


def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRecurrence", message)


def _sub(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, t(name)).text = text


def to_element(value: dict[str, Any]) -> etree._Element:
    """A Recurrence element from a patternedRecurrence; 400 when incomplete or unknown."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("pattern"), dict)
        or not isinstance(value.get("range"), dict)
    ):
        raise _invalid("A recurrence needs a pattern and a range.")
    pattern, rng = value["pattern"], value["range"]
    kind = str(pattern.get("type", "")).lower()
    if kind not in _PATTERNS:
        raise _invalid(f"The recurrence pattern type '{pattern.get('type')}' is not valid.")
    rec = etree.Element(t("Recurrence"))
    p = etree.SubElement(rec, t(_PATTERNS[kind]))
    interval = int(pattern.get("interval") or 1)
    if interval < 1:
        raise _invalid("The recurrence interval must be at least 1.")
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or []]
    if any(d not in _DAYS for d in days):
        raise _invalid("daysOfWeek names an unknown day.")
    day_names = " ".join(d.capitalize() for d in days)
    index = str(pattern.get("index") or "first").lower()
    if index not in _INDEX:
        raise _invalid(f"The recurrence index '{index}' is not valid.")
    month = int(pattern.get("month") or 0)
    day = int(pattern.get("dayOfMonth") or 0)
    if kind.endswith("yearly"):
        if interval != 1:
            raise _invalid("A yearly recurrence must have an interval of 1.")
        if not 1 <= month <= 12:
            raise _invalid("A yearly recurrence needs a month between 1 and 12.")
    if kind in ("daily", "weekly", "absolutemonthly", "relativemonthly"):
        _sub(p, "Interval", str(interval))
    if kind in ("relativemonthly", "relativeyearly"):
        if not days:
            raise _invalid("A relative recurrence needs daysOfWeek.")
        _sub(p, "DaysOfWeek", day_names)
        _sub(p, "DayOfWeekIndex", index.capitalize())
    if kind == "weekly":
        if not days:
            raise _invalid("A weekly recurrence needs daysOfWeek.")
        _sub(p, "DaysOfWeek", day_names)
        first = str(pattern.get("firstDayOfWeek") or "sunday").lower()
        if first not in _DAYS:
            raise _invalid("firstDayOfWeek names an unknown day.")
        _sub(p, "FirstDayOfWeek", first.capitalize())
    if kind in ("absolutemonthly", "absoluteyearly"):
        if not 1 <= day <= 31:
            raise _invalid("An absolute recurrence needs a dayOfMonth between 1 and 31.")
        _sub(p, "DayOfMonth", str(day))
    if kind.endswith("yearly"):
        _sub(p, "Month", _MONTHS[month - 1])
    range_kind = str(rng.get("type", "")).lower()
    if range_kind not in _RANGES:
        raise _invalid(f"The recurrence range type '{rng.get('type')}' is not valid.")
    r = etree.SubElement(rec, t(_RANGES[range_kind]))
    start = str(rng.get("startDate") or "")
    if len(start) < 10:
        raise _invalid("The recurrence range needs a startDate.")
    _sub(r, "StartDate", start[:10])
    if range_kind == "enddate":
        end = str(rng.get("endDate") or "")
        if len(end) < 10 or end[:10] < start[:10]:
            raise _invalid("The recurrence range needs an endDate on or after its startDate.")
        _sub(r, "EndDate", end[:10])
    elif range_kind == "numbered":
        count = int(rng.get("numberOfOccurrences") or 0)
        if count < 1:
            raise _invalid("numberOfOccurrences must be at least 1.")
        _sub(r, "NumberOfOccurrences", str(count))
    return rec


def _text(elem: etree._Element, name: str) -> str | None:
    child = elem.find(t(name))
    return child.text.strip() if child is not None and child.text else None


def from_element(rec: etree._Element, zone_name: str) -> dict[str, Any]:
    """A patternedRecurrence from a Recurrence element (Graph lists every pattern property)."""
    parts = [c for c in rec if isinstance(c.tag, str)]
    pattern, rng = parts[0], parts[1]
    kind = _GRAPH_PATTERN.get(etree.QName(pattern).localname, "daily")
    days = (_text(pattern, "DaysOfWeek") or "").split()
    expanded: list[str] = []
    for d in days:
        if d == "Weekday":
            expanded += ["monday", "tuesday", "wednesday", "thursday", "friday"]
        elif d == "WeekendDay":
            expanded += ["saturday", "sunday"]
        elif d == "Day":
            expanded += list(_DAYS)
        else:
            expanded.append(d.lower())
    month = _text(pattern, "Month")
    out_pattern = {
        "type": _GRAPH_PATTERN_NAME[kind],
        "interval": int(_text(pattern, "Interval") or 1),
        "month": _MONTHS.index(month) + 1 if month in _MONTHS else 0,
        "dayOfMonth": int(_text(pattern, "DayOfMonth") or 0),
        "daysOfWeek": expanded,
        "firstDayOfWeek": (_text(pattern, "FirstDayOfWeek") or "Sunday").lower(),
        "index": (_text(pattern, "DayOfWeekIndex") or "First").lower(),
    }
    range_kind = _GRAPH_RANGE.get(etree.QName(rng).localname, "noEnd")
    out_range = {
        "type": range_kind,
        "startDate": (_text(rng, "StartDate") or "")[:10],
        "endDate": (_text(rng, "EndDate") or "0001-01-01")[:10],
        "recurrenceTimeZone": zone_name,
        "numberOfOccurrences": int(_text(rng, "NumberOfOccurrences") or 0),
    }
    return {"pattern": out_pattern, "range": out_range}
