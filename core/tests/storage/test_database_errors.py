"""A database that cannot be used is one clear line naming the URL without its password."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from roomsync.cli.main import cli
from roomsync.errors import DatabaseUnavailable
from roomsync.storage import Database

SECRET = "s3cr3t-pw"


def refused(url: str) -> str:
    """The message of opening ``url`` and reading its revision, which must fail."""
    with pytest.raises(DatabaseUnavailable) as raised:
        database = Database(url)
        try:
            database.current_revision()
        finally:
            database.dispose()
    message = str(raised.value)
    assert SECRET not in message
    assert "\n" not in message
    return message


@pytest.fixture
def server(postgresql_admin: Engine | str) -> str:
    """The test server's URL with a password added (trust authentication ignores it)."""
    if isinstance(postgresql_admin, str):
        pytest.skip(postgresql_admin)
    return postgresql_admin.url.set(password=SECRET).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "the database URL is malformed; give one such as postgresql+psycopg://"),
        (f"postgresql://roomsync:{SECRET}@db:port/x", "the database URL is malformed"),
        (f"oracle9://roomsync:{SECRET}@db/x", "oracle9://roomsync:***@db/x names a kind of database"),
        (f"mysql://roomsync:{SECRET}@db/x", "needs the Python driver MySQLdb, which is not installed"),
    ],
)
def test_a_url_roomsync_cannot_use(url: str, expected: str) -> None:
    assert expected in refused(url)


def test_a_missing_postgresql_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if roomsync[postgresql] was not installed
    message = refused(f"postgresql+psycopg://roomsync:{SECRET}@db.example.org/roomsync")
    assert message == (
        "the database URL postgresql+psycopg://roomsync:***@db.example.org/roomsync needs the PostgreSQL "
        "driver, which is not installed: pip install 'roomsync[postgresql]' (the psycopg driver)"
    )


def test_another_postgresql_driver_not_installed_points_to_the_tested_one() -> None:
    pytest.importorskip("sqlalchemy.dialects.postgresql.pg8000")
    if "pg8000" in sys.modules:
        pytest.skip("pg8000 is installed")
    message = refused("postgresql+pg8000://roomsync@db.example.org/roomsync")
    assert "needs the driver pg8000" in message and "pip install 'roomsync[postgresql]'" in message


def test_a_sqlite_directory_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    message = refused(f"sqlite:///{tmp_path / 'a-file' / 'data' / 'roomsync.db'}")
    assert message.startswith(f"cannot create the directory {tmp_path / 'a-file' / 'data'} of the SQLite")
    assert message.endswith("set data_dir to a directory roomsync may write")


@pytest.mark.postgresql
def test_an_unreachable_server(server: str) -> None:
    url = make_url(server).set(port=free_port())
    message = refused(url.render_as_string(hide_password=False))
    assert message == (
        f"cannot connect to the database {url.render_as_string(hide_password=True)}: Connection refused; "
        "is the server running, and are the host and port in database_url right?"
    )


@pytest.mark.postgresql
def test_a_database_that_does_not_exist(server: str) -> None:
    message = refused(make_url(server).set(database="roomsync_nowhere").render_as_string(hide_password=False))
    assert 'database "roomsync_nowhere" does not exist' in message
    assert message.endswith(
        "create the database ('createdb roomsync_nowhere') or correct its name in database_url"
    )


@pytest.mark.postgresql
def test_a_login_the_server_refuses(server: str) -> None:
    # Under trust authentication a wrong password is accepted; an unknown role is refused the same way.
    message = refused(make_url(server).set(username="roomsync_nobody").render_as_string(hide_password=False))
    assert 'role "roomsync_nobody" does not exist' in message
    assert message.endswith("check the user name and the password that database_url gives")


@pytest.mark.postgresql
def test_the_command_line_shows_one_line_and_never_the_password(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(server).set(port=free_port()).render_as_string(hide_password=False)
    monkeypatch.setenv("ROOMSYNC_TEST_DATABASE_URL", url)
    config = tmp_path / "roomsync.toml"
    config.write_text('database_url = { env = "ROOMSYNC_TEST_DATABASE_URL" }\n', encoding="utf-8")
    for command in (["status"], ["db", "upgrade"], ["persons", "list"]):
        result = CliRunner().invoke(cli, ["--config", str(config), *command], catch_exceptions=False)
        assert result.exit_code == 1
        [line] = result.output.splitlines()
        assert line.startswith("Error: cannot connect to the database postgresql+psycopg://")
        assert SECRET not in result.output
    debug = CliRunner().invoke(cli, ["-vv", "--config", str(config), "db", "status"], catch_exceptions=False)
    assert debug.exit_code == 1
    assert "cannot connect to the database" in debug.output and SECRET not in debug.output
