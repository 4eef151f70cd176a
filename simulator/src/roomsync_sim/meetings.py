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
  are allowed, no overlap with anything not free in its calendar — one conflicting occurrence
  declines the whole series, Exchange's default) and declines it otherwise. A booking is a Busy
  item accepted by the room; a declined meeting leaves nothing in the room's calendar; a
  cancellation removes the booking. ``AutoUpdate`` places the request tentatively without
  answering; ``None`` leaves the request unprocessed.
- The room's answer is written into the organizer's item (the attendee's ``ResponseType`` and
  ``LastResponseTime``) in the same request, without a new change key: Exchange would record it
  a moment later.

Only items that were not received (the organizer's) propagate, and only when the request asks to
send (``SendMeetingInvitations``/``...OrCancellations``/``SendMeetingCancellations`` other than
SendToNone). An update re-sends the whole meeting, occurrence changes included.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from lxml import etree

from roomsync_sim import recurrence
from roomsync_sim.context import Context
from roomsync_sim.properties import item_zone, master_times, occurrences
from roomsync_sim.seed import BookingPolicy
from roomsync_sim.soap import t
from roomsync_sim.store import Item, Mailbox, Store, now
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
        _cancel_copy(store, store.item_by_key(copies.pop(smtp)))
    for smtp, attendee in wanted.items():
        mbx = store.mailbox(smtp)
        assert mbx is not None
        existing = store.item_by_key(copies[smtp]) if smtp in copies else None
        if mbx.kind == "room":
            user = ctx.directory.user(smtp)
            policy = (user.booking if user else None) or BookingPolicy()
            response, copied = _room(store, item, mbx, policy, existing)
        else:
            response, copied = "Unknown", _person_copy(store, item, mbx, existing, "Tentative")
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
        target = store.item_by_key(copies[smtp])
        if target is None:
            copies.pop(smtp)
            continue
        if occurrence is not None:
            target.deleted_occurrences.add(occurrence)
            target.exceptions.pop(occurrence, None)
            target.touch(["DeletedOccurrences"])
            store.record_update(target)
        else:
            _cancel_copy(store, target)
    if occurrence is None:
        copies.clear()


def _cancel_copy(store: Store, target: Item | None) -> None:
    if target is None:
        return
    if target.mailbox.kind == "room":
        store.remove_item(target)
        return
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
    """The room's answer (Accept, Decline or Unknown) and its calendar item, if any."""
    if policy.automate_processing == "None":
        return "Unknown", existing
    if policy.automate_processing == "AutoUpdate":
        return "Unknown", _person_copy(store, item, room, existing, "Tentative")
    if not accepts(store, item, room, policy):
        if existing is not None:
            store.remove_item(existing)
        return "Decline", None
    booked = _person_copy(store, item, room, existing, "Busy")
    booked.meeting["response"] = "Accept"
    return "Accept", booked


def _record_response(attendee: etree._Element, response: str) -> None:
    rt = attendee.find(t("ResponseType"))
    if rt is None:
        rt = etree.Element(t("ResponseType"))
        attendee.insert(1, rt)
    rt.text = response
    if response in ("Accept", "Decline"):
        lrt = attendee.find(t("LastResponseTime"))
        if lrt is None:
            lrt = etree.Element(t("LastResponseTime"))
            rt.addnext(lrt)
        lrt.text = format_datetime(now())


# --- booking policy ----------------------------------------------------------------------------


def _intervals(item: Item, until: datetime) -> list[tuple[datetime, datetime]]:
    if "Start" not in item.props or "End" not in item.props:
        return []
    if "Recurrence" in item.props:
        return [(o.start, o.end) for o in occurrences(item, until=until)]
    return [master_times(item)]


def accepts(store: Store, item: Item, room: Mailbox, policy: BookingPolicy) -> bool:
    """Whether the room's policy books the meeting (every occurrence of a series)."""
    horizon = now() + timedelta(days=policy.booking_window_days)
    if "Start" not in item.props or "End" not in item.props:
        return False
    if "Recurrence" in item.props:
        if not policy.allow_recurring:
            return False
        start, end = master_times(item)
        last = recurrence.last_occurrence(item.props["Recurrence"], start, end, item_zone(item.props, None))
        if last is None or last.start >= horizon:
            return False  # the series reaches past the booking window (EnforceSchedulingHorizon)
    wanted = _intervals(item, horizon)
    limit = timedelta(minutes=policy.max_duration_minutes)
    if not wanted or any(s >= horizon or e - s > limit for s, e in wanted):
        return False
    if policy.allow_conflicts:
        return True
    uid = _uid(item)
    latest = max(e for _, e in wanted)
    for other in room.folder("calendar").items.values():
        if other.kind != "CalendarItem" or other.meeting.get("cancelled") or _uid(other) == uid:
            continue
        status = other.props.get("LegacyFreeBusyStatus")
        if status is not None and status.text == "Free":
            continue
        for s, e in _intervals(other, latest):
            if any(s < we and ws < e for ws, we in wanted):
                return False
    return True
