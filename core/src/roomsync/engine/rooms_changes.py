"""The organizers whose reservations changed in ROOMS, as they change, from any process or writer.

Every write of a reservation adds rows to the ``journal`` (one per organizer concerned), so the
journal is the one place to watch: the web API, ``roomsync`` commands, another installation's
importer and a plain SQL client all write it. The feed reads the rows past the last one it saw
(``seq``, the primary key: an indexed range read) and wakes their organizers. That cursor skips
nothing because rows become visible in ``seq`` order: the store serialises writers of
reservations on the journal (:mod:`roomsync.storage.rooms_sql`); whatever a writer outside it
might slip past is the safety-net cycle's, as before.

* PostgreSQL: a trigger on the journal (migration ``0015``) NOTIFYs :data:`CHANNEL` for every row;
  the feed LISTENs on a connection of its own and reads the journal when the bell rings, so the
  rules below are the same on both databases. The connection is made again with growing pauses
  when it drops, and the first read after it is back catches up with what happened meanwhile.
  The journal is also read every :data:`LISTEN_CHECK_SECONDS` however quiet the bell is: a
  notification lost on the way (a connection pooler that does not pass them on, say) costs
  seconds, not the safety-net interval. A driver other than psycopg cannot LISTEN: it is polled.
* SQLite has no notifications: the journal is read every ``poll_seconds``.

A row written by a cycle about a change it read from the organizer's own mailbox (origin
``exchange``, the organizer being the actor) wakes nobody: that cycle has done what it implies.
Nor does a change to a reservation following a room's Outlook booking: no organizer's cycle
exports it. Changes from Exchange seen in another mailbox (a room declining occurrences, an
organizer change) wake the organizer, whose calendar has to follow.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from roomsync.storage.database import Database
from roomsync.storage.models import JournalRow, LinkRow
from roomsync.storage.protocols import LinkState, Origin

log = logging.getLogger("roomsync.rooms_changes")

CHANNEL = "roomsync_journal"
"""The PostgreSQL notification channel the journal's trigger notifies (payload: the organizer)."""

POLL_SECONDS = 0.25
"""How often SQLite's journal is read for new rows (a read of the primary key's last page)."""

LISTEN_CHECK_SECONDS = 10.0
"""How often the journal is read on PostgreSQL even when no notification came."""

READ_BATCH = 1000
"""Journal rows read at once; a larger burst is read in several reads."""

RECONNECT_SECONDS = (0.5, 30.0)
"""Pauses before making the listening connection again: the first, doubling up to the last."""

Wake = Callable[[list[str]], None]


class RoomsChangeFeed:
    """Organizers whose reservations changed in ROOMS, as they change (any process, any writer)."""

    def __init__(self, database: Database, poll_seconds: float = POLL_SECONDS) -> None:
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be greater than 0, not {poll_seconds}")
        self.database = database
        self.poll_seconds = poll_seconds
        self.last_seq = 0  # the newest journal row seen
        self.reads = 0  # reads of the journal, for benchmarks and tests
        self.reconnects = 0  # listening connections made again after a drop
        self.listener_pid: int | None = None  # the PostgreSQL backend of the listening connection

    @property
    def listens(self) -> bool:
        """Whether changes are notified (PostgreSQL through psycopg) rather than polled for."""
        dialect = self.database.engine.dialect
        return dialect.name == "postgresql" and dialect.driver == "psycopg"

    @contextmanager
    def running(self, wake: Wake, stop: threading.Event) -> Iterator[None]:
        """Wake organizers from a thread of its own while the block runs (or until ``stop``).

        Only changes after the block starts wake anyone: what was there before is the first
        full cycle's to find.
        """
        self.last_seq = self._max_seq()
        done = threading.Event()

        def stopped() -> bool:
            return stop.is_set() or done.is_set()

        target = self._listen if self.listens else self._poll
        thread = threading.Thread(target=target, args=(wake, stopped, done), name="roomsync-rooms-changes")
        thread.daemon = True
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=10)

    # --- reading the journal -----------------------------------------------------------------

    def _max_seq(self) -> int:
        with self.database.engine.connect() as connection:
            return int(connection.scalar(select(func.max(JournalRow.seq))) or 0)

    def read(self) -> list[str]:
        """The organizers to wake for the journal rows since the last read, in order of change."""
        woken: dict[str, None] = {}
        with self.database.engine.connect() as connection:
            while True:
                self.reads += 1
                rows = connection.execute(
                    select(
                        JournalRow.seq,
                        JournalRow.organizer,
                        JournalRow.origin,
                        JournalRow.actor,
                        JournalRow.reservation_id,
                    )
                    .where(JournalRow.seq > self.last_seq)
                    .order_by(JournalRow.seq)
                    .limit(READ_BATCH)
                ).all()
                if not rows:
                    break
                foreign = [r for r in rows if r.origin == Origin.EXCHANGE.value and r.actor != r.organizer]
                followed = (
                    _followed(connection, {str(r.reservation_id) for r in foreign}) if foreign else set()
                )
                for row in rows:
                    if wakes_organizer(
                        row.origin, row.actor, row.organizer, str(row.reservation_id) in followed
                    ):
                        woken.setdefault(row.organizer, None)
                self.last_seq = rows[-1].seq
                if len(rows) < READ_BATCH:
                    break
            connection.rollback()  # no snapshot or shared lock outlives the read
        return list(woken)

    def _tell(self, wake: Wake) -> None:
        organizers = self.read()
        if organizers:
            log.info(
                "reservations of %d organizers changed in ROOMS",
                len(organizers),
                extra={"woken": organizers[:20], "count": len(organizers)},
            )
            wake(organizers)

    # --- SQLite, or a driver that cannot listen ------------------------------------------------

    def _poll(self, wake: Wake, stopped: Callable[[], bool], done: threading.Event) -> None:
        backoff = Backoff(*RECONNECT_SECONDS)
        while not stopped():
            try:
                self._tell(wake)
                backoff.succeeded()
                pause = self.poll_seconds
            except Exception as exc:  # the database is away: try again, never end the feed
                pause = backoff.failed()
                log.warning(
                    "reading the journal failed (%s: %s); again in %.1f s", type(exc).__name__, exc, pause
                )
            done.wait(pause)

    # --- PostgreSQL ------------------------------------------------------------------------------

    def _listen(self, wake: Wake, stopped: Callable[[], bool], done: threading.Event) -> None:
        backoff = Backoff(*RECONNECT_SECONDS)
        first = True
        while not stopped():
            try:
                connection = self._connect()
            except Exception as exc:
                pause = backoff.failed()
                log.warning(
                    "listening to the journal failed (%s: %s); again in %.1f s",
                    type(exc).__name__,
                    exc,
                    pause,
                )
                done.wait(pause)
                continue
            if not first:
                self.reconnects += 1
                log.info("listening to the journal again; catching up from row %d", self.last_seq)
            first = False
            try:
                self._tell(wake)  # what was written while nobody listened
                backoff.succeeded()
                self._hear(connection, wake, stopped)
            except Exception as exc:  # dropped: made again, and the first read catches up
                if not stopped():
                    log.warning(
                        "the journal's listening connection dropped (%s: %s)", type(exc).__name__, exc
                    )
                    done.wait(backoff.failed())
            finally:
                with contextlib.suppress(Exception):  # already gone
                    connection.close()

    def _connect(self) -> Any:
        """A psycopg connection listening on :data:`CHANNEL`, outside the engine's pool."""
        fairy = self.database.engine.raw_connection()
        connection = fairy.driver_connection
        fairy.detach()  # held for as long as the feed runs: not one of the pool's connections
        assert connection is not None
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")
        self.listener_pid = connection.info.backend_pid
        return connection

    def _hear(self, connection: Any, wake: Wake, stopped: Callable[[], bool]) -> None:
        """Read the journal whenever notifications came, and every :data:`LISTEN_CHECK_SECONDS`."""
        checked = time.monotonic()
        while not stopped():
            # Short waits, so a stop is seen soon; a dropped connection raises here at once.
            rang = any(True for _ in connection.notifies(timeout=0.5, stop_after=1))
            if rang:
                checked = time.monotonic()
                self._tell(wake)
            elif time.monotonic() - checked >= LISTEN_CHECK_SECONDS:
                checked = time.monotonic()
                connection.execute("SELECT 1")  # the listening connection still answers
                self._tell(wake)


class Backoff:
    """Pauses after failures in a row: ``first``, doubling up to ``longest``; reset by a success."""

    def __init__(self, first: float, longest: float) -> None:
        self.first, self.longest = first, longest
        self._next = first

    def failed(self) -> float:
        pause, self._next = self._next, min(self._next * 2, self.longest)
        return pause

    def succeeded(self) -> None:
        self._next = self.first


def wakes_organizer(origin: str, actor: str | None, organizer: str, followed: bool) -> bool:
    """Whether a journal row gives its organizer a cycle with something to do."""
    if origin != Origin.EXCHANGE.value:
        return True  # a change in ROOMS (the API, an administrator): to be written to Exchange
    if followed:
        return False  # a room's Outlook booking: nothing is ever written for it
    return actor != organizer  # from the organizer's own mailbox, its own cycle did it all


def _followed(connection: Any, reservation_ids: set[str]) -> set[str]:
    return set(
        connection.scalars(
            select(LinkRow.reservation_id).where(
                LinkRow.reservation_id.in_(sorted(reservation_ids)), LinkRow.state == LinkState.FOLLOWED.value
            )
        )
    )
