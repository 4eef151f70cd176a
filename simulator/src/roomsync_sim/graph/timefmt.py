"""Graph's ``dateTimeTimeZone`` and timestamps: reading them, and writing them in a zone.

Graph names zones by Windows id (``W. Europe Standard Time``) or IANA name and writes local
times with seven fractional digits and no offset; ``Prefer: outlook.timezone`` picks the zone of
the answer (UTC otherwise).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Any

from roomsync_sim.graph.errors import GraphError, bad_request
from roomsync_sim.timezones import zone_from_windows_id

_FRACTION = re.compile(r"(\.\d{1,6})\d*")
_UTC_NAMES = {"utc", "tzone://microsoft/utc", "etc/utc", "coordinated universal time", "z"}


def zone(name: str | None) -> tzinfo:
    """The zone a Graph ``timeZone`` names; 400 TimeZoneNotSupportedException when unknown."""
    if not name or name.strip().lower() in _UTC_NAMES:
        return UTC
    found = zone_from_windows_id(name.strip())
    if found is None:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone "
            f"value is not supported: '{name}'.",
        )
    return found


def parse_local(text: str, default: tzinfo) -> datetime:
    """An ISO 8601 date-time; one without offset is in ``default``. Returned in UTC."""
    value = _FRACTION.sub(lambda m: m.group(1), text.strip())
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(
            f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'."
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default)
    return dt.astimezone(UTC)


def read_dtz(value: Any, name: str) -> tuple[datetime, str]:
    """A ``dateTimeTimeZone`` object: (the instant in UTC, the zone name given)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise bad_request(f"The property '{name}' must be a dateTimeTimeZone with a dateTime.")
    zone_name = str(value.get("timeZone") or "UTC")
    return parse_local(value["dateTime"], zone(zone_name)), zone_name


def local(dt: datetime, zone_name: str) -> str:
    return dt.astimezone(zone(zone_name)).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def dtz(dt: datetime, zone_name: str) -> dict[str, str]:
    return {"dateTime": local(dt, zone_name), "timeZone": zone_name}


def stamp(dt: datetime) -> str:
    """A DateTimeOffset as Graph writes them (UTC, seven fractional digits)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def query_time(text: str | None, name: str) -> datetime:
    """``startDateTime``/``endDateTime`` of a query: ISO 8601, UTC unless it has an offset."""
    if not text:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            f"This request requires a time window specified by the query string parameters StartDateTime and "
            f"EndDateTime. (missing {name})",
        )
    return parse_local(text.replace(" ", "+"), UTC)
