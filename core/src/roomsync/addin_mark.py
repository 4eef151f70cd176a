"""The mark roomsync's Outlook add-in leaves on the meeting it booked a room for.

An Outlook web add-in can write only its own custom properties on an item. Exchange keeps them
as one MAPI named property ([MS-OXCEXT] 2.2.5): property set PS_PUBLIC_STRINGS, name
``cecp-<add-in id>`` (the manifest's ``Id`` in lower case, without braces or ``urn:uuid:``),
type string, holding a JSON object of the add-in's name-value pairs. EWS reads it as an extended
property, Graph as ``String {00020329-0000-0000-C000-000000000046} Name cecp-<id>``.

The add-in stores the reservation's stamp (``<installation id>:<reservation id>``, see
:mod:`roomsync.stamps`) under :data:`STAMP_KEY`. Connectors read that property beside roomsync's
own stamp and report it as the entry's stamp, so the engine links the entry to the reservation
the add-in booked, and an entry another installation's add-in marked is left alone.
"""

from __future__ import annotations

import json

PUBLIC_STRINGS = "00020329-0000-0000-C000-000000000046"
"""PS_PUBLIC_STRINGS, the property set of every add-in's custom properties."""

ADDIN_ID = "cca4901b-2fce-40e8-9cae-729eae41cfcb"
"""The add-in's manifest ``Id``: fixed, since entries marked once must be recognised forever."""

STAMP_KEY = "roomsyncStamp"
"""The custom property holding the stamp of the reservation the add-in booked."""

MAX_CHARS = 2500
"""What Exchange keeps of the JSON object at most ([MS-OXCEXT] 2.2.5)."""


def property_name(addin_id: str = ADDIN_ID) -> str:
    """The named property's name for an add-in id, derived as [MS-OXCEXT] 2.2.5 prescribes."""
    value = addin_id.strip().lower()
    value = value.removeprefix("urn:uuid:")
    return "cecp-" + value.replace("{", "").replace("}", "")


def stamp_in(custom_properties: str | None) -> str | None:
    """The stamp in the add-in's custom properties, or ``None`` when they hold none.

    The value is written by a client: anything that is not a JSON object with a non-empty string
    under :data:`STAMP_KEY` is no mark (the entry is then treated as any unstamped entry).
    """
    if not custom_properties or len(custom_properties) > MAX_CHARS:
        return None
    try:
        values = json.loads(custom_properties)
    except ValueError:
        return None
    stamp = values.get(STAMP_KEY) if isinstance(values, dict) else None
    return stamp.strip() if isinstance(stamp, str) and stamp.strip() else None


def custom_properties(stamp: str) -> str:
    """The JSON object the add-in writes for ``stamp`` (what Outlook stores in the property)."""
    return json.dumps({STAMP_KEY: stamp}, separators=(",", ":"))
