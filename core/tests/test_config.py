"""The configuration: every problem of a file at once, plugin options, secrets, zones, database."""

from __future__ import annotations

from pathlib import Path

import pytest

from roomsync.config import SecretRef, load_settings, settings_from_mapping
from roomsync.config_check import check_configuration, configuration_problems
from roomsync.errors import ConfigError
from roomsync.zones import iana_zone

FILE = "roomsync.toml"


def problems(tmp_path: Path, text: str) -> list[str]:
    """Every problem of a configuration file with ``text``, file-level and whole-configuration."""
    path = tmp_path / FILE
    path.write_text(text, encoding="utf-8")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in configuration_problems(settings)]


def test_every_problem_of_the_file_is_reported_with_file_and_key(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
colour = "red"
[sync]
interval_seconds = -5
mass_delete_ratio = 2
[environments.lab]
plugin = "reference"
shape = "round"
""",
    )
    path = tmp_path / FILE
    assert sorted(line.split(": ")[1] for line in found) == [
        "colour",
        "environments.lab.shape",
        "sync.interval_seconds",
        "sync.mass_delete_ratio",
    ]
    assert all(line.startswith(f"{path}: ") for line in found)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value).startswith("4 problems in the configuration:\n")
    assert raised.value.key == found[0].split(": ")[1] and raised.value.file == str(path)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-1", "0"])
@pytest.mark.parametrize("key", ["interval_seconds", "watched_interval_seconds"])
def test_intervals_must_be_finite_and_positive(tmp_path: Path, key: str, value: str) -> None:
    [problem] = problems(tmp_path, f"[sync]\n{key} = {value}\n")
    assert f": sync.{key}: " in problem


def test_smtp_timeout_must_be_finite(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "[smtp]\ntimeout_seconds = inf\n")
    assert ": smtp.timeout_seconds: " in problem


def test_a_file_that_is_not_utf8_or_is_binary_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / FILE
    path.write_bytes("data_dir = 'Zürich'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 0xfc at offset 13\); save it as UTF-8"):
        load_settings(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ConfigError, match="is a binary file, not a TOML configuration"):
        load_settings(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(path)


def test_every_environment_is_checked_with_every_problem_of_its_options(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
[environments.lab]
plugin = "reference"
[environments.lab.options]
page_size = 0
max_batch = "many"
[environments.cloud]
plugin = "exchange9999"
[environments.fine]
plugin = "reference"
""",
    )
    keys = [line.split(": ")[1] for line in found]
    assert keys == [
        "environments.lab.options.page_size",
        "environments.lab.options.max_batch",
        "environments.cloud.plugin",
    ]
    assert "'exchange9999', which is not installed (pip install roomsync-exchange9999)" in found[2]
    settings = load_settings(tmp_path / FILE)
    with pytest.raises(ConfigError) as raised:
        check_configuration(settings)
    assert str(raised.value).startswith("3 problems in the configuration:")


def test_a_secret_that_cannot_be_read_is_a_problem_and_its_value_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROOMSYNC_TEST_UNSET", raising=False)
    found = problems(
        tmp_path,
        f"""
database_url = {{ file = "{tmp_path / "missing"}" }}
[smtp]
password = {{ env = "ROOMSYNC_TEST_UNSET" }}
username = "roomsync"
""",
    )
    assert [line.split(": ", 2)[1:] for line in found] == [
        ["database_url", f"cannot read secret file {tmp_path / 'missing'}: FileNotFoundError"],
        ["smtp.password", "environment variable ROOMSYNC_TEST_UNSET is not set"],
    ]


def test_database_url_may_be_a_secret_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://roomsync:pw-in-env@db.example.org/roomsync"
    monkeypatch.setenv("ROOMSYNC_TEST_DATABASE_URL", url)
    settings = settings_from_mapping({"database_url": {"env": "ROOMSYNC_TEST_DATABASE_URL"}})
    assert settings.database_url == SecretRef(env="ROOMSYNC_TEST_DATABASE_URL")
    assert settings.resolved_database_url() == url
    assert "pw-in-env" not in repr(settings) and "pw-in-env" not in str(settings.model_dump())
    assert configuration_problems(settings) == []

    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({"database_url": {"env": "A", "file": "/b"}}, source=Path(FILE))
    assert str(raised.value) == f"{FILE}: database_url: give exactly one of 'env' or 'file'"
    with pytest.raises(ConfigError, match="database_url: must be a URL string or a reference"):
        settings_from_mapping({"database_url": 5})
    monkeypatch.delenv("ROOMSYNC_TEST_DATABASE_URL")
    with pytest.raises(ConfigError, match="database_url: environment variable ROOMSYNC_TEST_DATABASE_URL"):
        settings.resolved_database_url()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "the database URL is malformed"),
        ("postgresql://u:pw@h:port/db", "the database URL is malformed"),
        ("oracle9://u@h/db", "names a kind of database SQLAlchemy does not know ('oracle9')"),
        ("postgresql+pg8000://u:pw@h/db", "needs the driver pg8000, which is not installed"),
    ],
)
def test_a_database_url_roomsync_cannot_use_is_a_problem(tmp_path: Path, url: str, message: str) -> None:
    [problem] = problems(tmp_path, f'database_url = "{url}"\n')
    assert ": database_url: the database URL " in problem and message in problem
    assert "pw" not in problem.replace("pip", "")


def test_a_data_dir_that_cannot_be_created_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    [problem] = problems(tmp_path, 'data_dir = "a-file/data"\n')
    assert (
        f"data_dir: {tmp_path / 'a-file' / 'data'} cannot be created: {tmp_path / 'a-file'} is not a dir"
        in (problem)
    )
    [problem] = problems(tmp_path, 'data_dir = "a-file"\n')
    assert problem.endswith("a-file is not a directory")
    assert problems(tmp_path, 'data_dir = "not/yet/there"\n') == []
    assert not (tmp_path / "not").exists()  # checking creates nothing


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "W. Europe Standard Time",
            "'W. Europe Standard Time' is a Windows time zone name; write its IANA name "
            "'Europe/Berlin' instead",
        ),
        ("tokyo standard time", "write its IANA name 'Asia/Tokyo'"),
        ("Europe/Berln", "unknown IANA time zone 'Europe/Berln'; give a name such as Europe/Zurich"),
        ("", "unknown IANA time zone ''"),
        ("../etc/passwd", "unknown IANA time zone"),
    ],
)
def test_time_zones_are_iana_names_and_windows_names_get_theirs_suggested(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="IANA") as raised:
        iana_zone(value)
    assert message in str(raised.value)
    assert iana_zone("Europe/Zurich") == "Europe/Zurich"
