"""Moving a mailbox's calendar between simulators, as a mailbox migration moves it.

:func:`export_calendar` writes every calendar item of a mailbox as plain data (the item's
elements as XML text, extended properties included, its occurrence exceptions and deletions,
its meeting state); :func:`import_calendar` adds them to a mailbox of another store (an EWS
dialect's or a tenant's). The imported items get new ids and change keys, as items moved to
Exchange Online do, and keep everything else (``UID``, stamps in extended properties). Meetings
are not sent again, and links to attendee copies in the old store are dropped.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from roomsync_sim.store import ExtKey, Item, Store
from roomsync_sim.timezones import format_datetime, parse_datetime

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _xml(elem: etree._Element) -> str:
    return etree.tostring(elem).decode()


def _element(text: str) -> etree._Element:
    return etree.fromstring(text.encode(), _PARSER)


def export_item(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "props": {name: _xml(e) for name, e in item.props.items()},
        "extended": [[list(key), _xml(e)] for key, e in item.extended.items()],
        "exceptions": {str(i): {n: _xml(e) for n, e in o.items()} for i, o in item.exceptions.items()},
        "deleted_occurrences": sorted(item.deleted_occurrences),
        "meeting": {k: v for k, v in item.meeting.items() if k != "copies"},
        "created": format_datetime(item.created),
    }


def export_calendar(store: Store, smtp: str) -> list[dict[str, Any]]:
    """Every item of the mailbox's calendar as JSON-serialisable data."""
    with store.lock:
        mbx = store.mailbox(smtp)
        if mbx is None:
            raise KeyError(smtp)
        return [export_item(i) for i in mbx.folder("calendar").items.values()]


def import_calendar(store: Store, smtp: str, items: list[dict[str, Any]]) -> dict[str, str]:
    """Add exported items to the mailbox's calendar; returns old EWS id -> new EWS id."""
    mapping: dict[str, str] = {}
    with store.lock:
        mbx = store.mailbox(smtp)
        if mbx is None:
            raise KeyError(smtp)
        folder = mbx.folder("calendar")
        for data in items:
            props = {name: _element(text) for name, text in data["props"].items()}
            extended: dict[ExtKey, etree._Element] = {}
            for key, text in data["extended"]:
                pset, tag, name, pid = key
                extended[(pset, tag, name, pid)] = _element(text)
            item = store.add_item(folder, data["kind"], props, extended)
            item.exceptions = {
                int(i): {n: _element(t) for n, t in o.items()} for i, o in data.get("exceptions", {}).items()
            }
            item.deleted_occurrences = set(data.get("deleted_occurrences", []))
            item.meeting = dict(data.get("meeting", {}))
            if data.get("created"):
                item.created = parse_datetime(data["created"])
            mapping[data["id"]] = item.id
    return mapping
