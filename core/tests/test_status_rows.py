"""The persons with their mailbox states, as ``persons list`` and ``status`` show them."""

from __future__ import annotations

from datetime import UTC, datetime

from roomsync.domain import Person
from roomsync.status import StatusFilter, last_success, person_status, persons_with_states
from roomsync.storage import Database, SqlUnitOfWork
from roomsync.storage.protocols import Link, LinkState, MailboxState


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


def test_status_counts_pending_writes_and_filters(uow: SqlUnitOfWork) -> None:
    for email, environment in (("ada@example.org", "onprem"), ("bob@example.org", "online")):
        uow.rooms.upsert_person(Person(email=email, environment=environment, bookers=("bob@example.org",)))
    for n, state in enumerate((LinkState.SYNCED, LinkState.FAILED, LinkState.CREATING, LinkState.REFUSED)):
        uow.sync.save_link(Link(reservation_id=str(n), mailbox="ada@example.org", state=state))
    uow.sync.save_link(Link(reservation_id="8", mailbox="ada@example.org", state=LinkState.AWAITING))
    uow.sync.save_link(Link(reservation_id="9", mailbox="bob@example.org", state=LinkState.SYNCED))
    uow.sync.save_mailbox_state(
        MailboxState(mailbox="bob@example.org", consecutive_failures=1, last_error="x", last_fault="tls")
    )

    rows = {r["email"]: r for r in person_status(uow)}

    assert (rows["ada@example.org"]["pending"], rows["bob@example.org"]["pending"]) == (3, 0)
    assert rows["ada@example.org"]["bookers"] == ["bob@example.org"]
    assert rows["bob@example.org"]["last_error_plain"].startswith(
        "A TLS failure: make the server's certificate"
    )
    assert [r["email"] for r in person_status(uow, StatusFilter(failing=True))] == ["bob@example.org"]
    assert [r["email"] for r in person_status(uow, StatusFilter(environment="onprem"))] == ["ada@example.org"]
    assert [r["email"] for r in person_status(uow, StatusFilter(person=" ADA@example.org"))] == [
        "ada@example.org"
    ]


def test_the_environment_figures_count_pending_writes_but_not_meetings_outlook_is_to_send(
    database: Database,
) -> None:
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email="ada@example.org", environment="onprem"))
        for n, state in enumerate(
            (LinkState.SYNCED, LinkState.FAILED, LinkState.AWAITING, LinkState.DELETING)
        ):
            uow.sync.save_link(Link(reservation_id=str(n), mailbox="ada@example.org", state=state))
        uow.commit()

    assert database.figures()["onprem"].pending == 2
