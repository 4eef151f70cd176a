"""The database a benchmark runs on: a fresh SQLite file, or a fresh schema on PostgreSQL.

Each run starts empty and leaves nothing behind, so figures never include an earlier run's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from roomsync.storage import Database


@contextmanager
def database_for(kind: str, postgresql_url: str, directory: Path) -> Iterator[Database]:
    """An upgraded, empty database: an SQLite file in ``directory`` or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        database = Database(f"sqlite:///{directory / 'rooms.db'}")
        database.upgrade()
        try:
            yield database
        finally:
            database.dispose()
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"rs_bench_{uuid.uuid4().hex}"
    admin = create_engine(postgresql_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = make_url(postgresql_url).update_query_dict({"options": f"-csearch_path={schema}"})
            database = Database(url.render_as_string(hide_password=False))
            database.upgrade()
            try:
                yield database
            finally:
                database.dispose()
        finally:
            with admin.connect() as connection:
                connection.execute(text("SET lock_timeout = '10s'"))
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
