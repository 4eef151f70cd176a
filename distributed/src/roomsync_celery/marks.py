"""Expiring marks in the shared database: the scheduler's lock and each mailbox's queued task.

One small table of this distribution's own (``celery_marks``, made when first needed): a row is
a name, its holder and when it expires. Taking one is a single ``INSERT ... ON CONFLICT DO
UPDATE ... WHERE`` the row has expired (or, for a lock, is the taker's), so of two processes
racing for a name exactly one gets it, on PostgreSQL as on SQLite. A holder that dies leaves
its marks to expire.

* ``scheduler``: the lock of the one active scheduler, renewed while it schedules;
* ``queued:<mailbox>``: a task for the mailbox waits in the broker; the scheduler enqueues no
  other until the task starts (and deletes the mark) or the mark expires (a task lost with a
  broker's restart is enqueued again then).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from roomsync.errors import RoomsyncError

METADATA = MetaData()
MARKS = Table(
    "celery_marks",
    METADATA,
    Column("name", String(400), primary_key=True),
    Column("holder", String(300), nullable=False),
    Column("expires_at", Float, nullable=False),  # time.time() of the hosts, which NTP keeps close
)
LOCK = "scheduler"
QUEUED = "queued:"
BATCH = 500  # names claimed in one statement
ADVISORY_LOCK = 0x726F6F6D73796E63  # "roomsync": taken while the table is made


@dataclass(frozen=True)
class Mark:
    name: str
    holder: str
    expires_at: float


class Marks:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ensure(self) -> None:
        """Make the table where it is missing. Every process may, at the same time: on PostgreSQL
        the check and the creation wait for each other (a transaction's advisory lock), since two
        ``CREATE TABLE`` of one name at once fail; SQLite's write lock does the same."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
            METADATA.create_all(connection, checkfirst=True)

    def _insert(self) -> postgresql.Insert | sqlite.Insert:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(MARKS)
        if dialect == "sqlite":
            return sqlite.insert(MARKS)
        raise RoomsyncError(f"the scheduler's marks are not implemented for {dialect} databases")

    def hold(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew ``name`` for ``holder`` unless another holder's mark is still in force."""
        at = time.time()
        insert = self._insert().values(name=name, holder=holder, expires_at=at + seconds)
        statement = insert.on_conflict_do_update(
            index_elements=[MARKS.c.name],
            set_={"holder": holder, "expires_at": at + seconds},
            where=(MARKS.c.expires_at < at) | (MARKS.c.holder == holder),
        ).returning(MARKS.c.name)
        with self.engine.begin() as connection:
            return connection.execute(statement).first() is not None

    def claim(self, names: Iterable[str], holder: str, seconds: float) -> set[str]:
        """Take each name that is free or expired (never renew one in force); answers those taken."""
        wanted = list(dict.fromkeys(names))
        taken: set[str] = set()
        at = time.time()
        for start in range(0, len(wanted), BATCH):
            rows = [
                {"name": n, "holder": holder, "expires_at": at + seconds}
                for n in wanted[start : start + BATCH]
            ]
            insert = self._insert().values(rows)
            statement = insert.on_conflict_do_update(
                index_elements=[MARKS.c.name],
                set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
                where=MARKS.c.expires_at < at,
            ).returning(MARKS.c.name)
            with self.engine.begin() as connection:
                taken |= set(connection.scalars(statement))
        return taken

    def release(self, name: str, holder: str | None = None) -> None:
        """Delete the mark (only ``holder``'s when given)."""
        condition = MARKS.c.name == name
        if holder is not None:
            condition &= MARKS.c.holder == holder
        with self.engine.begin() as connection:
            connection.execute(delete(MARKS).where(condition))

    def get(self, name: str) -> Mark | None:
        """The mark in force under ``name``, if any."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(MARKS).where(MARKS.c.name == name, MARKS.c.expires_at >= time.time())
            ).first()
        return Mark(row.name, row.holder, row.expires_at) if row is not None else None

    def queued(self) -> set[str]:
        """The mailboxes whose task waits in the broker."""
        with self.engine.connect() as connection:
            names = connection.scalars(
                select(MARKS.c.name).where(MARKS.c.name.startswith(QUEUED), MARKS.c.expires_at >= time.time())
            )
            return {name.removeprefix(QUEUED) for name in names}
