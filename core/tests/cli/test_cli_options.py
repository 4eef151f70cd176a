"""Options where users type them: ``--json`` before or after the command, errors as JSON too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import ALICE, as_json, book, home, ok, run, seed

__all__ = ["home"]  # the fixture, used by name


@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("persons", "list"),
        ("rooms", "list"),
        ("reservations", "list"),
        ("db", "status"),
        ("plugins",),
        ("diff", "--days", "7"),
        ("sync", "--once"),
        ("test", ALICE),
        ("freebusy", ALICE, "--start", "2030-03-04T08:00", "--end", "2030-03-04T18:00"),
    ],
)
def test_json_after_the_command_is_json_before_it(home: Path, command: tuple[str, ...]) -> None:
    seed(home)
    before = run(home, "--json", *command)
    after = run(home, *command, "--json")
    assert before.exit_code == after.exit_code
    if command[0] in ("sync", "test", "db", "plugins"):  # times, durations and identities vary
        assert type(json.loads(after.stdout)) is type(json.loads(before.stdout))
    else:
        assert json.loads(after.stdout) == json.loads(before.stdout)


def test_status_json_after_the_command_is_the_same_output(home: Path) -> None:
    seed(home)
    assert ok(home, "status", "--json").stdout == ok(home, "--json", "status").stdout


def test_reservation_show_json_after_the_id(home: Path) -> None:
    seed(home)
    booked = book(home)
    shown = json.loads(ok(home, "reservations", "show", str(booked["id"]), "--json").stdout)
    assert shown["id"] == booked["id"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_error_under_json_is_json_with_the_same_exit_code(home: Path, where: str) -> None:
    args = ["reservations", "show", "99999"]
    result = run(home, *(["--json", *args] if where == "before" else [*args, "--json"]))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert json.loads(result.stderr) == {"error": "no reservation 99999", "kind": "data"}


def test_a_usage_error_under_json_is_json_with_exit_code_2(home: Path) -> None:
    result = run(home, "status", "--json", "--no-such-option")
    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert error["kind"] == "usage" and "--no-such-option" in error["error"]


def test_without_json_an_error_stays_one_line(home: Path) -> None:
    result = run(home, "reservations", "show", "99999")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: no reservation 99999"


def test_a_reservation_has_one_shape_in_list_show_and_create(home: Path) -> None:
    seed(home)
    booked = book(home, "--room", "room.atlas@example.org")
    listed = as_json(home, "reservations", "list")
    assert isinstance(listed, list)
    shown = as_json(home, "reservations", "show", str(booked["id"]))
    assert isinstance(shown, dict)
    assert set(shown) - set(listed[0]) == {"links", "journal"}
    assert {k: shown[k] for k in listed[0]} == listed[0] == booked
