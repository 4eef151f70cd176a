"""Persons and rooms in the SQL ROOMS store."""

from __future__ import annotations

import re

import pytest

from roomsync.domain import ConflictPolicy, Language, Person, Room
from roomsync.errors import InvalidInput, NotFound
from roomsync.storage import Database, SqlUnitOfWork


def test_person_is_stored_with_lower_case_email(uow: SqlUnitOfWork) -> None:
    stored = uow.rooms.upsert_person(
        Person(
            email="  Dana.Doe@Example.ORG ",
            name="Dana Doe",
            environment="ex2010",
            conflict_policy=ConflictPolicy.CANCEL,
            sync_enabled=False,
        )
    )

    assert stored.email == "dana.doe@example.org"
    assert uow.rooms.get_person("DANA.DOE@example.org") == stored
    assert stored == Person(
        email="dana.doe@example.org",
        name="Dana Doe",
        environment="ex2010",
        conflict_policy=ConflictPolicy.CANCEL,
        sync_enabled=False,
    )


def test_language_is_stored_and_can_be_unset(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email="dana@example.org", language=Language.IT))
        uow.commit()
    with database.unit_of_work() as uow:
        dana = uow.rooms.get_person("dana@example.org")
        assert dana is not None and dana.language is Language.IT
        uow.rooms.upsert_person(dana.model_copy(update={"language": None}))
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.rooms.get_person("dana@example.org").language is None  # type: ignore[union-attr]


def test_upsert_replaces_an_existing_person(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email="dana@example.org", name="Dana"))
        uow.commit()
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(
            Person(email="DANA@example.org", name="Dana D.", conflict_policy=ConflictPolicy.EXCHANGE_WINS)
        )
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.rooms.list_persons() == [
            Person(email="dana@example.org", name="Dana D.", conflict_policy=ConflictPolicy.EXCHANGE_WINS)
        ]


def test_bookers_are_normalised_and_stored(database: Database) -> None:
    dana = Person(
        email="dana@example.org", bookers=(" Erik@Example.org", "ann@example.org", "erik@example.org")
    )
    assert dana.bookers == ("ann@example.org", "erik@example.org")
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(dana)
        uow.rooms.upsert_person(Person(email="erik@example.org"))
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.rooms.get_person("dana@example.org") == dana
        assert uow.rooms.get_person("erik@example.org").bookers == ()  # type: ignore[union-attr]
        uow.rooms.upsert_person(dana.model_copy(update={"bookers": ()}))
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.rooms.get_person("dana@example.org").bookers == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("booker", "problem"),
    [
        ("erik", "is not an e-mail address"),
        ("erik@example.org, ann@example.org", "is not an e-mail address"),
        ("", "is empty"),
        ("erik@example.org\n", "contains a line break"),
    ],
)
def test_a_booker_must_be_an_address(booker: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"booker {booker!r} {problem}")):
        Person(email="dana@example.org", bookers=(booker,))


def test_persons_are_listed_by_email(uow: SqlUnitOfWork) -> None:
    for email in ("zoe@example.org", "adam@example.org", "max@example.org"):
        uow.rooms.upsert_person(Person(email=email))

    assert [p.email for p in uow.rooms.list_persons()] == [
        "adam@example.org",
        "max@example.org",
        "zoe@example.org",
    ]


def test_set_environment_assigns_and_clears(uow: SqlUnitOfWork) -> None:
    uow.rooms.upsert_person(Person(email="dana@example.org"))

    assert uow.rooms.set_environment("Dana@example.org", "o365").environment == "o365"
    assert uow.rooms.get_person("dana@example.org").environment == "o365"  # type: ignore[union-attr]
    assert uow.rooms.set_environment("dana@example.org", None).environment is None


def test_set_environment_of_unknown_person_names_the_person(uow: SqlUnitOfWork) -> None:
    with pytest.raises(NotFound, match=re.escape("nobody@example.org")):
        uow.rooms.set_environment("nobody@example.org", "o365")


def test_unknown_person_is_none(uow: SqlUnitOfWork) -> None:
    assert uow.rooms.get_person("nobody@example.org") is None


def test_room_round_trip(uow: SqlUnitOfWork) -> None:
    added = uow.rooms.add_room(
        Room(name="Board room", mailbox="Board@Example.org", capacity=12, sync_master=False)
    )

    assert added.id is not None and added.id.isdigit()
    assert added == Room(
        id=added.id, name="Board room", mailbox="board@example.org", capacity=12, sync_master=False
    )
    assert uow.rooms.room_by_mailbox("BOARD@example.org") == added
    assert uow.rooms.room_by_mailbox("cellar@example.org") is None


def test_rooms_are_listed_by_name(uow: SqlUnitOfWork) -> None:
    uow.rooms.add_room(Room(name="Zeppelin", mailbox="z@example.org"))
    uow.rooms.add_room(Room(name="Atrium", mailbox="a@example.org", capacity=None))

    rooms = uow.rooms.list_rooms()

    assert [(r.name, r.mailbox, r.capacity, r.sync_master) for r in rooms] == [
        ("Atrium", "a@example.org", None, True),
        ("Zeppelin", "z@example.org", None, True),
    ]
    assert len({r.id for r in rooms}) == 2


def test_adding_a_room_twice_is_refused(uow: SqlUnitOfWork) -> None:
    uow.rooms.add_room(Room(name="Atrium", mailbox="a@example.org"))

    with pytest.raises(InvalidInput, match=re.escape("a@example.org")):
        uow.rooms.add_room(Room(name="Other", mailbox="A@example.org"))


def test_a_person_built_afresh_keeps_the_stored_pause_and_only_an_explicit_resume_ends_it(
    uow: SqlUnitOfWork,
) -> None:
    from datetime import UTC, datetime

    since = datetime(2026, 12, 7, 9, tzinfo=UTC)
    uow.rooms.upsert_person(Person(email="alice@example.org", paused_at=since, pause_reason="migration"))
    renamed = uow.rooms.upsert_person(Person(email="alice@example.org", name="Alice Meier"))
    assert (renamed.name, renamed.paused_at, renamed.pause_reason) == ("Alice Meier", since, "migration")
    resumed = uow.rooms.upsert_person(renamed.model_copy(update={"paused_at": None, "pause_reason": None}))
    assert (resumed.paused_at, resumed.pause_reason) == (None, None)
    stored = uow.rooms.get_person("alice@example.org")
    assert stored is not None and stored.paused_at is None and stored.name == "Alice Meier"
