"""The ``[logging]`` table: level (and -v over it), destination, format, rotation, redaction."""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from roomsync import logs
from roomsync.cli.main import cli
from roomsync.config import SAMPLE_CONFIG, LoggingConfig, SecretRef, load_settings, settings_from_mapping
from roomsync.errors import ConfigError

log = logging.getLogger("roomsync.test.logsettings")


@pytest.fixture(autouse=True)
def root_restored() -> Iterator[None]:
    """Each test configures the root logger; put back what was there and close our handlers."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in before:
            handler.close()
    root.handlers[:] = before
    root.setLevel(level)


def write_config(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "roomsync.toml"
    path.write_text(f"[logging]\n{table}\n", encoding="utf-8")
    return path


def configured(tmp_path: Path, table: str, verbosity: int = 0) -> Path:
    """Logging configured from a file with ``table``; the configuration file's path."""
    path = write_config(tmp_path, table)
    settings = load_settings(path)
    logs.configure(verbosity, settings.logging, settings.source)
    return path


def ours() -> logging.Handler:
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "roomsync_handler", False)]
    return handler


# --- file, rotation ---------------------------------------------------------------------


def test_a_relative_log_file_is_relative_to_the_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    configured(tmp_path, 'destination = "file"\nfile = "logs/roomsync.log"')

    log.warning("written to the file")
    ours().flush()

    [line] = (tmp_path / "logs" / "roomsync.log").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["message"] == "written to the file"
    assert not list(elsewhere.iterdir())


def test_the_file_is_rotated_at_max_bytes_keeping_that_many_backups(tmp_path: Path) -> None:
    configured(tmp_path, 'destination = "file"\nfile = "roomsync.log"\nmax_bytes = 1024\nbackups = 2')

    for number in range(100):  # about 100 bytes each: several files' worth
        log.warning("line %03d %s", number, "x" * 40)
    ours().flush()

    names = sorted(p.name for p in tmp_path.glob("roomsync.log*"))
    assert names == ["roomsync.log", "roomsync.log.1", "roomsync.log.2"]
    assert all(p.stat().st_size <= 1024 for p in tmp_path.glob("roomsync.log*"))
    last = (tmp_path / "roomsync.log").read_text(encoding="utf-8").splitlines()[-1]
    assert json.loads(last)["message"].startswith("line 099 ")


def test_a_log_file_that_cannot_be_opened_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        configured(tmp_path, 'destination = "file"\nfile = "not-a-folder/roomsync.log"')
    assert raised.value.key == "logging.file"
    assert raised.value.file == str(tmp_path / "roomsync.toml")
    assert "cannot open the log file" in str(raised.value)


def test_a_password_in_a_record_never_reaches_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOMSYNC_TEST_LOG_FILE_SECRET", "Qw7-file-secret")
    SecretRef(env="ROOMSYNC_TEST_LOG_FILE_SECRET").reveal()
    configured(tmp_path, 'destination = "file"\nfile = "roomsync.log"\nformat = "text"\nlevel = "debug"')

    log.debug("login with password=%s", "hunter22-pw")
    log.info("connecting as user/%s", "Qw7-file-secret", extra={"password": "extra-pw-9"})
    try:
        raise RuntimeError("refused: Authorization: Basic dXNlcjpodW50ZXIyMg==")
    except RuntimeError:
        log.exception("request failed")
    ours().flush()

    text = (tmp_path / "roomsync.log").read_text(encoding="utf-8")
    for secret in ("hunter22-pw", "Qw7-file-secret", "extra-pw-9", "dXNlcjpodW50ZXIyMg=="):
        assert secret not in text
    assert text.count("[redacted]") >= 4
    assert any(isinstance(f, logs.RedactingFilter) for f in ours().filters)


# --- format, journald -------------------------------------------------------------------


def test_json_lines_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(0)
    log.warning("as json", extra={"mailbox": "a@b.org"})

    [line] = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["message"] == "as json" and "at" in record
    assert record["mailbox"] == "a@b.org"


def test_text_lines_for_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configured(tmp_path, 'format = "text"')
    log.warning("as text", extra={"mailbox": "a@b.org"})

    [line] = capsys.readouterr().err.splitlines()
    stamp, rest = line.split(" ", 1)
    assert stamp.endswith("+00:00")
    assert rest == 'warning roomsync.test.logsettings: as text mailbox="a@b.org"'


@pytest.mark.parametrize(
    ("level", "priority"),
    [(logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3), (logging.CRITICAL, 2)],
)
def test_syslog_priorities(level: int, priority: int) -> None:
    assert logs.syslog_priority(level) == priority


def test_journald_lines_carry_their_priority_and_no_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configured(tmp_path, 'destination = "journald"\nformat = "text"\nlevel = "info"')

    log.info("started")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("cycle failed")

    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "<6>info roomsync.test.logsettings: started"
    assert lines[1] == "<3>error roomsync.test.logsettings: cycle failed"
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines[1:])  # the traceback too
    assert lines[-1] == "<3>RuntimeError: boom"


def test_journald_json_has_no_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configured(tmp_path, 'destination = "journald"')
    log.warning("json for the journal")

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("<4>{")
    record = json.loads(line.removeprefix("<4>"))
    assert "at" not in record and record["message"] == "json for the journal"


# --- level --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured_level", "verbosity", "expected"),
    [
        ("warning", 0, logging.WARNING),
        ("error", 0, logging.ERROR),
        ("debug", 0, logging.DEBUG),
        ("error", 1, logging.INFO),
        ("error", 2, logging.DEBUG),
        ("warning", 3, logging.DEBUG),
        ("debug", 1, logging.DEBUG),  # -v never makes it quieter than the file
    ],
)
def test_the_level_of_the_file_and_v_over_it(
    tmp_path: Path, configured_level: str, verbosity: int, expected: int
) -> None:
    configured(tmp_path, f'level = "{configured_level}"', verbosity)
    assert logging.getLogger().level == expected


def test_the_command_line_reads_the_table_and_v_raises_its_level(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'level = "error"\ndestination = "file"\nfile = "roomsync.log"')

    result = CliRunner().invoke(cli, ["--config", str(path), "-v", "config", "check"])

    assert logging.getLogger().level == logging.INFO, result.output
    log.info("after the command")
    ours().flush()
    assert "after the command" in (tmp_path / "roomsync.log").read_text(encoding="utf-8")


def test_without_a_configuration_file_the_defaults(tmp_path: Path) -> None:
    logs.configure_from(0, tmp_path / "missing.toml")
    assert logging.getLogger().level == logging.WARNING
    assert isinstance(ours().formatter, logs.JsonFormatter)


# --- bad values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('level = "loud"', "logging.level", "'debug', 'info', 'warning' or 'error'"),
        ('destination = "syslog"', "logging.destination", "'stderr', 'file' or 'journald'"),
        ('format = "xml"', "logging.format", "'json' or 'text'"),
        ('destination = "file"', "logging.file", 'destination "file" needs the path'),
        ('file = "roomsync.log"', "logging.file", "only used with destination"),
        (
            'destination = "file"\nfile = "a.log"\nbackups = 0',
            "logging.backups",
            "greater than or equal to 1",
        ),
        ('destination = "file"\nfile = "a.log"\nmax_bytes = 10', "logging.max_bytes", "1024"),
        ('colour = "red"', "logging.colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_values_name_the_file_and_the_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    path = write_config(tmp_path, table)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    [problem] = raised.value.problems
    assert (problem.file, problem.key) == (str(path), key)
    assert words in problem.message


def test_the_defaults_are_todays_behaviour() -> None:
    assert settings_from_mapping({}).logging == LoggingConfig(
        level="warning", destination="stderr", format="json"
    )


def test_the_sample_configuration_documents_the_table() -> None:
    block = SAMPLE_CONFIG[SAMPLE_CONFIG.index("# [logging]") : SAMPLE_CONFIG.index("# The web service")]
    table = tomllib.loads(
        "\n".join(line.removeprefix("# ") for line in block.splitlines() if line.startswith("# "))
    )
    assert settings_from_mapping(table).logging.destination == "file"
