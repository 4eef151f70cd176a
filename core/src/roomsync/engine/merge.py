"""Field-level three-way merge of a reservation and its calendar entry.

The fields are compared in *merge keys*: groups that only make sense together (start, end and
time zone move as one "time"; a series pattern and its exceptions as one "recurrence"). Each
side's current value is compared with that side's last synchronised snapshot; a key changed on
one side only is taken from that side, a key changed on both sides to different values is a
conflict for the person's policy to settle.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from roomsync.model import EventFields, canonical

MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "time": ("start", "end", "timezone"),
    "rooms": ("rooms",),
    "participants": ("participants",),
    "reminder": ("reminder_minutes",),
    "private": ("private",),
    "show_as": ("show_as",),
    "body": ("body",),
    "recurrence": ("recurrence", "occurrences"),
}
# Keys whose change from Exchange needs the rooms to be free at the new time.
ROOM_KEYS = frozenset({"time", "rooms", "recurrence"})

Snapshot = dict[str, Any]


def snapshot(fields: EventFields) -> Snapshot:
    """The canonical value of every merge key: equal meaning, equal snapshot.

    Participants count by address: a server shows its own display names, and whether a
    participant is external is known to ROOMS only.
    """
    values = {key: canonical([getattr(fields, name) for name in names]) for key, names in MERGE_KEYS.items()}
    values["participants"] = [p.email for p in fields.participants]
    return values


def changed_keys(current: Snapshot, base: Snapshot | None) -> set[str]:
    if base is None:
        return set(MERGE_KEYS)
    return {key for key in MERGE_KEYS if current.get(key) != base.get(key)}


def take(target: EventFields, source: EventFields, keys: set[str] | frozenset[str]) -> EventFields:
    """``target`` with the fields of ``keys`` copied from ``source``, validated again."""
    if not keys:
        return target
    data = target.model_dump()
    for key in keys:
        for name in MERGE_KEYS[key]:
            data[name] = getattr(source, name)
    if "participants" in keys:
        # Who takes part comes from the source; what ROOMS knows of each person stays.
        known = {p.email: p for p in target.participants}
        data["participants"] = tuple(known.get(p.email, p) for p in source.participants)
    return EventFields.model_validate(data)


@dataclass(frozen=True)
class MergeResult:
    rooms_changed: frozenset[str]
    exchange_changed: frozenset[str]
    conflicts: frozenset[str]

    @property
    def from_exchange(self) -> frozenset[str]:
        """Keys Exchange changed and ROOMS did not: these go into the reservation."""
        return self.exchange_changed - self.rooms_changed


def three_way(
    rooms: EventFields, exchange: EventFields, rooms_base: Snapshot | None, exchange_base: Snapshot | None
) -> MergeResult:
    rooms_now, exchange_now = snapshot(rooms), snapshot(exchange)
    on_rooms = changed_keys(rooms_now, rooms_base)
    on_exchange = changed_keys(exchange_now, exchange_base)
    both = on_rooms & on_exchange
    conflicts = {key for key in both if rooms_now[key] != exchange_now[key]}
    return MergeResult(frozenset(on_rooms), frozenset(on_exchange), frozenset(conflicts))


def with_foreign_resources(
    fields: EventFields, exchange: Snapshot | None, known_rooms: Collection[str]
) -> EventFields:
    """``fields`` plus the resources of the entry that are not ROOMS rooms (a projector, a car).

    They are not part of the reservation, but an entry rewritten from it must not lose them.
    """
    listed: list[str] = exchange["rooms"][0] if exchange else []
    foreign = [room for room in listed if room not in known_rooms and room not in fields.rooms]
    if not foreign:
        return fields
    return EventFields.model_validate({**fields.model_dump(), "rooms": (*fields.rooms, *foreign)})


def differing_keys(a: EventFields, b: EventFields) -> set[str]:
    first, second = snapshot(a), snapshot(b)
    return {key for key in MERGE_KEYS if first[key] != second[key]}
