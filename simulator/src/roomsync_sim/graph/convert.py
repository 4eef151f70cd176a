"""Graph event JSON to the store's item properties (the EWS elements the store keeps).

So that Graph and EWS clients share one store (and the meetings and availability code), a Graph
write becomes the same ``Subject``/``Start``/``RequiredAttendees``/``ExtendedProperty`` elements
an EWS client would have sent. Properties Graph computes (``id``, ``changeKey``, ``organizer``,
...) are ignored on writes, as Graph ignores them; an unknown property is refused with the
OData error Graph gives.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from roomsync_sim.graph import extprops, recurrence, timefmt
from roomsync_sim.graph.errors import GraphError, bad_request
from roomsync_sim.soap import t
from roomsync_sim.store import ExtKey
from roomsync_sim.timezones import format_datetime

SHOW_AS = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OOF",
    "workingelsewhere": "WorkingElsewhere",
    "unknown": "NoData",
}
SENSITIVITY = {
    "normal": "Normal",
    "personal": "Personal",
    "private": "Private",
    "confidential": "Confidential",
}
IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}
GROUPS = {"required": "RequiredAttendees", "optional": "OptionalAttendees", "resource": "Resources"}
# Read-only or not simulated: accepted and ignored, as Graph ignores computed properties.
IGNORED = {
    "@odata.type",
    "@odata.etag",
    "@odata.context",
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "iCalUId",
    "uid",
    "organizer",
    "isOrganizer",
    "responseStatus",
    "seriesMasterId",
    "type",
    "webLink",
    "bodyPreview",
    "hasAttachments",
    "isCancelled",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "originalStart",
    "onlineMeeting",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "responseRequested",
    "hideAttendees",
    "isDraft",
    "occurrenceId",
    "cancelledOccurrences",
    "exceptionOccurrences",
    "multiValueExtendedProperties",
    "attachments",
    "extensions",
    "calendar",
    "instances",
}
WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "location",
    "locations",
    "showAs",
    "sensitivity",
    "importance",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "categories",
    "attendees",
    "recurrence",
    "singleValueExtendedProperties",
    "transactionId",
}


@dataclass
class Changes:
    """What a Graph write sets (``None``: removes) on an item; ``names`` are the EWS names."""

    props: dict[str, etree._Element | None] = field(default_factory=dict)
    extended: dict[ExtKey, etree._Element] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def set(self, name: str, elem: etree._Element | None) -> None:
        self.props[name] = elem
        self.names.append(name)


def _el(name: str, text: str | None = None, **attrs: str) -> etree._Element:
    e = etree.Element(t(name), attrs)
    if text is not None:
        e.text = text
    return e


def _choice(value: Any, table: dict[str, str], name: str) -> str:
    found = table.get(str(value).lower()) if value is not None else None
    if found is None:
        raise bad_request(
            f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{name}'.",
            "RequestBodyRead",
        )
    return found


def _bool(value: Any, name: str) -> str:
    if not isinstance(value, bool):
        raise bad_request(
            f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.", "RequestBodyRead"
        )
    return "true" if value else "false"


def _attendees(value: Any, existing: dict[str, etree._Element]) -> dict[str, etree._Element | None]:
    """The three EWS attendee groups; known attendees keep their response."""
    if not isinstance(value, list):
        raise bad_request("attendees must be a collection.", "RequestBodyRead")
    groups: dict[str, etree._Element | None] = {name: None for name in GROUPS.values()}
    for entry in value:
        email = entry.get("emailAddress") if isinstance(entry, dict) else None
        address = str((email or {}).get("address") or "").strip()
        if not address:
            raise bad_request("An attendee needs an emailAddress with an address.", "ErrorInvalidRecipients")
        group_name = GROUPS.get(str(entry.get("type") or "required").lower())
        if group_name is None:
            raise bad_request(f"Unknown attendee type '{entry.get('type')}'.", "RequestBodyRead")
        group = groups[group_name]
        if group is None:
            group = groups[group_name] = _el(group_name)
        attendee = etree.SubElement(group, t("Attendee"))
        mbx = etree.SubElement(attendee, t("Mailbox"))
        if email and email.get("name"):
            etree.SubElement(mbx, t("Name")).text = str(email["name"])
        etree.SubElement(mbx, t("EmailAddress")).text = address
        before = existing.get(address.lower())
        if before is not None:
            for name in ("ResponseType", "LastResponseTime"):
                kept = before.find(t(name))
                if kept is not None:
                    attendee.append(etree.fromstring(etree.tostring(kept)))
    return groups


def existing_attendees(props: dict[str, etree._Element]) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for group in GROUPS.values():
        elem = props.get(group)
        for attendee in elem if elem is not None else []:
            address = attendee.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            if address:
                found[address.strip().lower()] = attendee
    return found


def read_event(body: Any, current: dict[str, etree._Element] | None = None) -> Changes:
    """The changes a POST or PATCH body makes; ``current`` holds the item's properties."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
    for key in body:
        if key not in WRITABLE and key not in IGNORED and not key.startswith("@"):
            raise bad_request(
                f"The property '{key}' does not exist on type 'microsoft.graph.event'. Make sure to only use "
                "property names that are defined by the type or mark the type as open type.",
                "RequestBodyRead",
            )
    changes = Changes()
    for keys, read in _READERS:
        if any(key in body for key in keys):
            read(body, current or {}, changes)
    _read_extended(body, changes)
    return changes


Reader = Callable[[dict[str, Any], dict[str, etree._Element], Changes], None]


def _read_subject(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    changes.set("Subject", None if body["subject"] is None else _el("Subject", str(body["subject"])))


def _read_body(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    value = body["body"] or {}
    kind = "HTML" if str(value.get("contentType") or "text").lower() == "html" else "Text"
    changes.set("Body", _el("Body", str(value.get("content") or ""), BodyType=kind))


def _time_reader(name: str, ews: str) -> Reader:
    def read(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
        instant, zone_name = timefmt.read_dtz(body[name], name)
        changes.set(ews, _el(ews, format_datetime(instant)))
        zone_id = "UTC" if timefmt.zone(zone_name) is timefmt.zone(None) else zone_name
        changes.set(f"{ews}TimeZone", _el(f"{ews}TimeZone", Id=zone_id))

    return read


def _read_location(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    location = body.get("location")
    if location is None and body.get("locations"):
        location = body["locations"][0]
    display = location.get("displayName") if isinstance(location, dict) else None
    changes.set("Location", _el("Location", str(display)) if display else None)


def _choice_reader(name: str, ews: str, choices: Any, type_name: str) -> Reader:
    def read(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
        changes.set(ews, _el(ews, _choice(body[name], choices, type_name)))

    return read


def _bool_reader(name: str, ews: str) -> Reader:
    def read(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
        changes.set(ews, _el(ews, _bool(body[name], name)))

    return read


def _read_reminder(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    value = body["reminderMinutesBeforeStart"]
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(
            f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'.", "RequestBodyRead"
        )
    changes.set("ReminderMinutesBeforeStart", _el("ReminderMinutesBeforeStart", str(value)))


def _read_categories(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    cats = _el("Categories")
    for c in body["categories"] or []:
        etree.SubElement(cats, t("String")).text = str(c)
    changes.set("Categories", cats if len(cats) else None)


def _read_attendees(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    for group, elem in _attendees(body["attendees"] or [], existing_attendees(current)).items():
        changes.set(group, elem)


def _read_recurrence(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    changes.set(
        "Recurrence", None if body["recurrence"] is None else recurrence.to_element(body["recurrence"])
    )


def _read_transaction(body: dict[str, Any], current: dict[str, etree._Element], changes: Changes) -> None:
    if body["transactionId"] is not None:
        changes.set("TransactionId", _el("TransactionId", str(body["transactionId"])))


def _read_extended(body: dict[str, Any], changes: Changes) -> None:
    for entry in body.get("singleValueExtendedProperties") or []:
        if not isinstance(entry, dict) or "id" not in entry:
            raise bad_request("An extended property needs an id and a value.", "RequestBodyRead")
        ptype, key = extprops.parse_id(str(entry["id"]))
        changes.extended[key] = extprops.element(ptype, key, entry.get("value"))
        changes.names.append(f"ext:{key}")


# In the order Exchange stores them; each runs when one of its keys is in the body.
_READERS: list[tuple[tuple[str, ...], Reader]] = [
    (("subject",), _read_subject),
    (("body",), _read_body),
    (("start",), _time_reader("start", "Start")),
    (("end",), _time_reader("end", "End")),
    (("isAllDay",), _bool_reader("isAllDay", "IsAllDayEvent")),
    (("location", "locations"), _read_location),
    (("showAs",), _choice_reader("showAs", "LegacyFreeBusyStatus", SHOW_AS, "freeBusyStatus")),
    (("sensitivity",), _choice_reader("sensitivity", "Sensitivity", SENSITIVITY, "sensitivity")),
    (("importance",), _choice_reader("importance", "Importance", IMPORTANCE, "importance")),
    (("isReminderOn",), _bool_reader("isReminderOn", "ReminderIsSet")),
    (("reminderMinutesBeforeStart",), _read_reminder),
    (("categories",), _read_categories),
    (("attendees",), _read_attendees),
    (("recurrence",), _read_recurrence),
    (("transactionId",), _read_transaction),
]


def body_text(elem: etree._Element | None) -> tuple[str, str]:
    """(contentType, content) of a stored Body."""
    if elem is None:
        return "text", ""
    kind = "html" if (elem.get("BodyType") or "Text").lower() == "html" else "text"
    return kind, elem.text or ""


def as_html(text: str) -> str:
    escaped = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" '
        'content="text/html; charset=utf-8">\r\n</head>\r\n'
        f"<body>\r\n{escaped}\r\n</body>\r\n</html>\r\n"
    )


def as_text(markup: str) -> str:
    """The text of an HTML body (tags dropped, entities resolved), as Outlook's preview shows it."""
    try:
        doc = etree.fromstring(markup, etree.HTMLParser())
    except (etree.XMLSyntaxError, ValueError):
        return markup
    if doc is None:
        return ""
    for br in doc.iter("br"):
        br.tail = "\r\n" + (br.tail or "")
    body = doc.find("body")
    return "".join((body if body is not None else doc).itertext()).strip()


def check_times(props: dict[str, etree._Element]) -> None:
    from roomsync_sim.timezones import parse_datetime

    start, end = props.get("Start"), props.get("End")
    if start is None or end is None:
        raise bad_request("An event needs a start and an end.", "ErrorInvalidRequest")
    if parse_datetime(end.text or "") < parse_datetime(start.text or ""):
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. The end date occurs before the start date.",
        )
