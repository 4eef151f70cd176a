"""The database: schema revisions, upgrades, and the migration matching the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from roomsync.domain import Language, Person, Room
from roomsync.errors import RoomsyncError, SchemaTooNew
from roomsync.storage import Database
from roomsync.storage.database import alembic_config
from roomsync.storage.models import Base

TABLES = {
    "persons",
    "rooms",
    "reservations",
    "reservation_rooms",
    "participants",
    "series",
    "occurrence_changes",
    "journal",
    "links",
    "mailbox_states",
    "seen_entries",
    "sync_log",
    "installation",
}


@pytest.fixture
def empty(database_url: str) -> Iterator[Database]:
    """A database never upgraded."""
    database = Database(database_url)
    yield database
    database.dispose()


def test_upgrade_of_an_empty_database(empty: Database) -> None:
    assert empty.current_revision() is None

    revision = empty.upgrade()

    assert revision == empty.head_revision() == empty.current_revision()
    assert set(inspect(empty.engine).get_table_names()) >= TABLES
    empty.check_schema()


def test_upgrade_is_idempotent_and_keeps_data(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email="alice@example.org"))
        uow.commit()

    assert database.upgrade() == database.head_revision()
    assert database.upgrade() == database.head_revision()
    with database.unit_of_work() as uow:
        assert [p.email for p in uow.rooms.list_persons()] == ["alice@example.org"]


def test_models_and_migrations_do_not_drift(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_empty_database_asks_for_an_upgrade(empty: Database) -> None:
    with pytest.raises(RoomsyncError, match="run 'roomsync db upgrade'") as raised:
        empty.check_schema()
    assert not isinstance(raised.value, SchemaTooNew)


def test_unknown_newer_revision_is_refused(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))

    assert database.current_revision() == "9999_future"
    with pytest.raises(SchemaTooNew, match="9999_future"):
        database.check_schema()
    with pytest.raises(SchemaTooNew, match="9999_future"):
        database.upgrade()
    assert database.current_revision() == "9999_future"


def test_sqlite_file_gets_its_directory_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "roomsync.db"
    database = Database(f"sqlite:///{path}")
    try:
        database.upgrade()
        assert path.is_file()
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        database.dispose()


def test_password_is_never_shown() -> None:
    database = Database("postgresql+psycopg://roomsync:s3cr3t-pw@db.example.org:5432/roomsync")
    try:
        assert "s3cr3t-pw" not in database.display_url
        assert "s3cr3t-pw" not in repr(database)
        assert database.display_url == "postgresql+psycopg://roomsync:***@db.example.org:5432/roomsync"
    finally:
        database.dispose()


def test_upgrade_from_the_first_revision_keeps_rooms(empty: Database) -> None:
    with empty.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(
            text("INSERT INTO rooms (name, mailbox, sync_master) VALUES ('Atrium', 'a@x.org', true)")
        )
    assert empty.current_revision() == "0001"

    empty.upgrade()

    with empty.unit_of_work() as uow:
        [room] = uow.rooms.list_rooms()
        assert (room.mailbox, room.environment) == ("a@x.org", None)
        uow.rooms.add_room(Room(name="Boreas", mailbox="b@x.org", environment="onprem2013"))
        uow.commit()
    with empty.unit_of_work() as uow:
        stored = uow.rooms.room_by_mailbox("b@x.org")
        assert stored is not None and stored.environment == "onprem2013"


def test_upgrade_from_0007_gives_existing_persons_no_bookers_and_downgrade_drops_them(
    empty: Database,
) -> None:
    with empty.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0007")
        connection.execute(
            text(
                "INSERT INTO persons (email, name, conflict_policy, sync_enabled) "
                "VALUES ('a@x.org', 'Ann', 'rollback', true)"
            )
        )

    empty.upgrade()

    assert empty.current_revision() == empty.head_revision()
    with empty.unit_of_work() as uow:
        [person] = uow.rooms.list_persons()
        assert (person.email, person.bookers) == ("a@x.org", ())
        uow.rooms.upsert_person(person.model_copy(update={"bookers": ("b@x.org", "c@x.org")}))
        uow.commit()
    with empty.unit_of_work() as uow:
        assert uow.rooms.get_person("a@x.org").bookers == ("b@x.org", "c@x.org")  # type: ignore[union-attr]

    with empty.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0007")
    assert "bookers" not in {column["name"] for column in inspect(empty.engine).get_columns("persons")}
    with empty.engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM persons")).scalars().all() == ["a@x.org"]


def test_upgrade_from_0009_gives_existing_persons_no_language_and_downgrade_drops_it(
    empty: Database,
) -> None:
    with empty.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0009")
        connection.execute(
            text(
                "INSERT INTO persons (email, name, conflict_policy, sync_enabled, bookers) "
                "VALUES ('a@x.org', 'Ann', 'rollback', true, '')"
            )
        )

    empty.upgrade()

    with empty.unit_of_work() as uow:
        [person] = uow.rooms.list_persons()
        assert person.language is None
        uow.rooms.upsert_person(person.model_copy(update={"language": Language.FR}))
        uow.commit()
    with empty.unit_of_work() as uow:
        assert uow.rooms.get_person("a@x.org").language is Language.FR  # type: ignore[union-attr]

    with empty.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0009")
    assert "language" not in {column["name"] for column in inspect(empty.engine).get_columns("persons")}
    with empty.engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM persons")).scalars().all() == ["a@x.org"]


def test_upgrade_from_0008_leaves_existing_rooms_without_a_booking_window(empty: Database) -> None:
    with empty.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0008")
        connection.execute(
            text(
                "INSERT INTO rooms (name, mailbox, equipment, sync_master) "
                "VALUES ('Ara', 'a@x.org', '', true)"
            )
        )

    empty.upgrade()

    with empty.unit_of_work() as uow:
        [room] = uow.rooms.list_rooms()
        assert room.booking_window_days is None
        assert uow.rooms.set_booking_window("A@x.org", 90).booking_window_days == 90
        uow.commit()
    with empty.unit_of_work() as uow:
        assert uow.rooms.room_by_mailbox("a@x.org").booking_window_days == 90  # type: ignore[union-attr]
    with empty.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0008")
    assert "booking_window_days" not in {c["name"] for c in inspect(empty.engine).get_columns("rooms")}


def test_a_new_database_owns_no_bare_stamps(database: Database) -> None:
    installation = database.installation()
    assert not installation.bare_stamps and len(installation.id) == 36


def test_an_existing_database_keeps_its_bare_stamps(empty: Database) -> None:
    with empty.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
        connection.execute(
            text(
                "INSERT INTO links (reservation_id, mailbox, state, rooms_version, conflicts, attempts) "
                "VALUES ('1', 'a@x.org', 'synced', 1, 0, 0)"
            )
        )
    empty.upgrade()

    assert empty.installation().bare_stamps


def test_a_new_identity_is_refused_while_entries_are_linked_unless_forced(database: Database) -> None:
    before = database.installation()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO links (reservation_id, mailbox, state, rooms_version, conflicts, attempts) "
                "VALUES ('1', 'a@x.org', 'synced', 1, 0, 0)"
            )
        )
    with pytest.raises(RoomsyncError, match="1 entries are linked"):
        database.new_identity()
    assert database.installation() == before

    after = database.new_identity(force=True)

    assert after.id != before.id and database.installation() == after
    with database.unit_of_work() as uow:
        assert uow.sync.links_in_mailbox("a@x.org") == []


def test_migrations_keep_rows_that_reference_the_table_they_alter(database: Database) -> None:
    """Altering ``rooms`` on SQLite copies and drops it: rows pointing at it must survive both ways."""
    from datetime import UTC, datetime, timedelta

    from roomsync.domain import EventFields, Reservation

    start = datetime.now(UTC) + timedelta(days=3)
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email="alice@example.org"))
        uow.rooms.add_room(Room(name="Atlas", mailbox="room.atlas@example.org"))
        booked = uow.rooms.create_reservation(
            Reservation(
                fields=EventFields(
                    title="Held",
                    start=start,
                    end=start + timedelta(hours=1),
                    rooms=("room.atlas@example.org",),
                ),
                organizer="alice@example.org",
            )
        )
        uow.commit()
    with database.migrating() as connection:
        command.downgrade(alembic_config(connection), "0012")
    assert database.current_revision() == "0012"

    database.upgrade()

    with database.unit_of_work() as uow:
        kept = uow.rooms.get_reservation(booked.id or "")
        room = uow.rooms.room_by_mailbox("room.atlas@example.org")
    assert kept is not None and kept.fields.rooms == ("room.atlas@example.org",)
    assert room is not None and room.active
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again


def test_a_failed_migration_changes_nothing(empty: Database) -> None:
    with pytest.raises(RuntimeError), empty.migrating() as connection:
        connection.exec_driver_sql("CREATE TABLE scratch (id INTEGER)")
        raise RuntimeError("the migration failed half-way")
    assert not inspect(empty.engine).has_table("scratch")
