"""A message for a person, independent of how it is delivered."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class NotificationKind(StrEnum):
    CONFLICT = "conflict"  # an Exchange change could not be applied
    REJECTED = "rejected"  # an Outlook entry could not become a reservation (room taken)
    SYNC_DISABLED = "sync-disabled"  # a reservation stopped syncing after repeated conflicts
    CANCELLED = "cancelled"  # a reservation was cancelled by the conflict policy
    FAILURE = "failure"  # a person's sync keeps failing


class Notification(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: NotificationKind
    recipient: str
    subject: str
    body: str
    reservation_id: str | None = None
