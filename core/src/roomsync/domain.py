"""The ROOMS domain: reservations, rooms, persons and the event fields they carry.

A reservation (the ROOMS side) and a calendar entry (the Exchange side, see
:mod:`roomsync.connector.types`) carry the same :class:`EventFields`; that common shape is what
the engine compares, merges and snapshots. Field names follow ROOMS's ``BookingDto`` in meaning
(``istPrivat`` is ``private``, ``comment`` is ``body``, ``beginPreparation``/``endFollowUp`` are
the buffer minutes).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ShowAs(StrEnum):
    """Free/busy status of an entry (Exchange ``LegacyFreeBusyStatus``)."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class ConflictPolicy(StrEnum):
    """What happens when both sides changed the same field, or Exchange asks for a taken room."""

    ROLLBACK = "rollback"  # ROOMS wins; after 5 conflicts the reservation stops syncing
    CANCEL = "cancel"  # ROOMS wins once; at the 2nd conflict the reservation is cancelled
    EXCHANGE_WINS = "exchange-wins"


class OutlookBookings(StrEnum):
    """What a room's Outlook bookings (the room invited in Outlook, unknown to ROOMS) become."""

    RESERVATION = "reservation"  # a reservation of the Outlook organizer
    BLOCKER = "blocker"  # a blocker: the room is taken, with neither participants nor description


class Language(StrEnum):
    """The languages roomsync writes its mails in."""

    DE = "de"
    FR = "fr"
    IT = "it"
    EN = "en"


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Weekday(StrEnum):
    MO = "MO"
    TU = "TU"
    WE = "WE"
    TH = "TH"
    FR = "FR"
    SA = "SA"
    SU = "SU"


_FROZEN = ConfigDict(frozen=True, extra="forbid")

CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# One "@", no spaces or list separators, a dotted domain: what a mailbox address looks like.
MAILBOX_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+")


def address_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a mailbox address, or ``None``: the check a persons file's
    email gets, for the command line and the persons' bookers to check an address the same way."""
    if not value.strip():
        return "is empty"
    if CONTROL_CHARACTER.search(value):
        return "contains a line break or another control character"
    if not MAILBOX_ADDRESS.fullmatch(value.strip().lower()):
        return "is not an e-mail address"
    return None


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone offset")
    return value


class Recurrence(BaseModel):
    """A series pattern as ROOMS and Exchange both express it.

    ``until`` and ``count`` end the series; neither means open-ended. ``week_of_month`` is 1-4,
    or -1 for "last", and goes with exactly one weekday (monthly/yearly by weekday).
    """

    model_config = _FROZEN

    frequency: Frequency
    interval: int = Field(default=1, ge=1, le=999)
    weekdays: tuple[Weekday, ...] = ()
    month_day: int | None = Field(default=None, ge=1, le=31)
    week_of_month: int | None = None
    month: int | None = Field(default=None, ge=1, le=12)
    until: date | None = None
    count: int | None = Field(default=None, ge=1, le=999)

    @field_validator("weekdays")
    @classmethod
    def _sorted_unique(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        order = list(Weekday)
        return tuple(sorted(set(value), key=order.index))

    @model_validator(mode="after")
    def _consistent(self) -> Recurrence:
        if self.until is not None and self.count is not None:
            raise ValueError("a series ends by date or by count, not both")
        if self.week_of_month is not None and self.week_of_month not in (1, 2, 3, 4, -1):
            raise ValueError("week_of_month must be 1, 2, 3, 4 or -1 (last)")
        if self.frequency is Frequency.WEEKLY and not self.weekdays:
            raise ValueError("a weekly series needs at least one weekday")
        if self.week_of_month is not None and len(self.weekdays) != 1:
            raise ValueError("a series by week of month needs exactly one weekday")
        if self.frequency is Frequency.YEARLY and self.month is None:
            raise ValueError("a yearly series needs a month")
        if self.frequency in (Frequency.MONTHLY, Frequency.YEARLY) and (
            (self.month_day is None) == (self.week_of_month is None)
        ):
            raise ValueError("a monthly or yearly series needs either month_day or week_of_month")
        return self

    @property
    def open_ended(self) -> bool:
        return self.until is None and self.count is None


class OccurrenceChange(BaseModel):
    """A modified or cancelled occurrence of a series, keyed by its original start."""

    model_config = _FROZEN

    original_start: datetime
    cancelled: bool = False
    start: datetime | None = None
    end: datetime | None = None
    title: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> OccurrenceChange:
        _require_aware(self.original_start, "original_start")
        if not self.cancelled:
            if self.start is None or self.end is None:
                raise ValueError("a modified occurrence needs start and end")
            _require_aware(self.start, "start")
            _require_aware(self.end, "end")
            if self.end <= self.start:
                raise ValueError("a modified occurrence must end after it starts")
        return self


class Participant(BaseModel):
    model_config = _FROZEN

    email: str
    name: str = ""
    external: bool = False

    @field_validator("email")
    @classmethod
    def _normal_email(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value


class EventFields(BaseModel):
    """The fields synchronised both ways, identical in shape on both sides."""

    model_config = _FROZEN

    title: str
    start: datetime
    end: datetime
    timezone: str = "UTC"
    rooms: tuple[str, ...] = ()
    participants: tuple[Participant, ...] = ()
    reminder_minutes: int | None = Field(default=15, ge=0, le=40320)
    private: bool = False
    show_as: ShowAs = ShowAs.BUSY
    body: str = ""
    recurrence: Recurrence | None = None
    occurrences: tuple[OccurrenceChange, ...] = ()

    @field_validator("rooms")
    @classmethod
    def _normal_rooms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({room.strip().lower() for room in value}))

    @field_validator("participants")
    @classmethod
    def _normal_participants(cls, value: tuple[Participant, ...]) -> tuple[Participant, ...]:
        unique = {p.email: p for p in value}
        return tuple(unique[email] for email in sorted(unique))

    @field_validator("occurrences")
    @classmethod
    def _sorted_occurrences(cls, value: tuple[OccurrenceChange, ...]) -> tuple[OccurrenceChange, ...]:
        return tuple(sorted(value, key=lambda o: o.original_start))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _times(self) -> EventFields:
        _require_aware(self.start, "start")
        _require_aware(self.end, "end")
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} is not after start {self.start.isoformat()}")
        if self.occurrences and self.recurrence is None:
            raise ValueError("occurrence changes need a recurrence")
        return self

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


class Reservation(BaseModel):
    """A ROOMS reservation (booking); a series is one reservation with a recurrence."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    fields: EventFields
    organizer: str
    creator: str | None = None
    person_in_charge: str | None = None
    setup_minutes: int = Field(default=0, ge=0, le=1440)
    followup_minutes: int = Field(default=0, ge=0, le=1440)
    status: ReservationStatus = ReservationStatus.ACTIVE
    version: int = 0
    sync_disabled: bool = False
    blocker: bool = False
    """Holds the room without being a meeting of ROOMS: an Outlook booking of a room whose
    ``outlook_bookings`` is ``blocker``."""

    @field_validator("organizer", "creator", "person_in_charge")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else value

    @property
    def active(self) -> bool:
        return self.status is ReservationStatus.ACTIVE


class Room(BaseModel):
    model_config = _FROZEN

    id: str | None = None
    name: str
    mailbox: str
    capacity: int | None = None
    equipment: tuple[str, ...] = ()
    """What the room offers (projector, video conference, ...), as ROOMS names it."""
    sync_master: bool = True
    environment: str | None = None
    """The environment whose server holds the room mailbox (free/busy is asked there); unset:
    the first environment of the configuration."""
    booking_window_days: int | None = Field(default=None, ge=1, le=3650)
    """How many days ahead the room may be booked (the room mailbox's BookingWindowInDays, where
    Exchange enforces it too); unset: no limit."""
    outlook_bookings: OutlookBookings = OutlookBookings.RESERVATION
    """What a booking of the room made in Outlook by someone roomsync does not synchronise becomes
    in ROOMS (read from the room's calendar)."""
    active: bool = True
    """An inactive room (gone from its environment's room directory, or set so by hand) stays
    with its reservations but cannot be booked."""

    @field_validator("mailbox")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    name: str = ""
    environment: str | None = None
    conflict_policy: ConflictPolicy = ConflictPolicy.ROLLBACK
    sync_enabled: bool = True
    bookers: tuple[str, ...] = ()
    """Who may book, change and cancel this person's reservations besides themselves (an
    assistant for their manager): addresses in lower case, each once, sorted."""
    language: Language | None = None
    """The language of the mails this person receives; unset: ``[notify] language``."""
    paused_at: datetime | None = None
    """Since when an administrator paused this person's sync (``persons pause``): no cycle runs
    until resumed, and the sync state is kept, so the cycle after it catches up incrementally."""
    pause_reason: str | None = None

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("bookers")
    @classmethod
    def _normal_bookers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            problem = address_problem(address)
            if problem is not None:
                raise ValueError(f"booker {address!r} {problem}")
        return tuple(sorted({address.strip().lower() for address in value}))


# --- the Exchange side -------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """A JSON-ready form of a model value in which equal meaning gives equal output.

    Times are compared as instants, so they are written in UTC.
    """
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo("UTC")).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return {name: canonical(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, (tuple, list)):
        return [canonical(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value
