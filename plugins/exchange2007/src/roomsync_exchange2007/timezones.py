"""An item's time zone as Exchange 2007 knows it: ``MeetingTimeZone``, named by ``TimeZoneName``.

The 2007 SP1 schema has no ``StartTimeZone``/``EndTimeZone``; an item's zone is its
``MeetingTimeZone`` (``TimeZoneType``: the attribute ``TimeZoneName`` and, optionally,
``BaseOffset`` with ``Standard``/``Daylight`` rules). From SP1 on, a standard zone is named by its
Windows id in ``TimeZoneName`` alone and the server takes the rules from its own registry, which
keeps a series on its wall-clock time across daylight saving changes.

exchangelib 5.6.0 writes the 2010 attributes ``Id`` and ``Name`` here (not declared in 2007: the
item is refused with ``ErrorSchemaValidation``) and reads only those (a ``TimeZoneName`` makes its
parser fail), so this module writes and reads the element itself.
"""

from __future__ import annotations

import logging
from typing import Any

from exchangelib import EWSTimeZone
from exchangelib.errors import UnknownTimeZone
from exchangelib.fields import TimeZoneField
from exchangelib.util import add_xml_child, create_element
from exchangelib.version import EXCHANGE_2010

log = logging.getLogger(__name__)

UTC_ID = "UTC"


def zone_from_name(name: str | None) -> EWSTimeZone | None:
    """The zone a ``TimeZoneName`` (a Windows id) names; None for a name that is not one.

    A server may answer with a display name ("(GMT+01:00) Amsterdam, Berlin, ...") instead; the
    entry's zone then comes from roomsync's own property or the configured zone, never from a
    guess that could name another zone than the one written.
    """
    if not name:
        return None
    try:
        return EWSTimeZone.from_ms_id(name)
    except (UnknownTimeZone, ValueError):
        log.debug("MeetingTimeZone names %r, which is no Windows time zone id", name)
        return None


class MeetingTimeZoneField(TimeZoneField):
    """``calendar:MeetingTimeZone`` written and read the 2007 way."""

    def __init__(self) -> None:
        super().__init__(
            field_uri="calendar:MeetingTimeZone", deprecated_from=EXCHANGE_2010, is_searchable=False
        )
        self.name = "_meeting_timezone"

    def to_xml(self, value: Any, version: Any) -> Any:
        elem = create_element(self.request_tag(), attrs={"TimeZoneName": value.ms_id})
        if value.ms_id == UTC_ID:
            # A fixed offset of zero holds even where the server's registry lacks a "UTC" entry
            # (Windows Server 2003 before its 2007 time zone updates).
            add_xml_child(elem, "t:BaseOffset", "PT0M")
        return elem

    def from_xml(self, elem: Any, account: Any) -> Any:
        found = elem.find(self.response_tag())
        if found is None:
            return self.default
        return zone_from_name(found.get("TimeZoneName") or found.get("Id") or found.get("Name"))
