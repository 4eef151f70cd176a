"""Shell completion: the scripts, and environments and persons completed from the installation."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.shell_completion import ShellComplete

from roomsync.cli.completion import COMPLETE_VAR
from roomsync.cli.main import cli

from .test_cli import ALICE, BOB, home, ok, run, seed

__all__ = ["home"]  # the fixture, used by name


def completions(home: Path, *words: str, incomplete: str = "") -> list[str]:
    complete = ShellComplete(cli, {}, "roomsync", COMPLETE_VAR)
    args = ["--config", str(home / "roomsync.toml"), *words]
    return [item.value for item in complete.get_completions(args, incomplete)]


@pytest.mark.parametrize(
    ("shell", "start"),
    [
        ("bash", "_roomsync_completion() {"),
        ("zsh", "#compdef roomsync"),
        ("fish", "function _roomsync_completion"),
    ],
)
def test_the_completion_script_of_each_shell_is_printed(home: Path, shell: str, start: str) -> None:
    script = ok(home, "completion", shell).output
    assert script.startswith(start)
    assert COMPLETE_VAR in script and f"{shell}_complete" in script


def test_an_unknown_shell_is_a_usage_error(home: Path) -> None:
    assert run(home, "completion", "tcsh").exit_code == 2


def test_environment_names_complete_from_the_configuration(home: Path) -> None:
    assert completions(home, "persons", "set", ALICE, "--environment") == ["lab"]
    assert completions(
        home, "rooms", "add", "Atlas", "room@example.org", "--environment", incomplete="l"
    ) == ["lab"]
    assert completions(home, "persons", "add", ALICE, "--environment", incomplete="x") == []


def test_persons_complete_from_the_database(home: Path) -> None:
    seed(home)
    assert completions(home, "test") == [ALICE, BOB]
    assert completions(home, "test", incomplete="b") == [BOB]
    assert completions(home, "sync", "--person", incomplete="AL") == [ALICE]
    assert completions(home, "reservations", "create", "--organizer") == [ALICE, BOB]
    assert "room.atlas@example.org" in completions(home, "freebusy")


def test_completion_completes_nothing_when_it_cannot_read(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "roomsync.toml"
    complete = ShellComplete(cli, {}, "roomsync", COMPLETE_VAR)
    assert [i.value for i in complete.get_completions(["--config", str(missing), "test"], "")] == []
    assert [
        i.value
        for i in complete.get_completions(
            ["--config", str(missing), "persons", "set", "x", "--environment"], ""
        )
    ] == []
    assert not missing.parent.exists()  # nothing created for it
    (home / "roomsync.toml").write_text("this is = not toml [", encoding="utf-8")
    assert completions(home, "test") == []
    assert completions(home, "persons", "set", ALICE, "--environment") == []


def test_completion_of_an_older_schema_or_no_database_completes_nothing(home: Path) -> None:
    seed(home)
    (home / "data" / "roomsync.db").unlink()
    assert completions(home, "test") == []
    assert not (home / "data" / "roomsync.db").exists()
    (home / "data" / "roomsync.db").write_bytes(b"not a database")
    assert completions(home, "test") == []
