"""Where the sync stands, per person: what ``roomsync status`` prints and the web service shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from roomsync.domain import Person
from roomsync.errors import Fault
from roomsync.notify.wording import FAULTS
from roomsync.storage.database import Database
from roomsync.storage.leases import Holder, Lease, Registration
from roomsync.storage.protocols import LogEntry, MailboxState, UnitOfWork


def persons_with_states(uow: UnitOfWork) -> list[tuple[Person, MailboxState | None]]:
    """Every person with its mailbox state, ``None`` for a person never synchronised."""
    states = {s.mailbox: s for s in uow.sync.mailbox_states()}
    return [(p, states.get(p.email)) for p in uow.rooms.list_persons()]


def plain_words(fault: str | None) -> str:
    """What a fault is and what to check first, for an administrator who is not an Exchange expert."""
    try:
        name, check = FAULTS[Fault(fault or Fault.INTERNAL)]
    except ValueError:
        name, check = FAULTS[Fault.INTERNAL]
    return f"{name[0].upper()}{name[1:]}: {check}."


def paused_text(person: Person) -> str | None:
    """``paused since <when> UTC (<reason>)`` for a paused person, the reason only if given."""
    if person.paused_at is None:
        return None
    since = f"paused since {person.paused_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"{since} ({person.pause_reason})" if person.pause_reason else since


def last_success(state: MailboxState | None) -> str | None:
    """When the person's last cycle succeeded, in ISO format, or ``None`` for never."""
    return state.last_success.isoformat() if state and state.last_success else None


@dataclass(frozen=True)
class StatusFilter:
    """Which persons to show: one person, one environment, only those failing."""

    person: str | None = None
    environment: str | None = None
    failing: bool = False

    def keeps(self, row: dict[str, Any]) -> bool:
        return (
            (self.person is None or row["email"] == self.person.strip().lower())
            and (self.environment is None or row["environment"] == self.environment)
            and (not self.failing or row["consecutive_failures"] > 0)
        )


def person_status(uow: UnitOfWork, only: StatusFilter = StatusFilter()) -> list[dict[str, Any]]:
    """Per person: environment, who may book for them, since when and why paused, last success,
    failures in a row, the last error, pending writes."""
    rows = []
    pending = uow.sync.pending_by_mailbox()
    for p, s in persons_with_states(uow):
        row: dict[str, Any] = {
            "email": p.email,
            "name": p.name,
            "environment": p.environment,
            "sync_enabled": p.sync_enabled,
            "bookers": list(p.bookers),
            "paused_at": p.paused_at.isoformat() if p.paused_at else None,
            "pause_reason": p.pause_reason,
            "last_success": last_success(s),
            "last_attempt": s.last_attempt.isoformat() if s and s.last_attempt else None,
            "consecutive_failures": s.consecutive_failures if s else 0,
            "last_error": s.last_error if s else None,
            "last_fault": s.last_fault if s else None,
            "last_error_plain": plain_words(s.last_fault) if s and s.last_error else None,
        }
        if only.keeps(row):
            row["pending"] = pending.get(p.email, 0)
            rows.append(row)
    return rows


def room_status(uow: UnitOfWork, only: StatusFilter = StatusFilter()) -> list[dict[str, Any]]:
    """Per room whose calendar is read: its environment (as last read), last success, failures
    in a row and the last error; a filter by person keeps only the room of that mailbox."""
    states = {s.mailbox: s for s in uow.sync.mailbox_states()}
    rows = []
    for room in uow.rooms.list_rooms():
        s = states.get(room.mailbox)
        row: dict[str, Any] = {
            "email": room.mailbox,
            "name": room.name,
            "environment": (s.environment if s else None) or room.environment,
            "active": room.active,
            "sync_master": room.sync_master,
            "last_success": last_success(s),
            "consecutive_failures": s.consecutive_failures if s else 0,
            "last_error": s.last_error if s else None,
            "last_error_plain": plain_words(s.last_fault) if s and s.last_error else None,
        }
        if only.keeps(row) and (room.active or s is not None):
            rows.append(row)
    return rows


def holder_data(holder: Holder) -> dict[str, Any]:
    return {"host": holder.host, "pid": holder.pid}


def runner_data(daemon: Registration) -> dict[str, Any]:
    return {
        **holder_data(daemon.holder),
        "since": daemon.started_at.isoformat(),
        "heartbeat": daemon.heartbeat_at.isoformat(),
    }


def cycle_data(c: Lease) -> dict[str, Any]:
    return {
        "mailbox": c.mailbox,
        **holder_data(c.holder),
        "since": c.acquired_at.isoformat(),
        "expires": c.expires_at.isoformat(),
    }


def log_data(e: LogEntry) -> dict[str, Any]:
    return {
        "at": e.at.isoformat(),
        "mailbox": e.mailbox,
        "level": e.level,
        "event": e.event,
        "message": e.message,
        "reservation_id": e.reservation_id,
    }


@dataclass
class StatusReport:
    """What ``roomsync status`` and the web service's status show, read in one go."""

    persons: list[dict[str, Any]]
    runners: list[Registration]
    cycles: list[Lease]
    problems: list[LogEntry]
    rooms: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "persons": self.persons,
            "rooms": self.rooms,
            "runners": [runner_data(r) for r in self.runners],
            "cycles_in_progress": [cycle_data(c) for c in self.cycles],
            "problems": [log_data(e) for e in self.problems],
        }


def status_report(
    database: Database, only: StatusFilter = StatusFilter(), problems: int = 20
) -> StatusReport:
    """The persons (as ``only`` keeps them), the daemons and cycles in progress (held leases),
    and the recent problems of the sync log (the last ``problems`` warnings and errors) of the
    persons shown; a failed cycle's error is cleared by the person's next successful cycle."""
    at = datetime.now(UTC)
    leases = database.leases
    daemons, cycles = leases.registrations(at), leases.leases(at)
    with database.unit_of_work() as uow:
        rows = person_status(uow, only)
        rooms = room_status(uow, only)
        logged = uow.sync.recent_log(limit=problems * PROBLEMS_READ, levels=("warning", "error"))
    shown = {r["email"]: r["last_success"] for r in [*rows, *rooms]}
    filtered = only != StatusFilter()
    found = [e for e in logged if _still_a_problem(e, shown, filtered)][:problems]
    return StatusReport(rows, daemons, cycles, found, rooms)


FAILURE = "failure"
"""The event of a failed cycle in the sync log."""
PROBLEMS_READ = 5
"""Problems are read this many times over, as those cleared or of persons not shown drop out."""


def _still_a_problem(entry: LogEntry, shown: dict[str, str | None], filtered: bool) -> bool:
    if entry.mailbox is None:
        return not filtered  # the installation's, not a person's: shown with everyone
    if entry.mailbox not in shown:
        return False
    success = shown[entry.mailbox]
    if entry.event != FAILURE or success is None:
        return True  # a conflict or a refused value stays a problem of its reservation
    return entry.at > datetime.fromisoformat(success)
