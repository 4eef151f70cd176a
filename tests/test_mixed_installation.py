"""One installation, several environments of different plugins: what an integrator sets up."""

from __future__ import annotations

import json
import uuid
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from roomsync.cli.main import cli

ALICE, BOB = "alice@example.org", "bob@example.org"


def test_every_distribution_registers_its_plugins() -> None:
    connectors = {
        ep.name: ep.dist.name if ep.dist else "" for ep in entry_points(group="roomsync.connectors")
    }
    expected = {
        "reference": "roomsync",
        "exchange2007": "roomsync-exchange2007",
        "exchange2010": "roomsync-exchange2010",
        "exchange2013": "roomsync-exchange2013",
        "o365": "roomsync-o365",
    }
    assert expected.items() <= connectors.items()  # vendors' connectors may come on top
    extensions = {ep.name for ep in entry_points(group="roomsync.plugins")}
    assert {"smtp-notifier", "log-notifier"} <= extensions


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ONPREM_PASSWORD", "not-shown")
    (tmp_path / "roomsync.toml").write_text(
        f"""
data_dir = "data"
[environments.lab]
plugin = "reference"
[environments.lab.options]
directory = "mixed-{uuid.uuid4().hex}"

[environments.onprem]
plugin = "exchange2010"
[environments.onprem.options]
url = "https://mail.example.org/EWS/Exchange.asmx"
username = "svc-roomsync@example.org"
password = {{ env = "ONPREM_PASSWORD" }}
""",
        encoding="utf-8",
    )
    for args in (
        ["init"],
        ["persons", "add", ALICE, "--environment", "lab"],
        ["persons", "add", BOB, "--environment", "onprem"],
    ):
        assert invoke(tmp_path, *args).exit_code == 0
    return tmp_path


def invoke(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(home / "roomsync.toml"), *args], catch_exceptions=False)


def book(home: Path, organizer: str) -> None:
    result = invoke(
        home,
        "reservations",
        "create",
        "--title",
        f"For {organizer}",
        "--organizer",
        organizer,
        "--start",
        "2030-01-07T09:00",
        "--end",
        "2030-01-07T10:00",
    )
    assert result.exit_code == 0, result.output


def test_each_person_syncs_through_their_environment_and_failures_stay_there(home: Path) -> None:
    book(home, ALICE)
    book(home, BOB)
    result = invoke(home, "--json", "sync")
    assert result.exit_code == 1  # one person failed
    reports = {r["mailbox"]: r for r in json.loads(result.stdout)}
    assert reports[ALICE]["ok"] and reports[ALICE]["created"] == 1
    assert reports[ALICE]["environment"] == "lab"
    assert not reports[BOB]["ok"]
    assert reports[BOB]["environment"] == "onprem"
    assert "exchange2010" in reports[BOB]["error"]
    assert "not-shown" not in result.output


def test_plugins_and_sync_test_per_environment(home: Path) -> None:
    data = json.loads(invoke(home, "--json", "plugins").stdout)
    by_env = {e["environment"]: e for e in data["environments"]}
    assert by_env["lab"]["plugin"] == "reference"
    assert by_env["onprem"]["plugin"] == "exchange2010"
    result = invoke(home, "--json", "test", BOB)
    assert result.exit_code == 1
    steps = json.loads(result.stdout)
    assert steps[0] == {"name": "assigned", "ok": True, "detail": "environment onprem"}
    assert any(not s["ok"] and "exchange2010" in s["detail"] for s in steps)
    assert invoke(home, "test", ALICE).exit_code == 0
