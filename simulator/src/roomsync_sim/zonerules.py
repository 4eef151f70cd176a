"""Time-zone rules the way Windows and EWS describe them, derived from the IANA database.

EWS speaks of zones in two shapes: ``TimeZoneDefinition`` (GetServerTimeZones, 2010+: periods,
groups of yearly transitions, and the years each group applies from) and ``SerializableTimeZone``
(GetUserAvailability and working hours: one bias plus a standard and a daylight rule). Both are
derived here from zoneinfo, year by year: the two transitions of a year become a rule ("last
Sunday of March at 02:00"), and consecutive years with the same rule share one group. A year
whose transitions do not form such a pair (a zone changing its standard offset) counts as a year
without daylight saving time, at the offset it ends with — an approximation.
"""

from __future__ import annotations

import calendar
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache

from lxml import etree

from roomsync_sim.soap import t
from roomsync_sim.timezones import _windows_map, zone_from_windows_id

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The years the definitions cover; rules outside them repeat the nearest year's.
FIRST_YEAR, LAST_YEAR = 2006, 2037


@dataclass(frozen=True)
class Rule:
    """A yearly transition: ``occurrence`` of ``weekday`` in ``month`` (-1: the last), local time."""

    month: int
    weekday: int  # 0 = Monday
    occurrence: int
    at: timedelta  # local wall-clock time before the transition

    def in_year(self, year: int) -> datetime:
        """The (naive, local) moment of the transition in ``year``."""
        days = calendar.monthrange(year, self.month)[1]
        if self.occurrence == -1 or self.occurrence >= 5:
            day = days
            while date(year, self.month, day).weekday() != self.weekday:
                day -= 1
        else:
            first = date(year, self.month, 1).weekday()
            day = 1 + (self.weekday - first) % 7 + 7 * (self.occurrence - 1)
            day = min(day, days)
        return datetime.combine(date(year, self.month, day), time()) + self.at


@dataclass(frozen=True)
class YearRules:
    """One year of a zone: offsets from UTC, and the rules into daylight and back (if any)."""

    standard: timedelta
    daylight: timedelta | None = None
    to_daylight: Rule | None = None
    to_standard: Rule | None = None

    def offset_at(self, utc: datetime) -> timedelta:
        """The offset from UTC in force at an (aware) instant of this year."""
        if self.daylight is None or self.to_daylight is None or self.to_standard is None:
            return self.standard
        year = utc.astimezone(UTC).year
        start = (self.to_daylight.in_year(year) - self.standard).replace(tzinfo=UTC)
        end = (self.to_standard.in_year(year) - self.daylight).replace(tzinfo=UTC)
        if start < end:
            return self.daylight if start <= utc < end else self.standard
        return self.standard if end <= utc < start else self.daylight

    def to_local(self, utc: datetime) -> datetime:
        return (utc.astimezone(UTC) + self.offset_at(utc)).replace(tzinfo=None)

    def to_utc(self, local: datetime) -> datetime:
        """A naive local time as UTC (a time in the skipped hour is read as standard time)."""
        candidate = (local - self.standard).replace(tzinfo=UTC)
        if self.offset_at(candidate) == self.standard or self.daylight is None:
            return candidate
        return (local - self.daylight).replace(tzinfo=UTC)


def _rule(utc: datetime, before: timedelta) -> Rule:
    local = utc + before
    days = calendar.monthrange(local.year, local.month)[1]
    occurrence = -1 if local.day + 7 > days else (local.day - 1) // 7 + 1
    at = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second)
    return Rule(local.month, local.weekday(), occurrence, at)


def _transitions(zone: tzinfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(instant, offset before, offset after) of each change within ``year``, found by bisection."""

    def offset(u: datetime) -> timedelta:
        value = u.astimezone(zone).utcoffset()
        return value if value is not None else timedelta(0)

    marks = [datetime(year, m, 1, tzinfo=UTC) for m in range(1, 13)] + [datetime(year + 1, 1, 1, tzinfo=UTC)]
    found = []
    for lo, hi in itertools.pairwise(marks):
        if offset(lo) == offset(hi):
            continue
        a, b = lo, hi
        while b - a > timedelta(minutes=1):
            mid = a + (b - a) / 2
            mid = mid.replace(second=0, microsecond=0)
            if mid <= a:
                break
            if offset(mid) == offset(a):
                a = mid
            else:
                b = mid
        found.append((b, offset(a), offset(b)))
    return found


@cache
def year_rules(zone_key: str, year: int) -> YearRules:
    """The rules of a zone (Windows id or IANA name) in one year."""
    zone = zone_from_windows_id(zone_key) or UTC
    year = min(max(year, FIRST_YEAR), LAST_YEAR)
    changes = _transitions(zone, year)
    if len(changes) == 2:
        (u1, b1, a1), (u2, b2, a2) = changes
        standard, daylight = min(b1, a1), max(b1, a1)
        if {b1, a1} == {b2, a2} and standard != daylight:
            into = (u1, b1) if a1 == daylight else (u2, b2)
            back = (u2, b2) if into[0] == u1 else (u1, b1)
            return YearRules(standard, daylight, _rule(*into), _rule(*back))
    end = datetime(year, 12, 31, 12, tzinfo=UTC).astimezone(zone).utcoffset() or timedelta(0)
    return YearRules(end)


def zone_key(ms_id_or_iana: str | None) -> str:
    return ms_id_or_iana or "UTC"


# --- TimeZoneDefinition (GetServerTimeZones) ---------------------------------------------------


def windows_ids() -> list[str]:
    return sorted(_windows_map())


def _duration(value: timedelta) -> str:
    """An xs:duration as Exchange writes biases: ``-PT1H``, ``PT5H30M``, ``PT0H``."""
    minutes = int(value.total_seconds() // 60)
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(minutes), 60)
    return f"{sign}PT{h}H" + (f"{m}M" if m else "")


def _offset_text(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}"


def display_name(ms_id: str) -> str:
    """``(UTC+01:00) Europe/Berlin``: Windows' display names are not in the CLDR table."""
    rules = year_rules(ms_id, datetime.now(UTC).year)
    iana = _windows_map().get(ms_id, ms_id)
    return f"(UTC{_offset_text(rules.standard)}) {iana}"


def definition(ms_id: str, full: bool) -> etree._Element:
    """One ``t:TimeZoneDefinition``; with ``full`` its periods, groups and transitions."""
    elem = etree.Element(t("TimeZoneDefinition"), {"Id": ms_id, "Name": display_name(ms_id)})
    if not full:
        return elem
    groups: list[tuple[int, YearRules]] = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        rules = year_rules(ms_id, year)
        if not groups or groups[-1][1] != rules:
            groups.append((year, rules))
    periods = etree.SubElement(elem, t("Periods"))
    tgroups = etree.SubElement(elem, t("TransitionsGroups"))
    transitions = etree.SubElement(elem, t("Transitions"))
    seen: set[str] = set()
    for index, (year, rules) in enumerate(groups):
        base = f"trule:Microsoft/Registry/{ms_id}/{year}"
        std_id, dlt_id = f"{base}-Standard", f"{base}-Daylight"
        if std_id not in seen:
            etree.SubElement(
                periods, t("Period"), {"Bias": _duration(-rules.standard), "Name": "Standard", "Id": std_id}
            )
            seen.add(std_id)
        group = etree.SubElement(tgroups, t("TransitionsGroup"), {"Id": str(index)})
        if rules.daylight is not None and rules.to_daylight and rules.to_standard:
            etree.SubElement(
                periods, t("Period"), {"Bias": _duration(-rules.daylight), "Name": "Daylight", "Id": dlt_id}
            )
            for target, rule in ((dlt_id, rules.to_daylight), (std_id, rules.to_standard)):
                tr = etree.SubElement(group, t("RecurringDayTransition"))
                etree.SubElement(tr, t("To"), {"Kind": "Period"}).text = target
                etree.SubElement(tr, t("TimeOffset")).text = _duration(rule.at)
                etree.SubElement(tr, t("Month")).text = str(rule.month)
                etree.SubElement(tr, t("DayOfWeek")).text = WEEKDAYS[rule.weekday]
                etree.SubElement(tr, t("Occurrence")).text = str(rule.occurrence)
        else:
            tr = etree.SubElement(group, t("Transition"))
            etree.SubElement(tr, t("To"), {"Kind": "Period"}).text = std_id
        if index == 0:
            tr = etree.SubElement(transitions, t("Transition"))
            etree.SubElement(tr, t("To"), {"Kind": "Group"}).text = "0"
        else:
            tr = etree.SubElement(transitions, t("AbsoluteDateTransition"))
            etree.SubElement(tr, t("To"), {"Kind": "Group"}).text = str(index)
            etree.SubElement(tr, t("DateTime")).text = f"{year}-01-01T00:00:00"
    return elem


# --- SerializableTimeZone (availability, working hours) ----------------------------------------


def _zone_time(parent: etree._Element, name: str, bias: int, rule: Rule | None) -> None:
    elem = etree.SubElement(parent, t(name))
    etree.SubElement(elem, t("Bias")).text = str(bias)
    if rule is None:  # no daylight saving time: Windows' empty rule
        etree.SubElement(elem, t("Time")).text = "00:00:00"
        etree.SubElement(elem, t("DayOrder")).text = "0"
        etree.SubElement(elem, t("Month")).text = "0"
        etree.SubElement(elem, t("DayOfWeek")).text = "Sunday"
        return
    secs = int(rule.at.total_seconds())
    etree.SubElement(elem, t("Time")).text = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
    etree.SubElement(elem, t("DayOrder")).text = str(5 if rule.occurrence == -1 else rule.occurrence)
    etree.SubElement(elem, t("Month")).text = str(rule.month)
    etree.SubElement(elem, t("DayOfWeek")).text = WEEKDAYS[rule.weekday]


def serializable(rules: YearRules, tag: str = "TimeZone") -> etree._Element:
    elem = etree.Element(t(tag))
    etree.SubElement(elem, t("Bias")).text = str(int(-rules.standard.total_seconds() // 60))
    has_dst = rules.daylight is not None
    _zone_time(elem, "StandardTime", 0, rules.to_standard if has_dst else None)
    dst_bias = (
        int(-(rules.daylight - rules.standard).total_seconds() // 60) if rules.daylight is not None else 0
    )
    _zone_time(elem, "DaylightTime", dst_bias, rules.to_daylight if has_dst else None)
    return elem


def parse_serializable(elem: etree._Element | None) -> YearRules:
    """A request's ``TimeZone`` element as rules (UTC when absent)."""
    if elem is None:
        return YearRules(timedelta(0))
    bias = int(elem.findtext(t("Bias")) or 0)
    standard = timedelta(minutes=-bias)
    parts = {}
    for name in ("StandardTime", "DaylightTime"):
        part = elem.find(t(name))
        if part is None:
            continue
        month = int(part.findtext(t("Month")) or 0)
        if month < 1 or month > 12:
            continue
        hh, mm, ss = [*(part.findtext(t("Time")) or "00:00:00").split(":"), "0", "0"][:3]
        weekday = WEEKDAYS.index(part.findtext(t("DayOfWeek")) or "Sunday")
        order = int(part.findtext(t("DayOrder")) or 1)
        rule = Rule(
            month,
            weekday,
            -1 if order >= 5 else order,
            timedelta(hours=int(hh), minutes=int(mm), seconds=int(float(ss))),
        )
        parts[name] = (int(part.findtext(t("Bias")) or 0), rule)
    if "StandardTime" not in parts or "DaylightTime" not in parts:
        return YearRules(standard)
    std_bias, dst_bias = parts["StandardTime"][0], parts["DaylightTime"][0]
    if std_bias == dst_bias:
        return YearRules(standard - timedelta(minutes=std_bias))
    return YearRules(
        timedelta(minutes=-(bias + std_bias)),
        timedelta(minutes=-(bias + dst_bias)),
        parts["DaylightTime"][1],
        parts["StandardTime"][1],
    )
