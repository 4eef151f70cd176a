"""The database: engine, schema revisions and units of work.

The schema is only ever created or changed by the Alembic migrations inside this package, run
programmatically (no ``alembic.ini`` at run time). The URL's password never leaves the engine:
everything shown to a user is rendered with the password hidden. A database that cannot be used
(malformed URL, driver not installed, server unreachable, login refused) is one
:class:`~roomsync.errors.DatabaseUnavailable` saying what to do, never a driver's traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from roomsync.errors import DatabaseUnavailable, InvalidInput, MigrationFailed, RoomsyncError, SchemaTooNew
from roomsync.stamps import Installation
from roomsync.storage.api_keys import ApiKeyStore
from roomsync.storage.differences import DifferenceStore
from roomsync.storage.leases import LeaseStore
from roomsync.storage.models import InstallationRow, LinkRow, MailboxStateRow
from roomsync.storage.overview import EnvironmentFigures, environment_figures
from roomsync.storage.protocols import RoomsStore, SyncStore
from roomsync.storage.rooms_sql import SqlRoomsStore
from roomsync.storage.sync_sql import SqlSyncStore

log = logging.getLogger("roomsync.database")
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
UPGRADE_HINT = "run 'roomsync db upgrade'"
CONNECT_TIMEOUT_SECONDS = 10  # an unreachable server fails in seconds, not after the OS's minutes
URL_EXAMPLES = (
    "postgresql+psycopg://roomsync@db.example.org/roomsync or sqlite:////var/lib/roomsync/roomsync.db"
)
POSTGRESQL_DRIVER_HINT = "pip install 'roomsync[postgresql]' (the psycopg driver)"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, running on ``connection``."""
    config = Config()
    # ConfigParser interpolation: a '%' in the installation path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class SqlUnitOfWork:
    """Both stores over one session, so a sync step changes both sides atomically or not at all.

    ``rooms`` and ``sync`` are an :class:`SqlRoomsStore` and an :class:`SqlSyncStore`; they are
    typed as the interfaces so that this class is a :class:`~roomsync.storage.protocols.UnitOfWork` to a type
    checker (and the checker verifies that the stores implement them).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rooms: RoomsStore = SqlRoomsStore(session)
        self.sync: SyncStore = SqlSyncStore(session)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class Database:
    """One roomsync database (SQLite file or PostgreSQL) given by an SQLAlchemy URL."""

    def __init__(self, url: str, pool_size: int | None = None) -> None:
        """``pool_size``: connections kept for as many threads working at once (a web server's
        threads); SQLAlchemy's default of 5 otherwise, and up to 10 more under load."""
        self._url: URL = check_database_url(url)
        if self._url.get_backend_name() == "sqlite":
            _create_sqlite_directory(self._url)
        self.pool_size = pool_size
        self.engine: Engine = self._engine(pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _engine(self, pool_size: int | None) -> Engine:
        sqlite = self._url.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self._url.get_backend_name() == "postgresql" and "connect_timeout" not in self._url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        # A long-running runner outlives server restarts and idle timeouts: test before use.
        pool: dict[str, Any] = {"pool_size": pool_size} if pool_size else {}
        engine = create_engine(self._url, pool_pre_ping=not sqlite, connect_args=connect_args, **pool)
        if sqlite:
            event.listen(engine, "connect", _sqlite_on_connect)
        return engine

    def ensure_pool(self, connections: int) -> None:
        """Keep at least ``connections`` for threads working at once (a runner's concurrent
        cycles): a smaller pool is replaced by one that size. Called before the work starts;
        connections checked out of the old pool are closed when given back."""
        if self.pool_size is not None and self.pool_size >= connections:
            return
        pool = self.engine.pool
        if self.pool_size is None and not isinstance(pool, QueuePool):
            return  # SQLite in memory: one connection, shared
        if self.pool_size is None and isinstance(pool, QueuePool) and pool.size() >= connections:
            return
        old = self.engine
        self.pool_size = connections
        self.engine = self._engine(connections)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        old.dispose()

    @property
    def display_url(self) -> str:
        """The URL as it may be shown or logged: the password is masked."""
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    # --- schema ----------------------------------------------------------------------------

    def head_revision(self) -> str:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None, "the package ships no migrations"
        return head

    def current_revision(self) -> str | None:
        """The revision the database is at; ``None`` for a database never upgraded."""
        try:
            with self.engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()
        except DBAPIError as exc:
            if exc.connection_invalidated or not _is_connect_failure(exc):
                raise
            raise DatabaseUnavailable(_connect_failure(self._url, exc)) from None

    def check_schema(self) -> None:
        """Refuse to work on a database whose schema is not exactly the one this code expects."""
        current, head = self.current_revision(), self.head_revision()
        if current == head:
            return
        self._refuse_unknown(current, head)
        if current is None:
            raise RoomsyncError(f"the database {self.display_url} has no roomsync schema; {UPGRADE_HINT}")
        raise RoomsyncError(
            f"the database {self.display_url} has schema revision {current}, older than this "
            f"roomsync's ({head}); {UPGRADE_HINT}"
        )

    def upgrade(self) -> str:
        """Bring the schema to the newest revision (nothing happens when it is there already)."""
        self._refuse_unknown(self.current_revision(), self.head_revision())
        with self.migrating() as connection:
            command.upgrade(alembic_config(connection), "head")
        revision = self.current_revision()
        assert revision is not None
        return revision

    @contextmanager
    def migrating(self) -> Iterator[Connection]:
        """A connection in a transaction for the migrations: all of them happen, or none.

        On SQLite two things stand in the way, and are set aside for this connection only: the
        driver commits before every CREATE, DROP or ALTER (it opens transactions for data
        statements alone), so the transaction is begun here, explicitly; and altering a table
        means copying it and dropping the original, which foreign keys pointing at it forbid
        while enforced, so they are off during the migration and checked after it.
        """
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as connection:
                yield connection
            return
        with self.engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            previous = raw.isolation_level
            raw.isolation_level = None  # no implicit transactions: BEGIN below covers the DDL
            try:
                connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
                connection.commit()
                with connection.begin():
                    connection.exec_driver_sql("BEGIN")
                    yield connection
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationFailed(
                            f"the migration of {self.display_url} would leave {len(broken)} rows whose "
                            f"references are gone (first in table {broken[0][0]}); nothing was changed"
                        )
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()
                raw.isolation_level = previous

    def _refuse_unknown(self, current: str | None, head: str) -> None:
        if current is None:
            return
        known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
        if current not in known:
            raise SchemaTooNew(current, head)

    # --- identity --------------------------------------------------------------------------

    def installation(self) -> Installation:
        """The identity this database gave its installation when it was created."""
        with self._sessions() as session:
            row = session.scalars(select(InstallationRow)).one()
            return Installation(id=row.id, bare_stamps=row.bare_stamps)

    def new_identity(self, force: bool = False) -> Installation:
        """Give a copy of the database an identity of its own.

        Entries already in Exchange carry the old identity and stay the original's: a copy that
        has links refuses unless ``force``, which forgets the links and the mailboxes' sync states
        so that the next cycle writes every current reservation anew under the new identity.
        """
        with self._sessions() as session, session.begin():
            linked = session.scalar(select(func.count()).select_from(LinkRow)) or 0
            if linked and not force:
                raise InvalidInput(
                    f"{linked} entries are linked to this installation's identity; a new identity "
                    "leaves them to the installation that wrote them and writes every current "
                    "reservation anew (invitations are sent again). Add --force to do that"
                )
            session.execute(delete(LinkRow))
            session.execute(delete(MailboxStateRow))
            session.execute(delete(InstallationRow))
            row = InstallationRow(id=str(uuid.uuid4()), created_at=datetime.now(UTC), bare_stamps=False)
            session.add(row)
        return Installation(id=row.id, bare_stamps=False)

    # --- work ------------------------------------------------------------------------------

    @property
    def leases(self) -> LeaseStore:
        """Mailbox leases and daemon registrations, outside any unit of work."""
        return LeaseStore(self.engine)

    def figures(self) -> dict[str | None, EnvironmentFigures]:
        """Persons, failing persons, pending writes and the newest cycle, per environment."""
        return environment_figures(self.engine)

    @property
    def api_keys(self) -> ApiKeyStore:
        """Keys of the web API's client services, outside any unit of work."""
        return ApiKeyStore(self.engine)

    @property
    def differences(self) -> DifferenceStore:
        """The differences the scans found and their states, outside any unit of work."""
        return DifferenceStore(self.engine)

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlUnitOfWork]:
        """A transaction over both stores: what is not committed when the block ends is rolled
        back, and an exception rolls back and propagates."""
        session = self._sessions()
        try:
            yield SqlUnitOfWork(session)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def check_database_url(url: str) -> URL:
    """``url`` parsed, with its dialect and driver importable; nothing is connected."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # The text is not repeated: a malformed URL may still hold a password.
        raise DatabaseUnavailable(f"the database URL is malformed; give one such as {URL_EXAMPLES}") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise DatabaseUnavailable(
            f"the database URL {shown} names a kind of database SQLAlchemy does not know "
            f"({parsed.drivername!r}); use a URL such as {URL_EXAMPLES}"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise DatabaseUnavailable(_missing_driver(parsed, shown, exc.name)) from None
    return parsed


def _missing_driver(url: URL, shown: str, module: str | None) -> str:
    driver = module or url.get_driver_name()
    if url.get_backend_name() != "postgresql":
        return f"the database URL {shown} needs the Python driver {driver}, which is not installed"
    if url.get_driver_name() == "psycopg":
        return (
            f"the database URL {shown} needs the PostgreSQL driver, which is not installed: "
            f"{POSTGRESQL_DRIVER_HINT}"
        )
    return (
        f"the database URL {shown} needs the driver {driver}, which is not installed; roomsync is "
        f"tested with postgresql+psycopg:// and {POSTGRESQL_DRIVER_HINT}"
    )


def _is_connect_failure(exc: DBAPIError) -> bool:
    """Raised while opening the connection, not by a statement (a statement has its text)."""
    return not exc.statement


def _connect_failure(url: URL, exc: DBAPIError) -> str:
    shown = url.render_as_string(hide_password=True)
    reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    # psycopg: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  <why>'
    reason = reason.rpartition(" failed: ")[2].removeprefix("FATAL:").strip()
    if url.password:
        reason = reason.replace(str(url.password), "***")
    lowered = reason.lower()
    if url.get_backend_name() == "sqlite":
        hint = "check that the file's directory exists and roomsync may write there"
    elif "password" in lowered or "role" in lowered or "authentication" in lowered:
        hint = "check the user name and the password that database_url gives"
    elif "database" in lowered and "does not exist" in lowered:
        hint = f"create the database ('createdb {url.database}') or correct its name in database_url"
    elif any(word in lowered for word in ("refused", "timeout", "resolve host", "translate host")):
        hint = "is the server running, and are the host and port in database_url right?"
    else:
        hint = "check database_url and the database server"
    return f"cannot connect to the database {shown}: {reason}; {hint}"


def _create_sqlite_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    directory = Path(database).expanduser().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"cannot create the directory {directory} of the SQLite database: "
            f"{exc.strerror or type(exc).__name__}; set data_dir to a directory roomsync may write"
        ) from None


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """SQLite leaves foreign keys off and gives up at once on a locked file unless told.

    Concurrent cycles write at once: in write-ahead logging readers never wait for a writer and
    a commit is one append (``synchronous = NORMAL`` is durable in WAL but for the last commits
    before a power cut, never corrupt); writers take turns, waiting up to the busy timeout. The
    journal mode is the file's own and stays; a file that cannot switch (another process holds
    it, an in-memory database) keeps its mode and still works, only with less concurrency.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        except Exception as exc:  # sqlite3.OperationalError: locked by another process just now
            log.info("SQLite stays in its journal mode: %s", exc)
    finally:
        cursor.close()
