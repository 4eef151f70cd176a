"""Store items as Graph ``event`` JSON: masters, single instances, occurrences and exceptions.

Times are written in the zone of ``Prefer: outlook.timezone`` (UTC otherwise), the body as HTML
unless ``Prefer: outlook.body-content-type="text"``. An occurrence has an id of its own, the
master's ``seriesMasterId``, its ``originalStart`` and an ``iCalUId`` with its date written into
the Outlook global object id, as Exchange derives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from lxml import etree

from roomsync_sim.graph import extprops, ids, recurrence, timefmt
from roomsync_sim.graph.convert import GROUPS, IMPORTANCE, SENSITIVITY, SHOW_AS, as_html, as_text, body_text
from roomsync_sim.graph.tenants import Tenant
from roomsync_sim.properties import OccurrenceView, master_times
from roomsync_sim.soap import t
from roomsync_sim.store import Item

_SHOW_AS = {v: k for k, v in SHOW_AS.items()} | {"WorkingElsewhere": "workingElsewhere"}
_SENSITIVITY = {v: k for k, v in SENSITIVITY.items()}
_IMPORTANCE = {v: k for k, v in IMPORTANCE.items()}
RESPONSE = {
    "Unknown": "none",
    "Organizer": "organizer",
    "Tentative": "tentativelyAccepted",
    "Accept": "accepted",
    "Decline": "declined",
    "NoResponseReceived": "notResponded",
}
NEVER = "0001-01-01T00:00:00Z"
_GOID = "040000008200E00074C5B7101A82E008"


@dataclass(frozen=True)
class View:
    """How the request wants events written."""

    tenant: Tenant
    zone: str = "UTC"
    text_body: bool = False


def etag(change_key: str) -> str:
    return f'W/"{change_key}"'


def _text(props: dict[str, etree._Element], name: str) -> str | None:
    elem = props.get(name)
    return elem.text if elem is not None else None


def _mailbox_name(view: View, smtp: str) -> str:
    user = view.tenant.directory.user(smtp)
    return user.name if user else smtp


def ical_uid(uid: str, occ: OccurrenceView | None) -> str:
    if occ is None:
        return uid
    day = occ.original_start.date()
    if uid.upper().startswith(_GOID) and len(uid) >= 40:
        return uid[:32] + f"{day.year:04X}{day.month:02X}{day.day:02X}" + uid[40:]
    return f"{uid}-{day.isoformat()}"


def event_json(item: Item, view: View, occ: OccurrenceView | None = None) -> dict[str, Any]:
    """The full Graph representation of a master, single instance, occurrence or exception."""
    props = dict(item.props)
    if occ is not None:
        props.update(occ.overrides)
    meeting = item.meeting
    is_master = "Recurrence" in item.props and occ is None
    if occ is not None:
        kind = "exception" if occ.is_exception else "occurrence"
        event_id = ids.occurrence_id(item.key, occ.index)
        start, end = occ.start, occ.end
    else:
        kind = "seriesMaster" if is_master else "singleInstance"
        event_id = ids.item_id(item.key)
        start, end = master_times(item)
    start_zone = _zone_id(props.get("StartTimeZone"))
    end_zone = _zone_id(props.get("EndTimeZone")) or start_zone
    content_type, content = body_text(props.get("Body"))
    if view.text_body and content_type == "html":
        content_type, content = "text", as_text(content)
    elif not view.text_body and content_type == "text":
        content_type, content = "html", as_html(content)
    preview_source = body_text(props.get("Body"))
    preview = as_text(preview_source[1]) if preview_source[0] == "html" else preview_source[1]
    organizer = meeting.get("organizer", item.mailbox.smtp)
    response = meeting.get("response", "Organizer")
    location = _text(props, "Location") or ""
    reminder = _text(props, "ReminderIsSet")
    minutes = _text(props, "ReminderMinutesBeforeStart")
    uid = _text(item.props, "UID") or ""
    status = _text(props, "LegacyFreeBusyStatus") or "Busy"
    categories = props.get("Categories")
    transaction = _text(item.props, "TransactionId") if "organizer" not in meeting and occ is None else None
    out: dict[str, Any] = {
        "@odata.etag": etag(item.change_key),
        "id": event_id,
        "createdDateTime": timefmt.stamp(item.created),
        "lastModifiedDateTime": timefmt.stamp(item.modified),
        "changeKey": item.change_key,
        "categories": [c.text or "" for c in categories] if categories is not None else [],
        "transactionId": transaction,
        "originalStartTimeZone": start_zone or "UTC",
        "originalEndTimeZone": end_zone or "UTC",
        "iCalUId": ical_uid(uid, occ),
        "uid": uid,
        "reminderMinutesBeforeStart": int(minutes) if minutes else 15,
        "isReminderOn": reminder != "false" if reminder is not None else True,
        "hasAttachments": False,
        "subject": _text(props, "Subject") or "",
        "bodyPreview": preview[:255],
        "importance": _IMPORTANCE.get(_text(props, "Importance") or "Normal", "normal"),
        "sensitivity": _SENSITIVITY.get(_text(props, "Sensitivity") or "Normal", "normal"),
        "isAllDay": _text(props, "IsAllDayEvent") == "true",
        "isCancelled": bool(meeting.get("cancelled")),
        "isOrganizer": "organizer" not in meeting,
        "responseRequested": True,
        "seriesMasterId": ids.item_id(item.key) if occ is not None else None,
        "showAs": _SHOW_AS.get(status, "busy"),
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={quote(event_id)}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": RESPONSE.get(response, "none"), "time": NEVER},
        "body": {"contentType": content_type, "content": content},
        "start": timefmt.dtz(start, view.zone),
        "end": timefmt.dtz(end, view.zone),
        "location": _location(location),
        "locations": [_location(location)] if location else [],
        "recurrence": (
            recurrence.from_element(item.props["Recurrence"], start_zone or "UTC") if is_master else None
        ),
        "attendees": _attendees(props, view),
        "organizer": {"emailAddress": {"name": _mailbox_name(view, organizer), "address": organizer}},
        "onlineMeeting": None,
    }
    if occ is not None:
        out["originalStart"] = timefmt.stamp(occ.original_start)
    return out


def _zone_id(elem: etree._Element | None) -> str | None:
    if elem is None:
        return None
    return elem.get("Id") or elem.get("Name") or None


def _location(name: str) -> dict[str, Any]:
    if not name:
        return {
            "displayName": "",
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        }
    return {
        "displayName": name,
        "locationType": "default",
        "uniqueId": name,
        "uniqueIdType": "private",
        "address": {},
        "coordinates": {},
    }


def _attendees(props: dict[str, etree._Element], view: View) -> list[dict[str, Any]]:
    out = []
    for kind, group in GROUPS.items():
        elem = props.get(group)
        for attendee in elem if elem is not None else []:
            address = attendee.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or ""
            name = attendee.findtext(f"{t('Mailbox')}/{t('Name')}") or address
            response = attendee.findtext(t("ResponseType")) or "Unknown"
            time = attendee.findtext(t("LastResponseTime")) or NEVER
            out.append(
                {
                    "type": kind,
                    "status": {"response": RESPONSE.get(response, "none"), "time": time},
                    "emailAddress": {"name": name, "address": address},
                }
            )
    return out


def removed_json(event_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}


def extended_json(item: Item) -> list[dict[str, str]]:
    return extprops.single_values(item.extended)


def instant_of(value: datetime) -> str:
    return timefmt.stamp(value)
