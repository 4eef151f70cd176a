"""The sync test of one room: is its calendar read, and what is known of its booking policy?

``roomsync test ROOM-MAILBOX`` runs it. Exchange keeps a room's booking policy in its calendar
processing settings (``Set-CalendarProcessing``), which neither EWS nor Graph lets a client read;
what the test shows instead is ROOMS's side of the policy (sync master, what Outlook bookings
become, the booking window), what the room directory records where the server has one, and what
the room has done lately (bookings followed, collisions, declines).
"""

from __future__ import annotations

from roomsync.connector.directory import DirectoryRoom
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CheckStep
from roomsync.domain import Room
from roomsync.engine.runner import SyncRunner
from roomsync.errors import RoomsyncError
from roomsync.storage.protocols import LinkState
from roomsync.sync_test import plugin_text

NOTED = ("room-collision", "room-declined", "rejected", "failure")
"""The room's log events the test counts."""


def room_test(runner: SyncRunner, room: Room) -> list[CheckStep]:
    """Every step, in order; the room's calendar is read only when it is active and assigned."""
    steps = [CheckStep(name="room", ok=room.active, detail=policy_text(room))]
    environment = runner.room_environment(room)
    if not room.active or environment is None:
        if environment is None:
            steps.append(CheckStep(name="plugin", ok=False, detail="no environment is configured"))
        return steps
    try:
        host = runner.host(environment)
        detail = f"environment {environment}: {plugin_text(runner, environment)}"
        steps.append(CheckStep(name="plugin", ok=True, detail=detail))
    except RoomsyncError as exc:
        steps.append(CheckStep(name="plugin", ok=False, detail=str(exc)))
        return steps
    steps.append(_read(host, room))
    steps.append(_directory(host, room))
    steps.append(_activity(runner, room))
    return steps


def policy_text(room: Room) -> str:
    """ROOMS's side of the room's booking policy, in one line."""
    master = (
        "sync master: Outlook bookings that collide with ROOMS are declined"
        if room.sync_master
        else "not sync master: collisions are reported, both bookings stay"
    )
    window = (
        f"bookable {room.booking_window_days} days ahead" if room.booking_window_days else "no booking window"
    )
    active = "" if room.active else "inactive: its calendar is not read; "
    return f"{active}{room.name}: {master}; Outlook bookings become {room.outlook_bookings.value}s; {window}"


def _read(host: ConnectorHost, room: Room) -> CheckStep:
    try:
        page = host.changes(room.mailbox, None)
    except RoomsyncError as exc:
        return CheckStep(name="read", ok=False, detail=str(exc))
    more = " (first page)" if page.more else ""
    return CheckStep(
        name="read", ok=True, detail=f"{len(page.entries)} bookings in the room's calendar{more}"
    )


def _directory(host: ConnectorHost, room: Room) -> CheckStep:
    """What the directory records of the room; a server without room lists is no failure."""
    unreadable = "Exchange's own booking policy (Set-CalendarProcessing) cannot be read over EWS or Graph"
    try:
        lists = host.room_directory()
    except RoomsyncError as exc:
        return CheckStep(name="policy", ok=True, detail=f"{unreadable}; no room directory: {exc}")
    entry = next((r for found in lists for r in found.rooms if r.mailbox == room.mailbox), None)
    if entry is None:
        return CheckStep(name="policy", ok=True, detail=f"{unreadable}; the room is in no room list")
    return CheckStep(name="policy", ok=True, detail=f"{unreadable}; the directory shows {_described(entry)}")


def _described(entry: DirectoryRoom) -> str:
    parts = [
        f"capacity {entry.capacity}" if entry.capacity else "",
        f"building {entry.building}" if entry.building else "",
        f"floor {entry.floor}" if entry.floor else "",
        f"booking type {entry.booking_type}" if entry.booking_type else "",
    ]
    return ", ".join(p for p in parts if p) or "nothing more than its name"


def _activity(runner: SyncRunner, room: Room) -> CheckStep:
    """The room's recent cycles as the database tells them."""
    with runner.database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(room.mailbox)
        followed = len(uow.sync.links_in_mailbox(room.mailbox, [LinkState.FOLLOWED]))
        events = [e.event for e in uow.sync.recent_log(mailbox=room.mailbox, limit=500)]
    counts = ", ".join(f"{events.count(event)} {event}" for event in NOTED if event in events)
    last = f"last read {state.last_success:%Y-%m-%d %H:%M} UTC" if state.last_success else "never read yet"
    failing = (
        f"; the last {state.consecutive_failures} cycles failed: {state.last_error}"
        if state.consecutive_failures
        else ""
    )
    detail = (
        f"{last}; {followed} Outlook bookings followed" + (f"; lately {counts}" if counts else "") + failing
    )
    return CheckStep(name="activity", ok=not state.consecutive_failures, detail=detail)
