"""The persons with their mailbox states, as the listing commands show them."""

from __future__ import annotations

from roomsync.domain import Person
from roomsync.storage.protocols import MailboxState, UnitOfWork


def persons_with_states(uow: UnitOfWork) -> list[tuple[Person, MailboxState | None]]:
    """Every person with its mailbox state, ``None`` for a person never synchronised."""
    states = {s.mailbox: s for s in uow.sync.mailbox_states()}
    return [(p, states.get(p.email)) for p in uow.rooms.list_persons()]


def last_success(state: MailboxState | None) -> str | None:
    """When the person's last cycle succeeded, in ISO format, or ``None`` for never."""
    return state.last_success.isoformat() if state and state.last_success else None
