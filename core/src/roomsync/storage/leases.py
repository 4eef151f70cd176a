"""Leases in the database: one cycle per mailbox at a time, and the daemons working on it.

A mailbox's lease is one row, taken with one atomic statement (``INSERT ... ON CONFLICT DO
UPDATE ... WHERE`` the row is expired, or already ours), so of two processes racing for it on
PostgreSQL or SQLite exactly one gets it. It names its holder (host, pid, the runner's random id)
and expires unless renewed, so a holder that crashed blocks the mailbox only until then; a
holder on this host whose process is gone is taken over at once. Every statement runs in a short
transaction of its own, apart from a cycle's unit of work, so a lease is visible to the other
processes the moment it is taken.

Instants come from the caller's clock: the hosts sharing a database must agree on the time to
well within :data:`LEASE_SECONDS` (NTP does).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, RowMapping, Table, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import Executable

from roomsync.errors import RoomsyncError
from roomsync.storage.models import MailboxLeaseRow, RunnerRow

# A lease or a daemon's registration lives this long after its last renewal. Long enough that a
# busy database or a slow server never lets a live holder's lease lapse, short enough that a
# crashed holder's mailboxes wait only a few minutes.
LEASE_SECONDS = 120.0
BUDGET_PREFIX = "budget:"
"""Leases whose key begins so are slots of an environment's concurrency budget
(:class:`roomsync.engine.budgets.SharedBudgets`), not mailboxes; no address begins so."""
# Holders renew this often, so several renewals in a row must fail before a lease lapses.
RENEW_SECONDS = LEASE_SECONDS / 6


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: a runner of one process."""

    runner_id: str
    host: str
    pid: int

    @classmethod
    def of_this_process(cls) -> Holder:
        return cls(runner_id=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid())

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}"

    def gone(self) -> bool:
        """True when this holder's process is known to have ended (only knowable on this host)."""
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, under another user
            return False
        return False


@dataclass(frozen=True)
class Lease:
    mailbox: str
    holder: Holder
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Registration:
    """A ``roomsync run`` daemon as it registered itself."""

    holder: Holder
    started_at: datetime
    heartbeat_at: datetime

    def stale(self, at: datetime) -> bool:
        return self.heartbeat_at + timedelta(seconds=LEASE_SECONDS) < at or self.holder.gone()


class AnotherRunnerActive(RoomsyncError):
    def __init__(self, other: Registration, at: datetime) -> None:
        ago = max(0.0, (at - other.heartbeat_at).total_seconds())
        super().__init__(
            "another roomsync run is active on this database: "
            f"{other.holder.describe()}, since {other.started_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(heartbeat {ago:.0f} s ago); stop it first, or start this one with --share "
            "to share the mailboxes with it"
        )
        self.other = other


_LEASES = cast(Table, MailboxLeaseRow.__table__)
_LEASE_FIELDS = ("runner_id", "host", "pid", "acquired_at", "expires_at")


def _take_statement(insert_of: Callable[[Table], postgresql.Insert | sqlite.Insert]) -> Executable:
    """The lease taken unless another holder's is in force; ``:at`` is the caller's now."""
    statement = insert_of(_LEASES).values({name: bindparam(name) for name in ("mailbox", *_LEASE_FIELDS)})
    return statement.on_conflict_do_update(
        index_elements=[_LEASES.c.mailbox],
        set_={name: statement.excluded[name] for name in _LEASE_FIELDS},
        where=(_LEASES.c.expires_at < bindparam("at"))
        | (_LEASES.c.runner_id == statement.excluded.runner_id),
    )


# Built once: a cycle takes and gives back a lease, and building the statements each time cost
# more CPU than running them.
_TAKE = {"postgresql": _take_statement(postgresql.insert), "sqlite": _take_statement(sqlite.insert)}
_CURRENT = select(_LEASES).where(_LEASES.c.mailbox == bindparam("mailbox"))
_RELEASE = delete(_LEASES).where(
    _LEASES.c.mailbox == bindparam("mailbox"), _LEASES.c.runner_id == bindparam("runner_id")
)


class LeaseStore:
    """The lease and runner tables of one database, each call its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- mailbox leases --------------------------------------------------------------------

    def acquire(self, mailbox: str, holder: Holder, at: datetime, seconds: float = LEASE_SECONDS) -> Lease:
        """Take the mailbox's lease unless another holder has it; answers the lease that is in force.

        It is ours when its holder is ``holder``. A lease of ours is taken anew (a cycle whose
        release was lost); one of a process of this host that is gone is taken over.
        """
        values: dict[str, Any] = {
            "mailbox": mailbox,
            "runner_id": holder.runner_id,
            "host": holder.host,
            "pid": holder.pid,
            "acquired_at": at,
            "expires_at": at + timedelta(seconds=seconds),
        }
        with self.engine.begin() as connection:
            if self._take(connection, values, at):
                return _lease(values)
            current = self._current(connection, mailbox)
        if current is not None and current.holder.gone():
            with self.engine.begin() as connection:
                taken = connection.execute(
                    update(MailboxLeaseRow)
                    .where(
                        MailboxLeaseRow.mailbox == mailbox,
                        MailboxLeaseRow.runner_id == current.holder.runner_id,
                    )
                    .values(values)
                )
                if taken.rowcount == 1:
                    return _lease(values)
                current = self._current(connection, mailbox)
        if current is None:  # released between the two statements: try once more
            with self.engine.begin() as connection:
                if self._take(connection, values, at):
                    return _lease(values)
                current = self._current(connection, mailbox)
        return current or _lease(values)

    def _take(self, connection: Connection, values: dict[str, Any], at: datetime) -> bool:
        statement = _TAKE.get(connection.dialect.name)
        if statement is None:  # pragma: no cover - the supported backends are the two above
            raise RoomsyncError(f"mailbox leases are not implemented for {connection.dialect.name} databases")
        return connection.execute(statement, {**values, "at": at}).rowcount == 1

    def _current(self, connection: Connection, mailbox: str) -> Lease | None:
        row = connection.execute(_CURRENT, {"mailbox": mailbox}).first()
        return _lease(row._mapping) if row is not None else None

    def renew(self, holder: Holder, at: datetime, seconds: float = LEASE_SECONDS) -> set[str]:
        """Extend every lease ``holder`` still holds; answers their mailboxes."""
        with self.engine.begin() as connection:
            connection.execute(
                update(MailboxLeaseRow)
                .where(MailboxLeaseRow.runner_id == holder.runner_id)
                .values(expires_at=at + timedelta(seconds=seconds))
            )
            held = connection.scalars(
                select(MailboxLeaseRow.mailbox).where(MailboxLeaseRow.runner_id == holder.runner_id)
            )
            return set(held)

    def release(self, mailbox: str, holder: Holder) -> None:
        """Give the lease back; a lease another holder has taken over meanwhile stays theirs."""
        with self.engine.begin() as connection:
            connection.execute(_RELEASE, {"mailbox": mailbox, "runner_id": holder.runner_id})

    def leases(self, at: datetime) -> list[Lease]:
        """The leases in force at ``at``: the cycles in progress (budget slots left out)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(MailboxLeaseRow.__table__)
                .where(MailboxLeaseRow.expires_at >= at, ~MailboxLeaseRow.mailbox.startswith(BUDGET_PREFIX))
                .order_by(MailboxLeaseRow.mailbox)
            )
            return [_lease(row._mapping) for row in rows]

    def budget_slots(self, at: datetime) -> list[Lease]:
        """The budget slots held at ``at`` (:data:`BUDGET_PREFIX`), by key."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(MailboxLeaseRow.__table__)
                .where(MailboxLeaseRow.expires_at >= at, MailboxLeaseRow.mailbox.startswith(BUDGET_PREFIX))
                .order_by(MailboxLeaseRow.mailbox)
            )
            return [_lease(row._mapping) for row in rows]

    # --- daemons ---------------------------------------------------------------------------

    def register(self, holder: Holder, at: datetime, share: bool = False) -> Registration:
        """Register a daemon; unless ``share``, refuse while another live daemon is registered.

        Stale registrations (heartbeat lapsed, or a process of this host that is gone) are
        removed. The check and the insert are one transaction that other registrations wait for
        (a table lock on PostgreSQL; SQLite's write lock, taken by the insert that comes first).
        """
        mine = Registration(holder, at, at)
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("LOCK TABLE runners IN SHARE ROW EXCLUSIVE MODE"))
            connection.execute(
                insert(RunnerRow).values(
                    id=holder.runner_id, host=holder.host, pid=holder.pid, started_at=at, heartbeat_at=at
                )
            )
            others = [r for r in self._registrations(connection) if r.holder != holder]
            stale = [r for r in others if r.stale(at)]
            if stale:
                connection.execute(
                    delete(RunnerRow).where(RunnerRow.id.in_([r.holder.runner_id for r in stale]))
                )
            live = [r for r in others if r not in stale]
            if live and not share:
                raise AnotherRunnerActive(min(live, key=lambda r: r.started_at), at)
        return mine

    def heartbeat(self, holder: Holder, at: datetime) -> bool:
        """Renew a daemon's registration; False when it was removed (taken for stale)."""
        with self.engine.begin() as connection:
            done = connection.execute(
                update(RunnerRow).where(RunnerRow.id == holder.runner_id).values(heartbeat_at=at)
            )
            return done.rowcount == 1

    def unregister(self, holder: Holder) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(RunnerRow).where(RunnerRow.id == holder.runner_id))

    def registrations(self, at: datetime) -> list[Registration]:
        """The daemons registered and not stale at ``at``, oldest first."""
        with self.engine.connect() as connection:
            return [r for r in self._registrations(connection) if not r.stale(at)]

    def _registrations(self, connection: Connection) -> list[Registration]:
        rows = connection.execute(select(RunnerRow.__table__).order_by(RunnerRow.started_at))
        return [
            Registration(Holder(row.id, row.host, row.pid), row.started_at, row.heartbeat_at) for row in rows
        ]


def _lease(values: RowMapping | Mapping[str, Any]) -> Lease:
    return Lease(
        mailbox=values["mailbox"],
        holder=Holder(values["runner_id"], values["host"], values["pid"]),
        acquired_at=values["acquired_at"],
        expires_at=values["expires_at"],
    )
