"""Rooms' ``active`` column (migration 0013) and what an inactive room refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text

from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.errors import RoomInactive
from roomsync.storage import Database
from roomsync.storage.database import alembic_config


@pytest.fixture
def empty(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def test_migration_0013_keeps_existing_rooms_active_and_downgrade_drops_the_column(empty: Database) -> None:
    with empty.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0012")
        connection.execute(
            text(
                "INSERT INTO rooms (name, mailbox, equipment, sync_master) "
                "VALUES ('Ara', 'a@x.org', '', true)"
            )
        )

    empty.upgrade()

    with empty.unit_of_work() as uow:
        [room] = uow.rooms.list_rooms()
        assert room.active is True
        assert uow.rooms.update_room("A@x.org", active=False).active is False
        uow.commit()
    with empty.unit_of_work() as uow:
        assert uow.rooms.room_by_mailbox("a@x.org").active is False  # type: ignore[union-attr]
    with empty.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0012")
    assert "active" not in {c["name"] for c in inspect(empty.engine).get_columns("rooms")}
    with empty.engine.connect() as connection:
        assert connection.execute(text("SELECT mailbox FROM rooms")).scalars().all() == ["a@x.org"]


def test_an_inactive_room_is_refused_for_new_bookings_but_kept_by_those_holding_it(
    database: Database,
) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    fields = EventFields(
        title="T", start=start, end=start + timedelta(hours=1), timezone="UTC", rooms=("a@x.org",)
    )
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email="p@x.org"))
        uow.rooms.add_room(Room(name="Ara", mailbox="a@x.org"))
        held = uow.rooms.create_reservation(Reservation(fields=fields, organizer="p@x.org"))
        uow.rooms.update_room("a@x.org", active=False)
        with pytest.raises(RoomInactive, match=r"room Ara <a@x\.org> is inactive and cannot be booked"):
            uow.rooms.create_reservation(Reservation(fields=fields, organizer="p@x.org"))
        later = fields.model_copy(
            update={"title": "Moved", "start": start + timedelta(hours=2), "end": start + timedelta(hours=3)}
        )
        assert uow.rooms.update_reservation(held.id or "", fields=later).fields.title == "Moved"
        uow.commit()
