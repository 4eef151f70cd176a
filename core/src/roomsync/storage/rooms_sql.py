"""The ROOMS side in SQL: persons, rooms, reservations and the change journal.

Writers of reservations are serialised on the journal (a table lock on PostgreSQL; SQLite has only
one writer anyway) so that journal sequence numbers become visible in commit order: a mailbox's
cursor can then never skip a change committed late with a lower number.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, func, or_, select, text
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from roomsync.domain import (
    ConflictPolicy,
    EventFields,
    Frequency,
    Language,
    OccurrenceChange,
    OutlookBookings,
    Participant,
    Person,
    Recurrence,
    Reservation,
    ReservationStatus,
    Room,
    ShowAs,
    Weekday,
)
from roomsync.errors import ChangedMeanwhile, InvalidInput, NotFound, RoomInactive, RoomTaken
from roomsync.recurrence import occurrences
from roomsync.room_bookings import first_conflict, span
from roomsync.storage.models import (
    IN_CHUNK,
    JournalRow,
    OccurrenceChangeRow,
    ParticipantRow,
    PersonRow,
    ReservationRoomRow,
    ReservationRow,
    RoomRow,
    SeriesRow,
)
from roomsync.storage.protocols import JournalEntry, Origin

# How far an open-ended series is followed when looking for room conflicts.
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_ACTIVE = ReservationStatus.ACTIVE.value
_LOAD = (
    selectinload(ReservationRow.rooms),
    selectinload(ReservationRow.participants),
    selectinload(ReservationRow.series),
    selectinload(ReservationRow.changes),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _email(value: str) -> str:
    return value.strip().lower()


_LAST_SEQ = func.max(JournalRow.seq).label("last")
_CHANGES_SINCE = (
    select(JournalRow.reservation_id, _LAST_SEQ)
    .where(JournalRow.organizer == bindparam("organizer"), JournalRow.seq > bindparam("cursor"))
    .group_by(JournalRow.reservation_id)
    .order_by(_LAST_SEQ)
)
"""The reservations an organizer's journal holds after a cursor, each with its latest row."""
_CHANGES_PAGE = _CHANGES_SINCE.limit(bindparam("limit"))

_PERSON = select(PersonRow).where(PersonRow.email == bindparam("email"))
"""A person by address, built once: every cycle reads its person."""

_ROW_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only, and within a 64-bit key


def _row_id(reservation_id: str | None) -> int | None:
    """The primary key behind a reservation id; ``None`` for ids this store never issued.

    ``str.isdigit`` would take "²" (which ``int`` refuses) and "٣" (which ``int`` reads as 3).
    """
    if reservation_id is None or not _ROW_ID.fullmatch(reservation_id.strip()):
        return None
    return int(reservation_id)


@dataclass(frozen=True)
class _Write:
    """What a write of a reservation records in the journal: one row per organizer."""

    organizers: Sequence[str]
    origin: Origin
    action: str
    actor: str | None = None
    reason: str = ""


class SqlRoomsStore:
    """:class:`~roomsync.storage.protocols.RoomsStore` over an SQLAlchemy session; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- persons ---------------------------------------------------------------------------

    def _person_row(self, email: str) -> PersonRow | None:
        return self.session.scalar(_PERSON, {"email": _email(email)})

    def get_person(self, email: str) -> Person | None:
        row = self._person_row(email)
        return _person(row) if row is not None else None

    def list_persons(self) -> list[Person]:
        return [_person(row) for row in self.session.scalars(select(PersonRow).order_by(PersonRow.email))]

    def upsert_person(self, person: Person) -> Person:
        row = self._person_row(person.email)
        if row is None:
            row = PersonRow(email=_email(person.email))
            self.session.add(row)
        row.name = person.name
        row.environment = person.environment
        row.conflict_policy = person.conflict_policy.value
        row.sync_enabled = person.sync_enabled
        row.bookers = "\n".join(person.bookers)
        row.language = person.language.value if person.language is not None else None
        if {"paused_at", "pause_reason"} & person.model_fields_set:
            row.paused_at = person.paused_at
            row.pause_reason = person.pause_reason
        self.session.flush()
        return _person(row)

    def set_environment(self, email: str, environment: str | None) -> Person:
        row = self._person_row(email)
        if row is None:
            raise NotFound(f"unknown person {_email(email)}")
        row.environment = environment
        self.session.flush()
        return _person(row)

    # --- rooms -----------------------------------------------------------------------------

    def add_room(self, room: Room) -> Room:
        """Raises :class:`~roomsync.errors.InvalidInput` when the mailbox is a room already."""
        if self.room_by_mailbox(room.mailbox) is not None:
            raise InvalidInput(f"room {room.mailbox} exists already")
        row = RoomRow(
            name=room.name,
            mailbox=room.mailbox,
            capacity=room.capacity,
            equipment="\n".join(room.equipment),
            sync_master=room.sync_master,
            environment=room.environment,
            booking_window_days=room.booking_window_days,
            active=room.active,
            outlook_bookings=room.outlook_bookings.value,
        )
        self.session.add(row)
        self.session.flush()
        return _room(row)

    def set_booking_window(self, mailbox: str, days: int | None) -> Room:
        row = self.session.scalar(select(RoomRow).where(RoomRow.mailbox == _email(mailbox)))
        if row is None:
            raise NotFound(f"unknown room {_email(mailbox)}")
        row.booking_window_days = days
        self.session.flush()
        return _room(row)

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
        row = self.session.scalar(select(RoomRow).where(RoomRow.mailbox == _email(mailbox)))
        if row is None:
            raise NotFound(f"unknown room {_email(mailbox)}")
        if name is not None:
            row.name = name
        if capacity is not None:
            row.capacity = capacity
        if active is not None:
            row.active = active
        if sync_master is not None:
            row.sync_master = sync_master
        if outlook_bookings is not None:
            row.outlook_bookings = outlook_bookings.value
        self.session.flush()
        return _room(row)

    def list_rooms(self) -> list[Room]:
        rows = self.session.scalars(select(RoomRow).order_by(RoomRow.name, RoomRow.mailbox))
        return [_room(row) for row in rows]

    def room_by_mailbox(self, mailbox: str) -> Room | None:
        row = self.session.scalar(select(RoomRow).where(RoomRow.mailbox == _email(mailbox)))
        return _room(row) if row is not None else None

    def room_is_free(self, mailbox: str, fields: EventFields, exclude: str | None = None) -> bool:
        return self._conflict(_email(mailbox), fields, _row_id(exclude)) is None

    def _conflict(self, mailbox: str, fields: EventFields, exclude: int | None) -> str | None:
        """The id of an active reservation holding ``mailbox`` during an occurrence of ``fields``."""
        span_start, span_end = span(fields)
        found = self._holding([mailbox], span_start, span_end)
        return first_conflict(found, mailbox, fields, None if exclude is None else str(exclude))

    def room_bookings(
        self, rooms: Collection[str], since: datetime, until: datetime | None = None
    ) -> list[Reservation]:
        if not rooms:
            return []
        return self._holding(sorted({_email(room) for room in rooms}), since, until)

    def _holding(self, mailboxes: Sequence[str], start: datetime, end: datetime | None) -> list[Reservation]:
        """Active reservations holding one of ``mailboxes``: every series, and the single ones
        overlapping ``start`` to ``end`` (no end: all after ``start``)."""
        overlapping = ReservationRow.end_at > start
        if end is not None:
            overlapping = and_(ReservationRow.start_at < end, overlapping)
        stmt = (
            select(ReservationRow)
            .where(
                ReservationRow.id.in_(
                    select(ReservationRoomRow.reservation_id).where(ReservationRoomRow.mailbox.in_(mailboxes))
                )
            )
            .where(ReservationRow.status == _ACTIVE)
            .where(or_(ReservationRow.series.has(), overlapping))
            .order_by(ReservationRow.start_at, ReservationRow.id)
            .options(*_LOAD)
        )
        return [_reservation(row) for row in self.session.scalars(stmt)]

    def _check_rooms(
        self, fields: EventFields, *, must_be_free: bool, exclude: int | None, held: Collection[str] = ()
    ) -> None:
        """Every room known, bookable (``held``: rooms the reservation holds already, which it may
        keep though inactive) and, with ``must_be_free``, free."""
        for mailbox in fields.rooms:
            room = self.room_by_mailbox(mailbox)
            if room is None:
                raise NotFound(f"unknown room {mailbox}")
            if not room.active and mailbox not in held:
                raise RoomInactive(
                    f"room {room.name} <{mailbox}> is inactive and cannot be booked "
                    f"(see 'roomsync rooms list'; 'roomsync rooms set {mailbox} --active' makes it bookable)"
                )
            if must_be_free and (taken_by := self._conflict(mailbox, fields, exclude)) is not None:
                raise RoomTaken(f"room {mailbox} is taken by reservation {taken_by}")

    def _check_person(self, email: str) -> None:
        if self._person_row(email) is None:
            raise NotFound(f"unknown person {email}")

    # --- reservations ----------------------------------------------------------------------

    def get_reservation(self, reservation_id: str) -> Reservation | None:
        row_id = _row_id(reservation_id)
        if row_id is None:
            return None
        row = self.session.scalar(select(ReservationRow).where(ReservationRow.id == row_id).options(*_LOAD))
        return _reservation(row) if row is not None else None

    def get_reservations(self, reservation_ids: Collection[str]) -> dict[str, Reservation]:
        row_ids = sorted({row_id for rid in reservation_ids if (row_id := _row_id(rid)) is not None})
        found: dict[str, Reservation] = {}
        for offset in range(0, len(row_ids), IN_CHUNK):
            chunk = row_ids[offset : offset + IN_CHUNK]
            stmt = select(ReservationRow).where(ReservationRow.id.in_(chunk)).options(*_LOAD)
            for row in self.session.scalars(stmt):
                found[str(row.id)] = _reservation(row)
        return found

    def create_reservation(
        self, reservation: Reservation, origin: Origin = Origin.ROOMS, actor: str | None = None
    ) -> Reservation:
        """Store a new reservation; the id and version 1 are assigned here (a given id is ignored)."""
        self._serialise_writers()
        self._check_person(reservation.organizer)
        self._check_rooms(reservation.fields, must_be_free=reservation.active, exclude=None)
        now = _now()
        row = ReservationRow(
            organizer=reservation.organizer,
            creator=reservation.creator,
            person_in_charge=reservation.person_in_charge,
            setup_minutes=reservation.setup_minutes,
            followup_minutes=reservation.followup_minutes,
            status=reservation.status.value,
            version=1,
            sync_disabled=reservation.sync_disabled,
            blocker=reservation.blocker,
            created_at=now,
            modified_at=now,
        )
        _write_fields(row, reservation.fields)
        self.session.add(row)
        self.session.flush()
        self._journal(row, _Write([row.organizer], origin, "created", actor))
        return _reservation(row)

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
        """Change a reservation. A call that changes nothing is not a write: the reservation is
        returned as it is, without a new version or journal rows (so echoes do not loop)."""
        self._serialise_writers()
        row = self._row_for_write(reservation_id)
        if expected_version is not None and expected_version != row.version:
            raise ChangedMeanwhile(
                f"reservation {row.id} is at version {row.version}, not {expected_version}: "
                "it was changed meanwhile"
            )
        current = _reservation(row)
        changes: dict[str, object] = {}
        if fields is not None:
            changes["fields"] = fields
        if organizer is not None:
            changes["organizer"] = _email(organizer)
        if setup_minutes is not None:
            changes["setup_minutes"] = setup_minutes
        if followup_minutes is not None:
            changes["followup_minutes"] = followup_minutes
        target = Reservation.model_validate({**current.model_dump(), **changes})
        if target == current:
            return current
        if target.organizer != current.organizer:
            self._check_person(target.organizer)
        if target.fields != current.fields:
            self._check_rooms(
                target.fields, must_be_free=current.active, exclude=row.id, held=current.fields.rooms
            )
            _write_fields(row, target.fields)
        row.organizer = target.organizer
        row.setup_minutes = target.setup_minutes
        row.followup_minutes = target.followup_minutes
        if target.organizer != current.organizer:
            self._bump(row, _Write([current.organizer, target.organizer], origin, "organizer-changed", actor))
        else:
            self._bump(row, _Write([row.organizer], origin, "updated", actor))
        return _reservation(row)

    def cancel_reservation(
        self,
        reservation_id: str,
        *,
        origin: Origin = Origin.ROOMS,
        actor: str | None = None,
        reason: str = "",
    ) -> Reservation:
        """Cancel; cancelling a cancelled reservation changes nothing."""
        self._serialise_writers()
        row = self._row_for_write(reservation_id)
        if row.status != ReservationStatus.CANCELLED.value:
            row.status = ReservationStatus.CANCELLED.value
            self._bump(row, _Write([row.organizer], origin, "cancelled", actor, reason))
        return _reservation(row)

    def set_sync_disabled(self, reservation_id: str, disabled: bool, reason: str = "") -> Reservation:
        """Stop (or resume) syncing one reservation; journalled as ``sync-disabled`` or
        ``sync-enabled`` with origin ``admin`` so the engine sees it."""
        self._serialise_writers()
        row = self._row_for_write(reservation_id)
        if row.sync_disabled != disabled:
            row.sync_disabled = disabled
            action = "sync-disabled" if disabled else "sync-enabled"
            self._bump(row, _Write([row.organizer], Origin.ADMIN, action, None, reason))
        return _reservation(row)

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
        stmt = select(ReservationRow).options(*_LOAD).order_by(ReservationRow.start_at, ReservationRow.id)
        if ids is not None:
            stmt = stmt.where(
                ReservationRow.id.in_(sorted({r for rid in ids if (r := _row_id(rid)) is not None}))
            )
        if organizer is not None:
            stmt = stmt.where(ReservationRow.organizer == _email(organizer))
        if involving is not None:
            mailboxes = sorted({_email(m) for m in involving})
            stmt = stmt.where(
                or_(
                    ReservationRow.organizer.in_(mailboxes),
                    ReservationRow.rooms.any(ReservationRoomRow.mailbox.in_(mailboxes)),
                    ReservationRow.participants.any(ParticipantRow.email.in_(mailboxes)),
                )
            )
        if not include_cancelled:
            stmt = stmt.where(ReservationRow.status == _ACTIVE)
        windowed = start is not None or end is not None
        if windowed:
            in_window = []
            if end is not None:
                in_window.append(ReservationRow.start_at < end)
            if start is not None:
                in_window.append(ReservationRow.end_at > start)
            # Series are kept for now and tested occurrence by occurrence below.
            stmt = stmt.where(or_(ReservationRow.series.has(), and_(*in_window)))
        found = []
        for row in self.session.scalars(stmt):
            reservation = _reservation(row)
            if windowed and row.series is not None:
                window = occurrences(reservation.fields, start or _EARLIEST, end or _LATEST)
                if next(window, None) is None:
                    continue
            found.append(reservation)
        return found

    # --- journal ---------------------------------------------------------------------------

    def changes_since(self, cursor: int | None, organizer: str) -> tuple[list[str], int]:
        """Every idle cycle asks this (and finds nothing): the statement is built once, and the
        index ``ix_journal_organizer_seq`` answers it."""
        rows = self.session.execute(
            _CHANGES_SINCE, {"organizer": _email(organizer), "cursor": cursor or 0}
        ).all()
        next_cursor = max((row.last for row in rows), default=cursor or 0)
        return [str(row.reservation_id) for row in rows], next_cursor

    def changes_page(self, cursor: int | None, organizer: str, limit: int) -> tuple[list[str], int, bool]:
        rows = self.session.execute(
            _CHANGES_PAGE, {"organizer": _email(organizer), "cursor": cursor or 0, "limit": limit + 1}
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = max((row.last for row in rows), default=cursor or 0)
        return [str(row.reservation_id) for row in rows], next_cursor, more

    def journal(self, reservation_id: str | None = None, limit: int = 100) -> list[JournalEntry]:
        """The latest ``limit`` journal rows, newest first."""
        stmt = select(JournalRow).order_by(JournalRow.seq.desc()).limit(limit)
        if reservation_id is not None:
            row_id = _row_id(reservation_id)
            if row_id is None:
                return []
            stmt = stmt.where(JournalRow.reservation_id == row_id)
        return [
            JournalEntry(
                seq=row.seq,
                reservation_id=str(row.reservation_id),
                organizer=row.organizer,
                origin=Origin(row.origin),
                action=row.action,
                at=row.at,
                actor=row.actor,
            )
            for row in self.session.scalars(stmt)
        ]

    # --- writing ---------------------------------------------------------------------------

    def _serialise_writers(self) -> None:
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("LOCK TABLE journal IN EXCLUSIVE MODE"))

    def _row_for_write(self, reservation_id: str) -> ReservationRow:
        row_id = _row_id(reservation_id)
        row = None
        if row_id is not None:
            stmt = (
                select(ReservationRow)
                .where(ReservationRow.id == row_id)
                .options(*_LOAD)
                .with_for_update(of=ReservationRow)
                .execution_options(populate_existing=True)
            )
            row = self.session.scalar(stmt)
        if row is None:
            raise NotFound(f"unknown reservation {reservation_id}")
        return row

    def _bump(self, row: ReservationRow, write: _Write) -> None:
        """Record a write: a new version (checked against the version read) and journal rows."""
        row.version += 1
        row.modified_at = _now()
        try:
            self.session.flush()
        except StaleDataError:
            raise ChangedMeanwhile(f"reservation {row.id} was changed meanwhile; read it again") from None
        self._journal(row, write)

    def _journal(self, row: ReservationRow, write: _Write) -> None:
        at = _now()
        for organizer in write.organizers:
            self.session.add(
                JournalRow(
                    reservation_id=row.id,
                    organizer=organizer,
                    origin=write.origin.value,
                    action=write.action,
                    at=at,
                    actor=write.actor,
                    reason=write.reason or None,
                )
            )
        self.session.flush()


# --- rows and models -------------------------------------------------------------------------


def _person(row: PersonRow) -> Person:
    return Person(
        email=row.email,
        name=row.name,
        environment=row.environment,
        conflict_policy=ConflictPolicy(row.conflict_policy),
        sync_enabled=row.sync_enabled,
        bookers=tuple(address for address in (row.bookers or "").split("\n") if address),
        language=Language(row.language) if row.language else None,
        paused_at=row.paused_at,
        pause_reason=row.pause_reason,
    )


def _room(row: RoomRow) -> Room:
    return Room(
        id=str(row.id),
        name=row.name,
        mailbox=row.mailbox,
        capacity=row.capacity,
        equipment=tuple(item for item in (row.equipment or "").split("\n") if item),
        sync_master=row.sync_master,
        environment=row.environment,
        booking_window_days=row.booking_window_days,
        active=row.active,
        outlook_bookings=OutlookBookings(row.outlook_bookings),
    )


def _fields(row: ReservationRow) -> EventFields:
    series = row.series
    recurrence = None
    if series is not None:
        recurrence = Recurrence(
            frequency=Frequency(series.frequency),
            interval=series.interval,
            weekdays=tuple(Weekday(day) for day in series.weekdays.split(",") if day),
            month_day=series.month_day,
            week_of_month=series.week_of_month,
            month=series.month,
            until=series.until,
            count=series.count,
        )
    return EventFields(
        title=row.title,
        start=row.start_at,
        end=row.end_at,
        timezone=row.timezone,
        rooms=tuple(room.mailbox for room in row.rooms),
        participants=tuple(
            Participant(email=p.email, name=p.name, external=p.external) for p in row.participants
        ),
        reminder_minutes=row.reminder_minutes,
        private=row.private,
        show_as=ShowAs(row.show_as),
        body=row.body,
        recurrence=recurrence,
        occurrences=tuple(
            OccurrenceChange(
                original_start=change.original_start,
                cancelled=change.cancelled,
                start=change.start_at,
                end=change.end_at,
                title=change.title,
            )
            for change in row.changes
        ),
    )


def _reservation(row: ReservationRow) -> Reservation:
    return Reservation(
        id=str(row.id),
        fields=_fields(row),
        organizer=row.organizer,
        creator=row.creator,
        person_in_charge=row.person_in_charge,
        setup_minutes=row.setup_minutes,
        followup_minutes=row.followup_minutes,
        status=ReservationStatus(row.status),
        version=row.version,
        sync_disabled=row.sync_disabled,
        blocker=row.blocker,
    )


def _write_fields(row: ReservationRow, fields: EventFields) -> None:
    """Replace everything ``fields`` describes; rows with unchanged keys are updated in place."""
    row.title = fields.title
    row.start_at = fields.start
    row.end_at = fields.end
    row.timezone = fields.timezone
    row.reminder_minutes = fields.reminder_minutes
    row.private = fields.private
    row.show_as = fields.show_as.value
    row.body = fields.body
    row.rooms = [ReservationRoomRow(mailbox=mailbox) for mailbox in fields.rooms]
    row.participants = [
        ParticipantRow(email=p.email, name=p.name, external=p.external) for p in fields.participants
    ]
    recurrence = fields.recurrence
    if recurrence is None:
        row.series = None
    else:
        series = row.series if row.series is not None else SeriesRow()
        series.frequency = recurrence.frequency.value
        series.interval = recurrence.interval
        series.weekdays = ",".join(day.value for day in recurrence.weekdays)
        series.month_day = recurrence.month_day
        series.week_of_month = recurrence.week_of_month
        series.month = recurrence.month
        series.until = recurrence.until
        series.count = recurrence.count
        row.series = series
    row.changes = [
        OccurrenceChangeRow(
            original_start=change.original_start.astimezone(UTC),
            cancelled=change.cancelled,
            start_at=change.start,
            end_at=change.end,
            title=change.title,
        )
        for change in fields.occurrences
    ]


# --- conflict windows ------------------------------------------------------------------------
