"""``singleValueExtendedProperties``: Graph's ids of MAPI properties and the store's keys.

Graph names a property ``"{type} {guid} Name {name}"``, ``"{type} {guid} Id {id}"`` or
``"{type} {tag}"``; EWS clients may name the same property set by its distinguished name
(``PublicStrings``), so keys are compared in a canonical form with the set's GUID.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from roomsync_sim.graph.errors import GraphError
from roomsync_sim.soap import t
from roomsync_sim.store import ExtKey

# EWS DistinguishedPropertySetId names and their GUIDs ([MS-OXPROPS]).
DISTINGUISHED = {
    "meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "appointment": "00062002-0000-0000-c000-000000000046",
    "common": "00062008-0000-0000-c000-000000000046",
    "publicstrings": "00020329-0000-0000-c000-000000000046",
    "address": "00062004-0000-0000-c000-000000000046",
    "internetheaders": "00020386-0000-0000-c000-000000000046",
    "calendarassistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "unifiedmessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "task": "00062003-0000-0000-c000-000000000046",
    "sharing": "00062040-0000-0000-c000-000000000046",
}
TYPES = {
    t.lower(): t
    for t in (
        "ApplicationTime",
        "Binary",
        "Boolean",
        "CLSID",
        "Currency",
        "Double",
        "Float",
        "Integer",
        "Long",
        "Object",
        "Short",
        "String",
        "SystemTime",
    )
}
_ID = re.compile(
    r"^\s*(\w+)\s+(?:\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(.+?)|(0x[0-9a-fA-F]{1,4}))\s*$", re.IGNORECASE
)


def canonical(key: ExtKey) -> ExtKey:
    pset, tag, name, pid = key
    if pset is not None:
        pset = DISTINGUISHED.get(pset.lower(), pset.lower())
    return (pset, tag, name, pid)


def parse_id(value: str) -> tuple[str, ExtKey]:
    """(type, canonical key) of a Graph extended property id; 400 when malformed."""
    match = _ID.match(value or "")
    if not match or match.group(1).lower() not in TYPES:
        raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{value}' is not valid.")
    ptype = TYPES[match.group(1).lower()]
    if match.group(5):
        return ptype, (None, int(match.group(5), 16), None, None)
    guid = match.group(2).lower()
    if match.group(3).lower() == "name":
        return ptype, (guid, None, match.group(4), None)
    raw = match.group(4).strip()
    try:
        number = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidProperty", f"The extended property id '{value}' is not valid."
        ) from None
    return ptype, (guid, None, None, number)


def format_id(ptype: str, key: ExtKey) -> str:
    pset, tag, name, pid = canonical(key)
    if tag is not None:
        return f"{ptype} 0x{tag:04x}"
    if name is not None:
        return f"{ptype} {{{pset}}} Name {name}"
    return f"{ptype} {{{pset}}} Id 0x{pid or 0:04x}"


def normalise_id(value: str) -> str:
    """A Graph id in the form the simulator writes (for comparisons); unchanged when malformed."""
    try:
        ptype, key = parse_id(value)
    except GraphError:
        return value
    return format_id(ptype, key)


def element(ptype: str, key: ExtKey, value: Any) -> etree._Element:
    """The store's form: an EWS ExtendedProperty element."""
    pset, tag, name, pid = key
    attrs = {"PropertyType": ptype}
    if tag is not None:
        attrs["PropertyTag"] = f"0x{tag:x}"
    else:
        attrs["PropertySetId"] = str(pset)
        if name is not None:
            attrs["PropertyName"] = name
        else:
            attrs["PropertyId"] = str(pid)
    prop = etree.Element(t("ExtendedProperty"))
    etree.SubElement(prop, t("ExtendedFieldURI"), attrs)
    text = (
        value
        if isinstance(value, str)
        else ("true" if value is True else "false" if value is False else str(value))
    )
    etree.SubElement(prop, t("Value")).text = text
    return prop


def single_values(extended: dict[ExtKey, etree._Element]) -> list[dict[str, str]]:
    """The single-valued properties of an item as Graph lists them."""
    out = []
    for key, elem in extended.items():
        uri = elem.find(t("ExtendedFieldURI"))
        value = elem.find(t("Value"))
        if uri is None or value is None:
            continue  # multi-valued: not a singleValueExtendedProperty
        out.append({"id": format_id(uri.get("PropertyType") or "String", key), "value": value.text or ""})
    return out


def find(extended: dict[ExtKey, etree._Element], key: ExtKey) -> ExtKey | None:
    wanted = canonical(key)
    for existing in extended:
        if canonical(existing) == wanted:
            return existing
    return None
