"""Differences as records: what each scan found, merged into what earlier scans found, with a state.

A scan reports the differences it sees now; :meth:`DifferenceStore.merge_scan` keeps one record
per difference across scans. A record found again keeps its state, except that an ignored one
opens again when either side changed since it was ignored, and a resolved one that is back is
open again. A record the scan looked for and did not find is resolved ("no longer found"): the
sync, a person or a repair settled it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, or_, select
from sqlalchemy.orm import Session

from roomsync.errors import NotFound
from roomsync.storage.models import IN_CHUNK, DifferenceRow


class DifferenceState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    AUTO_RESOLVED = "auto-resolved"


SCAN = "scan"
"""Who changed a record's state when a scan did it."""


@dataclass
class DifferenceRecord:
    ident: str
    kind: str
    mailbox: str
    title: str
    starts_at: datetime
    environment: str | None = None
    reservation_id: str | None = None
    item_id: str | None = None
    occurrence: datetime | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    """Each differing merge key: ``{"rooms": value, "exchange": value, "changed": side}``."""
    changed_last: str = "unknown"
    rooms_changed_at: datetime | None = None
    exchange_changed_at: datetime | None = None
    recommendation: str = "review"
    reason: str = ""
    sides: str = ""
    state: DifferenceState = DifferenceState.OPEN
    state_by: str | None = None
    state_at: datetime | None = None
    resolution: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["state"] = self.state.value
        for name in _INSTANTS:
            data[name] = _iso(data[name])
        return data


@dataclass(frozen=True)
class ScanScope:
    """What a scan looked at: in ``mailboxes``, the reservations and items it compared, and (unless
    it was narrowed to some reservations) everything dated ``start`` to ``end``."""

    mailboxes: frozenset[str]
    start: datetime
    end: datetime
    reservation_ids: frozenset[str] = frozenset()
    item_ids: frozenset[str] = frozenset()
    narrowed: bool = False


_INSTANTS = (
    "starts_at",
    "occurrence",
    "rooms_changed_at",
    "exchange_changed_at",
    "state_at",
    "first_seen",
    "last_seen",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_COPIED = (
    "kind",
    "mailbox",
    "environment",
    "reservation_id",
    "item_id",
    "occurrence",
    "title",
    "starts_at",
    "fields",
    "changed_last",
    "rooms_changed_at",
    "exchange_changed_at",
    "recommendation",
    "reason",
    "sides",
)


class DifferenceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def merge_scan(self, found: Sequence[DifferenceRecord], scope: ScanScope) -> list[DifferenceRecord]:
        """Merge one scan's findings into the records; answers the records of ``found``."""
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            wanted = {d.ident: d for d in found}
            idents = list(wanted)
            existing = {
                row.ident: row
                for offset in range(0, len(idents), IN_CHUNK)
                for row in session.scalars(
                    select(DifferenceRow).where(DifferenceRow.ident.in_(idents[offset : offset + IN_CHUNK]))
                )
            }
            rows: list[DifferenceRow] = []
            for ident, difference in wanted.items():
                row = existing.get(ident)
                if row is None:
                    row = DifferenceRow(ident=ident, first_seen=now, state=DifferenceState.OPEN.value)
                    row.state_at, row.state_by, row.resolution = now, None, None
                    session.add(row)
                elif _reopens(row, difference):
                    reopened = (
                        "changed since it was ignored" if row.state == DifferenceState.IGNORED else "back"
                    )
                    row.state, row.state_by, row.state_at = DifferenceState.OPEN.value, SCAN, now
                    row.resolution = reopened
                for name in _COPIED:
                    setattr(row, name, getattr(difference, name))
                row.last_seen = now
                rows.append(row)
            session.flush()  # the new rows get their numbers
            merged = [_record(row) for row in rows]
            for gone in session.scalars(_in_scope(scope)):
                if gone.ident not in wanted:
                    gone.state, gone.state_by, gone.state_at = DifferenceState.RESOLVED.value, SCAN, now
                    gone.resolution = "no longer found"
        return merged

    def list(
        self,
        states: Collection[DifferenceState] | None = None,
        mailboxes: Collection[str] | None = None,
        environment: str | None = None,
        reservation_ids: Collection[str] | None = None,
        ids: Collection[int] | None = None,
    ) -> list[DifferenceRecord]:
        """Records, oldest first; each filter given narrows them."""
        stmt = select(DifferenceRow).order_by(DifferenceRow.starts_at, DifferenceRow.id)
        if states is not None:
            stmt = stmt.where(DifferenceRow.state.in_([s.value for s in states]))
        if mailboxes is not None:
            stmt = stmt.where(DifferenceRow.mailbox.in_([m.lower() for m in mailboxes]))
        if environment is not None:
            stmt = stmt.where(DifferenceRow.environment == environment)
        if reservation_ids is not None:
            stmt = stmt.where(DifferenceRow.reservation_id.in_(list(reservation_ids)))
        if ids is not None:
            stmt = stmt.where(DifferenceRow.id.in_(list(ids)))
        with Session(self.engine) as session:
            return [_record(row) for row in session.scalars(stmt)]

    def get(self, difference_id: int) -> DifferenceRecord:
        with Session(self.engine) as session:
            row = session.get(DifferenceRow, difference_id)
            if row is None:
                raise NotFound(f"no difference {difference_id}")
            return _record(row)

    def mark(
        self, difference_id: int, state: DifferenceState, by: str, resolution: str | None = None
    ) -> DifferenceRecord:
        """Set a record's state, saying who did it and what was done."""
        with Session(self.engine) as session, session.begin():
            row = session.get(DifferenceRow, difference_id)
            if row is None:
                raise NotFound(f"no difference {difference_id}")
            row.state, row.state_by, row.state_at = state.value, by, datetime.now(UTC)
            row.resolution = resolution
            session.flush()
            return _record(row)


def _reopens(row: DifferenceRow, found: DifferenceRecord) -> bool:
    if row.state == DifferenceState.OPEN:
        return False
    if row.state == DifferenceState.IGNORED:
        return row.sides != found.sides  # "ignore" lasts until either side changes
    return True  # resolved, and here again


def _in_scope(scope: ScanScope) -> Select[Any]:
    """Unsettled records the scan of ``scope`` looked for."""
    stmt = select(DifferenceRow).where(
        DifferenceRow.state.in_([DifferenceState.OPEN.value, DifferenceState.IGNORED.value]),
        DifferenceRow.mailbox.in_(sorted(scope.mailboxes)),
    )
    looked: list[ColumnElement[bool]] = [
        DifferenceRow.reservation_id.in_(sorted(scope.reservation_ids)),
        DifferenceRow.item_id.in_(sorted(scope.item_ids)),
    ]
    if not scope.narrowed:
        looked.append(and_(DifferenceRow.starts_at >= scope.start, DifferenceRow.starts_at < scope.end))
    return stmt.where(or_(*looked))


def _record(row: DifferenceRow) -> DifferenceRecord:
    kept = ("id", "state_by", "state_at", "resolution", "first_seen", "last_seen", "ident", *_COPIED)
    return DifferenceRecord(state=DifferenceState(row.state), **{name: getattr(row, name) for name in kept})
