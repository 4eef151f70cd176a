"""The ROOMS change feed: organizers are woken by changes other connections and processes make,
not by a cycle's record of what it read from the organizer's own mailbox; on PostgreSQL a dropped
listening connection is made again and what happened meanwhile still wakes its organizer."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine import rooms_changes
from roomsync.engine.rooms_changes import RoomsChangeFeed, wakes_organizer
from roomsync.storage import Database
from roomsync.storage.models import JournalRow
from roomsync.storage.protocols import Link, LinkState, Origin

ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
ROOM_A, ROOM_B = "room-a@example.org", "room-b@example.org"
WITHIN = 5.0  # seconds: far above the poll's 0.25 s and below PostgreSQL's 10 s check


class Woken:
    """What the feed woke, safe from its thread."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self._cond = threading.Condition()

    def __call__(self, organizers: list[str]) -> None:
        with self._cond:
            self.calls.append(list(organizers))
            self._cond.notify_all()

    @property
    def organizers(self) -> list[str]:
        with self._cond:
            return [o for call in self.calls for o in call]

    def wait_for(self, organizer: str, seconds: float = WITHIN) -> bool:
        deadline = time.monotonic() + seconds
        with self._cond:
            while organizer not in [o for call in self.calls for o in call]:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


@pytest.fixture
def office(database: Database) -> Database:
    with database.unit_of_work() as uow:
        for email in (ALICE, BOB, CAROL):
            uow.rooms.upsert_person(Person(email=email))
        for mailbox in (ROOM_A, ROOM_B):
            uow.rooms.add_room(Room(name=mailbox.split("@")[0], mailbox=mailbox))
        uow.commit()
    return database


@contextmanager
def feeding(database: Database) -> Iterator[tuple[RoomsChangeFeed, Woken]]:
    feed, woken, stop = RoomsChangeFeed(database), Woken(), threading.Event()
    with feed.running(woken, stop):
        yield feed, woken


def fields(day: int, room: str = ROOM_A) -> EventFields:
    start = datetime(2031, 3, day, 9, tzinfo=UTC)
    return EventFields(title="Planning", start=start, end=start + timedelta(hours=1), rooms=(room,))


def book(
    database: Database, organizer: str, day: int, origin: Origin = Origin.ROOMS, actor: str | None = None
) -> str:
    """A reservation written on a connection of another engine, as another process would."""
    other = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        with other.unit_of_work() as uow:
            stored = uow.rooms.create_reservation(
                Reservation(fields=fields(day), organizer=organizer), origin=origin, actor=actor
            )
            uow.commit()
    finally:
        other.dispose()
    assert stored.id is not None
    return stored.id


def test_a_reservation_booked_through_another_connection_wakes_its_organizer(office: Database) -> None:
    with feeding(office) as (_, woken):
        book(office, ALICE, 3)
        assert woken.wait_for(ALICE)
    assert woken.organizers == [ALICE]


def test_what_was_there_before_the_feed_started_wakes_nobody(office: Database) -> None:
    book(office, ALICE, 3)
    with feeding(office) as (_, woken):
        book(office, BOB, 4)
        assert woken.wait_for(BOB)
    assert ALICE not in woken.organizers


def test_an_update_and_a_cancellation_wake_the_organizer_and_an_organizer_change_both(
    office: Database,
) -> None:
    first = book(office, ALICE, 3)
    with feeding(office) as (_, woken):
        with office.unit_of_work() as uow:
            uow.rooms.update_reservation(first, fields=fields(3, ROOM_B))
            uow.commit()
        assert woken.wait_for(ALICE)
        with office.unit_of_work() as uow:
            uow.rooms.update_reservation(first, organizer=BOB)
            uow.commit()
        assert woken.wait_for(BOB)
        woken.calls.clear()
        with office.unit_of_work() as uow:
            uow.rooms.cancel_reservation(first)
            uow.commit()
        assert woken.wait_for(BOB)
    assert set(woken.organizers) == {BOB}


def test_a_change_read_from_the_organizers_own_mailbox_wakes_nobody(office: Database) -> None:
    with feeding(office) as (_, woken):
        book(office, ALICE, 3, origin=Origin.EXCHANGE, actor=ALICE)
        book(office, BOB, 4)  # read after the first: once Bob is woken, Alice's row was read
        assert woken.wait_for(BOB)
    assert ALICE not in woken.organizers


def test_a_change_from_exchange_seen_in_another_mailbox_wakes_the_organizer(office: Database) -> None:
    with feeding(office) as (_, woken):
        book(office, ALICE, 3, origin=Origin.EXCHANGE, actor=ROOM_A)  # a room declined, say
        assert woken.wait_for(ALICE)


def test_a_change_of_a_room_booking_followed_from_outlook_wakes_nobody(office: Database) -> None:
    followed = book(office, CAROL, 3, origin=Origin.EXCHANGE, actor=ROOM_A)
    with office.unit_of_work() as uow:
        uow.sync.save_link(Link(followed, ROOM_A, item_id="item-1", state=LinkState.FOLLOWED))
        uow.commit()
    with feeding(office) as (_, woken):
        with office.unit_of_work() as uow:
            uow.rooms.update_reservation(
                followed, fields=fields(3, ROOM_B), origin=Origin.EXCHANGE, actor=ROOM_A
            )
            uow.commit()
        book(office, BOB, 4)
        assert woken.wait_for(BOB)
    assert CAROL not in woken.organizers


def test_a_change_by_another_process_wakes_its_organizer(office: Database) -> None:
    url = office.engine.url.render_as_string(hide_password=False)
    script = (
        "import sys\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from roomsync.domain import EventFields, Reservation\n"
        "from roomsync.storage import Database\n"
        "db = Database(sys.argv[1])\n"
        "start = datetime(2031, 3, 5, 9, tzinfo=UTC)\n"
        "f = EventFields(title='x', start=start, end=start + timedelta(hours=1), rooms=(sys.argv[3],))\n"
        "with db.unit_of_work() as uow:\n"
        "    uow.rooms.create_reservation(Reservation(fields=f, organizer=sys.argv[2]))\n"
        "    uow.commit()\n"
    )
    with feeding(office) as (_, woken):
        subprocess.run([sys.executable, "-c", script, url, CAROL, ROOM_A], check=True, timeout=60)
        assert woken.wait_for(CAROL)


def test_a_burst_larger_than_one_read_wakes_every_organizer(office: Database) -> None:
    persons = [f"p{i}@example.org" for i in range(30)]
    with office.unit_of_work() as uow:
        for email in persons:
            uow.rooms.upsert_person(Person(email=email))
        uow.commit()
    with feeding(office) as (feed, woken):
        with office.unit_of_work() as uow:
            for day, email in enumerate(persons, start=1):
                start = datetime(2031, 5, 1, 0, tzinfo=UTC) + timedelta(hours=day)
                uow.rooms.create_reservation(
                    Reservation(
                        fields=EventFields(
                            title="t", start=start, end=start + timedelta(minutes=30), rooms=(ROOM_A,)
                        ),
                        organizer=email,
                    )
                )
            uow.commit()
        assert woken.wait_for(persons[-1])
        assert set(woken.organizers) == set(persons)
        assert feed.last_seq > 0


@pytest.mark.postgresql
def test_postgresql_listens_and_a_dropped_connection_is_made_again_missing_nothing(
    office: Database,
) -> None:
    if office.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN is PostgreSQL's")
    with feeding(office) as (feed, woken):
        assert feed.listens
        assert eventually(lambda: feed.listener_pid is not None)
        book(office, ALICE, 3)
        assert woken.wait_for(ALICE)  # within WITHIN: the notification, not the 10 s check
        dropped = feed.listener_pid
        with office.engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
            connection.commit()
        book(office, BOB, 4)  # while nobody listens, or just after
        assert woken.wait_for(BOB)
        assert eventually(lambda: feed.reconnects == 1 and feed.listener_pid != dropped)
        book(office, CAROL, 5)  # and the new connection hears
        assert woken.wait_for(CAROL)


@pytest.mark.postgresql
def test_postgresql_finds_a_change_no_notification_announced_at_its_next_check(
    office: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notification lost on the way (a pooler that does not pass them on): the journal is read
    every LISTEN_CHECK_SECONDS anyway."""
    if office.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN is PostgreSQL's")
    monkeypatch.setattr(rooms_changes, "LISTEN_CHECK_SECONDS", 1.0)
    with office.engine.connect() as connection:
        connection.execute(text("DROP TRIGGER journal_notify ON journal"))  # nothing rings any more
        connection.commit()
    with feeding(office) as (feed, woken):
        assert eventually(lambda: feed.listener_pid is not None)
        book(office, ALICE, 3)
        assert woken.wait_for(ALICE)
        assert feed.reconnects == 0


def test_the_migration_gives_the_journal_a_trigger_on_postgresql_only(office: Database) -> None:
    with office.engine.connect() as connection:
        if office.engine.dialect.name == "postgresql":
            found = connection.scalar(
                text("SELECT count(*) FROM pg_trigger WHERE tgname = 'journal_notify' AND NOT tgisinternal")
            )
            assert found >= 1
        else:
            found = connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"))
            assert found == 0


@pytest.mark.parametrize(
    ("origin", "actor", "followed", "wakes"),
    [
        (Origin.ROOMS, None, False, True),
        (Origin.ROOMS, ALICE, False, True),
        (Origin.ADMIN, None, False, True),
        (Origin.EXCHANGE, ALICE, False, False),
        (Origin.EXCHANGE, ROOM_A, False, True),
        (Origin.EXCHANGE, ROOM_A, True, False),
        (Origin.ROOMS, None, True, True),
    ],
)
def test_which_rows_wake_their_organizer(
    origin: Origin, actor: str | None, followed: bool, wakes: bool
) -> None:
    assert wakes_organizer(origin.value, actor, ALICE, followed) is wakes


def test_a_poll_interval_that_is_not_positive_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="poll_seconds"):
        RoomsChangeFeed(database, poll_seconds=0)


def eventually(condition: Callable[[], bool], seconds: float = WITHIN) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# --- the reading, as a property ---------------------------------------------------------------

ORGANIZERS = (ALICE, BOB, CAROL)
ROWS = st.lists(
    st.tuples(
        st.sampled_from(ORGANIZERS),
        st.sampled_from([o.value for o in Origin]),
        st.sampled_from([None, "self", ROOM_A, "dave@example.org"]),
    ),
    max_size=25,
)


def test_a_read_wakes_exactly_the_organizers_of_rows_the_rules_let_wake_in_any_batch_size(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('feed') / 'roomsync.db'}")
    database.upgrade()
    with database.unit_of_work() as uow:
        for email in ORGANIZERS:
            uow.rooms.upsert_person(Person(email=email))
        uow.rooms.add_room(Room(name="a", mailbox=ROOM_A))
        uow.commit()
    reservation = book(database, ALICE, 3)
    feed = RoomsChangeFeed(database)
    feed.last_seq = feed._max_seq()

    @settings(max_examples=40, deadline=None)
    @given(rows=ROWS, batch=st.integers(min_value=1, max_value=7))
    def check(rows: list[tuple[str, str, str | None]], batch: int) -> None:
        monkeypatch.setattr(rooms_changes, "READ_BATCH", batch)
        at = datetime.now(UTC)
        with database.unit_of_work() as uow:
            for organizer, origin, actor in rows:
                uow.session.add(
                    JournalRow(
                        reservation_id=int(reservation),
                        organizer=organizer,
                        origin=origin,
                        action="updated",
                        at=at,
                        actor=organizer if actor == "self" else actor,
                    )
                )
            uow.commit()
        expected = list(
            dict.fromkeys(
                organizer
                for organizer, origin, actor in rows
                if not (origin == Origin.EXCHANGE.value and actor == "self")
            )
        )
        assert feed.read() == expected
        assert feed.read() == []  # the cursor moved past them

    try:
        check()
    finally:
        database.dispose()
