"""Drift repair by policy: which resolution a policy applies to a difference on its own.

The rules a policy never breaks:

- nothing is deleted automatically: no entry, no reservation (a missing entry is never taken as
  a cancellation, an entry without reservation is never removed);
- an entry missing in Exchange is re-created only when its reservation is active and still to come;
- another installation's entries and room collisions are only reported;
- ``newer-wins`` acts only where it knows which side changed last;
- a change the sync has not read yet is the sync's: a repair runs the person's cycle first
  (:func:`roomsync.engine.difference_scans.repair_scope`), and only what is left after it is
  drift. Without that cycle (a dry run) such a difference is left to the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from roomsync.engine.difference_advice import BOTH, EXCHANGE, ROOMS
from roomsync.engine.differences import Difference, DifferenceKind, Resolution
from roomsync.repair_settings import RepairPolicy, RepairRule


@dataclass(frozen=True)
class Decision:
    policy: RepairPolicy
    resolution: Resolution | None
    why: str

    @property
    def acts(self) -> bool:
        return self.resolution is not None


def decide(
    rule: RepairRule, d: Difference, now: datetime | None = None, after_cycle: bool = False
) -> Decision:
    """What ``rule`` does with ``d``; ``after_cycle``: the person's cycle has just run, so what is
    still pending is a change its feed missed, and drift like any other."""
    policy = rule.for_kind(d.kind.value)
    resolution, why = _decided(policy, d, now or datetime.now(UTC))
    if resolution is not None and d.pending and not after_cycle:
        return Decision(policy, None, "changed since the last cycle: the cycle before a repair handles it")
    return Decision(policy, resolution, why)


def _decided(policy: RepairPolicy, d: Difference, now: datetime) -> tuple[Resolution | None, str]:
    if policy is RepairPolicy.REPORT:
        return None, "the policy is report"
    if d.kind in (DifferenceKind.ANOTHER_INSTALLATION, DifferenceKind.ROOM_COLLISION):
        return None, "only reported, whatever the policy"
    if d.kind is DifferenceKind.MISSING_IN_ROOMS:
        return None, "never deleted automatically"
    if d.kind is DifferenceKind.MISSING_IN_EXCHANGE:
        return _missing_in_exchange(policy, d, now)
    return _fields(policy, d)


def _missing_in_exchange(policy: RepairPolicy, d: Difference, now: datetime) -> tuple[Resolution | None, str]:
    reservation = d.rooms
    if reservation is None or not reservation.active:
        return None, "the reservation is not active"
    if _over(d, now):
        return None, "the reservation is over"
    if policy is RepairPolicy.EXCHANGE_WINS:
        return None, "taking Exchange's side would cancel the reservation: never automatic"
    if policy is RepairPolicy.NEWER_WINS and d.advice.changed_last == EXCHANGE:
        return None, "the newer change is the deletion in Exchange: never taken automatically"
    return Resolution.USE_ROOMS, "re-create the entry of an active reservation still to come"


def _over(d: Difference, now: datetime) -> bool:
    assert d.rooms is not None
    fields = d.rooms.fields
    if fields.recurrence is not None:
        return fields.recurrence.until is not None and fields.recurrence.until < now.date()
    return fields.end.astimezone(UTC) <= now


def _fields(policy: RepairPolicy, d: Difference) -> tuple[Resolution | None, str]:
    if d.rooms is None or not d.rooms.active:
        return None, "the reservation is not active"
    if policy is RepairPolicy.ROOMS_WINS:
        return Resolution.USE_ROOMS, "ROOMS wins"
    if policy is RepairPolicy.EXCHANGE_WINS:
        return Resolution.USE_EXCHANGE, "Exchange wins"
    side = d.advice.newer if d.advice.changed_last == BOTH else d.advice.changed_last
    if side == ROOMS:
        return Resolution.USE_ROOMS, "ROOMS changed last"
    if side == EXCHANGE:
        return Resolution.USE_EXCHANGE, "Exchange changed last"
    return None, "which side changed last is not known"
