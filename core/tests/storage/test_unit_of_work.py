"""Units of work: both stores in one transaction, committed only when asked."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from roomsync.domain import EventFields, Person, Reservation
from roomsync.storage import Database, SqlUnitOfWork
from roomsync.storage.protocols import Link, LogEntry, RoomsStore, SyncStore, UnitOfWork
from roomsync.storage.rooms_sql import SqlRoomsStore
from roomsync.storage.sync_sql import SqlSyncStore

AT = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def write_both(uow: SqlUnitOfWork, name: str) -> None:
    uow.rooms.upsert_person(Person(email=f"{name}@example.org"))
    uow.sync.save_link(Link(reservation_id=name, mailbox=f"{name}@example.org"))


def stored(database: Database) -> tuple[list[str], list[str]]:
    with database.unit_of_work() as uow:
        persons = [p.email.split("@")[0] for p in uow.rooms.list_persons()]
        links = [link.reservation_id for link in uow.sync.links_in_mailbox("a@example.org")]
        links += [link.reservation_id for link in uow.sync.links_in_mailbox("b@example.org")]
        return persons, links


def test_the_unit_of_work_satisfies_the_interfaces(uow: SqlUnitOfWork) -> None:
    work: UnitOfWork = uow
    rooms: RoomsStore = uow.rooms
    sync: SyncStore = uow.sync
    assert work.rooms is rooms and work.sync is sync
    assert isinstance(rooms, SqlRoomsStore) and isinstance(sync, SqlSyncStore)
    assert rooms.session is sync.session is uow.session


def test_commit_makes_both_sides_visible(database: Database) -> None:
    with database.unit_of_work() as uow:
        write_both(uow, "a")
        uow.commit()

    assert stored(database) == (["a"], ["a"])


def test_leaving_without_commit_rolls_back_both_sides(database: Database) -> None:
    with database.unit_of_work() as uow:
        write_both(uow, "a")
        uow.sync.log(LogEntry(at=AT, mailbox=None, level="info", event="cycle", message="x"))

    assert stored(database) == ([], [])
    with database.unit_of_work() as uow:
        assert uow.sync.recent_log() == []


def test_exception_rolls_back_and_keeps_what_was_committed(database: Database) -> None:
    with pytest.raises(RuntimeError, match="connector failed"), database.unit_of_work() as uow:
        write_both(uow, "a")
        uow.commit()
        write_both(uow, "b")
        raise RuntimeError("connector failed")

    assert stored(database) == (["a"], ["a"])


def test_rollback_discards_and_the_unit_goes_on(database: Database) -> None:
    with database.unit_of_work() as uow:
        write_both(uow, "a")
        uow.rollback()
        assert uow.rooms.list_persons() == []
        write_both(uow, "b")
        uow.commit()

    assert stored(database) == (["b"], ["b"])


def test_a_second_writer_waits_so_journal_numbers_follow_commit_order(database: Database) -> None:
    with database.unit_of_work() as setup:
        setup.rooms.upsert_person(Person(email="a@example.org"))
        setup.commit()
    start = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)

    def create(uow: SqlUnitOfWork, hour: int) -> str:
        fields = EventFields(title="x", start=start.replace(hour=hour), end=start.replace(hour=hour + 1))
        return uow.rooms.create_reservation(Reservation(fields=fields, organizer="a@example.org")).id or ""

    second: list[str] = []

    def other_writer() -> None:
        with database.unit_of_work() as uow:
            second.append(create(uow, 12))
            uow.commit()

    with database.unit_of_work() as first_uow:
        first = create(first_uow, 9)
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive(), "the second writer did not wait for the first"
        first_uow.commit()
    thread.join(timeout=30)

    assert not thread.is_alive()
    with database.unit_of_work() as reader:
        ids, _ = reader.rooms.changes_since(None, "a@example.org")
        seqs = {e.reservation_id: e.seq for e in reader.rooms.journal()}
    assert ids == [first, *second]
    assert seqs[first] < seqs[second[0]]
