"""Time zone names as the configuration and the command line take them: IANA names only.

Administrators coming from Exchange often write the Windows name ("W. Europe Standard Time");
the message then gives the IANA name of that zone, from the table the ``tzlocal`` package keeps
in step with the Unicode CLDR.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

_WINDOWS = {name.casefold(): iana for name, iana in win_tz.items()}


def windows_zone_iana(name: str) -> str | None:
    """The IANA name of the Windows time zone ``name``; ``None`` if it is no Windows name."""
    return _WINDOWS.get(name.strip().casefold())


def iana_zone(value: str, windows: bool = False) -> str:
    """``value`` when it names an IANA time zone, else a ``ValueError`` saying what to write.

    With ``windows``, a Windows name is taken as its IANA zone: Outlook (and Office.js's
    ``userProfile.timeZone``) names zones that way, and a person cannot be asked to rewrite it.
    """
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    else:
        return value
    iana = windows_zone_iana(value)
    if iana is not None and windows:
        return iana
    if iana is not None:
        raise ValueError(f"{value!r} is a Windows time zone name; write its IANA name {iana!r} instead")
    raise ValueError(f"unknown IANA time zone {value!r}; give a name such as Europe/Zurich")
