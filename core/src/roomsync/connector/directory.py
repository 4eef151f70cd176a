"""The room directory a connector reads (:func:`~roomsync.hookspecs.roomsync_room_directory`).

Exchange groups room mailboxes in *room lists* (distribution groups of rooms only, which Outlook's
room finder shows). A connector answers the lists with their rooms; ``roomsync rooms import``
turns them into ROOMS rooms. One list that could not be read carries its ``error`` instead of
failing the others: the import then adds and updates what it read but makes no room inactive.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class DirectoryRoom(BaseModel):
    """A room mailbox as the directory shows it; what the server does not record is ``None``."""

    model_config = _FROZEN

    mailbox: str
    name: str
    capacity: int | None = None
    building: str | None = None
    floor: str | None = None
    """The floor as the directory names it (Graph's ``floorLabel``, else its ``floorNumber``)."""
    booking_type: str | None = None
    """How the room is booked, where the directory says (Graph's ``bookingType``: ``standard``,
    or ``reserved`` for a room only its delegates book)."""

    @field_validator("mailbox")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class RoomList(BaseModel):
    """One room list and its rooms; ``mailbox`` ``None`` holds the rooms that are in no list
    (where the server can tell them, as Graph's ``/places/microsoft.graph.room`` does)."""

    model_config = _FROZEN

    mailbox: str | None
    name: str
    rooms: tuple[DirectoryRoom, ...] = ()
    error: str | None = None
    """Why this list's rooms could not be read (its ``rooms`` are then empty)."""

    @field_validator("mailbox")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.strip().lower() if value is not None else None
