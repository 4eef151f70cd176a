"""The two stores the engine works with, as interfaces.

:class:`RoomsStore` is the ROOMS side (persons, rooms, reservations, the change journal); the
SQL implementation is the default, and a deployment can put another source of reservations
behind the same interface. :class:`SyncStore` keeps what roomsync itself knows: the link of each
reservation to an item per mailbox with the last synchronised snapshots, per-mailbox sync
states, failure counters and the sync log. A :class:`UnitOfWork` holds both over one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from roomsync.domain import EventFields, OutlookBookings, Person, Reservation, Room


class Origin(StrEnum):
    """Who made a change to a reservation; kept in the journal."""

    ROOMS = "rooms"
    EXCHANGE = "exchange"
    ADMIN = "admin"


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    reservation_id: str
    organizer: str
    origin: Origin
    action: str  # "created", "updated", "cancelled", "organizer-changed", "sync-disabled"
    at: datetime
    actor: str | None = None


class RoomsStore(Protocol):
    """The ROOMS side. Every write of a reservation increments its version and adds journal rows
    for its organizer (and for the previous organizer when the organizer changes)."""

    # persons
    def get_person(self, email: str) -> Person | None: ...
    def list_persons(self) -> list[Person]: ...
    def upsert_person(self, person: Person) -> Person:
        """Store a person, new or known. A person built without its pause (``paused_at``,
        ``pause_reason`` not given) keeps the stored one: a pause is set and ended on purpose,
        never by a caller that builds the person afresh (an import, a test fixture)."""
        ...

    def set_environment(self, email: str, environment: str | None) -> Person:
        """Raises :class:`~roomsync.errors.NotFound` for an unknown person."""
        ...

    # rooms
    def add_room(self, room: Room) -> Room: ...
    def set_booking_window(self, mailbox: str, days: int | None) -> Room:
        """How many days ahead the room may be booked; ``None``: no limit."""
        ...

    def update_room(
        self,
        mailbox: str,
        *,
        name: str | None = None,
        capacity: int | None = None,
        active: bool | None = None,
        sync_master: bool | None = None,
        outlook_bookings: OutlookBookings | None = None,
    ) -> Room:
        """Change a room's name, capacity, whether it can be booked, whether it is sync master
        and what its Outlook bookings become; ``None`` keeps the value.
        Raises :class:`~roomsync.errors.NotFound` for an unknown room."""
        ...

    def list_rooms(self) -> list[Room]: ...
    def room_by_mailbox(self, mailbox: str) -> Room | None: ...
    def room_is_free(self, mailbox: str, fields: EventFields, exclude: str | None = None) -> bool:
        """No active reservation other than ``exclude`` holds the room during any occurrence."""
        ...

    def room_bookings(
        self, rooms: Collection[str], since: datetime, until: datetime | None = None
    ) -> list[Reservation]:
        """The active reservations holding any of ``rooms``: every series, and every single one
        ending after ``since`` (what :func:`roomsync.room_bookings.first_conflict` looks through)."""
        ...

    # reservations
    def get_reservation(self, reservation_id: str) -> Reservation | None: ...
    def get_reservations(self, reservation_ids: Collection[str]) -> dict[str, Reservation]:
        """The reservations that exist among ``reservation_ids``, by id, read in bulk."""
        ...

    def create_reservation(
        self, reservation: Reservation, origin: Origin = Origin.ROOMS, actor: str | None = None
    ) -> Reservation:
        """Store a new reservation (id and version 1 assigned).

        Raises :class:`~roomsync.errors.NotFound` for an unknown organizer or room and
        :class:`~roomsync.errors.InvalidInput` when a room is taken.
        """
        ...

    def update_reservation(
        self,
        reservation_id: str,
        *,
        fields: EventFields | None = None,
        organizer: str | None = None,
        setup_minutes: int | None = None,
        followup_minutes: int | None = None,
        expected_version: int | None = None,
        origin: Origin = Origin.ROOMS,
        actor: str | None = None,
    ) -> Reservation:
        """Change a reservation; ``expected_version`` guards against a concurrent change
        (:class:`~roomsync.errors.InvalidInput` when it does not match). Rooms are checked as
        in :meth:`create_reservation`."""
        ...

    def cancel_reservation(
        self,
        reservation_id: str,
        *,
        origin: Origin = Origin.ROOMS,
        actor: str | None = None,
        reason: str = "",
    ) -> Reservation: ...
    def set_sync_disabled(self, reservation_id: str, disabled: bool, reason: str = "") -> Reservation: ...
    def reservations(
        self,
        *,
        organizer: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        include_cancelled: bool = False,
        involving: Collection[str] | None = None,
        ids: Collection[str] | None = None,
    ) -> list[Reservation]:
        """Reservations, optionally of one organizer, overlapping a window (series by any
        occurrence), ``involving`` any of these mailboxes (as organizer, room or
        participant), and among ``ids``, ordered by start."""
        ...

    # journal
    def changes_since(self, cursor: int | None, organizer: str) -> tuple[list[str], int]:
        """Ids of reservations with journal rows for ``organizer`` after ``cursor`` (all rows
        when ``None``), without repeats, and the cursor to pass next time."""
        ...

    def changes_page(self, cursor: int | None, organizer: str, limit: int) -> tuple[list[str], int, bool]:
        """The first ``limit`` of :meth:`changes_since`, in the order of their latest rows, the
        cursor just after them, and whether more follow: a cycle with many reads them in pages."""
        ...

    def journal(self, reservation_id: str | None = None, limit: int = 100) -> list[JournalEntry]: ...


class LinkState(StrEnum):
    CREATING = "creating"  # intent recorded before the create; the item may or may not exist
    SYNCED = "synced"
    DELETING = "deleting"  # the entry must go from this mailbox (organizer change, cancel)
    FAILED = "failed"  # the last write failed; retried next cycle
    # The server cannot take the reservation as it is (rooms_version names that version):
    # written again only once the reservation changes.
    REFUSED = "refused"
    # Booked in Outlook's add-in: the organizer's Outlook writes the entry when the meeting is
    # sent, so roomsync never creates it; cancelled if it has not arrived by ``expected_by``.
    AWAITING = "awaiting"
    # A booking in a room's calendar made in Outlook by someone roomsync does not synchronise: its
    # reservation follows it (the link's mailbox is the room's) and nothing is ever written.
    FOLLOWED = "followed"


AT_REST = (LinkState.SYNCED.value, LinkState.AWAITING.value, LinkState.FOLLOWED.value)
"""Link states with nothing for roomsync to write: in step, waiting for Outlook to send the
meeting, or following a room's booking; every other state counts as a pending write."""


@dataclass
class Link:
    """A reservation's entry in one mailbox and what both sides looked like when last in step.

    ``rooms_snapshot``/``exchange_snapshot`` map merge keys to canonical values (see
    :mod:`roomsync.engine.merge`); ``rooms_version`` is the reservation version they reflect.
    """

    reservation_id: str
    mailbox: str
    item_id: str | None = None
    change_key: str | None = None
    state: LinkState = LinkState.CREATING
    rooms_version: int = 0
    rooms_snapshot: dict[str, Any] | None = None
    exchange_snapshot: dict[str, Any] | None = None
    written: dict[str, Any] | None = None
    """The write in flight, recorded before it is sent: ``{"rooms": ..., "exchange": ...}``, the
    snapshots both sides will have once it lands. A value on the server equal to it is roomsync's
    own write, whether or not the answer arrived (see :func:`roomsync.engine.intent.recognise`)."""
    conflicts: int = 0
    attempts: int = 0
    last_error: str | None = None
    updated_at: datetime | None = None
    expected_by: datetime | None = None
    """For an ``AWAITING`` link: when the reservation is cancelled if its entry has not arrived."""
    companions: bool = True
    """Whether the entry may have setup or follow-up buffer entries beside it (written with
    buffers, see :mod:`roomsync.connector.companions`); only then does an update look them up.
    True where it is not known."""


@dataclass
class MailboxState:
    """Per-mailbox progress: the connector's sync state and the journal cursor."""

    mailbox: str
    environment: str | None = None
    sync_state: str | None = None
    rooms_cursor: int | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    last_fault: str | None = None
    """The kind of the last error (a :class:`~roomsync.errors.Fault` value), to say it in plain words."""
    consecutive_failures: int = 0


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    mailbox: str | None
    level: str  # "info", "warning", "error"
    event: str  # "cycle", "conflict", "export", "import", "failure", ...
    message: str
    reservation_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class SeenEntry:
    """An Exchange item roomsync decided not to import (unrelated, or its room was taken);
    remembered with its change key so the decision is not repeated until the item changes."""

    mailbox: str
    item_id: str
    change_key: str
    reason: str


class SyncStore(Protocol):
    # links
    def links_for_reservation(self, reservation_id: str) -> list[Link]: ...
    def links_for_reservations(self, reservation_ids: Collection[str]) -> dict[str, list[Link]]:
        """Links of many reservations, read in bulk; reservations without links are absent."""
        ...

    def link_by_item(self, mailbox: str, item_id: str) -> Link | None: ...
    def links_by_items(self, mailbox: str, item_ids: Collection[str]) -> dict[str, Link]:
        """Item id → link of those of ``item_ids`` linked in ``mailbox``, read in bulk."""
        ...

    def links_in_mailbox(self, mailbox: str, states: Sequence[LinkState] | None = None) -> list[Link]: ...
    def pending_by_mailbox(self) -> dict[str, int]:
        """The links roomsync must still bring in step (any state but synced, and but awaiting:
        a meeting Outlook is still to send is nothing roomsync writes), per mailbox, in one query."""
        ...

    def save_link(self, link: Link) -> None:
        """Insert or replace the link of (reservation_id, mailbox)."""
        ...

    def save_links(self, links: Iterable[Link]) -> None:
        """Insert or replace many links at once (a page of writes): fewer statements than one each."""
        ...

    def delete_link(self, reservation_id: str, mailbox: str) -> None: ...

    # mailbox states
    def mailbox_state(self, mailbox: str) -> MailboxState:
        """The stored state, or a fresh one (not yet saved) for a mailbox never synced."""
        ...

    def save_mailbox_state(self, state: MailboxState) -> None: ...
    def mailbox_states(self) -> list[MailboxState]: ...
    def forget_mailbox(self, mailbox: str) -> list[str]:
        """Forget the mailbox's Exchange side (sync state, journal cursor, refused entries, the
        links' item ids) so the next cycle reads everything again and adopts entries by their
        stamps; the links' snapshots stay. Answers the reservations whose links named an item."""
        ...

    # items not imported
    def seen_entry(self, mailbox: str, item_id: str) -> SeenEntry | None: ...
    def save_seen_entry(self, entry: SeenEntry) -> None: ...
    def forget_seen_entry(self, mailbox: str, item_id: str) -> None: ...

    # log
    def log(self, entry: LogEntry) -> None: ...
    def recent_log(
        self,
        *,
        limit: int = 50,
        mailbox: str | None = None,
        event: str | None = None,
        levels: Collection[str] | None = None,
    ) -> list[LogEntry]:
        """Newest first; only entries of ``levels`` when given ("info", "warning", "error")."""
        ...


class UnitOfWork(Protocol):
    rooms: RoomsStore
    sync: SyncStore

    def commit(self) -> None: ...
    def rollback(self) -> None: ...
