"""Between the core's model and Graph's ``event`` JSON, both ways.

Reading back what was written must give the same :func:`roomsync.engine.merge.snapshot`, or the
engine would see a change on every cycle: times are instants shown in the entry's own zone,
participants and rooms are addresses, a series reads back as the same pattern, a modified
occurrence keeps ``title=None`` when its subject is the series'. Events are read with
``Prefer: outlook.timezone="UTC"``, so every time Graph answers is UTC unless it says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from roomsync import addin_mark
from roomsync.connector.types import Answer, AttendeeAnswer, CalendarEntry
from roomsync.domain import EventFields, OccurrenceChange, Participant, Recurrence, ShowAs
from roomsync_o365 import properties as props
from roomsync_o365 import recurrence as series
from roomsync_o365.timezones import same_zone, to_iana, to_windows

SHOW_AS_TO_GRAPH = {
    ShowAs.FREE: "free",
    ShowAs.TENTATIVE: "tentative",
    ShowAs.BUSY: "busy",
    ShowAs.OOF: "oof",
}
GRAPH_TO_SHOW_AS = {value: key for key, value in SHOW_AS_TO_GRAPH.items()}

EVENT_FIELDS = (
    "id",
    "changeKey",
    "type",
    "seriesMasterId",
    "subject",
    "start",
    "end",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "attendees",
    "organizer",
    "location",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "sensitivity",
    "showAs",
    "body",
    "recurrence",
    "isCancelled",
    "lastModifiedDateTime",
    "iCalUId",
)
"""What an entry is read from (``$select``)."""

INSTANCE_FIELDS = ("id", "type", "originalStart", "start", "end", "subject", "seriesMasterId")

_FRACTION = re.compile(r"(\.\d{1,6})\d*")


# --- writing -------------------------------------------------------------------------------


def graph_time(value: datetime, zone: str) -> dict[str, str]:
    """A ``dateTimeTimeZone``: the wall-clock time of the instant in ``zone``, with its Windows name."""
    local = value.astimezone(ZoneInfo(zone))
    return {
        "dateTime": local.replace(tzinfo=None).isoformat(timespec="seconds"),
        "timeZone": to_windows(zone),
    }


def _attendees(participants: Iterable[Participant], rooms: Iterable[str]) -> list[dict[str, Any]]:
    found = [
        {"emailAddress": {"address": p.email, **({"name": p.name} if p.name else {})}, "type": "required"}
        for p in participants
    ]
    found += [{"emailAddress": {"address": room}, "type": "resource"} for room in rooms]
    return found


def to_event(
    fields: EventFields, stamp: str | None, setup_minutes: int = 0, followup_minutes: int = 0
) -> dict[str, Any]:
    """An event carrying every synced field (a full replacement when used for PATCH).

    ``stamp=None`` writes no roomsync properties (what a person's own Outlook does).
    """
    event: dict[str, Any] = {
        "subject": fields.title,
        "start": graph_time(fields.start, fields.timezone),
        "end": graph_time(fields.end, fields.timezone),
        "attendees": _attendees(fields.participants, fields.rooms),
        "location": {"displayName": "; ".join(fields.rooms)},
        "isReminderOn": fields.reminder_minutes is not None,
        "reminderMinutesBeforeStart": fields.reminder_minutes or 0,
        "sensitivity": "private" if fields.private else "normal",
        "showAs": SHOW_AS_TO_GRAPH[fields.show_as],
        "body": {"contentType": "text", "content": fields.body},
        "recurrence": (
            series.to_graph(
                fields.recurrence,
                fields.start.astimezone(ZoneInfo(fields.timezone)).date(),
                to_windows(fields.timezone),
            )
            if fields.recurrence is not None
            else None
        ),
    }
    if stamp is not None:
        event["singleValueExtendedProperties"] = props.write(
            stamp, fields.timezone, setup_minutes, followup_minutes
        )
    return event


def occurrence_patch(start: datetime, end: datetime, title: str, zone: str) -> dict[str, Any]:
    """What makes an occurrence an exception (or puts it back into the pattern)."""
    return {"subject": title, "start": graph_time(start, zone), "end": graph_time(end, zone)}


# --- reading -------------------------------------------------------------------------------


def parse_instant(value: str) -> datetime:
    """A Graph ``DateTimeOffset`` (``2030-05-06T07:00:00Z``, up to 7 decimals)."""
    text = _FRACTION.sub(lambda m: m.group(1), value.strip())
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_time(value: dict[str, Any] | None) -> datetime:
    """A ``dateTimeTimeZone`` as an aware datetime (UTC unless Graph named another zone)."""
    if not value or not value.get("dateTime"):
        raise ValueError("an event without a start or end time")
    text = _FRACTION.sub(lambda m: m.group(1), str(value["dateTime"]).strip())
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        return parsed
    zone = to_iana(value.get("timeZone")) or "UTC"
    return parsed.replace(tzinfo=ZoneInfo(zone))


def _address(value: Any) -> str | None:
    email = ((value or {}).get("emailAddress") or {}).get("address")
    return str(email).strip().lower() if email else None


class _Text(HTMLParser):
    """Plain text of an HTML body, for a server that ignores the text preference."""

    BREAKS = {"br", "p", "div", "li", "tr"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BREAKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def body_text(body: dict[str, Any] | None) -> str:
    if not body:
        return ""
    content = str(body.get("content") or "")
    if str(body.get("contentType", "text")).lower() == "html":
        parser = _Text()
        parser.feed(content)
        content = "".join(parser.parts).strip("\n")
    return content.replace("\r\n", "\n")


def zone_of(event: dict[str, Any], written: str | None, default: str) -> str:
    """The entry's IANA zone: the one roomsync wrote while Exchange still has that zone."""
    graph_zone = event.get("originalStartTimeZone")
    if written and (not graph_zone or same_zone(written, graph_zone)):
        try:
            ZoneInfo(written)
            return written
        except (ValueError, KeyError):
            pass  # a value someone else wrote into our property
    return to_iana(graph_zone) or default


def _modified(value: Any) -> datetime | None:
    """``lastModifiedDateTime``; ``None`` where a server leaves it out or garbles it (it only
    informs the differences report)."""
    try:
        return parse_instant(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _int(value: str | None) -> int:
    try:
        return max(0, int(value)) if value is not None else 0
    except ValueError:
        return 0


def _reminder(event: dict[str, Any]) -> int | None:
    if not event.get("isReminderOn"):
        return None
    return int(event.get("reminderMinutesBeforeStart") or 0)


def occurrence_changes(
    master: dict[str, Any],
    fields_start: datetime,
    duration: timedelta,
    recurrence: Any,
    zone: str,
    instances: Sequence[dict[str, Any]],
    window_end: datetime,
) -> tuple[OccurrenceChange, ...]:
    """Modified occurrences (exceptions) and cancelled ones of a series read with its ``instances``."""
    tz = ZoneInfo(zone)
    subject = master.get("subject") or ""
    seen: set[datetime] = set()
    changes: list[OccurrenceChange] = []
    for instance in instances:
        if not instance.get("originalStart"):
            continue
        original = parse_instant(str(instance["originalStart"])).astimezone(UTC)
        seen.add(original)
        if instance.get("type") != "exception":
            continue
        start = parse_time(instance.get("start")).astimezone(UTC)
        end = parse_time(instance.get("end")).astimezone(UTC)
        title = instance.get("subject")
        title = None if title in (None, subject) else str(title)
        if start == original and end == original + duration and title is None:
            continue  # an exception that matches its slot changes nothing
        changes.append(
            OccurrenceChange(
                original_start=original.astimezone(tz),
                start=start.astimezone(tz),
                end=end.astimezone(tz),
                title=title,
            )
        )
    for original in series.originals(recurrence, fields_start, zone, window_end):
        if original not in seen:
            changes.append(OccurrenceChange(original_start=original.astimezone(tz), cancelled=True))
    return tuple(changes)


def rooms_of(attendees: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    """The addresses of the resource attendees, sorted."""
    return tuple(sorted({a for a in (_address(x) for x in attendees if x.get("type") == "resource") if a}))


def participants_of(
    attendees: Iterable[dict[str, Any]], mailbox: str, organizer: str, rooms: Sequence[str]
) -> tuple[Participant, ...]:
    """The attendees other than resources, the mailbox, the organizer and the rooms.

    A name that only repeats the address reads as no name.
    """
    found: dict[str, Participant] = {}
    for attendee in attendees:
        email = _address(attendee)
        if attendee.get("type") == "resource" or not email or email in (mailbox, organizer) or email in rooms:
            continue
        name = ((attendee.get("emailAddress") or {}).get("name")) or ""
        found[email] = Participant(email=email, name="" if name.lower() == email else str(name))
    return tuple(found.values())


GRAPH_TO_ANSWER = {
    "none": Answer.NONE,
    "notresponded": Answer.NONE,
    "accepted": Answer.ACCEPTED,
    "tentativelyaccepted": Answer.TENTATIVE,
    "declined": Answer.DECLINED,
}
"""An attendee's ``status.response`` (compared in lower case); ``organizer`` is the organizer's own."""


def answers_of(attendees: Iterable[dict[str, Any]]) -> tuple[AttendeeAnswer, ...]:
    """Every attendee's answer, resources included, as the organizer's event records it: what
    tells the engine a room declined. Read from the ``attendees`` the event is selected with."""
    found: dict[str, AttendeeAnswer] = {}
    for attendee in attendees:
        email = _address(attendee)
        response = str((attendee.get("status") or {}).get("response") or "none").lower()
        if email and response != "organizer" and email not in found:
            found[email] = AttendeeAnswer(mailbox=email, answer=GRAPH_TO_ANSWER.get(response, Answer.NONE))
    return tuple(found.values())


def _recurrence(event: dict[str, Any]) -> Recurrence | None:
    """A series master's pattern; a single event has none."""
    if event.get("type") == "seriesMaster" or event.get("recurrence"):
        return series.from_graph(event.get("recurrence"))
    return None


def _fields(
    event: dict[str, Any],
    mailbox: str,
    organizer: str,
    zone_name: str,
    instances: Sequence[dict[str, Any]] | None,
    instances_end: datetime | None,
) -> EventFields:
    zone = ZoneInfo(zone_name)
    attendees = list(event.get("attendees") or ())
    rooms = rooms_of(attendees)
    participants = participants_of(attendees, mailbox, organizer, rooms)
    start = parse_time(event.get("start")).astimezone(zone)
    end = parse_time(event.get("end")).astimezone(zone)
    recurrence = _recurrence(event)
    occurrences: tuple[OccurrenceChange, ...] = ()
    if recurrence is not None and instances is not None and instances_end is not None:
        # without the master's instances a series reads without exceptions
        occurrences = occurrence_changes(
            event, start, end - start, recurrence, zone_name, instances, instances_end
        )
    return EventFields(
        title=event.get("subject") or "",
        start=start,
        end=end,
        timezone=zone_name,
        rooms=rooms,
        participants=participants,
        reminder_minutes=_reminder(event),
        private=str(event.get("sensitivity") or "normal").lower() in ("private", "confidential"),
        show_as=GRAPH_TO_SHOW_AS.get(str(event.get("showAs") or "busy").lower(), ShowAs.BUSY),
        body=body_text(event.get("body")),
        recurrence=recurrence,
        occurrences=occurrences,
    )


def stamp_of(ours: dict[str, str]) -> str | None:
    """roomsync's own stamp, else the one the Outlook add-in left (the add-in booked the room in
    ROOMS before Outlook saved the meeting, so the entry already has a reservation)."""
    return ours.get(props.STAMP) or addin_mark.stamp_in(ours.get(props.ADDIN))


def to_entry(
    event: dict[str, Any],
    mailbox: str,
    default_zone: str,
    instances: Sequence[dict[str, Any]] | None = None,
    instances_end: datetime | None = None,
) -> CalendarEntry:
    """The entry of an event (a single entry or a series master) as the engine sees it.

    ``instances`` are the master's ``/instances`` up to ``instances_end``; without them a series
    reads without exceptions.
    """
    mailbox = mailbox.lower()
    ours = props.values(event)
    zone_name = zone_of(event, ours.get(props.TIMEZONE), default_zone)
    organizer = _address(event.get("organizer")) or mailbox
    fields = _fields(event, mailbox, organizer, zone_name, instances, instances_end)
    return CalendarEntry(
        item_id=str(event["id"]),
        change_key=str(event.get("changeKey") or ""),
        mailbox=mailbox,
        organizer=organizer,
        stamp=stamp_of(ours),
        fields=fields,
        setup_minutes=_int(ours.get(props.SETUP)),
        followup_minutes=_int(ours.get(props.FOLLOWUP)),
        modified=_modified(event.get("lastModifiedDateTime")),
        uid=str(event["iCalUId"]) if event.get("iCalUId") else None,
        answers=answers_of(event.get("attendees") or ()) if organizer == mailbox else (),  # invitation: none
    )
