"""roomsync's extended properties on Graph events: the ROOMS stamp and what Graph cannot hold.

They are the same MAPI named properties the EWS plugins write (the same property set GUID and
names; Exchange maps EWS's ``PropertySetId`` + ``PropertyName`` and Graph's
``String {guid} Name X`` to one named property), so a mailbox moved from on-premises Exchange to
Exchange Online keeps its stamps and nothing is created twice.
"""

from __future__ import annotations

from typing import Any

from roomsync import addin_mark

PROPERTY_SET = "8c4f6f0e-5b3a-4f4e-9d55-6f6f6d73796e"
"""roomsync's property set GUID, as in roomsync_ews_common.stamp: fixed forever."""

STAMP = f"String {{{PROPERTY_SET}}} Name RoomsyncReservationId"
"""The ROOMS reservation id of the entry (the stamp)."""

TIMEZONE = f"String {{{PROPERTY_SET}}} Name RoomsyncTimeZone"
"""The IANA zone the entry was written in: Windows zones map back to IANA ambiguously."""

SETUP = f"Integer {{{PROPERTY_SET}}} Name RoomsyncSetupMinutes"
"""Setup buffer minutes of the reservation."""

FOLLOWUP = f"Integer {{{PROPERTY_SET}}} Name RoomsyncFollowupMinutes"
"""Follow-up buffer minutes of the reservation."""

ALL = (STAMP, TIMEZONE, SETUP, FOLLOWUP)

ADDIN = f"String {{{addin_mark.PUBLIC_STRINGS}}} Name {addin_mark.property_name()}"
"""The Outlook add-in's custom properties (:mod:`roomsync.addin_mark`): read, never written."""

READ = (*ALL, ADDIN)
"""What is read with an event: roomsync's properties and the add-in's mark."""


def expand() -> str:
    """The ``$expand`` clause that reads roomsync's properties and the add-in's mark with an event."""
    wanted = " or ".join(f"id eq '{prop}'" for prop in READ)
    return f"singleValueExtendedProperties($filter={wanted})"


def quote(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def stamp_filter(stamp: str) -> str:
    """The ``$filter`` that finds the events carrying ``stamp``."""
    return f"singleValueExtendedProperties/Any(ep: ep/id eq {quote(STAMP)} and ep/value eq {quote(stamp)})"


def values(event: dict[str, Any]) -> dict[str, str]:
    """roomsync's properties and the add-in's mark on an event read with :func:`expand`, by id.

    Exchange may answer a property id in another case or spelling of the type; compare
    case-insensitively.
    """
    wanted = {prop.lower(): prop for prop in READ}
    found: dict[str, str] = {}
    for prop in event.get("singleValueExtendedProperties") or ():
        key = wanted.get(str(prop.get("id", "")).lower())
        if key is not None and prop.get("value") is not None:
            found[key] = str(prop["value"])
    return found


def write(stamp: str, timezone: str, setup: int, followup: int) -> list[dict[str, str]]:
    """The ``singleValueExtendedProperties`` of an event roomsync writes."""
    return [
        {"id": STAMP, "value": stamp},
        {"id": TIMEZONE, "value": timezone},
        {"id": SETUP, "value": str(setup)},
        {"id": FOLLOWUP, "value": str(followup)},
    ]
