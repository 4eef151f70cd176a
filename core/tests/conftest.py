"""Database fixtures shared by the core's tests.

``database_url`` runs a test on SQLite (a file in the test's directory) and on PostgreSQL. The
PostgreSQL case uses the server given by ``ROOMSYNC_TEST_POSTGRESQL_URL`` (default: local,
user ``postgres``, database ``test``), gives each test a fresh schema through the connection's
``search_path`` and drops it afterwards; it is skipped with the reason when the server cannot be
reached, which is probed once per session; under CI (``CI`` set) it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

from roomsync.domain import Person, Room
from roomsync.storage import Database, SqlUnitOfWork
from roomsync.testkit.convergence import register_profiles

register_profiles()  # hypothesis profiles: "ci" by default, "long" with --hypothesis-profile=long

POSTGRESQL_URL = os.environ.get(
    "ROOMSYNC_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgresql_admin() -> Iterator[Engine | str]:
    """An engine on the test server, or the reason it cannot be used."""
    url = make_url(POSTGRESQL_URL)
    shown = url.render_as_string(hide_password=True)
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    except ImportError as exc:
        yield f"PostgreSQL driver missing ({exc}); install roomsync[postgresql]"
        return
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: skip, and say why
        engine.dispose()
        yield f"PostgreSQL at {shown} is not reachable: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        return
    yield engine
    engine.dispose()


def _schema_url(base: URL, schema: str) -> str:
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'roomsync.db'}"
        return
    admin = request.getfixturevalue("postgresql_admin")
    if isinstance(admin, str):
        if os.environ.get("CI"):
            pytest.fail(f"{admin} (CI must run the PostgreSQL tests: .ci/run starts the server)")
        pytest.skip(admin)
    schema = f"rs_{uuid.uuid4().hex}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _schema_url(make_url(POSTGRESQL_URL), schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A database upgraded to the newest schema."""
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def uow(database: Database) -> Iterator[SqlUnitOfWork]:
    """A unit of work on :func:`database`; whatever the test does not commit is rolled back."""
    with database.unit_of_work() as work:
        yield work


ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
ROOM_A, ROOM_B, ROOM_C = "room-a@example.org", "room-b@example.org", "room-c@example.org"


@pytest.fixture
def office(uow: SqlUnitOfWork) -> SqlUnitOfWork:
    """:func:`uow` with three persons (ALICE, BOB, CAROL) and three rooms (ROOM_A/B/C) stored."""
    for email in (ALICE, BOB, CAROL):
        uow.rooms.upsert_person(Person(email=email, name=email.split("@")[0].title()))
    for mailbox in (ROOM_A, ROOM_B, ROOM_C):
        uow.rooms.add_room(Room(name=mailbox.split("@")[0], mailbox=mailbox, capacity=8))
    return uow
