"""What a connector hands the shared suite: the connector behind a host, mailboxes and a user."""

from __future__ import annotations

import contextlib
import time as clock
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import Capabilities, EntryDraft, ItemRef, WriteResult
from roomsync.domain import EventFields

T = TypeVar("T")


def eventually_true(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``condition()`` comes true within ``seconds``, asked every tenth of a second.

    For what a test cannot be woken by (a background thread's state); a failed assertion that may
    pass later is :meth:`ConnectorKit.eventually`'s job.
    """
    deadline = clock.monotonic() + seconds
    while not condition():
        if clock.monotonic() >= deadline:
            return False
        clock.sleep(0.1)
    return True


class MailboxUser(Protocol):
    """A person acting on their own calendar the way Outlook would, outside the connector.

    The suite uses it for the changes roomsync did not make: edits, deletions and moves to
    Deleted Items. The reference connector implements it on its in-memory directory; an EWS
    plugin implements it with an EWS client that acts as the user.
    """

    def create(self, mailbox: str, fields: EventFields) -> str:
        """Create an entry organised by ``mailbox`` without a stamp; returns its item id."""
        ...

    def update(self, mailbox: str, item_id: str, fields: EventFields) -> None:
        """Replace the entry's fields (a stamp on it stays)."""
        ...

    def delete(self, mailbox: str, item_id: str, to_deleted_items: bool = False) -> None:
        """Delete the entry for good, or move it to Deleted Items."""
        ...


@dataclass
class ConnectorKit:
    """The connector under test and the mailboxes it may use.

    ``mailbox`` is an organizer the service account may write to, ``other_mailbox`` a second
    person invited as a participant, ``room`` a room mailbox. Entries are drafted in ``timezone``
    (an IANA name with DST changes, so series across a change can be tested). A server that
    shows free/busy or changes with a delay sets ``eventually_seconds``: such assertions are then
    retried that long before they fail.

    A connector that watches (``push``) is given ``wake_seconds``, how long a change may take to
    wake its mailbox, and ``break_connection``, which breaks the connection its notifications
    arrive on the way a network or a server restart does (the connector restores it by itself);
    without it the suite's test of a broken connection is skipped.
    """

    host: ConnectorHost
    mailbox: str
    other_mailbox: str
    room: str
    user: MailboxUser
    timezone: str = "Europe/Berlin"
    eventually_seconds: float = 0.0
    wake_seconds: float = 10.0
    break_connection: Callable[[], None] | None = None
    created: list[tuple[str, str]] = field(default_factory=list, repr=False)
    today: date = field(init=False)

    def __post_init__(self) -> None:
        self.mailbox, self.other_mailbox, self.room = (
            m.strip().lower() for m in (self.mailbox, self.other_mailbox, self.room)
        )
        self.today = datetime.now(ZoneInfo(self.timezone)).date()

    @property
    def capabilities(self) -> Capabilities:
        return self.host.capabilities()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def at(self, days: int, hour: int, minute: int = 0) -> datetime:
        """Local wall-clock time ``days`` after today in the kit's time zone."""
        return datetime.combine(self.today + timedelta(days=days), time(hour, minute), self.zone)

    def fields(
        self, title: str, days: int, hour: int, minute: int = 0, minutes: int = 60, **more: Any
    ) -> EventFields:
        """Fields of an entry starting at :meth:`at` and lasting ``minutes``; ``more`` sets the rest."""
        start = self.at(days, hour, minute)
        values: dict[str, Any] = {"title": title, "start": start, "end": start + timedelta(minutes=minutes)}
        return EventFields.model_validate({**values, "timezone": self.timezone, **more})

    def draft(self, fields: EventFields, **more: Any) -> EntryDraft:
        """A draft with a stamp no other test uses."""
        return EntryDraft(stamp=f"roomsync-kit-{uuid.uuid4().hex}", fields=fields, **more)

    def create(self, drafts: Sequence[EntryDraft], mailbox: str | None = None) -> list[WriteResult]:
        """Create through the host, remembering what was made so :meth:`clean_up` removes it."""
        mailbox = mailbox or self.mailbox
        results = self.host.create_entries(mailbox, drafts)
        self.created.extend((mailbox, r.item_id) for r in results if r.ok and r.item_id)
        return results

    def user_create(self, fields: EventFields, mailbox: str | None = None) -> str:
        """Create as the person in Outlook, remembering the entry for :meth:`clean_up`."""
        mailbox = mailbox or self.mailbox
        item_id = self.user.create(mailbox, fields)
        self.created.append((mailbox, item_id))
        return item_id

    def eventually(self, probe: Callable[[], T]) -> T:
        """``probe()``, retried on failed assertions for up to ``eventually_seconds``."""
        deadline = clock.monotonic() + self.eventually_seconds
        while True:
            try:
                return probe()
            except AssertionError:
                if clock.monotonic() >= deadline:
                    raise
                clock.sleep(min(0.5, self.eventually_seconds))

    def clean_up(self) -> None:
        """Delete what the tests created; best effort, since a test may have deleted it already."""
        by_mailbox: dict[str, list[ItemRef]] = defaultdict(list)
        for mailbox, item_id in self.created:
            by_mailbox[mailbox].append(ItemRef(item_id=item_id))
        self.created.clear()
        for mailbox, refs in by_mailbox.items():
            # Cleanup must never hide the test's own outcome.
            with contextlib.suppress(Exception):
                self.host.delete_entries(mailbox, list({r.item_id: r for r in refs}.values()))
