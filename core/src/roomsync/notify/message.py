"""A message for a person or the administrators, as data: a kind, an audience and the facts.

The words are not part of it: :mod:`roomsync.notify.render` renders a notification from its
kind and facts with the templates of the recipient's language (de, fr, it, en). A notification for an
organizer holds only what concerns them; faults of the installation go to the administrators
(``[smtp] admin``) as a separate :attr:`NotificationKind.FAULT` with the detail.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from roomsync.domain import Language


class Audience(StrEnum):
    ORGANIZER = "organizer"  # the person in ``recipient``: plain words, nothing internal
    ADMINISTRATORS = "administrators"  # the ``[smtp] admin`` addresses: every technical detail


class NotificationKind(StrEnum):
    # For the organizer:
    CONFLICT = "conflict"  # an Exchange change could not be applied
    REJECTED = "rejected"  # an Outlook entry could not become a reservation (room taken)
    SYNC_DISABLED = "sync-disabled"  # a reservation stopped syncing after repeated conflicts
    CANCELLED = "cancelled"  # a reservation was cancelled by the conflict policy
    FAILURE = "failure"  # a person's sync keeps failing; the administrators were told why
    NOT_WRITTEN = "not-written"  # a reservation holds a value Exchange cannot take
    NOT_SENT = "not-sent"  # booked in the Outlook add-in, but the meeting never reached Exchange
    REPAIRED = "repaired"  # a repair policy brought a reservation and its entry in step
    ROOM_DECLINED = "room-declined"  # a room turned down (part of) a reservation's meeting
    # For the administrators:
    FAULT = "fault"  # what failed, where, of which kind, and what to check
    WRITE_REFUSED = "write-refused"  # the values of one reservation, and the limit or server answer
    ROOM_COLLISION = "room-collision"  # an Outlook booking of a room collides with a ROOMS reservation


AUDIENCES: dict[NotificationKind, Audience] = {
    kind: Audience.ADMINISTRATORS
    if kind in (NotificationKind.FAULT, NotificationKind.WRITE_REFUSED, NotificationKind.ROOM_COLLISION)
    else Audience.ORGANIZER
    for kind in NotificationKind
}
"""Who each kind is for; a notification's audience follows from its kind."""

Fact = str | int


class Notification(BaseModel):
    """One notification. The facts each kind holds are listed in :mod:`roomsync.notify.wording`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NotificationKind
    recipient: str | None = None  # the organizer; None for the administrators, whom notifiers know
    facts: dict[str, Fact] = Field(default_factory=dict)
    reservation_id: str | None = None
    language: Language | None = None  # the recipient's; None: the configured default
    timezone: str | None = None  # the recipient's IANA zone if known; else times stay in their own

    @model_validator(mode="after")
    def _recipient_fits_audience(self) -> Notification:
        if self.audience is Audience.ORGANIZER and not self.recipient:
            raise ValueError(f"a {self.kind.value} notification needs the organizer as recipient")
        if self.audience is Audience.ADMINISTRATORS and self.recipient is not None:
            raise ValueError("a notification for the administrators has no recipient of its own")
        return self

    @property
    def audience(self) -> Audience:
        return AUDIENCES[self.kind]

    @property
    def subject(self) -> str:
        """The English subject line (for the log; mails are in the recipient's language)."""
        from roomsync.notify.render import english

        return english.render(self, Language.EN).subject

    @property
    def body(self) -> str:
        """The English text (for the log; mails are in the recipient's language)."""
        from roomsync.notify.render import english

        return english.render(self, Language.EN).text.rstrip("\n")
