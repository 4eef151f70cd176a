"""Which side changed last, and what to do about a difference: the recommendation beside it.

"Changed last" comes from the link's snapshots (what both sides looked like when last in step):
a side whose value moved since then changed. When both did, the journal's last change of the
reservation and the entry's last-modified time say which is newer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roomsync.engine.differences import Difference

ROOMS, EXCHANGE, BOTH, UNKNOWN = "rooms", "exchange", "both", "unknown"
REVIEW = "review"
"""No resolution can be recommended: a person has to look."""


@dataclass(frozen=True)
class Advice:
    changed_last: str = UNKNOWN
    recommendation: str = REVIEW
    reason: str = ""
    newer: str | None = None
    """For ``both``: the side whose change is newer, when the times tell."""


def advise(d: Difference, now: datetime | None = None) -> Advice:
    now = now or datetime.now(UTC)
    kind = d.kind.value
    if kind == "another-installation":
        return Advice(UNKNOWN, "ignore", f"installation {d.owner} keeps this entry; only it may change it")
    if kind == "room-collision":
        return Advice(
            UNKNOWN,
            REVIEW,
            f"the room is booked in ROOMS by reservation {d.holder} at that time; ask the organizer "
            "to choose another room, or move the reservation",
        )
    if kind == "missing-in-exchange":
        return _missing_in_exchange(d, now)
    if kind == "missing-in-rooms":
        return _missing_in_rooms(d)
    return _fields(d)


def _missing_in_exchange(d: Difference, now: datetime) -> Advice:
    was_written = d.link is not None and d.link.item_id is not None
    side = EXCHANGE if was_written else ROOMS
    assert d.rooms is not None
    if d.rooms.fields.end.astimezone(UTC) <= now and d.rooms.fields.recurrence is None:
        return Advice(side, "ignore", "the reservation is over")
    if was_written:
        return Advice(
            side,
            "use-rooms",
            "the entry was deleted in Exchange while the sync did not see it; re-creating it keeps "
            "the booking (use-exchange cancels the reservation)",
        )
    return Advice(side, "use-rooms", "the reservation never reached Exchange; create its entry")


def _missing_in_rooms(d: Difference) -> Advice:
    if d.rooms is not None and not d.rooms.active:
        return Advice(ROOMS, "use-rooms", "the reservation was cancelled in ROOMS; delete its entry")
    return Advice(
        UNKNOWN,
        REVIEW,
        "ROOMS has no reservation for this entry (restored from a backup?); delete it with use-rooms "
        "or keep it with ignore",
    )


def _fields(d: Difference) -> Advice:
    changed = set(d.changed().values())
    if not changed:
        return Advice(UNKNOWN, REVIEW, "neither side changed since the last sync; compare the values")
    if changed == {ROOMS}:
        return Advice(ROOMS, "use-rooms", "changed in ROOMS since the last sync")
    if changed == {EXCHANGE}:
        return Advice(EXCHANGE, "use-exchange", "changed in Exchange since the last sync")
    newer = _newer(d.rooms_changed_at, d.entry.modified if d.entry is not None else None)
    if newer is None:
        return Advice(BOTH, REVIEW, "changed on both sides since the last sync; which is newer is not known")
    return Advice(
        BOTH,
        "use-rooms" if newer == ROOMS else "use-exchange",
        f"changed on both sides since the last sync; the change in {_named(newer)} is newer",
        newer,
    )


def _newer(rooms_at: datetime | None, exchange_at: datetime | None) -> str | None:
    if rooms_at is None or exchange_at is None or rooms_at == exchange_at:
        return None
    return ROOMS if rooms_at > exchange_at else EXCHANGE


def _named(side: str) -> str:
    return "ROOMS" if side == ROOMS else "Exchange"
