"""Saving a mailbox state writes the fields that changed since it was read, and only those."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from roomsync.storage import Database
from roomsync.storage.protocols import MailboxState

MAILBOX = "alice@example.org"
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@contextmanager
def writes(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(" ".join(statement.split()))

    event.listen(database.engine, "before_cursor_execute", executed)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", executed)


def stored(database: Database) -> MailboxState:
    with database.unit_of_work() as uow:
        return uow.sync.mailbox_state(MAILBOX)


def first(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.sync.save_mailbox_state(
            MailboxState(mailbox=MAILBOX, environment="ex", sync_state="s1", rooms_cursor=3, last_success=AT)
        )
        uow.commit()


def test_a_state_read_and_saved_unchanged_writes_nothing(database: Database) -> None:
    first(database)
    with writes(database) as seen, database.unit_of_work() as uow:
        uow.sync.save_mailbox_state(uow.sync.mailbox_state(MAILBOX))
        uow.commit()
    assert seen == []


def test_only_the_changed_fields_are_written(database: Database) -> None:
    first(database)
    with writes(database) as seen, database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(MAILBOX)
        state.sync_state = "s2"
        uow.sync.save_mailbox_state(state)
        uow.commit()
    (update,) = seen
    assert update.startswith("UPDATE mailbox_states SET sync_state=")
    assert "rooms_cursor" not in update and "last_success" not in update
    assert stored(database) == MailboxState(
        mailbox=MAILBOX, environment="ex", sync_state="s2", rooms_cursor=3, last_success=AT
    )


def test_a_state_saved_without_being_read_is_written_whole_and_a_new_one_inserted(database: Database) -> None:
    first(database)
    with database.unit_of_work() as uow:
        uow.sync.save_mailbox_state(MailboxState(mailbox=MAILBOX, environment="other"))
        uow.sync.save_mailbox_state(MailboxState(mailbox="bob@example.org", rooms_cursor=9))
        uow.commit()
    assert stored(database) == MailboxState(mailbox=MAILBOX, environment="other")
    with database.unit_of_work() as uow:
        assert uow.sync.mailbox_state("bob@example.org").rooms_cursor == 9
        assert [s.mailbox for s in uow.sync.mailbox_states()] == ["alice@example.org", "bob@example.org"]


def test_a_save_rolled_back_and_saved_again_is_written_again(database: Database) -> None:
    first(database)
    with database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(MAILBOX)
        state.rooms_cursor = 4
        uow.sync.save_mailbox_state(state)
        uow.rollback()
        uow.sync.save_mailbox_state(state)
        uow.commit()
    assert stored(database).rooms_cursor == 4


def test_saving_twice_in_one_session_keeps_the_second(database: Database) -> None:
    with database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(MAILBOX)  # none stored yet
        state.rooms_cursor = 1
        uow.sync.save_mailbox_state(state)
        state.rooms_cursor = 2
        uow.sync.save_mailbox_state(state)
        uow.commit()
    assert stored(database).rooms_cursor == 2
