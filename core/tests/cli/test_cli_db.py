"""``roomsync db``: status with an exit code, upgrade, history and downgrade of the schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from click.testing import CliRunner, Result
from sqlalchemy import create_engine

from roomsync.cli.main import cli
from roomsync.storage import Database
from roomsync.storage.database import alembic_config

from .test_cli import as_json, home, ok, run

__all__ = ["home"]  # the fixture, used by name


def answering(home: Path, answer: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(home / "roomsync.toml"), *args], input=answer, catch_exceptions=False
    )


def _url(home: Path) -> str:
    return f"sqlite:///{home / 'data' / 'roomsync.db'}"


def _head() -> str:
    return Database("sqlite://").head_revision()


def _at_0007(home: Path) -> None:
    """The database as an older roomsync left it."""
    (home / "data" / "roomsync.db").unlink()
    engine = create_engine(_url(home))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0007")
    engine.dispose()


def test_db_status_exits_1_while_the_schema_is_behind_and_0_after_upgrade(home: Path) -> None:
    _at_0007(home)
    behind = run(home, "db", "status")
    assert behind.exit_code == 1
    assert f"current 0007, needed {_head()}; run 'roomsync db upgrade'" in behind.output
    data = run(home, "--json", "db", "status")
    assert data.exit_code == 1
    assert '"up_to_date": false' in data.stdout
    upgraded = as_json(home, "db", "upgrade")
    assert upgraded == {"from": "0007", "to": _head(), "upgraded": True}
    status = as_json(home, "db", "status")
    assert isinstance(status, dict) and status["up_to_date"] is True and status["installation"]


def test_db_upgrade_of_a_current_database_says_already_current(home: Path) -> None:
    result = ok(home, "db", "upgrade")
    assert result.output.strip() == f"database already current at revision {_head()}"
    assert as_json(home, "db", "upgrade") == {"from": _head(), "to": _head(), "upgraded": False}


def test_db_history_lists_the_revisions_newest_first_marking_the_current(home: Path) -> None:
    _at_0007(home)
    history = as_json(home, "db", "history")
    assert isinstance(history, list)
    revisions = [row["revision"] for row in history]
    assert revisions[0] == _head() and revisions[-1] == "0001"
    assert revisions == sorted(revisions, reverse=True)
    assert [row["revision"] for row in history if row["current"]] == ["0007"]
    assert history[0]["head"] and not any(row["head"] for row in history[1:])
    assert history[-1]["description"].startswith("The initial schema")
    text = ok(home, "db", "history").output
    assert "0007" in text and "the database's revision (0007)" in text


def test_db_downgrade_asks_then_goes_back_and_upgrade_comes_forward_again(home: Path) -> None:
    refused = answering(home, "n\n", "db", "downgrade", "0007")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert as_json(home, "db", "status")["current"] == _head()  # type: ignore[index]
    done = answering(home, "y\n", "db", "downgrade", "0007")
    assert done.exit_code == 0, done.output
    assert f"database downgraded from {_head()} to 0007" in done.output
    assert run(home, "db", "status").exit_code == 1
    assert run(home, "status").exit_code == 1  # the other commands refuse the older schema
    ok(home, "db", "upgrade")
    ok(home, "status")


def test_db_downgrade_with_yes_under_json_and_its_refusals(home: Path) -> None:
    unknown = run(home, "--json", "db", "downgrade", "0999", "--yes")
    assert unknown.exit_code == 1 and '"no schema revision 0999' in unknown.stderr
    not_older = run(home, "db", "downgrade", _head(), "--yes")
    assert not_older.exit_code == 1 and "nothing to do" in not_older.output
    unconfirmed = run(home, "--json", "db", "downgrade", "0007")
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    assert as_json(home, "db", "downgrade", "0007", "--yes") == {
        "from": _head(),
        "to": "0007",
        "head": _head(),
    }
