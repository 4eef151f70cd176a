"""What one cycle (a person's, or a room's calendar) did, for the status view, the log and extension hooks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class CycleReport:
    mailbox: str
    environment: str | None
    started: datetime
    finished: datetime | None = None
    ok: bool = True
    error: str | None = None
    created: int = 0  # entries created in Exchange
    updated: int = 0  # entries updated in Exchange
    deleted: int = 0  # entries deleted in Exchange
    imported: int = 0  # reservations changed from Exchange
    booked: int = 0  # reservations created from Outlook entries
    cancelled: int = 0  # reservations cancelled from Exchange
    conflicts: int = 0
    rejected: int = 0
    failed_writes: int = 0
    refused: int = 0  # reservations not written: a value the server cannot take
    exchange_changes: int = 0
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None  # why no cycle ran: another runner was synchronising the mailbox
    kind: str = "person"  # "room": the cycle of a room's calendar (its Outlook bookings)

    @property
    def seconds(self) -> float:
        return ((self.finished or self.started) - self.started).total_seconds()

    @property
    def changed_anything(self) -> bool:
        return any((self.created, self.updated, self.deleted, self.imported, self.booked, self.cancelled))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started"] = self.started.isoformat()
        data["finished"] = self.finished.isoformat() if self.finished else None
        data["seconds"] = round(self.seconds, 3)
        return data

    def summary(self) -> str:
        if not self.ok:
            return f"failed: {self.error}"
        if self.skipped:
            return f"skipped: {self.skipped}"
        parts = [
            f"{count} {label}"
            for count, label in (
                (self.created, "created"),
                (self.updated, "updated"),
                (self.deleted, "deleted"),
                (self.imported, "imported"),
                (self.booked, "booked from Outlook"),
                (self.cancelled, "cancelled from Outlook"),
                (self.conflicts, "conflicts"),
                (self.rejected, "rejected"),
                (self.failed_writes, "failed writes"),
                (self.refused, "not written (values refused)"),
            )
            if count
        ]
        return ", ".join(parts) or "no changes"
