"""GetUserAvailability (free/busy, every dialect) and GetServerTimeZones (2010 and later).

Free/busy follows Exchange's availability service: at most 100 mailboxes per request (a SOAP
fault ``ErrorMailboxDataArrayTooBig`` beyond, as Exchange answers), a window of at most 42 days
(``ErrorTimeIntervalTooBig``), one ``FreeBusyResponse`` per mailbox in request order, an unknown
mailbox answered in its own response (``ErrorMailRecipientNotFound``) without failing the others.
Times are read and written in the request's ``TimeZone`` (local times without offset, as Exchange
writes them); the merged view is a digit per interval from the window's start (0 free,
1 tentative, 2 busy, 3 out of office, 5 working elsewhere). Details (subject, location) need
access to the calendar: the mailbox itself or a delegate; anyone else gets the FreeBusy view
Exchange's default permission (AvailabilityOnly) grants. Working hours are Monday to Friday,
08:00-17:00 in the mailbox's time zone from the seed.

Time-zone definitions come from :mod:`roomsync_sim.zonerules`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from lxml import etree

from roomsync_sim import zonerules
from roomsync_sim.context import Context
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.convert import hex_entry_id
from roomsync_sim.properties import master_times, occurrences
from roomsync_sim.soap import E, SoapFault, m, response_message, t
from roomsync_sim.store import Item
from roomsync_sim.timezones import parse_datetime

MAX_MAILBOXES = 100
MAX_WINDOW_DAYS = 42
_DIGIT = {"Free": "0", "Tentative": "1", "Busy": "2", "OOF": "3", "NoData": "4", "WorkingElsewhere": "5"}
_RANK = {"Free": 0, "WorkingElsewhere": 1, "Tentative": 2, "Busy": 3, "OOF": 4}
_OFFSET = re.compile(r"(Z|[+-]\d\d:\d\d)$")
_DOWNGRADE = {"Detailed": "FreeBusy", "DetailedMerged": "FreeBusyMerged"}


def bare_response(messages: etree._Element) -> etree._Element:
    """The ``{Operation}Response`` element without ``ResponseMessages``, for operations whose
    response is not a list of response messages."""
    response = messages.getparent()
    assert response is not None
    response.remove(messages)
    return response


# --- GetServerTimeZones ------------------------------------------------------------------------


@operation("GetServerTimeZones")
def get_server_time_zones(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    """Every zone of the CLDR table, or those named in ``Ids`` (unknown ids are left out)."""
    full = (request.get("ReturnFullTimeZoneData") or "false").strip() in ("true", "1")
    known = set(zonerules.windows_ids())
    ids_elem = request.find(m("Ids"))
    if ids_elem is None:
        wanted = sorted(known)
    else:
        wanted = [(e.text or "").strip() for e in ids_elem.findall(t("Id"))]
    msg = response_message(messages, "GetServerTimeZones")
    definitions = etree.SubElement(msg, m("TimeZoneDefinitions"))
    for ms_id in wanted:
        if ms_id in known:
            definitions.append(zonerules.definition(ms_id, full))


# --- GetUserAvailability -----------------------------------------------------------------------


def _fault(code: str, text: str) -> SoapFault:
    return SoapFault(code, text, faultstring=text)


def _window_time(text: str, zone: zonerules.YearRules) -> datetime:
    value = text.strip()
    try:
        if _OFFSET.search(value):
            return parse_datetime(value)
        return zone.to_utc(datetime.fromisoformat(value))
    except ValueError:
        raise _fault("ErrorInvalidTimeInterval", "The specified time interval is invalid.") from None


def _local(zone: zonerules.YearRules, value: datetime) -> str:
    return zone.to_local(value).strftime("%Y-%m-%dT%H:%M:%S")


class _Event:
    __slots__ = ("end", "exception", "item", "location", "recurring", "start", "status", "subject")

    def __init__(
        self, start: datetime, end: datetime, status: str, item: Item, overrides: dict[str, etree._Element]
    ) -> None:
        self.start, self.end, self.status, self.item = start, end, status, item
        subject = overrides.get("Subject", item.props.get("Subject"))
        location = overrides.get("Location", item.props.get("Location"))
        self.subject = subject.text if subject is not None else None
        self.location = location.text if location is not None else None
        self.recurring = "Recurring" if "Recurrence" in item.props else ""
        self.exception = bool(overrides)


def _events(ctx: Context, smtp: str, start: datetime, end: datetime) -> list[_Event]:
    mbx = ctx.store.mailbox(smtp)
    found: list[_Event] = []
    if mbx is None:
        return found
    for item in mbx.folder("calendar").items.values():
        if item.kind != "CalendarItem" or "Start" not in item.props or "End" not in item.props:
            continue
        if item.meeting.get("cancelled"):
            continue
        stored = item.props.get("LegacyFreeBusyStatus")
        status = (stored.text if stored is not None else None) or "Busy"
        if "Recurrence" in item.props:
            for occ in occurrences(item, until=end):
                if occ.start < end and occ.end > start:
                    override = occ.overrides.get("LegacyFreeBusyStatus")
                    own = (override.text if override is not None else None) or status
                    found.append(_Event(occ.start, occ.end, own, item, occ.overrides))
            continue
        s, e = master_times(item)
        if s < end and e > start:
            found.append(_Event(s, e, status, item, {}))
    found.sort(key=lambda ev: (ev.start, ev.end))
    return found


def _merged(events: list[_Event], start: datetime, end: datetime, interval: int) -> str:
    step = timedelta(minutes=interval)
    slots = max(1, math.ceil((end - start) / step))
    ranks = [0] * slots
    names = ["Free"] * slots
    for ev in events:
        first = max(0, int((ev.start - start) // step))
        last = min(slots, math.ceil((ev.end - start) / step))
        rank = _RANK.get(ev.status, 3)
        for i in range(first, last):
            if rank > ranks[i]:
                ranks[i], names[i] = rank, ev.status
    return "".join(_DIGIT.get(n, "2") for n in names)


def _error(array: etree._Element, code: str, text: str, exception: str, number: str) -> None:
    response = etree.SubElement(array, m("FreeBusyResponse"))
    msg = etree.SubElement(response, m("ResponseMessage"), {"ResponseClass": "Error"})
    etree.SubElement(msg, m("MessageText")).text = text
    etree.SubElement(msg, m("ResponseCode")).text = code
    etree.SubElement(msg, m("DescriptiveLinkKey")).text = "0"
    xml = etree.SubElement(msg, m("MessageXml"))
    etree.SubElement(xml, f"{{{E}}}ExceptionType", nsmap={"e": E}).text = exception
    etree.SubElement(xml, f"{{{E}}}ExceptionCode", nsmap={"e": E}).text = number
    view = etree.SubElement(response, m("FreeBusyView"))
    etree.SubElement(view, t("FreeBusyViewType")).text = "None"


def _working_hours(ctx: Context, smtp: str, year: int) -> etree._Element:
    user = ctx.directory.user(smtp)
    rules = zonerules.year_rules(zonerules.zone_key(user.time_zone if user else None), year)
    hours = etree.Element(t("WorkingHours"))
    hours.append(zonerules.serializable(rules))
    periods = etree.SubElement(hours, t("WorkingPeriodArray"))
    period = etree.SubElement(periods, t("WorkingPeriod"))
    etree.SubElement(period, t("DayOfWeek")).text = "Monday Tuesday Wednesday Thursday Friday"
    etree.SubElement(period, t("StartTimeInMinutes")).text = "480"
    etree.SubElement(period, t("EndTimeInMinutes")).text = "1020"
    return hours


@operation("GetUserAvailability")
def get_user_availability(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    response = bare_response(messages)
    zone = zonerules.parse_serializable(request.find(t("TimeZone")))
    data = request.find(m("MailboxDataArray"))
    mailboxes = [c for c in data if isinstance(c.tag, str)] if data is not None else []
    if len(mailboxes) > MAX_MAILBOXES:
        raise SoapFault(
            "ErrorMailboxDataArrayTooBig",
            faultstring=(
                "There are too many target users in the EmailAddress array. "
                f"The allowed size = {MAX_MAILBOXES}; the actual size = {len(mailboxes)}."
            ),
            detail=[("ErrorCode", "5002")],
        )
    options = request.find(t("FreeBusyViewOptions"))
    if options is None:
        return  # suggestions only: not simulated
    window = options.find(t("TimeWindow"))
    start = _window_time(window.findtext(t("StartTime")) or "" if window is not None else "", zone)
    end = _window_time(window.findtext(t("EndTime")) or "" if window is not None else "", zone)
    if end <= start:
        raise _fault("ErrorInvalidTimeInterval", "The specified time interval is invalid.")
    days = math.ceil((end - start) / timedelta(days=1))
    if days > MAX_WINDOW_DAYS:
        raise _fault(
            "ErrorTimeIntervalTooBig",
            "The requested time duration specified for FreeBusyViewOptions.TimeWindow is too long. "
            f"The allowed limit = {MAX_WINDOW_DAYS} days; the actual limit = {days} days.",
        )
    interval = int(options.findtext(t("MergedFreeBusyIntervalInMinutes")) or 30)
    if not 5 <= interval <= 1440:
        raise _fault("ErrorInvalidMergedFreeBusyInterval", "The merged free/busy interval is invalid.")
    requested = (options.findtext(t("RequestedView")) or "Detailed").split()[0]
    array = etree.SubElement(response, m("FreeBusyResponseArray"))
    for entry in mailboxes:
        address = (entry.findtext(f"{t('Email')}/{t('Address')}") or "").strip().lower()
        user = ctx.directory.user(address) if address else None
        if user is None or ctx.store.mailbox(address) is None:
            text = f"Unable to resolve e-mail address <>SMTP:{address} to an Active Directory object."
            _error(
                array,
                "ErrorMailRecipientNotFound",
                text,
                "Microsoft.Exchange.InfoWorker.Common.Availability.MailRecipientNotFoundException",
                "5009",
            )
            continue
        view = requested
        own = address == ctx.identity or ctx.directory.is_delegate(ctx.identity, address)
        if not own:
            view = _DOWNGRADE.get(view, view)
        events = _events(ctx, address, start, end)
        fb = etree.SubElement(array, m("FreeBusyResponse"))
        msg = etree.SubElement(fb, m("ResponseMessage"), {"ResponseClass": "Success"})
        etree.SubElement(msg, m("ResponseCode")).text = "NoError"
        out = etree.SubElement(fb, m("FreeBusyView"))
        etree.SubElement(out, t("FreeBusyViewType")).text = view
        if view in ("MergedOnly", "FreeBusyMerged", "DetailedMerged"):
            etree.SubElement(out, t("MergedFreeBusy")).text = _merged(events, start, end, interval)
        if view != "MergedOnly":
            array_elem = etree.SubElement(out, t("CalendarEventArray"))
            for ev in events:
                ce = etree.SubElement(array_elem, t("CalendarEvent"))
                etree.SubElement(ce, t("StartTime")).text = _local(zone, ev.start)
                etree.SubElement(ce, t("EndTime")).text = _local(zone, ev.end)
                etree.SubElement(ce, t("BusyType")).text = ev.status
                if view.startswith("Detailed"):
                    _details(ce, ev, private_visible=address == ctx.identity)
        out.append(_working_hours(ctx, address, zone.to_local(start).year))


def _details(parent: etree._Element, ev: _Event, private_visible: bool) -> None:
    sensitivity = ev.item.props.get("Sensitivity")
    private = sensitivity is not None and sensitivity.text in ("Private", "Confidential")
    details = etree.SubElement(parent, t("CalendarEventDetails"))
    etree.SubElement(details, t("ID")).text = hex_entry_id(ev.item.id)
    if not private or private_visible:
        if ev.subject is not None:
            etree.SubElement(details, t("Subject")).text = ev.subject
        if ev.location is not None:
            etree.SubElement(details, t("Location")).text = ev.location
    is_meeting = any(
        ev.item.props.get(g) is not None and len(ev.item.props[g])
        for g in ("RequiredAttendees", "OptionalAttendees", "Resources")
    )
    reminder = ev.item.props.get("ReminderIsSet")
    etree.SubElement(details, t("IsMeeting")).text = "true" if is_meeting else "false"
    etree.SubElement(details, t("IsRecurring")).text = "true" if ev.recurring else "false"
    etree.SubElement(details, t("IsException")).text = "true" if ev.exception else "false"
    etree.SubElement(details, t("IsReminderSet")).text = (
        "false" if reminder is not None and reminder.text == "false" else "true"
    )
    etree.SubElement(details, t("IsPrivate")).text = "true" if private else "false"
