"""Empty databases for tests that run whole installations: a SQLite file, or a fresh schema on
the PostgreSQL test server (``ROOMSYNC_TEST_POSTGRESQL_URL``), dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRESQL_URL = os.environ.get(
    "ROOMSYNC_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def empty_database_url(kind: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database of ``kind`` (``sqlite`` or ``postgresql``).

    Without a PostgreSQL server the test is skipped with the reason, except under CI (``CI``
    set), where it fails: CI must run them.
    """
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'roomsync.db'}"
        return
    admin = create_engine(POSTGRESQL_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    schema = f"rs_{uuid.uuid4().hex}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable: {type(exc).__name__}")
    try:
        url = make_url(POSTGRESQL_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
