"""Field-level three-way merge of a reservation and its calendar entry.

The fields are compared in *merge keys*: groups that only make sense together (start, end and
time zone move as one "time"). A series pattern is one key ("recurrence") and each modified or
cancelled occurrence another ("occurrence:" and its original start), so edits to different
occurrences on the two sides both survive. Each side's current value is compared with that
side's last synchronised snapshot; a key changed on one side only is taken from that side, a key
changed on both sides to different values is a conflict for the person's policy to settle.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from roomsync.domain import EventFields, OccurrenceChange, canonical
from roomsync.recurrence import occurrences

MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "time": ("start", "end", "timezone"),
    "rooms": ("rooms",),
    "participants": ("participants",),
    "reminder": ("reminder_minutes",),
    "private": ("private",),
    "show_as": ("show_as",),
    "body": ("body",),
    "recurrence": ("recurrence",),
}
OCCURRENCE = "occurrence:"
"""Prefix of the key of one occurrence change; the original start (UTC, ISO) follows."""
# Keys whose change from Exchange needs the rooms to be free at the new time (and occurrence keys).
ROOM_KEYS = frozenset({"time", "rooms", "recurrence"})

Snapshot = dict[str, Any]


def occurrence_key(change: OccurrenceChange) -> str:
    return OCCURRENCE + canonical(change.original_start)


def snapshot(fields: EventFields) -> Snapshot:
    """The canonical value of every merge key: equal meaning, equal snapshot.

    Participants count by address: a server shows its own display names, and whether a
    participant is external is known to ROOMS only.
    """
    values = {key: canonical([getattr(fields, name) for name in names]) for key, names in MERGE_KEYS.items()}
    values["participants"] = [p.email for p in fields.participants]
    for change in fields.occurrences:
        values[occurrence_key(change)] = canonical(change)
    return values


def readable(stored: Snapshot | None) -> Snapshot | None:
    """A snapshot as this release writes it, from one stored by any release.

    Before occurrences were keys of their own, "recurrence" held the pattern and the list of
    occurrence changes together.
    """
    if stored is None:
        return None
    value = stored.get("recurrence")
    if not (isinstance(value, list) and len(value) == 2):
        return stored
    pattern, changes = value
    upgraded = {**stored, "recurrence": [pattern]}
    for change in changes or []:
        upgraded[OCCURRENCE + change["original_start"]] = change
    return upgraded


def _keys(*snapshots: Snapshot | None) -> set[str]:
    found = set(MERGE_KEYS)
    for one in snapshots:
        found |= {key for key in one or {} if key.startswith(OCCURRENCE)}
    return found


def changed_keys(current: Snapshot, base: Snapshot | None) -> set[str]:
    base = readable(base)
    if base is None:
        return _keys(current)
    changed = {key for key in _keys(current, base) if current.get(key) != base.get(key)}
    if "recurrence" in changed:
        # A new pattern drops every occurrence change (Exchange does so): they move with it.
        changed |= _keys(current, base) - set(MERGE_KEYS)
    return changed


def room_keys(keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` whose change needs the rooms to be free."""
    return {key for key in keys if key in ROOM_KEYS or key.startswith(OCCURRENCE)}


def take(target: EventFields, source: EventFields, keys: set[str] | frozenset[str]) -> EventFields:
    """``target`` with the fields of ``keys`` copied from ``source``, validated again."""
    if not keys:
        return target
    data = target.model_dump()
    for key in keys & MERGE_KEYS.keys():
        for name in MERGE_KEYS[key]:
            data[name] = getattr(source, name)
    if "participants" in keys:
        # Who takes part comes from the source; what ROOMS knows of each person stays.
        known = {p.email: p for p in target.participants}
        data["participants"] = tuple(known.get(p.email, p) for p in source.participants)
    occurrence_keys = {key for key in keys if key.startswith(OCCURRENCE)}
    if occurrence_keys or "recurrence" in keys:
        changes = {occurrence_key(c): c for c in target.occurrences}
        theirs = {occurrence_key(c): c for c in source.occurrences}
        for key in occurrence_keys:
            if key in theirs:
                changes[key] = theirs[key]
            else:
                changes.pop(key, None)
        data["occurrences"] = ()
        plain = EventFields.model_validate(data)
        # A change kept from the other side stays only where the pattern still has its occurrence.
        data["occurrences"] = tuple(c for c in changes.values() if _occurs(plain, c.original_start))
    return EventFields.model_validate(data)


def _occurs(series: EventFields, original_start: datetime) -> bool:
    if series.recurrence is None:
        return False
    window = occurrences(series, original_start, original_start + timedelta(seconds=1))
    return any(o.original_start == original_start for o in window)


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
    conflicts = {key for key in both if rooms_now.get(key) != exchange_now.get(key)}
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
    return {key for key in _keys(first, second) if first.get(key) != second.get(key)}
