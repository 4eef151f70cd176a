"""IANA time zones (the model's) to Windows zone names (what Exchange stores), and back.

Graph accepts a ``dateTimeTimeZone`` with a Windows zone name everywhere, IANA names only in
some places, so entries are written with the Windows name of their zone. The mapping is CLDR's
``windowsZones.xml`` as ``tzlocal`` ships and maintains it; several IANA zones share one Windows
zone, which is why the IANA name an entry was written in is kept in an extended property too.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

_UTC_NAMES = {"utc", "etc/utc", "etc/gmt", "gmt", "z", "coordinated universal time"}


def to_windows(iana: str) -> str:
    """The Windows zone name of an IANA zone; the IANA name itself when CLDR has none."""
    if iana.lower() in _UTC_NAMES:
        return "UTC"
    return tz_win.get(iana, iana)


@cache
def to_iana(name: str | None) -> str | None:
    """The IANA zone of a zone name Graph answered (Windows or IANA); ``None`` when unknown."""
    if not name:
        return None
    if name.strip().lower() in _UTC_NAMES:
        return "UTC"
    found = win_tz.get(name)
    if found is not None:
        return found
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def same_zone(iana: str, graph_name: str | None) -> bool:
    """Whether a zone Graph reports is the one ``iana`` was written as."""
    if not graph_name:
        return False
    return graph_name == iana or to_windows(iana) == graph_name
