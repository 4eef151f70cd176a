"""Making a room inactive or active again, and what that means for its reservations.

An inactive room keeps its reservations but cannot be booked. Its future reservations are
detached from sync (``sync_disabled``, journalled with the reason): their calendar entries stay
as they are in Exchange, where the room may no longer exist, and no change on either side is
carried over any more. A room made active again leaves them detached, since an administrator
decides per reservation whether it is still right (``roomsync reservations show``).
"""

from __future__ import annotations

from datetime import datetime

from roomsync.booking import LATEST
from roomsync.domain import Reservation, Room
from roomsync.recurrence import occurrences
from roomsync.storage.protocols import UnitOfWork


def future_bookings(uow: UnitOfWork, mailbox: str, now: datetime) -> list[Reservation]:
    """The active reservations holding the room with an occurrence that ends after ``now``."""
    return [
        reservation
        for reservation in uow.rooms.room_bookings([mailbox], since=now)
        if next(occurrences(reservation.fields, now, LATEST), None) is not None
    ]


def to_detach(uow: UnitOfWork, mailbox: str, now: datetime) -> list[str]:
    """The ids of the room's future reservations that are still synchronised."""
    return [r.id or "" for r in future_bookings(uow, mailbox, now) if not r.sync_disabled]


def still_detached(uow: UnitOfWork, mailbox: str, now: datetime) -> list[str]:
    """The ids of the room's future reservations that are detached from sync."""
    return [r.id or "" for r in future_bookings(uow, mailbox, now) if r.sync_disabled]


def deactivate(uow: UnitOfWork, mailbox: str, reason: str, now: datetime) -> tuple[Room, list[str]]:
    """Make the room inactive and detach its future reservations with ``reason``; the room and
    the ids of the reservations detached now (not committed)."""
    room = uow.rooms.update_room(mailbox, active=False)
    detached = to_detach(uow, room.mailbox, now)
    for reservation_id in detached:
        uow.rooms.set_sync_disabled(reservation_id, True, reason)
    return room, detached


def activate(uow: UnitOfWork, mailbox: str, now: datetime) -> tuple[Room, list[str]]:
    """Make the room bookable again; the room and the ids of its future reservations that stay
    detached (not committed)."""
    room = uow.rooms.update_room(mailbox, active=True)
    return room, still_detached(uow, room.mailbox, now)
