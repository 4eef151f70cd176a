"""Time zones of items: Windows zone ids (as EWS names them) to IANA zones.

EWS names zones by their Windows id (``W. Europe Standard Time``); the table is CLDR's
Windows-zone mapping. A 2007 ``MeetingTimeZone`` without a known name falls back to its base
offset. Recurring series expand in their zone so that a weekly 10:00 stays at 10:00 local time
across daylight saving changes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree
from tzlocal.windows_tz import win_tz

from roomsync_sim.soap import T

_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _windows_map() -> dict[str, str]:
    """CLDR's Windows-zone mapping, as tzlocal ships it (the one table the repository uses)."""
    return win_tz


def zone_from_windows_id(ms_id: str | None) -> tzinfo | None:
    if not ms_id:
        return None
    if ms_id in ("UTC", "Greenwich Standard Time", "tzone://Microsoft/Utc"):
        return UTC
    iana = _windows_map().get(ms_id)
    if iana is None:
        try:
            return ZoneInfo(ms_id)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return ZoneInfo(iana)


def parse_duration(text: str) -> timedelta:
    """An xs:duration of days, hours, minutes and seconds (what EWS time zones use)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"unsupported duration {text!r}")
    sign, d, h, mi, s = match.groups()
    value = timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0), seconds=float(s or 0))
    return -value if sign else value


def element_zone(elem: etree._Element | None) -> tzinfo | None:
    """The zone of a StartTimeZone/EndTimeZone/MeetingTimeZone/TimeZoneDefinition element."""
    if elem is None:
        return None
    zone = zone_from_windows_id(elem.get("Id") or elem.get("TimeZoneName") or elem.get("Name"))
    if zone is not None:
        return zone
    base = elem.find(f"{{{T}}}BaseOffset")
    if base is not None and base.text:
        # EWS offsets are what to add to local time to get UTC.
        return timezone(-parse_duration(base.text))
    return None


def parse_datetime(text: str, default_zone: tzinfo | None = None) -> datetime:
    """An xs:dateTime; a value without offset is in ``default_zone`` (UTC when None)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_zone or UTC)
    return dt.astimezone(UTC)


def format_datetime(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
