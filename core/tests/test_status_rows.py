"""The persons with their mailbox states, as ``persons list`` and ``status`` show them."""

from __future__ import annotations

from datetime import UTC, datetime

from roomsync.domain import Person
from roomsync.status import last_success, persons_with_states
from roomsync.storage import SqlUnitOfWork
from roomsync.storage.protocols import MailboxState


def test_last_success_in_iso_format() -> None:
    at = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)

    assert last_success(MailboxState(mailbox="ada@example.org", last_success=at)) == at.isoformat()


def test_never_synchronised_has_no_last_success() -> None:
    assert last_success(None) is None
    assert last_success(MailboxState(mailbox="ada@example.org")) is None


def test_every_person_with_its_state_or_none(uow: SqlUnitOfWork) -> None:
    ada = uow.rooms.upsert_person(Person(email="ada@example.org", name="Ada"))
    bob = uow.rooms.upsert_person(Person(email="bob@example.org", name="Bob"))
    uow.sync.save_mailbox_state(MailboxState(mailbox="bob@example.org", consecutive_failures=2))

    assert persons_with_states(uow) == [
        (ada, None),
        (bob, MailboxState(mailbox="bob@example.org", consecutive_failures=2)),
    ]
