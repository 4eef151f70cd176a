"""A room's calendar against ROOMS: the Outlook bookings that collide with a reservation.

A room that is not sync master keeps such a booking (its cycle reports it once); a sync-master
room whose decline failed keeps it too. The differences scan lists them with the persons'
differences, as ``room-collision``, until the booking or the reservation moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from roomsync.domain import Room
from roomsync.engine.difference_advice import advise
from roomsync.engine.differences import Compared, Difference, DifferenceKind, listed_entries
from roomsync.engine.read_phase import map_imported
from roomsync.engine.room_cycle import synced_organizers
from roomsync.engine.room_plan import booking_fields
from roomsync.engine.runner import SyncRunner
from roomsync.errors import UnknownEnvironment
from roomsync.room_bookings import first_conflict
from roomsync.storage.protocols import LinkState


def room_differences(runner: SyncRunner, room: Room, start: datetime, end: datetime) -> Compared:
    """The Outlook bookings in ``room``'s calendar over ``start`` to ``end`` that ROOMS has given
    to another reservation: bookings neither ROOMS's own nor a synchronised organizer's."""
    environment = runner.room_environment(room)
    if environment is None:
        raise UnknownEnvironment(room.environment or "(none)", list(runner.settings.environments))
    host = runner.host(environment)
    listed = map_imported(runner.pm, listed_entries(host, room.mailbox, start, end))
    found: list[Difference] = []
    with runner.database.unit_of_work() as uow:
        synced = synced_organizers(uow, listed)
        followed = {link.item_id for link in uow.sync.links_in_mailbox(room.mailbox, [LinkState.FOLLOWED])}
        candidates = [
            entry
            for entry in listed
            if not (entry.stamp or entry.stamped_by)
            and entry.organizer.lower() not in synced
            and entry.item_id not in followed
        ]
        if candidates:
            since = min(entry.fields.start for entry in candidates) - timedelta(days=1)
            bookings = {b.id: b for b in uow.rooms.room_bookings([room.mailbox], since)}
            for entry in candidates:
                holder = first_conflict(bookings.values(), room.mailbox, booking_fields(entry, room, False))
                if holder is None:
                    continue
                difference = Difference(
                    DifferenceKind.ROOM_COLLISION,
                    room.mailbox,
                    entry.fields.title,
                    item_id=entry.item_id,
                    keys=["rooms"],
                    entry=entry,
                    rooms=bookings[holder],
                    holder=holder,
                    environment=environment,
                )
                difference.advice = advise(difference)
                found.append(difference)
    return Compared(found, set(), {entry.item_id for entry in listed})
