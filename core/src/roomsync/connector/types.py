"""The connector contract's types: what the hooks of :mod:`roomsync.hookspecs` take and return.

A connector reads :class:`CalendarEntry` items, writes :class:`EntryDraft` and
:class:`EntryUpdate`, deletes by :class:`ItemRef`, answers every write with a
:class:`WriteResult`, reports changes as a :class:`ChangeSet` and free/busy as :class:`FreeBusy`,
and declares what it can do in :class:`Capabilities`. Their fields are the domain's
:class:`~roomsync.domain.EventFields`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from roomsync.domain import EventFields, ShowAs

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Answer(StrEnum):
    """An attendee's answer to a meeting, as the organizer's item records it."""

    NONE = "none"  # not answered (yet), or an answer the server does not pass on
    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"


class AttendeeAnswer(BaseModel):
    """One attendee's (a room's, say) answer recorded on the organizer's item."""

    model_config = _FROZEN

    mailbox: str
    answer: Answer = Answer.NONE


class CalendarEntry(BaseModel):
    """An entry as a connector read it from a mailbox's calendar.

    ``stamp`` is the stamp on the item (an extended property) as the connector read it; ``None``
    for entries that roomsync never wrote. Connectors treat stamps as opaque strings; the core
    turns them into reservation ids (see :mod:`roomsync.stamps`). ``organizer`` is who organises
    the meeting: an entry in ``mailbox`` organised by someone else is an invitation and never
    drives a reservation.
    """

    model_config = _FROZEN

    item_id: str
    change_key: str = ""
    mailbox: str
    organizer: str
    stamp: str | None = None
    fields: EventFields
    setup_minutes: int = 0
    followup_minutes: int = 0
    uid: str | None = None
    """The meeting's identity across mailboxes (EWS UID, Graph iCalUId), where the connector reads
    it: the organizer's item, each attendee's copy and a room's booking share it."""
    modified: datetime | None = None
    """When the server last changed the item (EWS LastModifiedTime, Graph lastModifiedDateTime),
    where the connector reads it: the differences report says from it which side changed last."""
    answers: tuple[AttendeeAnswer, ...] = ()
    """The attendees' answers as the organizer's item records them (EWS ``ResponseType``, Graph
    ``status.response``), rooms included, addresses in lower case; empty where the connector
    does not read them or the entry is not the organizer's."""
    stamped_by: str | None = None
    """Set by the core, never by a connector: the other installation whose stamp the entry
    carries (``stamp`` is then ``None``). Such an entry is left alone."""

    @property
    def is_own(self) -> bool:
        return self.organizer.lower() == self.mailbox.lower()


class EntryDraft(BaseModel):
    """What to create in a mailbox; ``stamp`` is written as the item is created."""

    model_config = _FROZEN

    stamp: str
    fields: EventFields
    setup_minutes: int = 0
    followup_minutes: int = 0
    known_new: bool = False
    """The engine knows no entry with this stamp can be in the mailbox: no earlier attempt was
    recorded and the complete change feed it has just read holds none. The connector may then
    skip its stamp lookup; it must still look before repeating a create whose answer was lost."""


class EntryUpdate(BaseModel):
    """A full replacement of an entry's synced fields; ``change_key`` guards against lost updates."""

    model_config = _FROZEN

    item_id: str
    change_key: str | None = None
    stamp: str
    fields: EventFields
    setup_minutes: int = 0
    followup_minutes: int = 0
    companions: bool = True
    """Whether buffer entries may stand beside the entry from an earlier write; when False the
    engine knows none was written, and a connector need not look any up
    (:func:`~roomsync.connector.companions.companion_lookups`)."""


class ItemRef(BaseModel):
    model_config = _FROZEN

    item_id: str
    change_key: str | None = None
    stamp: str | None = None
    """The entry's ROOMS stamp, so a connector can remove what it wrote beside it (buffers)."""


class WriteErrorKind(StrEnum):
    NOT_FOUND = "not-found"  # the item is gone
    STALE = "stale"  # change key out of date: the item changed meanwhile
    DENIED = "denied"  # no right to write to this mailbox
    INVALID = "invalid"  # the server refused the content
    TRANSIENT = "transient"  # try again later (throttling, time-out)


class WriteResult(BaseModel):
    """The outcome of one item of a batched write, in the order of the request."""

    model_config = _FROZEN

    ok: bool
    item_id: str | None = None
    change_key: str | None = None
    error: str | None = None
    error_kind: WriteErrorKind | None = None

    @classmethod
    def success(cls, item_id: str, change_key: str) -> WriteResult:
        return cls(ok=True, item_id=item_id, change_key=change_key)

    @classmethod
    def failure(cls, kind: WriteErrorKind, message: str, item_id: str | None = None) -> WriteResult:
        return cls(ok=False, error=message, error_kind=kind, item_id=item_id)


class ChangeSet(BaseModel):
    """One page of a mailbox's changes since an opaque sync state.

    ``entries`` are created or changed entries read in full; ``deleted`` are item ids that are
    gone (hard or soft deleted, or moved to Deleted Items). ``unchanged`` are items the feed
    reported in the very version (item id and change key) a write of this connector left them
    in: they hold what was written, so the connector does not read them, and the engine knows
    them from its links (:mod:`roomsync.connector.own_writes`). ``more`` asks the caller to call
    again with ``sync_state`` for the next page. ``reset`` is true when the connector could not
    use the state it got and this page starts a full listing again (which lists both
    ``entries`` and ``unchanged``).
    """

    model_config = _FROZEN

    entries: tuple[CalendarEntry, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[ItemRef, ...] = ()
    sync_state: str
    more: bool = False
    reset: bool = False


class BusyInterval(BaseModel):
    model_config = _FROZEN

    start: datetime
    end: datetime
    status: ShowAs = ShowAs.BUSY
    subject: str | None = None


class FreeBusy(BaseModel):
    """Busy times of one mailbox over one window; ``error`` when that mailbox could not be read."""

    model_config = _FROZEN

    mailbox: str
    intervals: tuple[BusyInterval, ...] = ()
    error: str | None = None


class WriteLimits(BaseModel):
    """The values a connector's server takes in one entry; unset: no limit of that kind.

    The engine checks every entry against them before writing (:mod:`roomsync.engine.limits`):
    an entry beyond them is not sent, so one bad reservation never fails its batch.
    """

    model_config = _FROZEN

    max_title_length: int | None = Field(default=None, ge=1)
    """Characters of a title (and of a modified occurrence's title)."""
    max_attendees: int | None = Field(default=None, ge=1)
    """Participants and rooms together: the recipients of one meeting request."""
    earliest: datetime | None = None
    """The first instant an entry's times may take."""
    latest: datetime | None = None
    """The instant before which an entry's times, and a series' end, must lie."""
    xml_text: bool = False
    """Text travels in XML 1.0, which cannot carry most control characters, U+FFFE, U+FFFF and
    lone surrogates (EWS refuses the whole request that holds one)."""


class Capabilities(BaseModel):
    """What a connector can do; the engine and the test kit adapt to it."""

    model_config = _FROZEN

    recurrence: bool = True
    push: bool = False
    free_busy: bool = True
    max_batch: int = Field(default=100, ge=1)
    max_freebusy_mailboxes: int = Field(default=100, ge=1)
    max_freebusy_days: int = Field(default=42, ge=1)
    max_concurrency: int = Field(default=1, ge=1)
    """Cycles of the environment that may run at once (each one request in flight at a time):
    what the server allows the service account, shared by every roomsync process using it."""
    limits: WriteLimits = WriteLimits()
    notes: tuple[str, ...] = ()


class CheckStep(BaseModel):
    """One step of the per-person sync test."""

    model_config = _FROZEN

    name: str
    ok: bool
    detail: str = ""
