"""The ROOMS side of the end-to-end tests: booking, editing and reading reservations as ROOMS does.

Shared by the tests that drive the runner against a simulated server over EWS or Graph; each
test module adds its own server side (the person in Outlook, the entries by stamp).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from roomsync.domain import ConflictPolicy, EventFields, Reservation
from roomsync.storage import Database
from roomsync.storage.protocols import Origin


class RoomsSide:
    database: Database
    start: datetime
    """The day's first hour; bookings are given in hours after it."""

    def book(
        self, organizer: str, title: str, hour: int, *, extra: dict[str, Any] | None = None, **fields: Any
    ) -> Reservation:
        """A reservation made in ROOMS; ``extra`` sets reservation attributes (creator, buffers)."""
        start = self.start + timedelta(hours=hour)
        with self.database.unit_of_work() as uow:
            made = uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=title,
                        start=start,
                        end=start + timedelta(hours=1),
                        timezone="Europe/Berlin",
                        **fields,
                    ),
                    organizer=organizer,
                    **(extra or {}),
                ),
                origin=Origin.ROOMS,
            )
            uow.commit()
        return made

    def retitle_in_rooms(self, reservation_id: str, title: str) -> None:
        with self.database.unit_of_work() as uow:
            current = uow.rooms.get_reservation(reservation_id)
            assert current is not None
            uow.rooms.update_reservation(
                reservation_id, fields=current.fields.model_copy(update={"title": title})
            )
            uow.commit()

    def set_policy(self, email: str, policy: ConflictPolicy) -> None:
        with self.database.unit_of_work() as uow:
            person = uow.rooms.get_person(email)
            assert person is not None
            uow.rooms.upsert_person(person.model_copy(update={"conflict_policy": policy}))
            uow.commit()

    def reservation(self, reservation_id: str) -> Reservation:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_reservation(reservation_id)
        assert found is not None
        return found
