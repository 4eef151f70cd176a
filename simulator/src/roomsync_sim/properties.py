"""Item properties: reading them from requests, deriving the computed ones, writing items out.

Stored properties are the elements the client sent, keyed by element name; extended properties
are keyed by their identity (property set, tag, name, id). Writing an item out follows the
dialect's schema order, so the same item is valid in every dialect that has its elements.
"""

from __future__ import annotations

import copy
import functools
import pathlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from html import escape as html_escape
from typing import Any

import lxml.html
from lxml import etree

from roomsync_sim import ids, recurrence
from roomsync_sim.context import Context, OperationError
from roomsync_sim.soap import t
from roomsync_sim.store import ExtKey, Item
from roomsync_sim.timezones import element_zone, format_datetime, parse_datetime

TYPE_OF = {
    "Item": "ItemType",
    "Message": "MessageType",
    "CalendarItem": "CalendarItemType",
    "Contact": "ContactItemType",
    "Task": "TaskType",
    "PostItem": "PostItemType",
    "MeetingRequest": "MeetingRequestMessageType",
    "MeetingResponse": "MeetingResponseMessageType",
    "MeetingCancellation": "MeetingCancellationMessageType",
}
ITEM_CLASS = {
    "Item": "IPM",
    "Message": "IPM.Note",
    "CalendarItem": "IPM.Appointment",
    "Contact": "IPM.Contact",
    "Task": "IPM.Task",
    "PostItem": "IPM.Post",
}
# Properties the server owns: a client may not set them.
COMPUTED = {
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Size",
    "DateTimeReceived",
    "DateTimeCreated",
    "DateTimeSent",
    "LastModifiedTime",
    "LastModifiedName",
    "HasAttachments",
    "IsAssociated",
    "CalendarItemType",
    "IsRecurring",
    "IsMeeting",
    "IsCancelled",
    "MeetingRequestWasSent",
    "MyResponseType",
    "Organizer",
    "Duration",
    "AppointmentState",
    "AppointmentSequenceNumber",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "RecurrenceId",
    "OriginalStart",
    "DisplayTo",
    "DisplayCc",
    "ConflictingMeetingCount",
    "AdjacentMeetingCount",
    "IsDraft",
    "IsFromMe",
    "IsSubmitted",
    "IsUnmodified",
    "IsResend",
    "EffectiveRights",
}
DEFAULT_SHAPE = (
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Subject",
    "Sensitivity",
    "HasAttachments",
    "IsAssociated",
    "Start",
    "End",
    "LegacyFreeBusyStatus",
    "Location",
    "CalendarItemType",
    "Organizer",
    "IsRecurring",
)
_NOT_IN_ALL = {
    "MimeContent",
    "ExtendedProperty",
    "UniqueBody",
    "NormalizedBody",
    "TextBody",
    "EffectiveRights",
    "ConversationId",
    "InternetMessageHeaders",
    "ResponseObjects",
    "Attachments",
    "StoreEntryId",
    "InstanceKey",
    "ConflictingMeetings",
    "AdjacentMeetings",
    "ReminderDueBy",
    "TimeZone",
}


# --- field URIs --------------------------------------------------------------------------------


def ext_key(uri: etree._Element) -> ExtKey:
    pset = uri.get("DistinguishedPropertySetId") or uri.get("PropertySetId")
    tag = uri.get("PropertyTag")
    pid = uri.get("PropertyId")
    return (
        pset.lower() if pset else None,
        int(tag, 16) if tag and tag.lower().startswith("0x") else (int(tag) if tag else None),
        uri.get("PropertyName"),
        int(pid) if pid else None,
    )


@dataclass(frozen=True)
class Path:
    """A property path of a request: a plain property by element name, or an extended one."""

    name: str  # element name; "ExtendedProperty" for extended properties
    ext: ExtKey | None = None
    uri: etree._Element | None = field(default=None, compare=False, hash=False)


def parse_path(elem: etree._Element) -> Path:
    local = etree.QName(elem).localname
    if local == "FieldURI":
        return Path(str(elem.get("FieldURI")).split(":")[-1])
    if local == "ExtendedFieldURI":
        return Path("ExtendedProperty", ext_key(elem), elem)
    if local == "IndexedFieldURI":
        return Path(str(elem.get("FieldURI")).split(":")[-1])
    raise OperationError("ErrorInvalidPropertyRequest", f"unsupported property path {local}")


def path_children(parent: etree._Element | None) -> list[Path]:
    if parent is None:
        return []
    return [parse_path(c) for c in parent if isinstance(c.tag, str)]


@dataclass
class Shape:
    base: str = "Default"
    paths: list[Path] = field(default_factory=list)
    body_type: str = "Best"


_SHAPES: dict[bytes, Shape] = {}


def parse_shape(elem: etree._Element | None) -> Shape:
    """The shape of a request; cached by its XML, since clients send the same shapes again and
    again (exchangelib's full calendar item shape names about 200 properties). Shapes are read-only.
    """
    if elem is None:
        return Shape()
    key = etree.tostring(elem)
    cached = _SHAPES.get(key)
    if cached is not None:
        return cached
    base = elem.findtext(t("BaseShape")) or "Default"
    body_type = elem.findtext(t("BodyType")) or "Best"
    shape = Shape(base, path_children(elem.find(t("AdditionalProperties"))), body_type)
    if len(_SHAPES) >= 256:
        _SHAPES.clear()
    _SHAPES[key] = shape
    return shape


# --- reading from requests -------------------------------------------------------------------


def item_zone(props: dict[str, etree._Element], ctx: Context | None, which: str = "Start") -> tzinfo | None:
    zone = element_zone(props.get(f"{which}TimeZone")) or element_zone(props.get("MeetingTimeZone"))
    if zone is None and ctx is not None:
        zone = ctx.tz_context
    return zone


def normalise_times(props: dict[str, etree._Element], ctx: Context | None) -> None:
    """Write Start/End in UTC, as Exchange stores and returns them.

    An all-day item's times move to midnight in the item's zone (the request's when the item
    names none): a start to the midnight before, an end to the midnight after
    (https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-create-all-day-events-by-using-ews-in-exchange).
    """
    all_day = (props.get("IsAllDayEvent") is not None) and (
        props["IsAllDayEvent"].text or ""
    ).strip() == "true"
    for name in ("Start", "End"):
        elem = props.get(name)
        if elem is not None and elem.text:
            zone = item_zone(props, ctx, name)
            try:
                value = parse_datetime(elem.text, zone)
            except ValueError:
                raise OperationError("ErrorInvalidPropertyValue", f"invalid {name}") from None
            if all_day:
                value = _to_midnight(value, zone, after=name == "End")
            elem.text = format_datetime(value)


def _to_midnight(value: datetime, zone: tzinfo | None, after: bool) -> datetime:
    """The midnight in ``zone`` at or before ``value`` (at or after it when ``after``)."""
    zone = zone or UTC
    local = value.astimezone(zone)
    day = local.date()
    if after and local.replace(tzinfo=None) != datetime.combine(day, time()):
        day += timedelta(days=1)
    return datetime.combine(day, time(), zone).astimezone(UTC)


@functools.cache
def boolean_elements() -> frozenset[str]:
    """Names of the item elements the newest schema types ``xs:boolean``.

    A client may write ``1``/``0``; Exchange stores the value and answers ``true``/``false``.
    """
    types = pathlib.Path(__file__).with_name("schemas") / "exchange2016" / "types.xsd"
    tree = etree.parse(str(types), etree.XMLParser(resolve_entities=False, no_network=True))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    return frozenset(e.get("name", "") for e in tree.iter(f"{xs}element") if e.get("type") == "xs:boolean")


def read_item_element(
    elem: etree._Element, ctx: Context
) -> tuple[dict[str, etree._Element], dict[ExtKey, etree._Element]]:
    """The properties of an item element of a CreateItem or SetItemField."""
    props: dict[str, etree._Element] = {}
    extended: dict[ExtKey, etree._Element] = {}
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name == "ExtendedProperty":
            uri = child.find(t("ExtendedFieldURI"))
            if uri is None:
                raise OperationError("ErrorInvalidExtendedProperty")
            _canonical_extended(child, uri)
            extended[ext_key(uri)] = child
        elif name in COMPUTED:
            raise OperationError("ErrorInvalidPropertySet", f"The property {name} is read-only.")
        else:
            if name in boolean_elements() and child.text in ("1", "0"):
                child.text = "true" if child.text == "1" else "false"
            props[name] = child
    return props, extended


def _canonical_extended(prop: etree._Element, uri: etree._Element) -> None:
    """Store an extended property's values the way Exchange writes them back: a Boolean as
    ``true``/``false`` (a client may send ``1``/``0``), a SystemTime in UTC."""
    ptype = (uri.get("PropertyType") or "").removesuffix("Array")
    if ptype not in ("Boolean", "SystemTime"):
        return
    for value in prop.iter(t("Value")):
        text = (value.text or "").strip()
        if ptype == "Boolean" and text.lower() in ("1", "0", "true", "false"):
            value.text = "true" if text.lower() in ("1", "true") else "false"
        elif ptype == "SystemTime" and text:
            try:
                value.text = format_datetime(parse_datetime(text))
            except ValueError:
                raise OperationError("ErrorInvalidPropertyValue", "invalid SystemTime value") from None


def fill_attendees(props: dict[str, etree._Element], ctx: Context) -> None:
    """Resolve attendee names from the directory and mark responses unknown, as Exchange does."""
    has_type = ctx.dialect.has_element("EmailAddressType", "MailboxType")
    for name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        group = props.get(name)
        if group is None:
            continue
        for attendee in group:
            mbx = attendee.find(t("Mailbox"))
            if mbx is None:
                continue
            address = mbx.findtext(t("EmailAddress")) or ""
            user = ctx.directory.user(address)
            parts = {etree.QName(c).localname: c for c in mbx}
            new = etree.SubElement(attendee, t("Mailbox"))
            etree.SubElement(new, t("Name")).text = (
                user.name if user else (parts["Name"].text if "Name" in parts else address)
            )
            etree.SubElement(new, t("EmailAddress")).text = address
            etree.SubElement(new, t("RoutingType")).text = "SMTP"
            if has_type:
                etree.SubElement(new, t("MailboxType")).text = "Mailbox" if user else "OneOff"
            attendee.remove(mbx)
            attendee.insert(0, new)
            if attendee.find(t("ResponseType")) is None:
                rt = etree.Element(t("ResponseType"))
                rt.text = "Unknown"
                attendee.insert(1, rt)


# --- occurrences -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OccurrenceView:
    """An occurrence of a master as a client sees it."""

    master: Item
    index: int
    original_start: datetime
    start: datetime
    end: datetime
    overrides: dict[str, etree._Element]

    @property
    def id(self) -> str:
        return ids.occurrence_id(self.master.key, self.index)

    @property
    def is_exception(self) -> bool:
        return bool(self.overrides)


def master_times(item: Item) -> tuple[datetime, datetime]:
    start = parse_datetime(item.props["Start"].text or "")
    end = parse_datetime(item.props["End"].text or "")
    return start, end


def occurrences(item: Item, until: datetime | None = None) -> list[OccurrenceView]:
    """The live occurrences of a master (deleted ones left out), exceptions applied."""
    rec = item.props.get("Recurrence")
    if rec is None or "Start" not in item.props or "End" not in item.props:
        return []
    start, end = master_times(item)
    out = []
    for occ in recurrence.expand(rec, start, end, item_zone(item.props, None), until):
        if occ.index in item.deleted_occurrences:
            continue
        overrides = item.exceptions.get(occ.index, {})
        s, e = occ.start, occ.end
        if "Start" in overrides:
            s = parse_datetime(overrides["Start"].text or "")
        if "End" in overrides:
            e = parse_datetime(overrides["End"].text or "")
        out.append(OccurrenceView(item, occ.index, occ.start, s, e, overrides))
    return out


def find_occurrence(item: Item, index: int) -> OccurrenceView | None:
    rec = item.props.get("Recurrence")
    if rec is None or index in item.deleted_occurrences:
        return None
    start, end = master_times(item)
    occ = recurrence.occurrence(rec, start, end, item_zone(item.props, None), index)
    if occ is None:
        return None
    overrides = item.exceptions.get(index, {})
    s = parse_datetime(overrides["Start"].text or "") if "Start" in overrides else occ.start
    e = parse_datetime(overrides["End"].text or "") if "End" in overrides else occ.end
    return OccurrenceView(item, index, occ.start, s, e, overrides)


# --- values ------------------------------------------------------------------------------------


def _el(name: str, text: str | None = None, attrs: dict[str, str] | None = None) -> etree._Element:
    e = etree.Element(t(name), attrs or {})
    if text is not None:
        e.text = text
    return e


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _mailbox(parent_name: str, ctx: Context, smtp: str) -> etree._Element:
    user = ctx.directory.user(smtp)
    outer = _el(parent_name)
    mbx = etree.SubElement(outer, t("Mailbox"))
    etree.SubElement(mbx, t("Name")).text = user.name if user else smtp
    etree.SubElement(mbx, t("EmailAddress")).text = smtp
    etree.SubElement(mbx, t("RoutingType")).text = "SMTP"
    if ctx.dialect.has_element("EmailAddressType", "MailboxType"):
        etree.SubElement(mbx, t("MailboxType")).text = "Mailbox"
    return outer


def _occurrence_info(name: str, occ: OccurrenceView) -> etree._Element:
    e = _el(name)
    e.append(
        _el("ItemId", None, {"Id": occ.id, "ChangeKey": ids.change_key(occ.master.key, occ.master.version)})
    )
    e.append(_el("Start", format_datetime(occ.start)))
    e.append(_el("End", format_datetime(occ.end)))
    e.append(_el("OriginalStart", format_datetime(occ.original_start)))
    return e


def _iso_duration(start: datetime, end: datetime) -> str:
    secs = int((end - start).total_seconds())
    days, rest = divmod(secs, 86400)
    h, rest = divmod(rest, 3600)
    mi, s = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    if h or mi or s or not days:
        text += (
            "T" + (f"{h}H" if h else "") + (f"{mi}M" if mi else "") + (f"{s}S" if s or not (h or mi) else "")
        )
    return text


def ensure_uid(item: Item) -> None:
    if item.kind == "CalendarItem" and "UID" not in item.props:
        uid = "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()
        item.props["UID"] = _el("UID", uid)


@dataclass
class _Asked:
    """One computed property asked of an item (or of one occurrence of a series)."""

    item: Item
    name: str
    ctx: Context
    occ: OccurrenceView | None

    @property
    def is_cal(self) -> bool:
        return self.item.kind == "CalendarItem"

    @property
    def is_master(self) -> bool:
        return self.is_cal and "Recurrence" in self.item.props

    @property
    def meeting(self) -> dict[str, Any]:
        return self.item.meeting  # set on attendee copies and organizer items (roomsync_sim.meetings)

    @property
    def attendees(self) -> bool:
        props = self.item.props
        return any(
            props.get(n) is not None and len(props[n])
            for n in ("RequiredAttendees", "OptionalAttendees", "Resources")
        )

    def value(self, text: str | None, attrs: dict[str, str] | None = None) -> list[etree._Element]:
        return [_el(self.name, text, attrs)]


def _item_id(a: _Asked) -> list[etree._Element]:
    item = a.item
    if a.occ is not None:
        return a.value(None, {"Id": a.occ.id, "ChangeKey": ids.change_key(item.key, item.version)})
    return a.value(None, {"Id": item.id, "ChangeKey": item.change_key})


def _display(a: _Asked) -> list[etree._Element]:
    group = a.item.props.get("RequiredAttendees" if a.name == "DisplayTo" else "OptionalAttendees")
    names = [x.findtext(f"{t('Mailbox')}/{t('Name')}") or "" for x in group] if group is not None else []
    return a.value("; ".join(names))


def _last_modified_name(a: _Asked) -> list[etree._Element]:
    user = a.ctx.directory.user(a.item.mailbox.smtp)
    return a.value(user.name if user else a.item.mailbox.smtp)


def _calendar_item_type(a: _Asked) -> list[etree._Element]:
    if a.occ is not None:
        return a.value("Exception" if a.occ.is_exception else "Occurrence")
    return a.value("RecurringMaster" if a.is_master else "Single")


def _is_recurring(a: _Asked) -> list[etree._Element]:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isrecurring
    # Exchange's table: false for a single item and for the organizer's recurring master (the page
    # calls that value incorrect, but it is what Exchange sends), true for an attendee's master,
    # for occurrences and for exceptions.
    if a.occ is not None:
        return a.value("true")
    return a.value(_bool(a.is_master and "organizer" in a.meeting))


def _appointment_state(a: _Asked) -> list[etree._Element]:
    # bit 1: meeting, bit 2: received (an attendee's copy), bit 4: cancelled
    state = (1 if a.attendees else 0) | (2 if "organizer" in a.meeting else 0)
    return a.value(str(state | (4 if a.meeting.get("cancelled") else 0)))


def _meeting_request_was_sent(a: _Asked) -> list[etree._Element]:
    sent = a.attendees and a.item.field_versions.get("_sent", 0) > 0 and "organizer" not in a.meeting
    return a.value(_bool(sent))


def _duration(a: _Asked) -> list[etree._Element]:
    if "Start" not in a.item.props or "End" not in a.item.props:
        return []
    s, e = (a.occ.start, a.occ.end) if a.occ else master_times(a.item)
    return a.value(_iso_duration(s, e))


def html_to_text(html: str) -> str:
    """The text of an HTML body, roughly as Exchange converts it (block elements end lines)."""
    if not html.strip():
        return ""
    doc = lxml.html.fromstring(html)
    for block in doc.iter("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
        block.tail = "\r\n" + (block.tail or "")
    return "\r\n".join(line.strip() for line in doc.text_content().splitlines()).strip() + "\r\n"


def text_to_html(text: str) -> str:
    """A text body as HTML, in the document Exchange wraps a converted body in."""
    lines = "".join(f"<div>{html_escape(line) or '&nbsp;'}</div>\r\n" for line in text.splitlines())
    return (
        "<html>\r\n<head>\r\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
        f"</head>\r\n<body>\r\n{lines}</body>\r\n</html>\r\n"
    )


def body_as(elem: etree._Element, body_type: str, name: str = "Body") -> etree._Element:
    """A stored body in the format a shape asks for (BodyType, https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/bodytype):
    ``Best`` gives the body's own format, ``Text`` and ``HTML`` a conversion."""
    native = elem.get("BodyType") or "Text"
    if body_type == "Best" and name == "Body":
        body_type = native
    if body_type.lower() == native.lower():
        if etree.QName(elem).localname == name:
            return elem
        return _el(name, elem.text or "", {"BodyType": native})
    text = elem.text or ""
    converted = html_to_text(text) if body_type == "Text" else text_to_html(text)
    return _el(name, converted, {"BodyType": "Text" if body_type == "Text" else "HTML"})


def _text_body(a: _Asked) -> list[etree._Element]:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/textbody
    body = a.item.props.get("Body")
    return [] if body is None else [body_as(body, "Text", "TextBody")]


def _constant(text: str) -> Callable[[_Asked], list[etree._Element]]:
    return lambda a: a.value(text)


# Properties every item has; then those of calendar items only.
_ITEM_VALUES: dict[str, Callable[[_Asked], list[etree._Element]]] = {
    "ItemId": _item_id,
    "ParentFolderId": lambda a: a.value(
        None, {"Id": a.item.folder.id, "ChangeKey": a.item.folder.change_key}
    ),
    "ItemClass": lambda a: [
        a.item.props.get("ItemClass", _el("ItemClass", ITEM_CLASS.get(a.item.kind, "IPM")))
    ],
    "Size": lambda a: a.value(str(sum(len(etree.tostring(e)) for e in a.item.props.values()) + 512)),
    "DateTimeReceived": lambda a: a.value(format_datetime(a.item.created)),
    "DateTimeCreated": lambda a: a.value(format_datetime(a.item.created)),
    "LastModifiedTime": lambda a: a.value(format_datetime(a.item.modified)),
    "LastModifiedName": _last_modified_name,
    **dict.fromkeys(
        ("HasAttachments", "IsAssociated", "IsDraft", "IsSubmitted", "IsResend", "IsUnmodified", "IsFromMe"),
        _constant("false"),
    ),
    "Sensitivity": _constant("Normal"),
    "Importance": _constant("Normal"),
    "ReminderIsSet": lambda a: a.value("true" if a.is_cal else "false"),
    "ReminderMinutesBeforeStart": lambda a: a.value("15") if a.is_cal else [],
    "DisplayTo": _display,
    "DisplayCc": _display,
    "TextBody": _text_body,
}
_CALENDAR_VALUES: dict[str, Callable[[_Asked], list[etree._Element]]] = {
    "CalendarItemType": _calendar_item_type,
    "IsRecurring": _is_recurring,
    "IsAllDayEvent": _constant("false"),
    "IsCancelled": lambda a: a.value(_bool(bool(a.meeting.get("cancelled")))),
    "LegacyFreeBusyStatus": _constant("Busy"),
    "IsMeeting": lambda a: a.value(_bool(a.attendees)),
    "MeetingRequestWasSent": _meeting_request_was_sent,
    "IsResponseRequested": _constant("true"),
    "MyResponseType": lambda a: a.value(a.meeting.get("response", "Organizer")),
    "Organizer": lambda a: [_mailbox("Organizer", a.ctx, a.meeting.get("organizer", a.item.mailbox.smtp))],
    "ConflictingMeetingCount": _constant("0"),
    "AdjacentMeetingCount": _constant("0"),
    "AppointmentState": _appointment_state,
    "AppointmentSequenceNumber": _constant("0"),
    "AllowNewTimeProposal": _constant("true"),
    "Duration": _duration,
}
_OCCURRENCE_TIMES: dict[str, Callable[[OccurrenceView], datetime]] = {
    "Start": lambda occ: occ.start,
    "End": lambda occ: occ.end,
    "RecurrenceId": lambda occ: occ.original_start,
    "OriginalStart": lambda occ: occ.original_start,
}
_MASTER_INFO = ("FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences")


def computed(item: Item, name: str, ctx: Context, occ: OccurrenceView | None) -> list[etree._Element]:
    """The server-derived elements for ``name`` (empty when the item has no such value)."""
    asked = _Asked(item, name, ctx, occ)
    if name in _ITEM_VALUES:
        return _ITEM_VALUES[name](asked)
    if not asked.is_cal:
        return []
    if name in _CALENDAR_VALUES:
        return _CALENDAR_VALUES[name](asked)
    if occ is not None:
        when = _OCCURRENCE_TIMES.get(name)
        return [_el(name, format_datetime(when(occ)))] if when else []
    if asked.is_master and name in _MASTER_INFO:
        return _master_info(item, name)
    return []


def _master_info(item: Item, name: str) -> list[etree._Element]:
    if name == "DeletedOccurrences":
        if not item.deleted_occurrences:
            return []
        start, end = master_times(item)
        rec = item.props["Recurrence"]
        zone = item_zone(item.props, None)
        outer = _el(name)
        for occ in recurrence.expand(rec, start, end, zone):
            if occ.index in item.deleted_occurrences:
                d = etree.SubElement(outer, t("DeletedOccurrence"))
                etree.SubElement(d, t("Start")).text = format_datetime(occ.start)
            if occ.index >= max(item.deleted_occurrences):
                break
        return [outer]
    if name == "ModifiedOccurrences":
        if not item.exceptions:
            return []
        outer = _el(name)
        for index in sorted(item.exceptions):
            view = find_occurrence(item, index)
            if view is not None:
                outer.append(_occurrence_info("Occurrence", view))
        return [outer] if len(outer) else []
    # An open series is expanded two years past now, or past its start if that is later (a series
    # starting beyond the window still has a FirstOccurrence, as every recurring master does:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/firstoccurrence).
    live = occurrences(
        item,
        recurrence.window_end_default(max(datetime.now(UTC), master_times(item)[0]))
        if item.props["Recurrence"].find(t("NoEndRecurrence")) is not None
        else None,
    )
    if not live:
        return []
    return [_occurrence_info(name, live[0] if name == "FirstOccurrence" else live[-1])]


def value_elements(
    item: Item, path: Path, ctx: Context, occ: OccurrenceView | None = None
) -> list[etree._Element]:
    """The elements a path names on an item (stored value first, computed otherwise)."""
    if path.ext is not None:
        found = item.extended.get(path.ext)
        return [found] if found is not None else []
    if occ is not None and path.name in occ.overrides:
        return [occ.overrides[path.name]]
    if occ is not None and path.name in ("Start", "End", "Recurrence", "ItemId", "CalendarItemType", "UID"):
        if path.name in ("Recurrence",):
            return []
        if path.name != "UID":
            return computed(item, path.name, ctx, occ)
    stored = item.props.get(path.name)
    if stored is not None:
        if path.name == "Recurrence":
            # The range's StartDate/EndDate (xs:date) come back with the series' zone offset, as
            # Exchange writes them; the stored element keeps what the client sent.
            return [recurrence.with_zoned_dates(stored, item_zone(item.props, None))]
        return [stored]
    return computed(item, path.name, ctx, occ)


def text_values(item: Item, path: Path, ctx: Context, occ: OccurrenceView | None = None) -> list[str] | None:
    """The text values of a path (for restrictions); None when the item lacks the property."""
    elems = value_elements(item, path, ctx, occ)
    if not elems:
        return None
    elem = elems[0]
    if path.ext is not None:
        values = elem.find(t("Values"))
        if values is not None:
            return [v.text or "" for v in values]
        return [elem.findtext(t("Value")) or ""]
    return [elem.text or ""]


# --- writing items out -------------------------------------------------------------------------


def render_item(
    parent: etree._Element,
    item: Item,
    shape: Shape,
    ctx: Context,
    occ: OccurrenceView | None = None,
) -> etree._Element:
    """Append the item as the client asked for it (base shape plus additional properties)."""
    order = ctx.dialect.element_order(TYPE_OF.get(item.kind, "ItemType"))
    wanted: set[str]
    if shape.base == "IdOnly":
        wanted = {"ItemId"}
    elif shape.base == "AllProperties":
        wanted = (
            set(item.props)
            | COMPUTED
            | {
                "Sensitivity",
                "Importance",
                "ReminderIsSet",
                "ReminderMinutesBeforeStart",
                "IsAllDayEvent",
                "LegacyFreeBusyStatus",
                "AllowNewTimeProposal",
                "IsResponseRequested",
                "UID",
            }
        ) - _NOT_IN_ALL
        if occ is not None:
            wanted |= {"RecurrenceId", "OriginalStart"}
    else:
        wanted = set(DEFAULT_SHAPE)
    ext_paths = []
    for p in shape.paths:
        if p.ext is not None:
            ext_paths.append(p)
        else:
            wanted.add(p.name)
    out = etree.SubElement(parent, t(item.kind))
    for name in order:
        if name == "ExtendedProperty":
            for p in ext_paths:
                for e in value_elements(item, p, ctx, occ):
                    out.append(copy.deepcopy(e))
            continue
        if name not in wanted:
            continue
        if occ is not None and name == "Recurrence":
            continue
        for e in value_elements(item, Path(name), ctx, occ):
            if name == "Body":
                e = body_as(e, shape.body_type)
            out.append(copy.deepcopy(e))
    return out
