"""Booking, changing and cancelling a reservation: one set of checks for every way in.

The command line and the web API both book through here, so a reservation refused by one is
refused by the other in the same words. Each caller names fields its own way (``--title`` on the
command line, ``title`` in JSON): ``name`` turns a field's name into the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from roomsync.domain import EventFields, Participant, Recurrence, Reservation, Room, ShowAs
from roomsync.errors import InvalidInput, NotFound, OutsideBookingWindow
from roomsync.recurrence import occurrences
from roomsync.storage.protocols import Link, LinkState, Origin, UnitOfWork
from roomsync.zones import iana_zone

Namer = Callable[[str], str]
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Bookings outside these times are mistakes (and beyond them date arithmetic overflows)."""


def as_is(name: str) -> str:
    return name


def validation_message(exc: ValidationError, name: Namer = as_is) -> str:
    return "; ".join(
        f"{name('.'.join(str(p) for p in e['loc'])) or 'value'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def checked_title(title: str, name: Namer = as_is) -> str:
    if not title.strip():
        raise InvalidInput(f"{name('title')} is empty; a reservation needs a title")
    if any(ord(c) < 32 or ord(c) == 127 for c in title):
        raise InvalidInput(f"{name('title')} contains a line break or another control character")
    return title


def check_times(
    start: datetime, end: datetime, recurrence: Recurrence | None, zone: str, name: Namer = as_is
) -> None:
    """What the models would refuse, said in the caller's words; and a series ending before it
    starts, which they accept but no calendar can hold (it would fail every cycle)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(f"{name('start' if start.tzinfo is None else 'end')} has no time zone")
    if end <= start:
        raise InvalidInput(f"end {end.isoformat()} is not after start {start.isoformat()}")
    for key, value in (("start", start), ("end", end)):
        if not EARLIEST <= value <= LATEST:
            raise InvalidInput(f"{name(key)} {value.isoformat()} is outside {EARLIEST.year} to {LATEST.year}")
    until: date | None = recurrence.until if recurrence else None
    first_day = start.astimezone(ZoneInfo(zone)).date()
    if until is not None and until < first_day:
        raise InvalidInput(
            f"{name('until')} {until.isoformat()} is before the series starts ({first_day.isoformat()})"
        )


def checked_zone(zone: str, name: Namer = as_is) -> str:
    try:
        iana_zone(zone)
    except ValueError as exc:
        raise InvalidInput(f"{name('timezone')}: {exc}") from None
    return zone


@dataclass
class Booking:
    """What a caller asks to book; checked and stored by :func:`book`."""

    title: str
    start: datetime
    end: datetime
    organizer: str
    timezone: str = "UTC"
    booked_by: str | None = None
    rooms: Sequence[str] = ()
    participants: Sequence[str] = ()
    reminder_minutes: int = 15
    private: bool = False
    show_as: ShowAs = ShowAs.BUSY
    comment: str = ""
    setup_minutes: int = 0
    followup_minutes: int = 0
    recurrence: Recurrence | None = None


def book(
    uow: UnitOfWork, booking: Booking, name: Namer = as_is, origin: Origin = Origin.ROOMS
) -> Reservation:
    """Check ``booking`` and store it (not committed); raises InvalidInput or NotFound."""
    b = booking
    checked_zone(b.timezone, name)
    title = checked_title(b.title, name)
    check_times(b.start, b.end, b.recurrence, b.timezone, name)
    try:
        fields = EventFields(
            title=title,
            start=b.start,
            end=b.end,
            timezone=b.timezone,
            rooms=tuple(b.rooms),
            participants=tuple(Participant(email=p) for p in b.participants),
            reminder_minutes=b.reminder_minutes,
            private=b.private,
            show_as=b.show_as,
            body=b.comment,
            recurrence=b.recurrence,
        )
        reservation = Reservation(
            fields=fields,
            organizer=b.organizer,
            creator=b.booked_by or b.organizer,
            setup_minutes=b.setup_minutes,
            followup_minutes=b.followup_minutes,
        )
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc, name)) from None
    check_booking_windows(uow, fields)
    return uow.rooms.create_reservation(reservation, origin=origin, actor=b.booked_by or b.organizer)


def outside_window(room: Room, fields: EventFields, now: datetime) -> str | None:
    """Why ``fields`` reach past the room's booking window (none may start later than its days
    from now, as Exchange's room policy judges it), or ``None`` when they fit."""
    if room.booking_window_days is None:
        return None
    days = room.booking_window_days
    horizon = now + timedelta(days=days)
    zone = ZoneInfo(fields.timezone)
    if fields.recurrence is not None and fields.recurrence.open_ended:
        reaches = "a series without an end reaches past it"
    else:
        beyond = next((o for o in occurrences(fields, horizon, LATEST) if o.start >= horizon), None)
        if beyond is None:
            return None
        reaches = f"the booking reaches {beyond.start.astimezone(zone):%Y-%m-%d}"
    return f"may be booked at most {days} days ahead (until {horizon.astimezone(zone):%Y-%m-%d}); {reaches}"


def check_booking_windows(uow: UnitOfWork, fields: EventFields, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    for mailbox in fields.rooms:
        room = uow.rooms.room_by_mailbox(mailbox)
        problem = outside_window(room, fields, now) if room is not None else None
        if room is not None and problem is not None:
            raise OutsideBookingWindow(
                f"room {room.name} <{room.mailbox}> {problem}",
                room=room.mailbox,
                days=room.booking_window_days or 0,
            )


def existing(uow: UnitOfWork, reservation_id: str) -> Reservation:
    found = uow.rooms.get_reservation(reservation_id)
    if found is None:
        raise NotFound(f"no reservation {reservation_id}")
    return found


def change(
    uow: UnitOfWork,
    reservation_id: str,
    changes: dict[str, Any],
    *,
    organizer: str | None = None,
    expected_version: int | None = None,
    name: Namer = as_is,
    origin: Origin = Origin.ROOMS,
    actor: str | None = None,
) -> Reservation:
    """Apply ``changes`` (event fields by name) to a reservation (not committed).

    ``expected_version`` refuses the change when someone else changed the reservation since the
    caller read it (the stored version otherwise: the read just made).
    """
    current = existing(uow, reservation_id)
    if "title" in changes:
        changes["title"] = checked_title(changes["title"], name)
    check_times(
        changes.get("start", current.fields.start),
        changes.get("end", current.fields.end),
        current.fields.recurrence,
        current.fields.timezone,
        name,
    )
    try:
        fields = EventFields.model_validate({**current.fields.model_dump(), **changes})
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc, name)) from None
    if changes.keys() & {"start", "end", "rooms", "recurrence"}:
        check_booking_windows(uow, fields)
    return uow.rooms.update_reservation(
        reservation_id,
        fields=fields if changes else None,
        organizer=organizer,
        expected_version=expected_version if expected_version is not None else current.version,
        origin=origin,
        actor=actor,
    )


def cancel(
    uow: UnitOfWork,
    reservation_id: str,
    reason: str = "",
    origin: Origin = Origin.ROOMS,
    actor: str | None = None,
) -> Reservation:
    existing(uow, reservation_id)
    return uow.rooms.cancel_reservation(reservation_id, origin=origin, actor=actor, reason=reason)


def await_outlook(uow: UnitOfWork, reservation: Reservation, until: datetime) -> None:
    """Booked from Outlook's add-in: the organizer's Outlook writes the entry when the meeting is
    sent, so roomsync waits for it instead of creating one, and cancels the reservation if it has
    not come by ``until`` (the meeting was closed unsent)."""
    assert reservation.id is not None
    uow.sync.save_link(
        Link(
            reservation_id=reservation.id,
            mailbox=reservation.organizer,
            state=LinkState.AWAITING,
            expected_by=until,
        )
    )
