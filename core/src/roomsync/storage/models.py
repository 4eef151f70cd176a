"""Tables of the SQL stores.

The migrations in ``migrations/versions`` create exactly these tables; a test compares the two so
they cannot drift. Enumerations are stored as their string values (no database enum types) so
that adding a value never needs a migration. Every instant is stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

EMAIL = String(320)
ITEM_ID = String(512)

# Deterministic constraint names: later migrations can address constraints by name on every
# backend (SQLite batch mode needs that).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Bulk reads ask for at most this many keys per IN (...) list, well under every driver's limit.
IN_CHUNK = 500


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: stored in UTC, read back as a timezone-aware UTC datetime on every backend.

    SQLite has no time zones, so the value is written as naive UTC there; naive input is refused
    everywhere because its meaning would depend on the server's zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored as an instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- the ROOMS side ----------------------------------------------------------------------


class PersonRow(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(EMAIL, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    environment: Mapped[str | None] = mapped_column(String(100))
    conflict_policy: Mapped[str] = mapped_column(String(20))
    sync_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who may book for this person: one address per line (an address never holds a line break).
    bookers: Mapped[str] = mapped_column(Text, default="")
    # The language of the person's mails (de, fr, it, en); NULL: the configured default.
    language: Mapped[str | None] = mapped_column(String(8))
    # A pause of the person's sync (NULL: not paused) and why; the sync state stays as it was.
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pause_reason: Mapped[str | None] = mapped_column(String(500))


class RoomRow(Base):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mailbox: Mapped[str] = mapped_column(EMAIL, unique=True)
    capacity: Mapped[int | None] = mapped_column(Integer)
    # One item per line: equipment names never hold a line break (the command line refuses it).
    equipment: Mapped[str] = mapped_column(Text, default="")
    sync_master: Mapped[bool] = mapped_column(Boolean, default=True)
    environment: Mapped[str | None] = mapped_column(String(100))
    booking_window_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    outlook_bookings: Mapped[str] = mapped_column(
        String(20), default="reservation", server_default="reservation"
    )


class ReservationRow(Base):
    """One reservation; a series is one row plus its :class:`SeriesRow`.

    ``version`` is also the optimistic lock of the row: every update is written with
    ``WHERE version = <the version read>`` so two writers cannot both pass a version check.
    """

    __tablename__ = "reservations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    reminder_minutes: Mapped[int | None] = mapped_column(Integer)
    private: Mapped[bool] = mapped_column(Boolean)
    show_as: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    organizer: Mapped[str] = mapped_column(EMAIL, ForeignKey("persons.email"), index=True)
    creator: Mapped[str | None] = mapped_column(EMAIL)
    person_in_charge: Mapped[str | None] = mapped_column(EMAIL)
    setup_minutes: Mapped[int] = mapped_column(Integer)
    followup_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    sync_disabled: Mapped[bool] = mapped_column(Boolean)
    blocker: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime)

    rooms: Mapped[list[ReservationRoomRow]] = relationship(
        cascade="all, delete-orphan", order_by="ReservationRoomRow.mailbox"
    )
    participants: Mapped[list[ParticipantRow]] = relationship(
        cascade="all, delete-orphan", order_by="ParticipantRow.email"
    )
    series: Mapped[SeriesRow | None] = relationship(cascade="all, delete-orphan")
    changes: Mapped[list[OccurrenceChangeRow]] = relationship(
        cascade="all, delete-orphan", order_by="OccurrenceChangeRow.original_start"
    )

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class ReservationRoomRow(Base):
    __tablename__ = "reservation_rooms"

    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    mailbox: Mapped[str] = mapped_column(EMAIL, ForeignKey("rooms.mailbox"), primary_key=True, index=True)


class ParticipantRow(Base):
    __tablename__ = "participants"

    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(EMAIL, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    external: Mapped[bool] = mapped_column(Boolean)


class SeriesRow(Base):
    """The recurrence of a series reservation; ``weekdays`` is a comma-separated list (``MO,WE``)."""

    __tablename__ = "series"

    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    frequency: Mapped[str] = mapped_column(String(20))
    interval: Mapped[int] = mapped_column(Integer)
    weekdays: Mapped[str] = mapped_column(String(30))
    month_day: Mapped[int | None] = mapped_column(Integer)
    week_of_month: Mapped[int | None] = mapped_column(Integer)
    month: Mapped[int | None] = mapped_column(Integer)
    until: Mapped[date | None] = mapped_column(Date)
    count: Mapped[int | None] = mapped_column(Integer)


class OccurrenceChangeRow(Base):
    __tablename__ = "occurrence_changes"

    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    original_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    cancelled: Mapped[bool] = mapped_column(Boolean)
    start_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    title: Mapped[str | None] = mapped_column(Text)


class JournalRow(Base):
    """One change of a reservation as seen by one organizer; ``seq`` is the cursor of
    :meth:`~roomsync.storage.protocols.RoomsStore.changes_since`."""

    __tablename__ = "journal"
    __table_args__ = (Index("ix_journal_organizer_seq", "organizer", "seq"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    organizer: Mapped[str] = mapped_column(EMAIL)
    origin: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str | None] = mapped_column(EMAIL)
    reason: Mapped[str | None] = mapped_column(Text)


# --- the sync side -----------------------------------------------------------------------


class LinkRow(Base):
    """A reservation's entry in one mailbox. ``reservation_id`` is the store's string id and has
    no foreign key: the ROOMS side may live behind another :class:`~roomsync.storage.protocols.RoomsStore`."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_mailbox_item_id", "mailbox", "item_id"),)

    reservation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mailbox: Mapped[str] = mapped_column(EMAIL, primary_key=True)
    item_id: Mapped[str | None] = mapped_column(ITEM_ID)
    change_key: Mapped[str | None] = mapped_column(ITEM_ID)
    state: Mapped[str] = mapped_column(String(20))
    rooms_version: Mapped[int] = mapped_column(Integer)
    rooms_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    exchange_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    written: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    conflicts: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expected_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    companions: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class InstallationRow(Base):
    """The one row naming this installation: its stamps carry ``id`` (see roomsync.stamps)."""

    __tablename__ = "installation"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    bare_stamps: Mapped[bool] = mapped_column(Boolean)


class MailboxStateRow(Base):
    __tablename__ = "mailbox_states"

    mailbox: Mapped[str] = mapped_column(EMAIL, primary_key=True)
    environment: Mapped[str | None] = mapped_column(String(100))
    sync_state: Mapped[str | None] = mapped_column(Text)
    rooms_cursor: Mapped[int | None] = mapped_column(Integer)
    last_success: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_attempt: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_fault: Mapped[str | None] = mapped_column(String(20))
    consecutive_failures: Mapped[int] = mapped_column(Integer)


class RunnerRow(Base):
    """A ``roomsync run`` daemon working on this database, while its heartbeat is fresh."""

    __tablename__ = "runners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MailboxLeaseRow(Base):
    """The one cycle of a mailbox in progress: held by one runner until released or expired.

    ``runner_id`` is the random id of the holding process's runner (a :class:`RunnerRow` only
    for daemons, so no foreign key); ``expires_at`` is renewed while the cycle runs.
    """

    __tablename__ = "mailbox_leases"

    mailbox: Mapped[str] = mapped_column(EMAIL, primary_key=True)
    runner_id: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SeenEntryRow(Base):
    __tablename__ = "seen_entries"

    mailbox: Mapped[str] = mapped_column(EMAIL, primary_key=True)
    item_id: Mapped[str] = mapped_column(ITEM_ID, primary_key=True)
    change_key: Mapped[str] = mapped_column(ITEM_ID)
    reason: Mapped[str] = mapped_column(Text)


class LogRow(Base):
    __tablename__ = "sync_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    mailbox: Mapped[str | None] = mapped_column(EMAIL)
    level: Mapped[str] = mapped_column(String(20))
    event: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    reservation_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ApiKeyRow(Base):
    """A key a service presents to the web API: only a hash of its secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(100))
    person: Mapped[str | None] = mapped_column(EMAIL)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DifferenceRow(Base):
    """One difference between ROOMS and Exchange as the scans found it, with its state.

    ``ident`` names the difference across scans (kind, mailbox, reservation, item, occurrence);
    ``sides`` fingerprints both sides' values, so an ignored difference opens again once either
    side changes.
    """

    __tablename__ = "differences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ident: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    mailbox: Mapped[str] = mapped_column(EMAIL, index=True)
    environment: Mapped[str | None] = mapped_column(String(100))
    reservation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    item_id: Mapped[str | None] = mapped_column(ITEM_ID)
    occurrence: Mapped[datetime | None] = mapped_column(UtcDateTime)
    title: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_last: Mapped[str] = mapped_column(String(20))
    rooms_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    exchange_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recommendation: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), index=True)
    state_by: Mapped[str | None] = mapped_column(String(320))
    state_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
    sides: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
