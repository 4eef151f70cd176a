"""A broken configuration stops at start: ``roomsync config check`` lists every problem, ``run``,
``sync`` and ``plugins`` refuse, through the installed ``roomsync`` executable and the EWS plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from roomsync.cli.main import cli

ROOMSYNC = Path(sys.executable).with_name("roomsync")
UNSET = "ROOMSYNC_TEST_CONFIG_CHECK_UNSET"

BROKEN = f"""
data_dir = "data"
[sync]
interval_seconds = inf

[environments.onprem]
plugin = "exchange2013"
[environments.onprem.options]
url = "https://mail.example.org/EWS/Exchange.asmx"
username = "svc-roomsync@example.org"
password = {{ env = "ROOMSYNC_TEST_PASSWORD" }}
auth = "sspi"
timezone = "W. Europe Standard Time"

[environments.branch]
plugin = "exchange2010"
[environments.branch.options]
url = "https://branch.example.org/EWS/Exchange.asmx"
username = "svc-roomsync@example.org"
password = {{ env = "{UNSET}" }}

[environments.cloud]
plugin = "exchange2099"
"""

EXPECTED = "sync.interval_seconds: Input should be a finite number"
EXPECTED_WHOLE = [
    "environments.onprem.options.auth: Input should be 'basic', 'ntlm' or 'kerberos'",
    "environments.onprem.options.timezone: 'W. Europe Standard Time' is a Windows time zone name; "
    "write its IANA name 'Europe/Berlin' instead",
    "environments.cloud.plugin: environment 'cloud' uses plugin 'exchange2099', which is not installed",
    f"environments.branch.options.password: environment variable {UNSET} is not set",
]


def roomsync(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != UNSET} | {"ROOMSYNC_TEST_PASSWORD": "pw"}
    return subprocess.run(
        [str(ROOMSYNC), "--config", str(home / "roomsync.toml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=home,
    )


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    (tmp_path / "roomsync.toml").write_text(BROKEN, encoding="utf-8")
    return tmp_path


def invoke(home: Path, *args: str) -> Result:
    env = {UNSET: None, "ROOMSYNC_TEST_PASSWORD": "pw"}
    return CliRunner().invoke(cli, ["--config", str(home / "roomsync.toml"), *args], env=env)


def test_the_executable_lists_every_problem_and_run_refuses_to_start(broken: Path) -> None:
    config = broken / "roomsync.toml"
    checked = roomsync(broken, "config", "check")
    assert checked.returncode == 1, checked.stderr
    assert checked.stderr.splitlines() == [f"{config}: {EXPECTED}", "1 problem found"]

    config.write_text(BROKEN.replace("interval_seconds = inf", "interval_seconds = 0.1"), encoding="utf-8")
    assert invoke(broken, "init").exit_code == 0  # the database is fine; the environments are not
    refused = roomsync(broken, "run")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith("Error: 4 problems in the configuration:\n"), refused.stderr
    for expected in EXPECTED_WHOLE:
        assert f"\n  {config}: {expected}" in refused.stderr
    assert "cycles" not in refused.stderr and "Traceback" not in refused.stderr


def test_config_check_lists_the_problems_of_every_environment(broken: Path) -> None:
    config = broken / "roomsync.toml"
    config.write_text(BROKEN.replace("interval_seconds = inf", "interval_seconds = 30"), encoding="utf-8")
    checked = invoke(broken, "config", "check")
    assert checked.exit_code == 1
    lines = checked.stderr.splitlines()
    assert lines[-1] == "4 problems found"
    for expected in EXPECTED_WHOLE:
        assert any(line.startswith(f"{config}: {expected}") for line in lines), (expected, lines)
    assert "pw" not in checked.output.replace("pip", "")

    data = json.loads(invoke(broken, "--json", "config", "check").stdout)
    assert data["ok"] is False
    assert {p["key"] for p in data["problems"]} == {e.split(": ")[0] for e in EXPECTED_WHOLE}

    assert invoke(broken, "init").exit_code == 0
    refused = invoke(broken, "sync")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: 4 problems in the configuration:\n")


def test_plugins_shows_the_problems_and_exits_non_zero(broken: Path) -> None:
    config = broken / "roomsync.toml"
    config.write_text(BROKEN.replace("interval_seconds = inf", "interval_seconds = 30"), encoding="utf-8")
    result = invoke(broken, "--json", "plugins")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    rows = {row["environment"]: row for row in data["environments"]}
    assert "Input should be 'basic', 'ntlm' or 'kerberos'" in rows["onprem"]["error"]
    assert "not installed" in rows["cloud"]["error"]
    assert len(data["problems"]) == 4
    assert "the configuration has 4 problems; see 'roomsync config check'" in result.stderr


def test_a_good_configuration_checks_ok(tmp_path: Path) -> None:
    (tmp_path / "roomsync.toml").write_text(
        BROKEN.split("[environments.branch]")[0]
        .replace("interval_seconds = inf", "interval_seconds = 30")
        .replace('auth = "sspi"', 'auth = "basic"')
        .replace("W. Europe Standard Time", "Europe/Berlin"),
        encoding="utf-8",
    )
    checked = invoke(tmp_path, "config", "check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == f"{tmp_path / 'roomsync.toml'}: configuration OK\n"
