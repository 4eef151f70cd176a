"""Bad input on the command line: one clear line, exit code 1, nothing stored; unknown ids are
"not found" in every command."""

from __future__ import annotations

from pathlib import Path

from .test_cli import ALICE, as_json, book, home, run, seed

__all__ = ["home"]  # the fixture, used by name

BASE = {
    "--title": "Review",
    "--organizer": ALICE,
    "--start": "2030-03-04T10:00",
    "--end": "2030-03-04T11:00",
}


def create(home: Path, **changes: str) -> tuple[int, str]:
    options = {**BASE, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
    result = run(home, "reservations", "create", *[part for pair in options.items() for part in pair])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


BAD_RESERVATIONS = [
    ({"title": ""}, "--title is empty"),
    ({"title": "   "}, "--title is empty"),
    ({"title": "two\nlines"}, "--title contains a line break"),
    (
        {"organizer": "alice at example.org"},
        "--organizer 'alice at example.org' is not an e-mail address",
    ),
    ({"participant": "bob@"}, "--participant 'bob@' is not an e-mail address"),
    ({"room": "atlas"}, "--room 'atlas' is not an e-mail address"),
    (
        {"start": "2030-03-04T12:00"},
        "end 2030-03-04T11:00:00+00:00 is not after start 2030-03-04T12:00:00+00:00",
    ),
    (
        {"repeat": "weekly", "until": "2030-03-01"},
        "--until 2030-03-01 is before the series starts (2030-03-04)",
    ),
    ({"until": "2030-04-01"}, "--until belongs to a series: give --repeat too"),
    ({"timezone": "W. Europe Standard Time"}, "write its IANA name 'Europe/Berlin' instead"),
]


def test_bad_reservation_input_is_refused_and_nothing_stored(home: Path) -> None:
    seed(home)
    for changes, message in BAD_RESERVATIONS:
        code, output = create(home, **changes)
        assert code != 0, changes
        assert message in output, (changes, output)
    assert as_json(home, "reservations", "list", "--all") == []


def test_a_series_until_its_first_day_is_accepted(home: Path) -> None:
    seed(home)
    code, output = create(home, repeat="weekly", until="2030-03-04")
    assert code == 0, output


def test_updates_are_checked_the_same_way(home: Path) -> None:
    seed(home)
    series = book(home, "--repeat", "weekly", "--until", "2030-04-01")
    rid = str(series["id"])
    for args, message in [
        (("--title", ""), "--title is empty"),
        (("--end", "2030-03-04T09:00"), "is not after start"),
        (
            ("--start", "2030-04-08T10:00", "--end", "2030-04-08T11:00"),
            "--until 2030-04-01 is before the series",
        ),
        (("--room", "not-a-room"), "--room 'not-a-room' is not an e-mail address"),
        (("--organizer", "nobody"), "--organizer 'nobody' is not an e-mail address"),
    ]:
        result = run(home, "reservations", "update", rid, *args)
        assert result.exit_code == 1, args
        assert message in result.output, (args, result.output)
    [stored] = as_json(home, "reservations", "list")  # type: ignore[misc]
    assert (stored["title"], stored["version"]) == ("Review", series["version"])


BAD_ADDRESSES = [
    (("persons", "add", "not an address"), "email 'not an address' is not an e-mail address"),
    (("persons", "add", "alice@example"), "email 'alice@example' is not an e-mail address"),
    (("persons", "add", "carol@example.org", "--name", "Carol\x00"), "--name contains a line break"),
    (("rooms", "add", "Atlas", "atlas"), "mailbox 'atlas' is not an e-mail address"),
    (("rooms", "add", " ", "room.b@example.org"), "the room's name is empty"),
    (
        ("freebusy", "nobody", "--start", "2030-03-04T08:00", "--end", "2030-03-04T09:00"),
        "mailbox 'nobody'",
    ),
]


def test_bad_addresses_are_refused_as_the_persons_file_refuses_them(home: Path) -> None:
    for args, message in BAD_ADDRESSES:
        result = run(home, *args)
        assert result.exit_code == 1, args
        assert message in result.output, (args, result.output)
    assert as_json(home, "persons", "list") == [] and as_json(home, "rooms", "list") == []


UNKNOWN_IDS = [
    (("reservations", "show", "99999"), "no reservation 99999"),
    (("reservations", "update", "99999", "--title", "x"), "no reservation 99999"),
    (("reservations", "cancel", "99999"), "no reservation 99999"),
    (("reservations", "show", "abc"), "no reservation abc"),
    (("diff", "--reservation", "99999"), "no reservation 99999"),
    (("diff", "--resolve", "use-rooms", "--reservation", "99999"), "no reservation 99999"),
    (("diff", "--person", "ghost@example.org"), "unknown person ghost@example.org"),
    (("reservations", "list", "--organizer", "ghost@example.org"), "unknown person ghost@example.org"),
    (("persons", "set", "ghost@example.org", "--sync"), "unknown person ghost@example.org"),
    (("sync", "--person", "ghost@example.org"), "unknown person ghost@example.org"),
    (("test", "ghost@example.org"), "unknown person ghost@example.org"),
]


def test_unknown_ids_are_not_found_in_every_command(home: Path) -> None:
    seed(home)
    book(home)
    for args, message in UNKNOWN_IDS:
        result = run(home, *args)
        assert result.exit_code == 1, (args, result.output)
        [line] = result.output.splitlines()
        assert line == f"Error: {message}" or line.startswith(f"Error: {message};"), line


def test_a_persons_file_that_is_not_utf8_text_is_one_clear_line(home: Path) -> None:
    csv_file = home / "persons.csv"
    csv_file.write_bytes("email,name\nzoe@example.org,Zoë\n".encode("latin-1"))
    result = run(home, "persons", "import", str(csv_file))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {csv_file}: is not UTF-8 text (byte 0xeb at offset 29); "
        "save it as 'CSV UTF-8' (or any UTF-8 CSV)\n"
    )
    csv_file.write_bytes(b"PK\x03\x04\x14\x00\x06\x00")  # a spreadsheet saved as .xlsx
    assert (
        run(home, "persons", "import", str(csv_file)).output
        == f"Error: {csv_file}: is a binary file, not CSV text\n"
    )
    csv_file.write_text("email\nzoe@example.org\n", encoding="utf-16")
    assert "is UTF-16 text; save it as 'CSV UTF-8'" in run(home, "persons", "import", str(csv_file)).output
    assert as_json(home, "persons", "list") == []


def test_a_data_dir_that_cannot_be_created_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    (tmp_path / "roomsync.toml").write_text('data_dir = "a-file/data"\n', encoding="utf-8")
    for command in ("init", "status"):
        result = run(tmp_path, command)
        assert result.exit_code == 1
        [line] = result.output.splitlines()
        assert (
            f"{tmp_path / 'a-file' / 'data'}" in line and "cannot be created" in line
        ) or "cannot create" in line


def test_the_daemon_interval_on_the_command_line_must_be_a_finite_number(home: Path) -> None:
    for value in ("inf", "nan", "0"):
        result = run(home, "run", "--interval", value)
        assert result.exit_code == 2, value
        assert "--interval" in result.output
