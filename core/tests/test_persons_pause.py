"""``persons pause`` and ``persons resume``: no cycle while paused, everything kept for after."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from roomsync.cli.main import cli
from roomsync.config import load_settings
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.runner import SyncRunner
from roomsync.engine.watching import Watches
from roomsync.storage import Database
from roomsync.storage.protocols import LinkState, Origin

ALICE, BOB = "alice@example.org", "bob@example.org"
START = (datetime.now(UTC) + timedelta(days=4)).replace(hour=9, minute=0, second=0, microsecond=0)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A configuration on the reference connector, initialised, with Alice and Bob assigned."""
    directory = f"pause-{uuid.uuid4().hex}"
    (tmp_path / "roomsync.toml").write_text(
        f'data_dir = "data"\n[environments.lab]\nplugin = "reference"\n'
        f'[environments.lab.options]\ndirectory = "{directory}"\n',
        encoding="utf-8",
    )
    ok(tmp_path, "init")
    ok(tmp_path, "persons", "add", ALICE, "--environment", "lab")
    ok(tmp_path, "persons", "add", BOB, "--environment", "lab")
    return tmp_path


def run(home: Path, *args: str, columns: int = 80) -> Result:
    return CliRunner().invoke(
        cli,
        ["--config", str(home / "roomsync.toml"), *args],
        env={"COLUMNS": str(columns)},
        catch_exceptions=False,
    )


def ok(home: Path, *args: str, columns: int = 80) -> Result:
    result = run(home, *args, columns=columns)
    assert result.exit_code == 0, result.output
    return result


def as_json(home: Path, *args: str) -> object:
    return json.loads(ok(home, "--json", *args).stdout)


def database(home: Path) -> Database:
    return Database(f"sqlite:///{home / 'data' / 'roomsync.db'}")


def exchange(home: Path) -> MailboxDirectory:
    text = (home / "roomsync.toml").read_text(encoding="utf-8")
    return MailboxDirectory.named(text.split('directory = "')[1].split('"')[0])


def book(home: Path, title: str, hour: int = 0) -> str:
    start = START + timedelta(hours=hour)
    db = database(home)
    try:
        with db.unit_of_work() as uow:
            made = uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=title, start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin"
                    ),
                    organizer=ALICE,
                ),
                origin=Origin.ROOMS,
            )
            uow.commit()
    finally:
        db.dispose()
    return made.id or ""


def person(home: Path, email: str = ALICE) -> Person:
    db = database(home)
    try:
        with db.unit_of_work() as uow:
            found = uow.rooms.get_person(email)
    finally:
        db.dispose()
    assert found is not None
    return found


def test_pausing_an_unknown_person_names_it_and_fails_like_other_unknown_persons(home: Path) -> None:
    result = run(home, "persons", "pause", "nobody@example.org")
    assert result.exit_code == 1
    assert "unknown person nobody@example.org" in result.output
    assert run(home, "persons", "resume", "nobody@example.org").exit_code == 1


def test_a_pause_is_shown_by_persons_list_and_pausing_again_changes_nothing(home: Path) -> None:
    out = ok(home, "persons", "pause", ALICE, "--reason", "mailbox move", columns=200).output
    assert f"{ALICE}: paused since " in out and "(mailbox move)" in out
    since = person(home).paused_at
    assert since is not None

    again = ok(home, "persons", "pause", ALICE, "--reason", "other", columns=200).output
    assert f"{ALICE} is already paused since {since:%Y-%m-%d %H:%M} UTC (mailbox move); unchanged" in again
    assert person(home).paused_at == since and person(home).pause_reason == "mailbox move"

    rows = {row["email"]: row for row in as_json(home, "persons", "list")}  # type: ignore[attr-defined]
    assert rows[ALICE]["paused_at"] == since.isoformat()
    assert rows[ALICE]["pause_reason"] == "mailbox move"
    assert rows[BOB]["paused_at"] is None and rows[BOB]["pause_reason"] is None
    table = ok(home, "persons", "list", columns=250).output
    assert f"paused since {since:%Y-%m-%d %H:%M} UTC (mailbox move)" in table


def test_a_too_long_reason_is_refused(home: Path) -> None:
    result = run(home, "persons", "pause", ALICE, "--reason", "x" * 501)
    assert result.exit_code == 1
    assert "--reason is 501 characters long; at most 500" in result.output
    assert person(home).paused_at is None


def test_no_cycle_runs_for_a_paused_person_and_sync_person_says_why(home: Path) -> None:
    book(home, "Planning")
    ok(home, "persons", "pause", ALICE, "--reason", "on leave")

    reports = as_json(home, "sync")
    assert [r["mailbox"] for r in reports] == [BOB]  # type: ignore[index]
    named = run(home, "sync", "--person", ALICE, columns=200)
    assert named.exit_code == 0, named.output
    assert "skipped: paused since" in named.output and "(on leave)" in named.output
    assert exchange(home).entries(ALICE) == []


def test_a_pause_survives_a_persons_import(home: Path, tmp_path: Path) -> None:
    ok(home, "persons", "pause", ALICE, "--reason", "audit")
    csv = tmp_path / "persons.csv"
    csv.write_text(f"email,name,environment,sync_enabled\n{ALICE},Alice,lab,true\n", encoding="utf-8")
    ok(home, "persons", "import", str(csv))
    after = person(home)
    assert after.name == "Alice" and after.paused_at is not None and after.pause_reason == "audit"


def test_status_shows_the_pause_below_the_table_within_80_columns(home: Path) -> None:
    ok(home, "persons", "pause", ALICE, "--reason", "the mailbox moves to Exchange Online this weekend")
    out = ok(home, "status").stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    lines = out.splitlines()
    at = lines.index("Paused")
    assert lines[at + 1] == ALICE
    since = person(home).paused_at
    assert since is not None
    paused = " ".join(line.strip() for line in lines[at + 2 : at + 4])
    assert paused.startswith(f"paused since {since:%Y-%m-%d %H:%M} UTC (the mailbox moves to Exchange Online")
    rows = {r["email"]: r for r in as_json(home, "status")["persons"]}  # type: ignore[index]
    assert rows[ALICE]["pause_reason"] == "the mailbox moves to Exchange Online this weekend"
    assert rows[BOB]["paused_at"] is None


def test_resume_catches_up_incrementally_on_both_sides(home: Path) -> None:
    first = book(home, "Before the pause")
    ok(home, "sync")
    [entry] = exchange(home).entries(ALICE)
    ok(home, "persons", "pause", ALICE)
    db = database(home)
    try:
        with db.unit_of_work() as uow:
            state_before = uow.sync.mailbox_state(ALICE).sync_state
    finally:
        db.dispose()

    exchange(home).user_update(ALICE, entry.item_id, title="Renamed in Outlook")
    during = book(home, "Booked during the pause", hour=3)
    ok(home, "sync")
    assert len(exchange(home).entries(ALICE)) == 1  # nothing happened while paused

    resumed = ok(home, "persons", "resume", ALICE, columns=200).output
    assert f"{ALICE}: resumed (was paused since" in resumed
    assert "is not paused; unchanged" in ok(home, "persons", "resume", ALICE).output
    [report] = as_json(home, "sync", "--person", ALICE)  # type: ignore[misc]
    assert (report["created"], report["imported"], report["deleted"]) == (1, 1, 0)
    db = database(home)
    try:
        with db.unit_of_work() as uow:
            assert uow.rooms.get_reservation(first).fields.title == "Renamed in Outlook"  # type: ignore[union-attr]
            links = {link.reservation_id: link for link in uow.sync.links_in_mailbox(ALICE)}
            assert state_before is not None  # the pause kept it: the cycle read on from there
    finally:
        db.dispose()
    assert links[first].item_id == entry.item_id and links[during].state is LinkState.SYNCED


def test_watches_and_the_runner_leave_a_paused_person_out(home: Path) -> None:
    ok(home, "persons", "pause", ALICE)
    settings = load_settings(home / "roomsync.toml")
    db = database(home)
    runner = SyncRunner(settings, db)
    try:
        assert [p.email for p in runner.persons()] == [BOB]
        watches = Watches(runner.host, lambda environment: lambda mailboxes: None)
        watches.update([person(home, ALICE), person(home, BOB)])
        assert watches.watching == {"lab": 1}
        watches.stop()
    finally:
        runner.close()
        db.dispose()
