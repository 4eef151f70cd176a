"""Rooms from an environment's room directory (``roomsync rooms import``): plan, then apply.

The plan is pure: the rooms ROOMS knows against the room lists the connector read. A room of
the directory that ROOMS does not know is added to the environment; a known one gets the
directory's name and, where the directory records it, its capacity (nothing else a ROOMS
administrator set is touched, and nothing is ever deleted). A room of this environment that the
directory no longer lists becomes inactive (see :mod:`roomsync.room_activity`); one it lists
again becomes active again.

Rooms are made inactive only from a whole directory: not when one list could not be read, not
when only one list was asked for (the others were not looked at), and not when the directory
answers no room at all, which is likelier a missing right or scope than every room gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from roomsync import room_activity
from roomsync.connector.directory import DirectoryRoom, RoomList
from roomsync.domain import Room
from roomsync.storage.protocols import UnitOfWork

NO_LIST = "(in no room list)"
"""How the rooms that are in no room list are named."""


class Outcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    REACTIVATED = "reactivated"
    INACTIVE = "inactive"
    UNCHANGED = "unchanged"


@dataclass
class RoomChange:
    """What the import does (or, in a dry run, would do) to one room."""

    mailbox: str
    name: str
    outcome: Outcome
    lists: tuple[str, ...] = ()
    capacity: int | None = None
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """Field name to (before, after) for an updated room."""
    note: str = ""
    detached: list[str] = field(default_factory=list)
    """Reservations detached from sync as the room became inactive."""
    still_detached: list[str] = field(default_factory=list)
    """Reservations that stay detached though the room is active again."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "name": self.name,
            "outcome": self.outcome.value,
            "lists": list(self.lists),
            "capacity": self.capacity,
            "changed": {key: {"from": old, "to": new} for key, (old, new) in self.changed.items()},
            "note": self.note,
            "detached": self.detached,
            "still_detached": self.still_detached,
        }


@dataclass
class ImportResult:
    environment: str
    rooms: list[RoomChange]
    failed_lists: list[RoomList]
    kept_active_because: str | None = None
    """Why no room was made inactive, when the directory was not read whole."""
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed_lists

    def counts(self) -> dict[str, int]:
        return {outcome.value: sum(r.outcome is outcome for r in self.rooms) for outcome in Outcome}

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "counts": self.counts(),
            "rooms": [r.as_dict() for r in self.rooms],
            "failed_lists": [
                {"list": f.mailbox, "name": f.name, "error": f.error} for f in self.failed_lists
            ],
            "kept_active_because": self.kept_active_because,
        }


@dataclass
class _Listed:
    room: DirectoryRoom
    lists: list[str]


def _listed(directory: Sequence[RoomList]) -> dict[str, _Listed]:
    """Each room of the directory once (a room may be in several lists), in directory order;
    a capacity missing where it is first listed is taken from a later list that has one."""
    found: dict[str, _Listed] = {}
    for room_list in directory:
        label = room_list.name or room_list.mailbox or NO_LIST
        for room in room_list.rooms:
            seen = found.get(room.mailbox)
            if seen is None:
                found[room.mailbox] = _Listed(room, [label])
                continue
            if label not in seen.lists:
                seen.lists.append(label)
            if seen.room.capacity is None and room.capacity is not None:
                seen.room = seen.room.model_copy(update={"capacity": room.capacity})
    return found


def _why_none_inactive(directory: Sequence[RoomList], only_list: str | None, listed: int) -> str | None:
    failed = [r for r in directory if r.error is not None]
    if failed:
        return f"{len(failed)} room list(s) could not be read"
    if only_list is not None:
        return f"only the room list {only_list} was read"
    if listed == 0:
        return "the directory lists no room at all (check the service account's rights and scope)"
    return None


def plan_import(
    environment: str, known: Sequence[Room], directory: Sequence[RoomList], only_list: str | None = None
) -> ImportResult:
    """What importing ``directory`` into ``environment`` changes; nothing is written."""
    by_mailbox = {room.mailbox: room for room in known}
    listed = _listed(directory)
    changes: list[RoomChange] = []
    for mailbox, entry in listed.items():
        room = entry.room
        lists = tuple(entry.lists)
        current = by_mailbox.get(mailbox)
        if current is None:
            changes.append(RoomChange(mailbox, room.name, Outcome.ADDED, lists, room.capacity))
            continue
        changed: dict[str, tuple[Any, Any]] = {}
        if room.name and room.name != current.name:
            changed["name"] = (current.name, room.name)
        if room.capacity is not None and room.capacity != current.capacity:
            changed["capacity"] = (current.capacity, room.capacity)
        ours = current.environment == environment
        note = "" if ours else f"kept in environment {current.environment or '(first)'}"
        if ours and not current.active:
            outcome = Outcome.REACTIVATED
        else:
            outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
        name = room.name or current.name
        capacity = room.capacity if room.capacity is not None else current.capacity
        changes.append(RoomChange(mailbox, name, outcome, lists, capacity, changed, note))
    why = _why_none_inactive(directory, only_list, len(listed))
    for current in known:
        if current.environment != environment or current.mailbox in listed:
            continue
        if not current.active:
            outcome, note = Outcome.UNCHANGED, "inactive, not in the directory"
        elif why is not None:
            outcome, note = Outcome.UNCHANGED, f"not in the directory, kept active: {why}"
        else:
            outcome, note = Outcome.INACTIVE, "not in the directory any more"
        changes.append(RoomChange(current.mailbox, current.name, outcome, (), current.capacity, note=note))
    failed = [r for r in directory if r.error is not None]
    return ImportResult(environment, changes, failed, why)


def import_rooms(
    uow: UnitOfWork,
    environment: str,
    directory: Sequence[RoomList],
    now: datetime,
    *,
    only_list: str | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Plan the import and, unless ``dry_run``, write it (the caller commits). A dry run still
    names the reservations that would be detached or stay detached."""
    result = plan_import(environment, uow.rooms.list_rooms(), directory, only_list)
    result.dry_run = dry_run
    for change in result.rooms:
        if change.outcome is Outcome.ADDED and not dry_run:
            uow.rooms.add_room(
                Room(
                    name=change.name,
                    mailbox=change.mailbox,
                    capacity=change.capacity,
                    environment=environment,
                )
            )
        elif change.outcome in (Outcome.UPDATED, Outcome.REACTIVATED) and not dry_run:
            name = change.changed.get("name", (None, None))[1]
            capacity = change.changed.get("capacity", (None, None))[1]
            uow.rooms.update_room(change.mailbox, name=name, capacity=capacity)
        if change.outcome is Outcome.INACTIVE:
            if dry_run:
                change.detached = room_activity.to_detach(uow, change.mailbox, now)
            else:
                reason = (
                    f"room {change.mailbox} left the room directory of environment {environment} "
                    f"({now:%Y-%m-%d}) and became inactive"
                )
                _, change.detached = room_activity.deactivate(uow, change.mailbox, reason, now)
        elif change.outcome is Outcome.REACTIVATED:
            if dry_run:
                change.still_detached = room_activity.still_detached(uow, change.mailbox, now)
            else:
                _, change.still_detached = room_activity.activate(uow, change.mailbox, now)
    return result
