"""Rooms: the list, a search by name, capacity and equipment, and the rooms free for a window
or for every occurrence of a series."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from roomsync.booking import outside_window
from roomsync.domain import EventFields, Room
from roomsync.engine.freebusy import SeriesWindow, booking_window, busy_during
from roomsync.errors import InvalidInput
from roomsync_web.api.schemas import FreeRoomOut, FreeRoomsOut, FreeRoomsQuery, RoomOut
from roomsync_web.security import Reader

router = APIRouter(tags=["rooms"])


def _out(room: Room) -> RoomOut:
    return RoomOut.model_validate(room, from_attributes=True)


def _matching(
    request: Request, name: str | None, capacity: int | None, equipment: list[str] | None
) -> list[Room]:
    with request.app.state.service.database.unit_of_work() as uow:
        rooms = uow.rooms.list_rooms()
    wanted = {e.strip().lower() for e in equipment or ()}
    return [
        r
        for r in rooms
        if (name is None or name.strip().lower() in r.name.lower())
        and (capacity is None or (r.capacity or 0) >= capacity)
        and wanted <= {e.lower() for e in r.equipment}
    ]


@router.get("/rooms", response_model=list[RoomOut])
def list_rooms(
    request: Request,
    principal: Reader,
    name: str | None = Query(None, max_length=200, description="Part of the room's name."),
    capacity: int | None = Query(None, ge=1, description="At least this many seats."),
    equipment: Annotated[list[str] | None, Query(description="Has all of these (repeatable).")] = None,
) -> list[RoomOut]:
    return [_out(r) for r in _matching(request, name, capacity, equipment)]


def _free(
    request: Request, rooms: list[Room], fields: EventFields, window: SeriesWindow
) -> list[FreeRoomOut]:
    """Free at every span of the window, and bookable that far ahead."""
    now = datetime.now(UTC)
    rooms = [r for r in rooms if outside_window(r, fields, now) is None]
    answers = busy_during(request.app.state.service.runner, [r.mailbox for r in rooms], window)
    busy = {a.mailbox: a for a in answers}
    free = [
        FreeRoomOut(**_out(r).model_dump(), errors=busy[r.mailbox].errors)
        for r in rooms
        if not busy[r.mailbox].busy
    ]
    return sorted(free, key=lambda r: (r.capacity or 0, r.name))


@router.get("/rooms/free", response_model=list[FreeRoomOut])
def free_rooms(
    request: Request,
    principal: Reader,
    start: AwareDatetime,
    end: AwareDatetime,
    name: str | None = Query(None, max_length=200),
    capacity: int | None = Query(None, ge=1),
    equipment: Annotated[list[str] | None, Query()] = None,
) -> list[FreeRoomOut]:
    """Rooms with nothing booked from ``start`` to ``end``, neither in ROOMS (buffers included)
    nor in the room's Exchange calendar, and bookable that far ahead (the room's booking window);
    sorted by capacity, smallest first."""
    if end <= start:
        raise InvalidInput(f"end {end.isoformat()} is not after start {start.isoformat()}")
    rooms = _matching(request, name, capacity, equipment)
    fields = EventFields(title="?", start=start, end=end)
    return _free(request, rooms, fields, SeriesWindow(((start, end),), end))


@router.post("/rooms/free", response_model=FreeRoomsOut)
def free_rooms_for(request: Request, principal: Reader, query: FreeRoomsQuery) -> FreeRoomsOut:
    """Rooms free for a meeting, for every occurrence when it is a series (its first year when
    it has no end): one free/busy question per Exchange for the whole series."""
    if query.end <= query.start:
        raise InvalidInput(f"end {query.end.isoformat()} is not after start {query.start.isoformat()}")
    fields = EventFields(
        title="?", start=query.start, end=query.end, timezone=query.timezone, recurrence=query.recurrence
    )
    window = booking_window(fields)
    rooms = _matching(request, query.name, query.capacity, query.equipment)
    return FreeRoomsOut(
        occurrences=len(window.spans), checked_until=window.until, rooms=_free(request, rooms, fields, window)
    )
