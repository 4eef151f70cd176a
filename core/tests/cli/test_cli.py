"""The ``roomsync`` command line as an administrator meets it: commands, output, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from roomsync.cli.main import cli
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import Person
from roomsync.storage import Database

ALICE, BOB = "alice@example.org", "bob@example.org"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A directory with a configuration on the reference connector, initialised."""
    directory = f"cli-{uuid.uuid4().hex}"
    (tmp_path / "roomsync.toml").write_text(
        f"""
data_dir = "data"
[environments.lab]
plugin = "reference"
[environments.lab.options]
directory = "{directory}"
""",
        encoding="utf-8",
    )
    assert run(tmp_path, "init").exit_code == 0
    return tmp_path


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(home / "roomsync.toml"), *args], catch_exceptions=False)


def ok(home: Path, *args: str) -> Result:
    result = run(home, *args)
    assert result.exit_code == 0, result.output
    return result


def as_json(home: Path, *args: str) -> object:
    return json.loads(ok(home, "--json", *args).stdout)


def seed(home: Path) -> None:
    ok(home, "rooms", "add", "Atlas", "room.atlas@example.org")
    ok(home, "persons", "add", ALICE, "--environment", "lab")
    ok(home, "persons", "add", BOB, "--environment", "lab")


def book(home: Path, *extra: str) -> dict[str, object]:
    data = as_json(
        home,
        "reservations",
        "create",
        "--title",
        "Review",
        "--organizer",
        ALICE,
        "--start",
        "2030-03-04T10:00",
        "--end",
        "2030-03-04T11:00",
        "--timezone",
        "Europe/Berlin",
        *extra,
    )
    assert isinstance(data, dict)
    return data


def test_init_creates_configuration_data_directory_and_database(tmp_path: Path) -> None:
    result = ok(tmp_path, "init")
    assert (tmp_path / "roomsync.toml").read_text().startswith("# roomsync configuration")
    assert (tmp_path / "roomsync-data" / "roomsync.db").exists()
    assert "database ready" in result.output
    (tmp_path / "roomsync.toml").write_text((tmp_path / "roomsync.toml").read_text() + "\n# mine\n")
    ok(tmp_path, "init")
    assert "# mine" in (tmp_path / "roomsync.toml").read_text()  # kept, not overwritten


def test_book_sync_and_read_back(home: Path) -> None:
    seed(home)
    booked = book(home, "--room", "room.atlas@example.org", "--participant", BOB)
    reports = as_json(home, "sync", "--once")
    assert isinstance(reports, list)
    assert {r["mailbox"]: (r["kind"], r["created"]) for r in reports} == {
        ALICE: ("person", 1),
        BOB: ("person", 0),
        "room.atlas@example.org": ("room", 0),  # the room's calendar holds the meeting, ours
    }
    shown = as_json(home, "reservations", "show", str(booked["id"]))
    assert isinstance(shown, dict)
    assert [link["state"] for link in shown["links"]] == ["synced"]
    status = as_json(home, "status")
    assert isinstance(status, dict)
    assert all(p["consecutive_failures"] == 0 and p["last_success"] for p in status["persons"])


def test_organizer_change_from_the_command_line(home: Path) -> None:
    seed(home)
    booked = book(home)
    ok(home, "sync", "--once")
    ok(home, "reservations", "update", str(booked["id"]), "--organizer", BOB)
    ok(home, "sync", "--once")
    shown = as_json(home, "reservations", "show", str(booked["id"]))
    assert isinstance(shown, dict)
    assert [link["mailbox"] for link in shown["links"]] == [BOB]


def test_end_before_start_is_refused_and_nothing_is_stored(home: Path) -> None:
    seed(home)
    result = run(
        home,
        "reservations",
        "create",
        "--title",
        "X",
        "--organizer",
        ALICE,
        "--start",
        "2030-03-04T11:00",
        "--end",
        "2030-03-04T10:00",
    )
    assert result.exit_code == 1
    assert "is not after start" in result.output
    assert as_json(home, "reservations", "list") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--organizer", "nobody@example.org"), "nobody@example.org"),
        (("--organizer", ALICE, "--room", "room.nowhere@example.org"), "room.nowhere@example.org"),
        (("--organizer", ALICE, "--start", "tomorrow"), "'tomorrow' is not a time"),
        (("--organizer", ALICE, "--timezone", "Mars/Olympus"), "unknown IANA time zone"),
    ],
)
def test_bad_reservation_input_names_the_problem(home: Path, args: tuple[str, ...], message: str) -> None:
    seed(home)
    base = {"--title": "X", "--start": "2030-03-04T10:00", "--end": "2030-03-04T11:00"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    result = run(home, "reservations", "create", *[part for pair in base.items() for part in pair])
    assert result.exit_code != 0
    assert message in result.output


def test_taken_room_is_refused(home: Path) -> None:
    seed(home)
    book(home, "--room", "room.atlas@example.org")
    result = run(
        home,
        "reservations",
        "create",
        "--title",
        "Clash",
        "--organizer",
        BOB,
        "--room",
        "room.atlas@example.org",
        "--start",
        "2030-03-04T10:30",
        "--end",
        "2030-03-04T11:30",
        "--timezone",
        "Europe/Berlin",
    )
    assert result.exit_code == 1
    assert "room.atlas@example.org" in result.output


def test_persons_import_reports_broken_rows_and_imports_all_or_good(home: Path) -> None:
    csv_file = home / "persons.csv"
    csv_file.write_text(
        "email,name,environment,conflict_policy\n"
        "carol@example.org,Carol,lab,cancel\n"
        "not-an-address,Broken,lab,rollback\n"
        "dave@example.org,Dave,elsewhere,rollback\n",
        encoding="utf-8",
    )
    result = run(home, "persons", "import", str(csv_file))
    assert result.exit_code == 1
    assert "persons.csv line 3" in result.output
    assert "persons.csv line 4" in result.output
    assert as_json(home, "persons", "list") == []  # abort: nothing imported
    ok(home, "persons", "import", str(csv_file), "--on-error", "skip")
    persons = as_json(home, "persons", "list")
    assert isinstance(persons, list)
    assert [(p["email"], p["conflict_policy"]) for p in persons] == [("carol@example.org", "cancel")]


def test_import_without_a_column_keeps_stored_values(home: Path) -> None:
    ok(home, "persons", "add", ALICE, "--environment", "lab")
    ok(home, "persons", "set", ALICE, "--policy", "cancel")
    csv_file = home / "names.csv"
    csv_file.write_text(f"email;name\n{ALICE};Alice A.\n", encoding="utf-8")
    ok(home, "persons", "import", str(csv_file))
    [alice] = as_json(home, "persons", "list")  # type: ignore[misc]
    assert (alice["name"], alice["environment"], alice["conflict_policy"]) == ("Alice A.", "lab", "cancel")


def test_persons_set_adds_and_removes_bookers_and_list_shows_them(home: Path) -> None:
    ok(home, "persons", "add", ALICE, "--environment", "lab")
    ok(home, "persons", "set", ALICE, "--policy", "cancel")

    added = as_json(
        home, "persons", "set", ALICE, "--booker", "Bob@Example.org", "--booker", "carl@example.org"
    )
    assert isinstance(added, dict) and added["bookers"] == [BOB, "carl@example.org"]
    text = ok(
        home, "persons", "set", ALICE, "--no-booker", "carl@example.org", "--booker", "dora@example.org"
    )
    assert f"bookers {BOB}, dora@example.org" in " ".join(text.output.split())
    [alice] = as_json(home, "persons", "list")  # type: ignore[misc]
    assert (alice["bookers"], alice["conflict_policy"]) == ([BOB, "dora@example.org"], "cancel")
    table = CliRunner().invoke(
        cli, ["--config", str(home / "roomsync.toml"), "persons", "list"], env={"COLUMNS": "250"}
    )
    assert f"{BOB}, dora@example.org" in table.output
    ok(home, "persons", "add", ALICE, "--name", "Alice")  # an update keeps the bookers
    [alice] = as_json(home, "persons", "list")  # type: ignore[misc]
    assert (alice["name"], alice["bookers"]) == ("Alice", [BOB, "dora@example.org"])

    wrong = run(home, "persons", "set", ALICE, "--booker", "bob-at-example.org")
    assert wrong.exit_code != 0
    assert "--booker 'bob-at-example.org' is not an e-mail address" in wrong.output
    both = run(home, "persons", "set", ALICE, "--booker", BOB, "--no-booker", BOB.upper())
    assert both.exit_code == 2
    assert f"--booker and --no-booker both name {BOB}" in both.output
    ok(home, "persons", "set", ALICE, "--no-booker", BOB, "--no-booker", "dora@example.org")
    [alice] = as_json(home, "persons", "list")  # type: ignore[misc]
    assert alice["bookers"] == []


def test_persons_set_chooses_the_language_of_a_persons_mails(home: Path) -> None:
    ok(home, "persons", "add", ALICE, "--environment", "lab")
    [alice] = as_json(home, "persons", "list")  # type: ignore[misc]
    assert alice["language"] is None

    assert "language fr" in ok(home, "persons", "set", ALICE, "--language", "fr").output
    [alice] = as_json(home, "persons", "list")  # type: ignore[misc]
    assert alice["language"] == "fr"
    ok(home, "persons", "set", ALICE, "--language", "default")
    [alice] = as_json(home, "persons", "list")  # type: ignore[misc]
    assert alice["language"] is None
    wrong = run(home, "persons", "set", ALICE, "--language", "rm")
    assert wrong.exit_code == 2 and "'rm' is not one of" in wrong.output


def test_persons_import_reads_bookers_and_reports_a_wrong_one(home: Path) -> None:
    csv_file = home / "persons.csv"
    csv_file.write_text(
        f'email;name;bookers\n{ALICE};Alice;"{BOB}, carl@example.org"\n{BOB};Bob;not-an-address\n',
        encoding="utf-8",
    )
    result = run(home, "persons", "import", str(csv_file))
    assert result.exit_code == 1
    assert "persons.csv line 3: bookers: 'not-an-address' is not an e-mail address" in result.output
    ok(home, "persons", "import", str(csv_file), "--on-error", "skip")
    persons = as_json(home, "persons", "list")
    assert isinstance(persons, list)
    assert [(p["email"], p["bookers"]) for p in persons] == [(ALICE, [BOB, "carl@example.org"])]


def test_unknown_person_and_environment(home: Path) -> None:
    result = run(home, "persons", "set", "ghost@example.org", "--environment", "lab")
    assert result.exit_code == 1
    assert "unknown person ghost@example.org" in result.output
    ok(home, "persons", "add", ALICE)
    result = run(home, "persons", "set", ALICE, "--environment", "mars")
    assert result.exit_code == 1
    assert "'mars' is not in the configuration" in result.output
    assert "lab" in result.output


def test_sync_test_explains_a_missing_environment(home: Path) -> None:
    ok(home, "persons", "add", ALICE)
    result = run(home, "--json", "test", ALICE)
    assert result.exit_code == 1
    [step] = json.loads(result.stdout)
    assert not step["ok"]
    assert f"roomsync persons set {ALICE} --environment NAME" in step["detail"]
    ok(home, "persons", "set", ALICE, "--environment", "lab")
    steps = as_json(home, "test", ALICE)
    assert isinstance(steps, list)
    assert all(step["ok"] for step in steps)
    assert {"connect", "read", "write"} <= {step["name"] for step in steps}


def test_freebusy_merges_rooms_bookings_with_buffers(home: Path) -> None:
    seed(home)
    book(home, "--room", "room.atlas@example.org", "--setup", "15")
    ok(home, "sync", "--once")
    answers = as_json(
        home,
        "freebusy",
        "room.atlas@example.org",
        ALICE,
        "--start",
        "2030-03-04T08:00",
        "--end",
        "2030-03-04T18:00",
        "--timezone",
        "Europe/Berlin",
    )
    assert isinstance(answers, list)
    room, alice = answers
    assert [(b["start"], b["end"]) for b in room["busy"]] == [
        ("2030-03-04T08:45:00+00:00", "2030-03-04T10:00:00+00:00")
    ]
    assert alice["busy"][0]["source"] == "both"
    result = run(home, "freebusy", ALICE, "--start", "2030-03-04T18:00", "--end", "2030-03-04T08:00")
    assert result.exit_code == 1
    assert "is not after" in result.output


def _directory(home: Path) -> MailboxDirectory:
    config = (home / "roomsync.toml").read_text()
    return MailboxDirectory.named(config.split('directory = "')[1].split('"')[0])


def test_diff_finds_and_resolves_differences(home: Path) -> None:
    seed(home)
    day = (date.today() + timedelta(days=10)).isoformat()  # inside the report's window
    kept = book(home, "--start", f"{day}T10:00", "--end", f"{day}T11:00")
    dropped = book(home, "--start", f"{day}T12:00", "--end", f"{day}T13:00")
    ok(home, "sync", "--once")
    directory = _directory(home)
    status = as_json(home, "db", "status")
    assert isinstance(status, dict)
    by_stamp = {
        (e.stamp or "").removeprefix(f"{status['installation']}:"): e for e in directory.entries(ALICE)
    }
    directory.user_update(ALICE, by_stamp[kept["id"]].item_id, title="Edited in Outlook")
    directory.user_delete(ALICE, by_stamp[dropped["id"]].item_id)
    listed = run(home, "--json", "diff", "--days", "90", "--person", ALICE)
    assert listed.exit_code == 1  # open differences: monitoring sees them
    found = json.loads(listed.stdout)
    assert isinstance(found, list)
    assert sorted((d["reservation_id"], d["kind"], tuple(d["keys"])) for d in found) == sorted(
        [(kept["id"], "fields-differ", ("title",)), (dropped["id"], "missing-in-exchange", ())]
    )
    ok(home, "diff", "--resolve", "use-rooms", "--reservation", str(kept["id"]))
    ok(home, "diff", "--resolve", "use-exchange", "--reservation", str(dropped["id"]))
    assert as_json(home, "diff") == []
    assert [e.fields.title for e in directory.entries(ALICE)] == ["Review"]
    cancelled = as_json(home, "reservations", "show", str(dropped["id"]))
    assert isinstance(cancelled, dict) and cancelled["status"] == "cancelled"
    reports = as_json(home, "sync", "--once")  # the resolutions leave nothing for the sync to do
    assert isinstance(reports, list)
    assert all(r["created"] == r["updated"] == r["imported"] == 0 for r in reports)
    result = run(home, "diff", "--days", "3661")
    assert result.exit_code == 2 and "3661" in result.output


def test_bad_configuration_names_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "roomsync.toml"
    config.write_text("[sync]\ninterval_seconds = -5\n", encoding="utf-8")
    result = run(tmp_path, "status")
    assert result.exit_code == 1
    assert str(config) in result.output and "sync.interval_seconds" in result.output
    config.write_text("[environments.x]\nplugin = 'reference'\ncolour = 'red'\n", encoding="utf-8")
    result = run(tmp_path, "status")
    assert "environments.x.colour" in result.output
    config.write_text("this is = not toml [", encoding="utf-8")
    result = run(tmp_path, "status")
    assert "not valid TOML" in result.output


def test_database_of_a_newer_schema_is_refused(home: Path) -> None:
    db = home / "data" / "roomsync.db"
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from-the-future'")
    result = run(home, "status")
    assert result.exit_code == 1
    assert "newer than this roomsync knows" in result.output


def test_db_upgrade_brings_an_empty_database_to_the_current_schema(tmp_path: Path) -> None:
    (tmp_path / "roomsync.toml").write_text('data_dir = "d"\n', encoding="utf-8")
    result = run(tmp_path, "status")
    assert "roomsync db upgrade" in result.output
    upgraded = as_json(tmp_path, "db", "upgrade")
    assert isinstance(upgraded, dict) and upgraded["from"] is None and upgraded["to"]
    ok(tmp_path, "status")


def test_plugins_lists_connectors_and_environment_capabilities(home: Path) -> None:
    data = as_json(home, "plugins")
    assert isinstance(data, dict)
    names = {(p["name"], p["kind"]) for p in data["installed"]}
    assert ("reference", "connector") in names
    assert ("smtp-notifier", "extension") in names
    [env] = data["environments"]
    assert env["environment"] == "lab" and env["capabilities"]["recurrence"] is True


def test_unknown_option_is_a_usage_error(home: Path) -> None:
    result = CliRunner().invoke(cli, ["sync", "--twice"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_secrets_never_reach_output_logs_or_database(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    monkeypatch.setenv("ROOMSYNC_TEST_SMTP_PASSWORD", secret)
    config = home / "roomsync.toml"
    config.write_text(
        config.read_text()
        + """
[smtp]
host = "127.0.0.1"
port = 9
username = "roomsync"
password = { env = "ROOMSYNC_TEST_SMTP_PASSWORD" }
"""
    )
    seed(home)
    booked = book(home)
    ok(home, "sync", "--once")
    # a conflict, so the notifier runs (and fails to reach the server: no secret in that error either)
    [entry] = _directory(home).entries(ALICE)
    _directory(home).user_update(ALICE, entry.item_id, title="outlook")
    output = [ok(home, "reservations", "update", str(booked["id"]), "--title", "rooms").output]
    output += [
        ok(home, "sync", "--once").output,
        ok(home, "status").output,
        ok(home, "--json", "status").output,
    ]
    assert secret not in "".join(output)
    assert secret not in caplog.text
    assert secret.encode() not in (home / "data" / "roomsync.db").read_bytes()
    assert "127.0.0.1:9" in caplog.text  # the delivery was attempted and its failure logged


def _console(home: Path, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roomsync",  # as the console script starts
            "--config",
            str(home / "roomsync.toml"),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


@contextmanager
def _blocked(*signals: signal.Signals) -> Iterator[None]:
    """Signals blocked in this thread, and so in a process started meanwhile until it unblocks them."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _outcome(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"the process did not stop: {err}") from None
    return process.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_daemon_stops_cleanly_on_a_signal_sent_before_it_could_handle_one(
    home: Path, signum: signal.Signals
) -> None:
    """The signal is pending from before the interpreter started: no moment is too early."""
    seed(home)
    with _blocked(signum):
        process = _console(home, "run", "--interval", "0.2")
    process.send_signal(signum)
    returncode, err = _outcome(process)
    assert returncode == 0, err
    assert f"stopping after the current person ({signum.name})" in err
    assert "stopped after 0 cycles" in err


def test_daemon_stops_cleanly_on_sigterm_while_running(home: Path) -> None:
    seed(home)
    process = _console(home, "run", "--interval", "0.2")
    assert process.stderr is not None
    # The full cycle of watched persons is the watched interval's (900 s by default), not --interval;
    # the room's calendar is watched with the two persons'.
    announcement = (
        "lab: watching 3 mailboxes; woken cycles 0.5 s after a change (debounce), a full cycle every 900 s\n"
    )
    lines = []
    for line in process.stderr:  # up to the announcement, printed as the first cycle begins
        lines.append(line)
        if line == announcement:
            break
    assert lines and lines[-1] == announcement, lines
    process.send_signal(signal.SIGTERM)
    returncode, err = _outcome(process)
    assert returncode == 0, err
    assert "stopping after the current person (SIGTERM)" in err
    assert re.search(r"^stopped after \d+ cycles$", err, re.MULTILINE), err


def test_other_commands_keep_the_usual_meaning_of_sigterm(home: Path) -> None:
    """Only the daemon stops on request; a command that received SIGTERM while starting ends."""
    seed(home)
    with _blocked(signal.SIGTERM):
        process = _console(home, "status")
    process.send_signal(signal.SIGTERM)
    returncode, err = _outcome(process)
    assert returncode == -signal.SIGTERM, err


def test_demo_runs_from_the_console_script(tmp_path: Path) -> None:
    process = _console(
        tmp_path, "demo", "--data-dir", str(tmp_path / "demo"), env={**os.environ, "COLUMNS": "120"}
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "0 differences between ROOMS and Exchange" in out
    assert "Sprint planning #42" in out  # the merged title


def test_conflict_mails_the_organizer_through_the_smtp_notifier(home: Path) -> None:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = home / "roomsync.toml"
        smtp = f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n[notify]\nlanguage = "en"\n'
        config.write_text(config.read_text() + smtp)
        seed(home)
        booked = book(home)
        ok(home, "sync", "--once")
        [entry] = _directory(home).entries(ALICE)
        _directory(home).user_update(ALICE, entry.item_id, title="outlook")
        ok(home, "reservations", "update", str(booked["id"]), "--title", "rooms")
        ok(home, "sync", "--once")
    finally:
        controller.stop()
    [mail] = received
    assert mail.rcpt_tos == [ALICE]
    text = mail.content.decode()
    assert "Change not applied: rooms" in text
    assert f"Reservation {booked['id']}" in text


def test_logs_are_one_json_object_per_line(home: Path) -> None:
    seed(home)
    process = _console(home, "-v", "sync")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    cycles = [r for r in records if r["logger"] == "roomsync.runner"]
    assert {r["mailbox"] for r in cycles} == {ALICE, BOB, "room.atlas@example.org"}, err
    assert {"at", "level", "message", "environment", "seconds"} <= set(cycles[0])


def test_sample_configuration_works_across_processes(tmp_path: Path) -> None:
    # found by trying it: with in-memory mailboxes a second process cancelled what the first made
    def console(*args: str) -> str:
        process = _console(tmp_path, *args)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        return out

    console("init")
    console("persons", "add", ALICE, "--environment", "local")
    console(
        "reservations",
        "create",
        "--title",
        "Kept",
        "--organizer",
        ALICE,
        "--start",
        "2030-03-04T10:00",
        "--end",
        "2030-03-04T11:00",
    )
    first = json.loads(console("--json", "sync"))
    second = json.loads(console("--json", "sync"))
    assert first[0]["created"] == 1
    assert second[0]["ok"] and second[0]["cancelled"] == 0
    [kept] = json.loads(console("--json", "reservations", "list", "--all"))
    assert kept["status"] == "active"
    assert (tmp_path / "roomsync-data" / "reference-mailboxes.json").exists()


def test_a_room_names_the_environment_of_its_mailbox(home: Path) -> None:
    ok(home, "rooms", "add", "Boreas", "room.boreas@example.org", "--environment", "lab")
    ok(home, "rooms", "add", "Atlas", "room.atlas@example.org")
    rooms = {r["mailbox"]: r["environment"] for r in as_json(home, "rooms", "list")}  # type: ignore[union-attr,index]
    assert rooms == {"room.boreas@example.org": "lab", "room.atlas@example.org": None}

    refused = run(home, "rooms", "add", "Cirrus", "room.cirrus@example.org", "--environment", "labb")
    assert refused.exit_code != 0
    assert "'labb' is not in the configuration" in refused.output and "lab" in refused.output
    assert "room.cirrus@example.org" not in ok(home, "rooms", "list").output


def test_a_rooms_booking_window_is_set_shown_and_enforced(home: Path) -> None:
    seed(home)
    ok(home, "rooms", "add", "Cirrus", "room.cirrus@example.org", "--booking-window-days", "30")
    assert "30 days" in ok(home, "rooms", "list").output
    assert (
        "bookable 7 days ahead"
        in ok(home, "rooms", "set", "room.atlas@example.org", "--booking-window-days", "7").output
    )
    windows = {r["mailbox"]: r["booking_window_days"] for r in as_json(home, "rooms", "list")}  # type: ignore[union-attr,index]
    assert windows == {"room.atlas@example.org": 7, "room.cirrus@example.org": 30}

    far = (datetime.now(UTC) + timedelta(days=20)).replace(hour=9, minute=0, second=0, microsecond=0)
    args = ["reservations", "create", "--title", "Far", "--organizer", ALICE, "--start", far.isoformat()]
    refused = run(
        home, *args, "--end", (far + timedelta(hours=1)).isoformat(), "--room", "room.atlas@example.org"
    )
    assert refused.exit_code != 0
    assert "at most 7 days ahead" in refused.output
    ok(home, *args, "--end", (far + timedelta(hours=1)).isoformat(), "--room", "room.cirrus@example.org")

    assert (
        "any time ahead" in ok(home, "rooms", "set", "room.atlas@example.org", "--no-booking-window").output
    )
    neither = run(home, "rooms", "set", "room.atlas@example.org")
    assert neither.exit_code == 2 and "--booking-window-days" in neither.output
    unknown = run(home, "rooms", "set", "room.nowhere@example.org", "--no-booking-window")
    assert unknown.exit_code != 0 and "unknown room room.nowhere@example.org" in unknown.output


def test_diff_compares_everyone_else_when_one_calendar_cannot_be_read(home: Path) -> None:
    seed(home)
    day = (date.today() + timedelta(days=10)).isoformat()
    kept = book(home, "--start", f"{day}T10:00", "--end", f"{day}T11:00")
    ok(home, "sync", "--once")
    with Database(f"sqlite:///{home / 'data' / 'roomsync.db'}").unit_of_work() as uow:
        # an environment removed from the configuration while a person still names it
        uow.rooms.upsert_person(Person(email=BOB, environment="gone"))
        uow.commit()
    directory = _directory(home)
    [entry] = directory.entries(ALICE)
    directory.user_update(ALICE, entry.item_id, title="Edited in Outlook")

    result = run(home, "--json", "diff")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [d["reservation_id"] for d in report["differences"]] == [kept["id"]]
    assert list(report["not_compared"]) == [BOB]
    assert "gone" in report["not_compared"][BOB]
