"""Between the core's model and exchangelib's ``CalendarItem``, both ways.

Reading back what was written must give the same :func:`roomsync.engine.merge.snapshot`, or the
engine would see a change on every cycle: times are instants in the entry's own zone,
participants and rooms are addresses, a recurrence reads back as the same pattern, a modified
occurrence keeps ``title=None`` when its subject is the series'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import Attendee, Body, CalendarItem, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.fields import MONTHS, WEEK_NUMBERS, WEEKDAY_NAMES
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence

from roomsync import addin_mark
from roomsync.connector.types import Answer, AttendeeAnswer, CalendarEntry
from roomsync.domain import EventFields, Frequency, OccurrenceChange, Participant, Recurrence, ShowAs, Weekday
from roomsync.recurrence import rule
from roomsync_ews_common import stamp as props

SHOW_AS_TO_EWS = {ShowAs.FREE: "Free", ShowAs.TENTATIVE: "Tentative", ShowAs.BUSY: "Busy", ShowAs.OOF: "OOF"}
EWS_TO_SHOW_AS = {value: key for key, value in SHOW_AS_TO_EWS.items()}
WEEKDAYS = list(Weekday)  # Monday first, as exchangelib's WEEKDAY_NAMES

SYNCED_FIELDS = (
    "subject",
    "start",
    "end",
    "required_attendees",
    "optional_attendees",
    "resources",
    "location",
    "reminder_is_set",
    "reminder_minutes_before_start",
    "sensitivity",
    "legacy_free_busy_status",
    "body",
    "recurrence",
    props.STAMP,
    props.TIMEZONE,
    props.SETUP,
    props.FOLLOWUP,
)
"""What an update replaces; everything roomsync writes and nothing it does not."""


# --- writing -------------------------------------------------------------------------------


def ews_time(value: datetime, zone: EWSTimeZone) -> EWSDateTime:
    """The instant as exchangelib's datetime, on the wall clock of ``zone``."""
    local = value.astimezone(ZoneInfo(zone.key))
    return EWSDateTime(
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond,
        tzinfo=zone,
        fold=local.fold,
    )


def _attendees(addresses: Iterable[tuple[str, str]]) -> list[Attendee] | None:
    found = [
        Attendee(mailbox=Mailbox(email_address=email, name=name or None), response_type="Unknown")
        for email, name in addresses
    ]
    return found or None


def _enum(names: Sequence[str], value: str) -> int:
    return names.index(value) + 1


def to_ews_recurrence(recurrence: Recurrence, first_day: date) -> EwsRecurrence:
    """The EWS pattern and boundary of a series whose first occurrence is on ``first_day``."""
    days = [_enum(WEEKDAY_NAMES, WEEKDAY_NAMES[WEEKDAYS.index(d)]) for d in recurrence.weekdays]
    week = None
    if recurrence.week_of_month is not None:
        week = len(WEEK_NUMBERS) if recurrence.week_of_month == -1 else recurrence.week_of_month
    pattern: Any
    if recurrence.frequency is Frequency.DAILY:
        pattern = DailyPattern(interval=recurrence.interval)
    elif recurrence.frequency is Frequency.WEEKLY:
        pattern = WeeklyPattern(interval=recurrence.interval, weekdays=days, first_day_of_week=1)
    elif recurrence.frequency is Frequency.MONTHLY and recurrence.month_day is not None:
        pattern = AbsoluteMonthlyPattern(interval=recurrence.interval, day_of_month=recurrence.month_day)
    elif recurrence.frequency is Frequency.MONTHLY:
        pattern = RelativeMonthlyPattern(interval=recurrence.interval, weekday=days[0], week_number=week)
    elif recurrence.month_day is not None:
        if recurrence.interval != 1:
            raise ValueError("EWS has no yearly series with an interval; use monthly every 12·n months")
        pattern = AbsoluteYearlyPattern(day_of_month=recurrence.month_day, month=recurrence.month)
    else:
        if recurrence.interval != 1:
            raise ValueError("EWS has no yearly series with an interval; use monthly every 12·n months")
        pattern = RelativeYearlyPattern(weekday=days[0], week_number=week, month=recurrence.month)
    boundary: Any
    if recurrence.count is not None:
        boundary = NumberedPattern(start=first_day, number=recurrence.count)
    elif recurrence.until is not None:
        boundary = EndDatePattern(start=first_day, end=recurrence.until)
    else:
        boundary = NoEndPattern(start=first_day)
    return EwsRecurrence(pattern=pattern, boundary=boundary)


def to_item(
    account: Any,
    fields: EventFields,
    stamp: str,
    setup_minutes: int = 0,
    followup_minutes: int = 0,
    item_cls: type[CalendarItem] = CalendarItem,
    **identity: Any,
) -> CalendarItem:
    """A calendar item carrying every synced field; ``identity`` (``id``, ``changekey``) for updates.

    ``item_cls`` is a ``CalendarItem`` subclass for a generation that writes some fields its own way.
    """
    zone = EWSTimeZone(fields.timezone)
    start = ews_time(fields.start, zone)
    item = item_cls(
        account=account,
        folder=account.calendar,
        subject=fields.title,
        start=start,
        end=ews_time(fields.end, zone),
        required_attendees=_attendees((p.email, p.name) for p in fields.participants),
        optional_attendees=None,
        resources=_attendees((room, "") for room in fields.rooms),
        location="; ".join(fields.rooms) or None,
        reminder_is_set=fields.reminder_minutes is not None,
        reminder_minutes_before_start=fields.reminder_minutes or 0,
        sensitivity="Private" if fields.private else "Normal",
        legacy_free_busy_status=SHOW_AS_TO_EWS[fields.show_as],
        body=Body(fields.body) if fields.body else None,
        recurrence=(
            to_ews_recurrence(fields.recurrence, start.date()) if fields.recurrence is not None else None
        ),
        **identity,
    )
    setattr(item, props.STAMP, stamp)
    setattr(item, props.TIMEZONE, fields.timezone)
    setattr(item, props.SETUP, setup_minutes)
    setattr(item, props.FOLLOWUP, followup_minutes)
    return item


def occurrence_index(fields: EventFields, original_start: datetime) -> int:
    """The 1-based instance index EWS gives the occurrence that originally starts then."""
    assert fields.recurrence is not None
    zone = ZoneInfo(fields.timezone)
    local_first = fields.start.astimezone(zone).replace(tzinfo=None)
    wanted = original_start.astimezone(UTC)
    for index, local in enumerate(rule(fields.recurrence, local_first), start=1):
        at = local.replace(tzinfo=zone).astimezone(UTC)
        if at == wanted:
            return index
        if at > wanted or index > 10_000:
            break
    raise ValueError(f"{original_start.isoformat()} is not an occurrence of the series")


# --- reading -------------------------------------------------------------------------------


def _modified(value: Any) -> datetime | None:
    """``LastModifiedTime`` as a plain aware UTC instant (exchangelib gives an EWSDateTime)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _address(mailbox: Any) -> str | None:
    email = getattr(mailbox, "email_address", None)
    return email.strip().lower() if email else None


def _zone_name(item: Any, default: str) -> str:
    """The entry's IANA zone: the one roomsync wrote while Exchange still has that Windows zone."""
    ews_zone = getattr(item, "_start_timezone", None) or getattr(item, "_meeting_timezone", None)
    written = getattr(item, props.TIMEZONE, None)
    if ews_zone is None:
        return written or default
    if written:
        try:
            if EWSTimeZone(written).ms_id == ews_zone.ms_id:
                return str(written)
        except Exception:  # a value someone else wrote into our property
            pass
    return str(ews_zone.key)


def _plain(value: Any, zone: ZoneInfo) -> datetime:
    """A standard datetime in ``zone`` (exchangelib's subclasses do not belong in the model)."""
    return datetime.fromtimestamp(value.timestamp(), tz=zone)


def _bounds(item: Any, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end of an item; an all-day item (exchangelib turns its times into dates, the last
    day inclusive) covers its days from midnight to midnight."""
    start, end = item.start, item.end
    if isinstance(start, datetime) and isinstance(end, datetime):
        return _plain(start, zone), _plain(end, zone)
    return datetime.combine(start, time(), zone), datetime.combine(end + timedelta(days=1), time(), zone)


def _int(value: Any, names: Sequence[str]) -> int:
    return names.index(value) + 1 if isinstance(value, str) else int(value)


def from_ews_recurrence(value: Any) -> Recurrence | None:
    pattern, boundary = value.pattern, value.boundary
    data: dict[str, Any] = {"interval": getattr(pattern, "interval", None) or 1}
    if hasattr(pattern, "weekdays"):
        data["weekdays"] = tuple(WEEKDAYS[_int(d, WEEKDAY_NAMES) - 1] for d in pattern.weekdays)
    elif getattr(pattern, "weekday", None) is not None:
        data["weekdays"] = (WEEKDAYS[_int(pattern.weekday, WEEKDAY_NAMES) - 1],)
    if getattr(pattern, "week_number", None) is not None:
        week = _int(pattern.week_number, WEEK_NUMBERS)
        data["week_of_month"] = -1 if week == len(WEEK_NUMBERS) else week
    if getattr(pattern, "day_of_month", None) is not None:
        data["month_day"] = pattern.day_of_month
    if getattr(pattern, "month", None) is not None:
        data["month"] = _int(pattern.month, MONTHS)
    kinds = {
        DailyPattern: Frequency.DAILY,
        WeeklyPattern: Frequency.WEEKLY,
        AbsoluteMonthlyPattern: Frequency.MONTHLY,
        RelativeMonthlyPattern: Frequency.MONTHLY,
        AbsoluteYearlyPattern: Frequency.YEARLY,
        RelativeYearlyPattern: Frequency.YEARLY,
    }
    frequency = kinds.get(type(pattern))
    if frequency is None:
        return None
    data["frequency"] = frequency
    if isinstance(boundary, NumberedPattern):
        data["count"] = boundary.number
    elif isinstance(boundary, EndDatePattern):
        data["until"] = boundary.end
    return Recurrence.model_validate(data)


def occurrence_changes(
    item: Any, subjects: dict[str, str | None], zone: ZoneInfo
) -> tuple[OccurrenceChange, ...]:
    """The series' exceptions: ``subjects`` holds each modified occurrence's subject by item id."""
    changes: list[OccurrenceChange] = []
    for occ in item.modified_occurrences or ():
        subject = subjects.get(occ.id)
        changes.append(
            OccurrenceChange(
                original_start=_plain(occ.original_start, zone),
                start=_plain(occ.start, zone),
                end=_plain(occ.end, zone),
                title=None if subject in (None, item.subject) else subject,
            )
        )
    for gone in item.deleted_occurrences or ():
        changes.append(OccurrenceChange(original_start=_plain(gone.start, zone), cancelled=True))
    return tuple(changes)


def modified_occurrence_ids(item: Any) -> list[str]:
    return [occ.id for occ in (item.modified_occurrences or ()) if occ.id]


def _reminder(item: Any) -> int | None:
    minutes = item.reminder_minutes_before_start or 0
    if item.reminder_is_set is None:
        # exchangelib reads only "true"/"false"; a server answering another xs:boolean form
        # ("1", as written) leaves it unknown. roomsync writes 0 minutes with every reminder off.
        return minutes or None
    return minutes if item.reminder_is_set else None


def rooms_of(item: Any) -> tuple[str, ...]:
    """The item's rooms: the addresses among its resources, sorted."""
    return tuple(sorted({a for a in (_address(r.mailbox) for r in item.resources or ()) if a}))


def participants_of(item: Any, mailbox: str, organizer: str, rooms: Sequence[str]) -> tuple[Participant, ...]:
    """Required and optional attendees other than the mailbox, the organizer and the rooms."""
    found: dict[str, Participant] = {}
    for attendee in [*(item.required_attendees or ()), *(item.optional_attendees or ())]:
        email = _address(attendee.mailbox)
        if email and email not in (mailbox, organizer) and email not in rooms:
            found[email] = Participant(email=email, name=attendee.mailbox.name or "")
    return tuple(found.values())


EWS_TO_ANSWER = {
    "Unknown": Answer.NONE,
    "NoResponseReceived": Answer.NONE,
    "Accept": Answer.ACCEPTED,
    "Tentative": Answer.TENTATIVE,
    "Decline": Answer.DECLINED,
}
"""An attendee's ``ResponseType`` on the organizer's item; ``Organizer`` is the organizer's own."""


def answers_of(item: Any) -> tuple[AttendeeAnswer, ...]:
    """Every attendee's answer (required, optional, resources) as the organizer's item records
    it: what tells the engine a room declined. Read from the attendee collections the item is
    fetched with anyway, so it costs no request."""
    found: dict[str, AttendeeAnswer] = {}
    for attendee in [
        *(item.required_attendees or ()),
        *(item.optional_attendees or ()),
        *(item.resources or ()),
    ]:
        email = _address(attendee.mailbox)
        response = attendee.response_type or "Unknown"
        if email and response != "Organizer" and email not in found:
            found[email] = AttendeeAnswer(mailbox=email, answer=EWS_TO_ANSWER.get(response, Answer.NONE))
    return tuple(found.values())


def _series(
    item: Any, subjects: dict[str, str | None], zone: ZoneInfo
) -> tuple[Recurrence | None, tuple[OccurrenceChange, ...]]:
    """The item's pattern and its exceptions; a single item has neither."""
    recurrence = from_ews_recurrence(item.recurrence) if item.recurrence is not None else None
    if recurrence is None:
        return None, ()
    return recurrence, occurrence_changes(item, subjects, zone)


def _fields(
    item: Any, mailbox: str, organizer: str, zone_name: str, subjects: dict[str, str | None]
) -> EventFields:
    zone = ZoneInfo(zone_name)
    rooms = rooms_of(item)
    participants = participants_of(item, mailbox, organizer, rooms)
    recurrence, occurrences = _series(item, subjects, zone)
    start, end = _bounds(item, zone)
    return EventFields(
        title=item.subject or "",
        start=start,
        end=end,
        timezone=zone_name,
        rooms=rooms,
        participants=participants,
        reminder_minutes=_reminder(item),
        private=item.sensitivity in ("Private", "Confidential"),
        show_as=EWS_TO_SHOW_AS.get(item.legacy_free_busy_status or "Busy", ShowAs.BUSY),
        body=str(item.body or "").replace("\r\n", "\n"),
        recurrence=recurrence,
        occurrences=occurrences,
    )


def stamp_of(item: Any) -> str | None:
    """roomsync's own stamp, else the one the Outlook add-in left (the add-in booked the room in
    ROOMS before Outlook saved the meeting, so the entry already has a reservation)."""
    return getattr(item, props.STAMP, None) or addin_mark.stamp_in(getattr(item, props.ADDIN, None))


def to_entry(
    item: Any, mailbox: str, default_zone: str, subjects: dict[str, str | None] | None = None
) -> CalendarEntry:
    """The entry of a calendar item (a single entry or a series master) as the engine sees it."""
    zone_name = _zone_name(item, default_zone)
    organizer = _address(item.organizer) or mailbox
    return CalendarEntry(
        item_id=item.id,
        change_key=item.changekey or "",
        mailbox=mailbox,
        organizer=organizer,
        stamp=stamp_of(item),
        fields=_fields(item, mailbox, organizer, zone_name, subjects or {}),
        setup_minutes=getattr(item, props.SETUP, None) or 0,
        followup_minutes=getattr(item, props.FOLLOWUP, None) or 0,
        modified=_modified(getattr(item, "last_modified_time", None)),
        uid=getattr(item, "uid", None) or None,
        answers=answers_of(item) if organizer.lower() == mailbox.lower() else (),  # invitation: none
    )
