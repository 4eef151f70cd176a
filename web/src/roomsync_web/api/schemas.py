"""The API's bodies: what callers send (checked field by field) and what they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from roomsync.domain import Recurrence, Reservation, ShowAs
from roomsync.persons_csv import address_problem
from roomsync.zones import iana_zone

MAX_MAILBOXES = 500


def _address(value: str) -> str:
    problem = address_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} {problem}")
    return value.strip().lower()


Address = Annotated[str, Field(max_length=320), AfterValidator(_address)]
Zone = Annotated[
    str,
    Field(
        max_length=100,
        description="An IANA time zone; a Windows name (as Outlook gives it) is taken as its IANA zone.",
    ),
    AfterValidator(lambda value: iana_zone(value, windows=True)),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """Every refusal: what is wrong in words, and for wrong fields each field with its problem."""

    detail: str
    errors: list[FieldProblem] | None = None
    code: str | None = None
    """For programs: ``room-taken``, ``changed-meanwhile``, ``outside-booking-window``."""
    facts: dict[str, str | int] | None = None
    """What the code is about, for a program to say it in its own words (``room``, ``days``)."""


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": words}
    for status, words in (
        (401, "no credential, or one that is unknown, wrong, revoked or expired"),
        (403, "the credential lacks the scope, or may not act for that person"),
        (404, "no such reservation, person or room"),
        (409, "a room taken at that time, or a reservation changed since it was read"),
        (413, "the body is too large"),
        (422, "a field is missing or wrong (each named in errors)"),
        (429, "over the rate limit (Retry-After says when to try again)"),
    )
}


class FreeBusyQuery(Strict):
    mailboxes: list[Address] = Field(min_length=1, max_length=MAX_MAILBOXES)
    start: AwareDatetime
    end: AwareDatetime


class BusyOut(BaseModel):
    start: datetime
    end: datetime
    status: str
    source: str


class MailboxFreeBusyOut(BaseModel):
    mailbox: str
    busy: list[BusyOut]
    errors: list[str]


class RoomOut(BaseModel):
    name: str
    mailbox: str
    capacity: int | None
    equipment: list[str]
    environment: str | None
    sync_master: bool
    outlook_bookings: str = "reservation"
    """What an Outlook booking of the room by someone roomsync does not synchronise becomes in
    ROOMS: ``reservation`` or ``blocker``."""
    booking_window_days: int | None = None
    """How many days ahead the room may be booked; ``null``: no limit."""


class FreeRoomOut(RoomOut):
    errors: list[str] = Field(default_factory=list)
    """What could not be asked (an Exchange that did not answer): the room is free in ROOMS."""


class FreeRoomsQuery(Strict):
    """Rooms free for a meeting: every occurrence when it is a series."""

    start: AwareDatetime
    end: AwareDatetime
    timezone: Zone = "UTC"
    recurrence: Recurrence | None = None
    name: str | None = Field(default=None, max_length=200)
    capacity: int | None = Field(default=None, ge=1)
    equipment: list[str] = Field(default_factory=list, max_length=50)


class FreeRoomsOut(BaseModel):
    occurrences: int
    """How many occurrences were checked (1 for a single meeting)."""
    checked_until: datetime
    """The end of the last occurrence checked: an open-ended series is checked for a year."""
    rooms: list[FreeRoomOut]


class ReservationIn(Strict):
    title: str = Field(max_length=1000)
    start: AwareDatetime
    end: AwareDatetime
    timezone: Zone = "UTC"
    organizer: Address
    booked_by: Address | None = None
    rooms: list[Address] = Field(default_factory=list, max_length=50)
    participants: list[Address] = Field(default_factory=list, max_length=1000)
    reminder_minutes: int = Field(default=15, ge=0, le=40320)
    private: bool = False
    show_as: ShowAs = ShowAs.BUSY
    comment: str = Field(default="", max_length=100_000)
    setup_minutes: int = Field(default=0, ge=0, le=1440)
    followup_minutes: int = Field(default=0, ge=0, le=1440)
    recurrence: Recurrence | None = None
    from_outlook: bool = Field(
        default=False,
        description=(
            "Booked in the Outlook add-in for the meeting being written: its entry comes from "
            "Outlook once the meeting is sent, so roomsync creates none; not sent within the "
            "configured wait ([web] outlook_wait_minutes), the reservation is cancelled and its "
            "organizer told."
        ),
    )


class ReservationChange(Strict):
    title: str | None = Field(default=None, max_length=1000)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    organizer: Address | None = None
    rooms: list[Address] | None = Field(default=None, max_length=50)
    reminder_minutes: int | None = Field(default=None, ge=0, le=40320)
    version: int | None = Field(default=None, ge=1)
    """The version the caller read: the change is refused (409) if the reservation moved on."""


class ReservationOut(BaseModel):
    id: str
    title: str
    start: datetime
    end: datetime
    timezone: str
    organizer: str
    creator: str | None
    rooms: list[str]
    participants: list[str]
    recurrence: dict[str, Any] | None
    status: str
    version: int
    sync_disabled: bool

    @classmethod
    def of(cls, r: Reservation) -> ReservationOut:
        return cls(
            id=str(r.id),
            title=r.fields.title,
            start=r.fields.start,
            end=r.fields.end,
            timezone=r.fields.timezone,
            organizer=r.organizer,
            creator=r.creator,
            rooms=list(r.fields.rooms),
            participants=[p.email for p in r.fields.participants],
            recurrence=r.fields.recurrence.model_dump(mode="json") if r.fields.recurrence else None,
            status=r.status.value,
            version=r.version,
            sync_disabled=r.sync_disabled,
        )


class LinkOut(BaseModel):
    mailbox: str
    item_id: str | None
    state: str
    conflicts: int
    last_error: str | None


class JournalOut(BaseModel):
    seq: int
    at: datetime
    action: str
    origin: str
    actor: str | None


class ReservationDetail(BaseModel):
    reservation: ReservationOut
    links: list[LinkOut]
    journal: list[JournalOut]


class ResolveIn(Strict):
    id: int | None = Field(default=None, ge=1)
    mailbox: Address | None = None
    kind: str | None = None
    reservation_id: str | None = None
    item_id: str | None = None
    resolution: str = Field(pattern="^(use-rooms|use-exchange|ignore)$")
