"""``roomsync status`` on an 80-column terminal: repeated problems once with their count, no
address cut in two, long errors on lines of their own."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from roomsync.cli.main import cli
from roomsync.engine.apply import now
from roomsync.storage import Database
from roomsync.storage.protocols import LogEntry

from .test_cli import home, ok, run

__all__ = ["home"]  # the fixture, used by name

LONG = "facility.management.building-seven@long-subsidiary.example.org"
ERROR = (
    "cannot connect to the Exchange server https://mail.long-subsidiary.example.org/EWS/Exchange.asmx: "
    "the TLS handshake failed (certificate verify failed: unable to get local issuer certificate)"
)


def _status(home: Path, columns: int) -> str:
    result = CliRunner().invoke(
        cli,
        ["--config", str(home / "roomsync.toml"), "status"],
        env={"COLUMNS": str(columns)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_status_groups_repeated_problems_and_fits_80_columns(home: Path) -> None:
    ok(home, "persons", "add", LONG, "--environment", "lab")
    database = Database(f"sqlite:///{home / 'data' / 'roomsync.db'}")
    try:
        with database.unit_of_work() as uow:
            at = now()
            for minute in range(14):
                entry = LogEntry(at + timedelta(minutes=minute), LONG, "error", "failure", ERROR)
                uow.sync.log(entry)
            uow.sync.log(LogEntry(at, LONG, "warning", "conflict", "Review: both sides changed"))
            uow.commit()
    finally:
        database.dispose()
    shown = _status(home, 80)
    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines), shown
    assert any(LONG in line for line in lines)  # the address on one line, not cut in two
    assert "\N{MULTIPLICATION SIGN}14" in shown and shown.count("\N{MULTIPLICATION SIGN}") == 1
    words = " ".join(shown.split())
    assert words.count("TLS handshake failed") == 1  # once, not fourteen times
    assert "Review: both sides changed" in shown
    newest = f"{at + timedelta(minutes=13):%Y-%m-%d %H:%M}"
    assert f"{newest} \N{MULTIPLICATION SIGN}14 failure {LONG} {ERROR}" in words
    [message] = [i for i, line in enumerate(lines) if "cannot connect" in line]
    assert lines[message].startswith("    cannot connect")  # the error on lines of its own
    assert lines[message - 1] == LONG


def test_status_shows_each_persons_last_error_below_the_table(home: Path) -> None:
    ok(home, "persons", "add", "nobody@example.org")
    assert run(home, "sync", "--once").exit_code == 1  # no environment
    lines = _status(home, 80).splitlines()
    assert all(len(line) <= 80 for line in lines)
    at = lines.index("Last errors")
    assert lines[at + 1] == "nobody@example.org"
    assert lines[at + 2].startswith("    person nobody@example.org has no environment")


def test_status_filters_persons_and_a_successful_cycle_clears_their_failures(home: Path) -> None:
    ok(home, "persons", "add", "alice@example.org", "--environment", "lab")
    ok(home, "persons", "add", "bob@example.org", "--environment", "lab")
    ok(home, "persons", "add", "nobody@example.org")  # no environment: every cycle fails
    ok(home, "sync", "--once", "--person", "alice@example.org")
    database = Database(f"sqlite:///{home / 'data' / 'roomsync.db'}")
    try:
        with database.unit_of_work() as uow:
            before = now() - timedelta(hours=1)  # before alice's successful cycle
            uow.sync.log(LogEntry(before, "alice@example.org", "error", "failure", "server down"))
            uow.sync.log(LogEntry(before, "alice@example.org", "warning", "conflict", "Review: both changed"))
            uow.sync.log(LogEntry(before, "bob@example.org", "error", "failure", "bob's server down"))
            uow.commit()
    finally:
        database.dispose()
    assert run(home, "sync", "--once", "--person", "nobody@example.org").exit_code == 1

    report = json.loads(ok(home, "status", "--json").stdout)
    problems = {(p["mailbox"], p["message"]) for p in report["problems"]}
    assert ("alice@example.org", "server down") not in problems  # cleared by her later success
    assert ("alice@example.org", "Review: both changed") in problems  # a reservation's, kept
    assert ("bob@example.org", "bob's server down") in problems  # bob never succeeded since

    failing = json.loads(ok(home, "status", "--failing", "--json").stdout)
    assert [p["email"] for p in failing["persons"]] == ["nobody@example.org"]
    assert {p["mailbox"] for p in failing["problems"]} == {"nobody@example.org"}
    one = json.loads(ok(home, "status", "--json", "--person", "BOB@example.org").stdout)
    assert [p["email"] for p in one["persons"]] == ["bob@example.org"]
    lab = json.loads(ok(home, "status", "--environment", "lab", "--json").stdout)
    assert sorted(p["email"] for p in lab["persons"]) == ["alice@example.org", "bob@example.org"]
    unknown = run(home, "status", "--environment", "nowhere")
    assert unknown.exit_code == 2 and "unknown environment 'nowhere'" in unknown.output
