"""``roomsync status`` on an 80-column terminal: repeated problems once with their count, no
address cut in two, long errors on lines of their own."""

from __future__ import annotations

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
