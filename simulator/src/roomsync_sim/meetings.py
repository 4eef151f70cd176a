"""Meetings: what an organizer's invitations, updates and cancellations do to other calendars.

Exchange delivers a meeting request to each attendee's mailbox, where the calendar attendant puts
a tentative copy into the calendar at once; room mailboxes answer by their booking policy. The
simulator does the same synchronously, within the organizer's request, without the e-mail
messages in between:

- A person's copy is a calendar item with the organizer's properties (extended ones included),
  ``LegacyFreeBusyStatus`` Tentative and ``MyResponseType`` NoResponseReceived. An update that
  moves the meeting makes it tentative again; a cancellation keeps it, marked ``IsCancelled``,
  its subject prefixed "Canceled: " and its time free (the attendee removes it).
- A room with ``AutoAccept`` books the meeting when the policy allows it (within the booking
  window, not longer than the maximum duration, recurring meetings allowed, and, unless conflicts
  are allowed, no overlap with anything not free in its calendar) and declines it otherwise. A
  series whose conflicting occurrences stay within ``MaximumConflictInstances`` and
  ``ConflictPercentageAllowed`` is accepted without them; beyond either (by Exchange's defaults,
  both 0: at the first conflict) the whole series is declined. A booking is a Busy
  item accepted by the room; a declined meeting leaves nothing in the room's calendar; a
  cancellation removes the booking. ``AutoUpdate`` places the request tentatively without
  answering; ``None`` leaves the request unprocessed.
- The room's answer is written into the organizer's item (the attendee's ``ResponseType`` and
  ``LastResponseTime``) in the same request, without a new change key: Exchange would record it
  a moment later, and arrives as a MeetingResponse in the organizer's Inbox.
- A person's Inbox receives a MeetingRequest with each invitation or update and a
  MeetingCancellation with each cancellation. The attendee answers with the response objects
  AcceptItem, TentativelyAcceptItem and DeclineItem on the calendar item or the request
  (:func:`respond`; Graph's ``accept``, ``tentativelyAccept`` and ``decline``), rooms too (a room
  turning down a booking as itself); the organizer cancels with CancelCalendarItem
  (:func:`cancel`).
- Such a later answer is recorded on the organizer's item as Exchange records it when it
  processes the response: a modification with a new change key, which SyncFolderItems and Graph
  delta report as a change of the organizer's item. Its MeetingResponse carries the answer's
  text (the response object's ``Body``, Graph's ``comment``).

Only items that were not received (the organizer's) propagate, and only when the request asks to
send (``SendMeetingInvitations``/``...OrCancellations``/``SendMeetingCancellations`` other than
SendToNone). An update re-sends the whole meeting, occurrence changes included.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from lxml import etree

from roomsync_sim import recurrence
from roomsync_sim.context import Context, OperationError
from roomsync_sim.properties import item_zone, master_times, occurrences
from roomsync_sim.seed import BookingPolicy
from roomsync_sim.soap import t
from roomsync_sim.store import Folder, Item, Mailbox, Store, now
from roomsync_sim.timezones import format_datetime

ATTENDEE_GROUPS = ("RequiredAttendees", "OptionalAttendees", "Resources")
_TIME_PROPS = ("Start", "End", "Recurrence")
# Properties of the organizer's item that stay the organizer's.
_NOT_COPIED = ("LegacyFreeBusyStatus", "ReminderIsSet", "ReminderMinutesBeforeStart")


def sends(mode: str | None) -> bool:
    return bool(mode) and mode != "SendToNone"


def is_organizer_item(item: Item) -> bool:
    return item.kind == "CalendarItem" and "organizer" not in item.meeting


def attendees(item: Item) -> list[tuple[str, etree._Element]]:
    """(SMTP address, Attendee element) of every attendee of the item, in order."""
    found = []
    for group in ATTENDEE_GROUPS:
        elem = item.props.get(group)
        if elem is None:
            continue
        for attendee in elem:
            address = attendee.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            if address:
                found.append((address.strip().lower(), attendee))
    return found


def _uid(item: Item) -> str:
    uid = item.props.get("UID")
    return (uid.text or "") if uid is not None else ""


def _status(value: str) -> etree._Element:
    elem = etree.Element(t("LegacyFreeBusyStatus"))
    elem.text = value
    return elem


def _times(item: Item) -> tuple[str, ...]:
    return tuple(etree.tostring(item.props[n]).decode() if n in item.props else "" for n in _TIME_PROPS)


# --- propagation -------------------------------------------------------------------------------


def after_write(ctx: Context, item: Item, mode: str | None) -> None:
    """After a create or update of the organizer's item: invite, update, uninvite attendees."""
    if not is_organizer_item(item) or not sends(mode):
        return
    store = ctx.store
    organizer = item.mailbox.smtp
    copies: dict[str, bytes] = item.meeting.setdefault("copies", {})
    wanted: dict[str, etree._Element] = {}
    for smtp, attendee in attendees(item):
        if smtp != organizer and store.mailbox(smtp) is not None and smtp not in wanted:
            wanted[smtp] = attendee
    for smtp in [s for s in copies if s not in wanted]:
        _cancel_copy(ctx, store.current(copies.pop(smtp)), item)
    for smtp, attendee in wanted.items():
        mbx = store.mailbox(smtp)
        assert mbx is not None
        existing = store.current(copies[smtp]) if smtp in copies else None
        if mbx.kind == "room":
            user = ctx.directory.user(smtp)
            policy = (user.booking if user else None) or BookingPolicy()
            response, copied = _room(store, item, mbx, policy, existing)
        else:
            response, copied = "Unknown", _person_copy(store, item, mbx, existing, "Tentative")
            _deliver(ctx, mbx, "MeetingRequest", item, copied)
        if mbx.kind == "room" and response in ("Accept", "Decline"):
            _answer(ctx, mbx.smtp, item, response, copied)
        if copied is None:
            copies.pop(smtp, None)
        else:
            copies[smtp] = copied.key
        _record_response(attendee, response)


def before_delete(ctx: Context, item: Item, occurrence: int | None, mode: str | None) -> None:
    """Before the organizer deletes a meeting (or one occurrence): cancel it for the attendees."""
    if not is_organizer_item(item) or not sends(mode):
        return
    store = ctx.store
    copies: dict[str, bytes] = item.meeting.get("copies", {})
    for smtp in list(copies):
        target = store.current(copies[smtp])
        if target is None:
            copies.pop(smtp)
            continue
        if occurrence is not None:
            target.deleted_occurrences.add(occurrence)
            target.exceptions.pop(occurrence, None)
            target.touch(["DeletedOccurrences"])
            store.record_update(target)
        else:
            _cancel_copy(ctx, target, item)
    if occurrence is None:
        copies.clear()


def _cancel_copy(ctx: Context, target: Item | None, source: Item) -> None:
    if target is None:
        return
    store = ctx.store
    if target.mailbox.kind == "room":
        store.remove_item(target)
        return
    _deliver(ctx, target.mailbox, "MeetingCancellation", source, target)
    target.meeting["cancelled"] = True
    subject = target.props.get("Subject")
    if subject is None:
        subject = target.props["Subject"] = etree.Element(t("Subject"))
    if not (subject.text or "").startswith("Canceled: "):
        subject.text = "Canceled: " + (subject.text or "")
    target.props["LegacyFreeBusyStatus"] = _status("Free")
    target.touch(["Subject", "IsCancelled", "LegacyFreeBusyStatus"])
    store.record_update(target)


def _person_copy(store: Store, item: Item, mbx: Mailbox, existing: Item | None, status: str) -> Item:
    """Create or refresh the attendee's copy; a moved meeting becomes tentative again."""
    props = {k: copy.deepcopy(v) for k, v in item.props.items() if k not in _NOT_COPIED}
    extended = {k: copy.deepcopy(v) for k, v in item.extended.items()}
    if existing is not None and "organizer" in existing.meeting and not existing.meeting.get("cancelled"):
        moved = _times(existing) != _times(item)
        current = existing.props.get("LegacyFreeBusyStatus")
        props["LegacyFreeBusyStatus"] = _status(
            status if moved or current is None else current.text or status
        )
        existing.props, existing.extended = props, extended
        existing.exceptions = copy.deepcopy(item.exceptions)
        existing.deleted_occurrences = set(item.deleted_occurrences)
        if moved:
            existing.meeting["response"] = "NoResponseReceived" if status == "Tentative" else "Accept"
        existing.touch(list(props))
        store.record_update(existing)
        return existing
    props["LegacyFreeBusyStatus"] = _status(status)
    created = store.add_item(mbx.folder("calendar"), "CalendarItem", props, extended)
    created.exceptions = copy.deepcopy(item.exceptions)
    created.deleted_occurrences = set(item.deleted_occurrences)
    created.meeting = {
        "organizer": item.mailbox.smtp,
        "response": "NoResponseReceived" if status == "Tentative" else "Accept",
    }
    return created


def _room(
    store: Store, item: Item, room: Mailbox, policy: BookingPolicy, existing: Item | None
) -> tuple[str, Item | None]:
    """The room's answer (Accept, Decline or Unknown) and its calendar item, if any.

    A series accepted with conflicting occurrences lacks those in the room's calendar: the room
    declined them, and the organizer's item records the room's Accept of the series (Exchange
    mails the organizer one decline per occurrence besides; the simulator sends none of those).
    """
    if policy.automate_processing == "None":
        return "Unknown", existing
    if policy.automate_processing == "AutoUpdate":
        return "Unknown", _person_copy(store, item, room, existing, "Tentative")
    declined = accepts(store, item, room, policy)
    if declined is None:
        if existing is not None:
            store.remove_item(existing)
        return "Decline", None
    booked = _person_copy(store, item, room, existing, "Busy")
    booked.meeting["response"] = "Accept"
    if declined:
        booked.deleted_occurrences |= declined
        for index in declined:
            booked.exceptions.pop(index, None)
    _booking_subject(booked, item.mailbox.name or item.mailbox.smtp, policy)
    return "Accept", booked


def _booking_subject(booked: Item, organizer_name: str, policy: BookingPolicy) -> None:
    """The subject of an AutoAccept room's booking (DeleteSubject, AddOrganizerToSubject): the
    organizer's name where both are set, none where only the first is, the organizer's name
    before the subject where only the second is, the meeting's own subject where neither is."""
    if not policy.delete_subject and not policy.add_organizer_to_subject:
        return
    subject = booked.props.get("Subject")
    kept = "" if policy.delete_subject or subject is None else subject.text or ""
    text = " ".join(
        part for part in (organizer_name if policy.add_organizer_to_subject else "", kept) if part
    )
    if text:
        booked.props["Subject"] = _text("Subject", text)
    else:
        booked.props.pop("Subject", None)


def _record_response(attendee: etree._Element, response: str) -> None:
    rt = attendee.find(t("ResponseType"))
    if rt is None:
        rt = etree.Element(t("ResponseType"))
        attendee.insert(1, rt)
    rt.text = response
    if response in ("Accept", "Tentative", "Decline"):
        lrt = attendee.find(t("LastResponseTime"))
        if lrt is None:
            lrt = etree.Element(t("LastResponseTime"))
            rt.addnext(lrt)
        lrt.text = format_datetime(now())


# --- meeting messages and response objects ----------------------------------------------------
# "Respond to meeting requests by using EWS"
# (https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-respond-to-meeting-requests-by-using-ews-in-exchange)
# and "Delete appointments and cancel meetings by using EWS"
# (https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-delete-appointments-and-cancel-meetings-by-using-ews-in-exchange).

RESPONSES = {"AcceptItem": "Accept", "TentativelyAcceptItem": "Tentative", "DeclineItem": "Decline"}
_RESPONSE_CLASS = {"Accept": "Pos", "Tentative": "Tent", "Decline": "Neg"}
_RESPONSE_PREFIX = {"Accept": "Accepted: ", "Tentative": "Tentative: ", "Decline": "Declined: "}
_ORGANIZER_CODE = {
    "Accept": "ErrorCalendarIsOrganizerForAccept",
    "Tentative": "ErrorCalendarIsOrganizerForTentative",
    "Decline": "ErrorCalendarIsOrganizerForDecline",
}
# Meeting properties a meeting message carries (those its type lacks are not written out).
_MESSAGE_PROPS = (
    "Start",
    "End",
    "Location",
    "Recurrence",
    "UID",
    "RequiredAttendees",
    "OptionalAttendees",
    "Resources",
)


def _text(name: str, value: str) -> etree._Element:
    elem = etree.Element(t(name))
    elem.text = value
    return elem


def _recipient(ctx: Context, name: str, smtp: str) -> etree._Element:
    user = ctx.directory.user(smtp)
    outer = etree.Element(t(name))
    mbx = etree.SubElement(outer, t("Mailbox"))
    etree.SubElement(mbx, t("Name")).text = user.name if user else smtp
    etree.SubElement(mbx, t("EmailAddress")).text = smtp
    etree.SubElement(mbx, t("RoutingType")).text = "SMTP"
    if ctx.dialect.has_element("EmailAddressType", "MailboxType"):
        etree.SubElement(mbx, t("MailboxType")).text = "Mailbox"
    return outer


def _recipients(ctx: Context, name: str, smtps: list[str]) -> etree._Element:
    outer = etree.Element(t(name))
    for smtp in smtps:
        outer.append(_recipient(ctx, "Mailbox", smtp)[0])
    return outer


def _message(
    ctx: Context,
    folder: Folder,
    kind: str,
    item_class: str,
    subject: str,
    sender: str,
    to: list[str],
    meeting: Item | None,
    **extra: etree._Element,
) -> Item:
    props: dict[str, etree._Element] = {
        "ItemClass": _text("ItemClass", item_class),
        "Subject": _text("Subject", subject),
        "ToRecipients": _recipients(ctx, "ToRecipients", to),
        "Sender": _recipient(ctx, "Sender", sender),
        "From": _recipient(ctx, "From", sender),
        "IsRead": _text("IsRead", "false"),
    }
    if meeting is not None:
        for name in _MESSAGE_PROPS:
            if name in meeting.props:
                props[name] = copy.deepcopy(meeting.props[name])
    props.update(extra)
    return ctx.store.add_item(folder, kind, props, {})


def _subject(item: Item) -> str:
    subject = item.props.get("Subject")
    return (subject.text or "") if subject is not None else ""


def _deliver(ctx: Context, mbx: Mailbox, kind: str, source: Item, calendar_item: Item | None) -> None:
    """A MeetingRequest or MeetingCancellation from the organizer into an attendee's Inbox."""
    cls = "IPM.Schedule.Meeting.Request" if kind == "MeetingRequest" else "IPM.Schedule.Meeting.Canceled"
    subject = _subject(source) if kind == "MeetingRequest" else "Canceled: " + _subject(source)
    to = [smtp for smtp, _ in attendees(source)]
    extra: dict[str, etree._Element] = {}
    if calendar_item is not None:
        extra["AssociatedCalendarItemId"] = etree.Element(
            t("AssociatedCalendarItemId"), {"Id": calendar_item.id, "ChangeKey": calendar_item.change_key}
        )
    message = _message(ctx, mbx.folder("inbox"), kind, cls, subject, source.mailbox.smtp, to, source, **extra)
    message.meeting = {
        "organizer": source.mailbox.smtp,
        "calendar": calendar_item.key if calendar_item is not None else None,
        "message": kind,
    }


def _answer(
    ctx: Context, attendee: str, organizer_item: Item, response: str, calendar_item: Item | None
) -> None:
    """The attendee's MeetingResponse into the organizer's Inbox (rooms answer this way too)."""
    organizer = ctx.store.mailbox(organizer_item.mailbox.smtp)
    if organizer is None:
        return
    message = _message(
        ctx,
        organizer.folder("inbox"),
        "MeetingResponse",
        f"IPM.Schedule.Meeting.Resp.{_RESPONSE_CLASS[response]}",
        _RESPONSE_PREFIX[response] + _subject(organizer_item),
        attendee,
        [organizer.smtp],
        organizer_item,
        AssociatedCalendarItemId=etree.Element(
            t("AssociatedCalendarItemId"), {"Id": organizer_item.id, "ChangeKey": organizer_item.change_key}
        ),
        ResponseType=_text("ResponseType", response),
    )
    message.meeting = {"organizer": organizer.smtp, "message": "MeetingResponse", "from": attendee}
    del calendar_item


def _organizer_item(store: Store, copy_item: Item) -> Item | None:
    """The organizer's item whose attendee copy ``copy_item`` is."""
    organizer = store.mailbox(copy_item.meeting.get("organizer", ""))
    if organizer is None:
        return None
    uid = _uid(copy_item)
    for folder in organizer.folders.values():
        for candidate in folder.items.values():
            if is_organizer_item(candidate) and uid and _uid(candidate) == uid:
                return candidate
    return None


def respond(
    ctx: Context,
    kind: str,
    reference: Item,
    disposition: str,
    body: etree._Element | None = None,
    *,
    notify: bool = True,
) -> tuple[Item | None, Item | None]:
    """An attendee's AcceptItem, TentativelyAcceptItem or DeclineItem on a calendar item or a
    meeting request: (the calendar item as it stands afterwards, the saved response message).

    The calendar item's ``MyResponseType`` becomes the response (accepted: the organizer's
    free/busy status, tentative: Tentative); a declined meeting and the answered request move to
    Deleted Items. The organizer's Inbox receives a MeetingResponse carrying ``body`` (the
    response's text) and the organizer's item records the attendee's ``ResponseType``, which
    gives it a new change key as Exchange's processing of the response does. A declined copy is
    no longer the attendee's: a later update of the meeting brings a new request. ``SaveOnly``
    only saves the response in Drafts; ``notify=False`` (Graph's ``sendResponse: false``) answers
    without telling the organizer.
    """
    response = RESPONSES[kind]
    store = ctx.store
    if reference.kind == "CalendarItem" and is_organizer_item(reference):
        raise OperationError(_ORGANIZER_CODE[response], "The organizer cannot respond to the meeting.")
    if reference.kind not in ("CalendarItem", "MeetingRequest"):
        raise OperationError("ErrorInvalidItemForOperationCreateItem", f"{kind} cannot respond to this item.")
    request = reference if reference.kind == "MeetingRequest" else None
    cal = store.current(reference.meeting.get("calendar")) if request is not None else reference
    if cal is not None and cal.meeting.get("cancelled"):
        raise OperationError(
            "ErrorCalendarMeetingRequestIsOutOfDate",
            "The meeting request is out of date; the meeting was cancelled.",
        )
    mbx = reference.mailbox
    source = cal if cal is not None else reference
    organizer_smtp = reference.meeting.get("organizer", "")
    text = {"Body": copy.deepcopy(body)} if body is not None else {}
    if disposition == "SaveOnly":
        draft = _message(
            ctx,
            mbx.folder("drafts"),
            "Message",
            f"IPM.Schedule.Meeting.Resp.{_RESPONSE_CLASS[response]}",
            _RESPONSE_PREFIX[response] + _subject(source),
            mbx.smtp,
            [organizer_smtp],
            None,
            **text,
        )
        return cal, draft
    organizer_item = _organizer_item(store, source)
    if cal is not None:
        cal.meeting["response"] = response
        status = "Tentative"
        if response != "Tentative":
            current = organizer_item.props.get("LegacyFreeBusyStatus") if organizer_item is not None else None
            status = (current.text or "Busy") if current is not None else "Busy"
        cal.props["LegacyFreeBusyStatus"] = _status(status)
        cal.touch(["MyResponseType", "LegacyFreeBusyStatus"])
        store.record_update(cal)
        if response == "Decline":
            cal = store.move_item(cal, mbx.folder("deleteditems"))
    if request is not None:
        store.move_item(request, mbx.folder("deleteditems"))
    if organizer_item is not None and response == "Decline":
        organizer_item.meeting.get("copies", {}).pop(mbx.smtp, None)
    if organizer_item is not None and notify:
        groups = [g for g in ATTENDEE_GROUPS if g in organizer_item.props]
        for smtp, attendee in attendees(organizer_item):
            if smtp == mbx.smtp:
                _record_response(attendee, response)
        # Exchange records a later answer when it processes the response: a modification of
        # the organizer's item, which SyncFolderItems and Graph delta report as changed.
        organizer_item.touch(groups)
        store.record_update(organizer_item)
        organizer = store.mailbox(organizer_item.mailbox.smtp)
        if organizer is not None:
            answered = _message(
                ctx,
                organizer.folder("inbox"),
                "MeetingResponse",
                f"IPM.Schedule.Meeting.Resp.{_RESPONSE_CLASS[response]}",
                _RESPONSE_PREFIX[response] + _subject(organizer_item),
                mbx.smtp,
                [organizer.smtp],
                organizer_item,
                AssociatedCalendarItemId=etree.Element(
                    t("AssociatedCalendarItemId"),
                    {"Id": organizer_item.id, "ChangeKey": organizer_item.change_key},
                ),
                ResponseType=_text("ResponseType", response),
                **text,
            )
            answered.meeting = {"organizer": organizer.smtp, "message": "MeetingResponse", "from": mbx.smtp}
    if disposition == "SendAndSaveCopy" and notify:
        _message(
            ctx,
            mbx.folder("sentitems"),
            "MeetingResponse",
            f"IPM.Schedule.Meeting.Resp.{_RESPONSE_CLASS[response]}",
            _RESPONSE_PREFIX[response] + _subject(source),
            mbx.smtp,
            [organizer_smtp],
            source,
            ResponseType=_text("ResponseType", response),
            **text,
        )
    return (cal if response != "Decline" else None), None


def cancel(ctx: Context, reference: Item, disposition: str) -> Item | None:
    """The organizer's CancelCalendarItem: each attendee receives a MeetingCancellation and their
    copy is marked cancelled (a room's booking is removed), and the organizer's meeting moves to
    Deleted Items. ``SaveOnly`` only saves the cancellation in Drafts (sent later, nothing is
    cancelled yet); returns that draft."""
    if reference.kind != "CalendarItem":
        raise OperationError("ErrorInvalidItemForOperationCancelItem", "Only a meeting can be cancelled.")
    if not is_organizer_item(reference):
        raise OperationError("ErrorCalendarIsNotOrganizer", "Only the organizer can cancel the meeting.")
    mbx = reference.mailbox
    to = [smtp for smtp, _ in attendees(reference)]
    subject = "Canceled: " + _subject(reference)
    if disposition == "SaveOnly":
        return _message(
            ctx,
            mbx.folder("drafts"),
            "Message",
            "IPM.Schedule.Meeting.Canceled",
            subject,
            mbx.smtp,
            to,
            reference,
        )
    before_delete(ctx, reference, None, "SendToAll")
    if disposition == "SendAndSaveCopy":
        _message(
            ctx,
            mbx.folder("sentitems"),
            "MeetingCancellation",
            "IPM.Schedule.Meeting.Canceled",
            subject,
            mbx.smtp,
            to,
            reference,
        )
    ctx.store.move_item(reference, mbx.folder("deleteditems"))
    return None


# --- booking policy ----------------------------------------------------------------------------


def _intervals(item: Item, until: datetime) -> list[tuple[datetime, datetime]]:
    return [(s, e) for _, s, e in _instances(item, until)]


def _instances(item: Item, until: datetime) -> list[tuple[int | None, datetime, datetime]]:
    """(occurrence index, start, end) of each live occurrence of a series up to ``until``; a single
    meeting's one instance has no index."""
    if "Start" not in item.props or "End" not in item.props:
        return []
    if "Recurrence" in item.props:
        return [(o.index, o.start, o.end) for o in occurrences(item, until=until)]
    return [(None, *master_times(item))]


def accepts(store: Store, item: Item, room: Mailbox, policy: BookingPolicy) -> set[int] | None:
    """Whether the room's policy books the meeting: None when it declines it, else the occurrences
    of a series it declines while accepting the rest (empty: every one).

    Without ``AllowConflicts`` a single meeting that overlaps anything not free in the room's
    calendar is declined; a series is declined when more of its occurrences conflict than
    ``MaximumConflictInstances`` allows or a larger share than ``ConflictPercentageAllowed``
    (both 0 by default: one conflict declines the series), and accepted without the conflicting
    occurrences otherwise (Set-CalendarProcessing, AllowConflicts).
    """
    horizon = now() + timedelta(days=policy.booking_window_days)
    if "Start" not in item.props or "End" not in item.props:
        return None
    if "Recurrence" in item.props:
        if not policy.allow_recurring:
            return None
        start, end = master_times(item)
        last = recurrence.last_occurrence(item.props["Recurrence"], start, end, item_zone(item.props, None))
        if last is None or last.start >= horizon:
            return None  # the series reaches past the booking window (EnforceSchedulingHorizon)
    wanted = _instances(item, horizon)
    limit = timedelta(minutes=policy.max_duration_minutes)
    if not wanted or any(s >= horizon or e - s > limit for _, s, e in wanted):
        return None
    if policy.allow_conflicts:
        return set()
    conflicting = _conflicting(item, room, wanted)
    if not conflicting:
        return set()
    if "Recurrence" not in item.props:
        return None
    too_many = len(conflicting) > policy.maximum_conflict_instances
    too_large = 100 * len(conflicting) > policy.conflict_percentage_allowed * len(wanted)
    if too_many or too_large:
        return None
    return {index for index in conflicting if index is not None}


def _conflicting(
    item: Item, room: Mailbox, wanted: list[tuple[int | None, datetime, datetime]]
) -> list[int | None]:
    """The instances of ``wanted`` that overlap anything not free in the room's calendar (other
    than the room's own copy of the meeting)."""
    uid = _uid(item)
    latest = max(e for _, _, e in wanted)
    busy: list[tuple[datetime, datetime]] = []
    for other in room.folder("calendar").items.values():
        if other.kind != "CalendarItem" or other.meeting.get("cancelled") or _uid(other) == uid:
            continue
        status = other.props.get("LegacyFreeBusyStatus")
        if status is not None and status.text == "Free":
            continue
        busy.extend(_intervals(other, latest))
    return [index for index, ws, we in wanted if any(s < we and ws < e for s, e in busy)]
