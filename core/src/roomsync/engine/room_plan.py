"""Planning one room's cycle: from the changes of the room's calendar to what ROOMS does.

A room mailbox is booked by people who never use ROOMS: they invite the room in Outlook, and the
room's booking policy accepts the meeting into its calendar. The room's cycle reads that calendar
and keeps ROOMS in step with it, one way: a booking ROOMS does not know becomes a reservation of
its organizer (or a blocker, as the room says), its changes and its cancellation follow. Nothing
is ever written to the room's calendar except a decline.

The rules:

* A booking ROOMS made (it carries this installation's stamp, or another's) is recognised and
  left alone: it reached the room through its organizer's calendar, whose cycle owns it.
* A booking organised by a person roomsync synchronises is left to that person's cycle, which
  books it from their calendar (and refuses it there if the room is taken).
* A booking that collides with a ROOMS reservation of the room: if the room is sync master, ROOMS
  wins and the room declines it (its organizer hears it from the room); if not, both stay and the
  administrators are told. Either way it does not become a reservation.
* A booking gone from the room's calendar (cancelled, declined, deleted) cancels its reservation.

Like :mod:`roomsync.engine.plan`, nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from roomsync.connector.types import CalendarEntry
from roomsync.domain import EventFields, OutlookBookings, Reservation, Room
from roomsync.recurrence import occurrences
from roomsync.room_bookings import first_conflict
from roomsync.storage.protocols import Link

BUSY = "Busy"
"""The title of a booking whose subject the room's policy hides (or that is private)."""

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RoomView:
    """Everything the room's plan may look at."""

    room: Room
    entries: Sequence[CalendarEntry]  # bookings changed in the room's calendar, ours and others'
    deleted: Collection[str]  # item ids gone from the room's calendar
    links: Mapping[str, Link]  # item id -> the link of the reservation following that booking
    reservations: Mapping[str, Reservation]  # the reservations those links follow
    bookings: Sequence[Reservation]  # the room's active reservations from ``not_before`` on
    synced: Collection[str]  # organizers whose own cycles book their Outlook meetings
    not_before: datetime
    exported: Mapping[str, Reservation] = field(default_factory=dict)  # stamped bookings' reservations


@dataclass(frozen=True)
class Book:
    """A new Outlook booking becomes a reservation of its organizer (or a blocker)."""

    entry: CalendarEntry
    fields: EventFields
    blocker: bool


@dataclass(frozen=True)
class Follow:
    """A followed booking changed in the room's calendar: its reservation takes the change."""

    link: Link
    entry: CalendarEntry
    fields: EventFields


@dataclass(frozen=True)
class Release:
    """A followed booking left the room's calendar: its reservation is cancelled."""

    link: Link


@dataclass(frozen=True)
class Collision:
    """A booking that collides with ROOMS reservation ``holder``: declined when the room is sync
    master, else kept and reported. ``link``: the booking was followed until it moved onto it."""

    entry: CalendarEntry
    holder: Reservation
    decline: bool
    link: Link | None = None


@dataclass(frozen=True)
class PartDeclined:
    """The room's copy of a series ROOMS wrote lacks occurrences the reservation has: the room
    accepted the series but declined those (conflicts within its policy's allowance)."""

    reservation: Reservation
    occurrences: tuple[datetime, ...]  # original starts


@dataclass
class RoomPlan:
    books: list[Book] = field(default_factory=list)
    follows: list[Follow] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    part_declined: list[PartDeclined] = field(default_factory=list)
    left: list[CalendarEntry] = field(default_factory=list)  # ours, or a synced organizer's

    @property
    def empty(self) -> bool:
        return not (self.books or self.follows or self.releases or self.collisions or self.part_declined)


def booking_fields(entry: CalendarEntry, room: Room, blocker: bool) -> EventFields:
    """What ROOMS records of a room's booking: the room's view of the meeting, nothing private.

    The room's calendar holds what its policy keeps of the meeting (by Exchange's defaults the
    organizer's name as the subject, no description); a private meeting or an emptied subject is
    "Busy". A blocker holds the room only: no participants.
    """
    source = entry.fields
    hidden = source.private or not source.title.strip()
    participants = () if blocker else tuple(p for p in source.participants if p.email != room.mailbox)
    occurrences_ = tuple(
        change.model_copy(update={"title": BUSY}) if hidden and change.title is not None else change
        for change in source.occurrences
    )
    return source.model_copy(
        update={
            "title": BUSY if hidden else source.title.strip(),
            "rooms": (room.mailbox,),
            "participants": participants,
            "body": "",
            "reminder_minutes": None,
            "occurrences": occurrences_,
        }
    )


def plan_room(view: RoomView) -> RoomPlan:
    result = RoomPlan()
    taken = list(view.bookings)
    blocker = view.room.outlook_bookings is OutlookBookings.BLOCKER
    for entry in view.entries:
        link = view.links.get(entry.item_id)
        if link is None and _not_the_rooms(view, entry):
            result.left.append(entry)
            if entry.stamp and (exported := view.exported.get(entry.stamp)) is not None:
                declined = _declined_occurrences(exported, entry)
                if declined:
                    result.part_declined.append(PartDeclined(exported, declined))
            continue
        if link is None and not _still_to_come(view, entry):
            continue  # over: a past meeting is not booked afterwards
        fields = booking_fields(entry, view.room, blocker)
        exclude = link.reservation_id if link is not None else None
        holder_id = first_conflict(taken, view.room.mailbox, fields, exclude)
        if holder_id is not None:
            holder = next(b for b in taken if b.id == holder_id)
            result.collisions.append(Collision(entry, holder, view.room.sync_master, link))
            continue
        if link is None:
            result.books.append(Book(entry, fields, blocker))
            taken.append(Reservation(id=f"new:{entry.item_id}", fields=fields, organizer=entry.organizer))
            continue
        reservation = view.reservations.get(link.reservation_id)
        if reservation is not None and reservation.active and reservation.fields != fields:
            result.follows.append(Follow(link, entry, fields))
            taken = [b for b in taken if b.id != link.reservation_id]
            taken.append(reservation.model_copy(update={"fields": fields}))
    for item_id in view.deleted:
        link = view.links.get(item_id)
        if link is not None:
            reservation = view.reservations.get(link.reservation_id)
            if reservation is not None and reservation.active:
                result.releases.append(Release(link))
    return result


def _not_the_rooms(view: RoomView, entry: CalendarEntry) -> bool:
    """Bookings another cycle owns: ROOMS's own (stamped) and those of synchronised organizers."""
    return bool(entry.stamp or entry.stamped_by) or entry.organizer.lower() in view.synced


def _still_to_come(view: RoomView, entry: CalendarEntry) -> bool:
    return next(occurrences(entry.fields, view.not_before, _FAR_FUTURE), None) is not None


def _declined_occurrences(reservation: Reservation, copy: CalendarEntry) -> tuple[datetime, ...]:
    """Occurrences the reservation holds that the room's copy of its series cancelled."""
    if not reservation.active or reservation.fields.recurrence is None:
        return ()
    held = {c.original_start for c in reservation.fields.occurrences if c.cancelled}
    return tuple(
        sorted(
            c.original_start for c in copy.fields.occurrences if c.cancelled and c.original_start not in held
        )
    )
