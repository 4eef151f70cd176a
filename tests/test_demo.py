"""``roomsync demo``: the first thing an administrator runs, on simulated Exchange servers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from roomsync.cli.main import cli
from roomsync_sim.demo.generations import GENERATIONS, installed
from roomsync_sim.demo.organisation import SIMULATOR, Distribution


def test_demo_syncs_every_generation_and_finds_no_differences() -> None:
    result = CliRunner(env={"COLUMNS": "140"}).invoke(cli, ["demo"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    out = result.output
    assert "0 differences between ROOMS and Exchange over the next 30 days" in out
    for g in GENERATIONS:
        assert f"{g.label} skipped" not in out
        assert g.person.email in out
        # the merge of an Outlook rename and a move in ROOMS, and the Outlook booking
        merged = "Sprint planning #42, 10:00-11:00"
        assert re.search(rf"{g.person.name} \({g.environment}\)\s+│ {merged}\s+│ {merged}", out), out
        assert f"sync {g.person.email}: 1 updated, 1 booked from Outlook" in out
        # The outsider's meeting, sent in Outlook inviting the room, reaches ROOMS from the room's
        # calendar: a reservation of hers, titled as the room keeps it (her name).
        outsider = g.outsider
        assert f"sync {g.room.email}: 1 booked from Outlook" in out
        assert re.search(
            rf"│ {g.environment}\s+│ {re.escape(outsider.email)}\s+│ {outsider.name}\s+│ 14:00-15:00\s+"
            rf"│ {g.room.name}\s+│",
            out,
        ), out
    assert "5. Outlook booking of a room: Erin invites the room in Outlook, ROOMS holds it" in out
    assert "6. Differences report" in out
    assert "[environments.ex2013.options]" in out
    assert "[environments.online.options]" in out


def test_demo_syncs_an_exchange_online_person_over_graph() -> None:
    [online] = [g for g in GENERATIONS if g.plugin == "o365"]

    result = CliRunner(env={"COLUMNS": "160"}).invoke(cli, ["demo"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    out = result.output
    person, room = online.person, online.room
    assert f"{online.label} skipped" not in out
    assert re.search(
        rf"│ {online.environment}\s+│ {online.label}\s+│ localhost:\d+\s+│ {person.email}", out
    ), out
    assert 'graph_url = "https://localhost:' in out
    assert re.search(r'ca_file = ".*/online-tls/ca\.pem"', out), out
    assert re.search(r'client_secret = \{ file = ".*/online-secret" \}', out), out
    # Exported, then the Outlook rename imported and merged with the move in ROOMS.
    assert f"sync {person.email}: 1 created" in out
    assert f"sync {person.email}: 1 updated, 1 imported" in out
    assert re.search(
        rf"│ {person.name} \(online\)\s+│ Sprint planning\s+│ 09:00-10:00\s+│ {room.name} ", out
    ), out
    merged = "Sprint planning #42, 10:00-11:00"
    assert re.search(rf"{person.name} \(online\)\s+│ {merged}\s+│ {merged}", out), out
    # The meeting booked in Outlook over Graph, inviting the room, is a reservation.
    assert f"sync {person.email}: 1 updated, 1 booked from Outlook" in out
    assert re.search(rf"{person.name} \(online\)\s+│ \d+\s+│ 12:00-13:00\s+│ {room.name}\s+│ active", out), (
        out
    )
    # Free/busy of the room is asked in its own environment, which answers.
    assert re.search(rf"│ online\s+│ {room.email}\s+│ 09:45-11:00 busy\s+│ ROOMS, Exchange", out), out
    assert "0 differences between ROOMS and Exchange over the next 30 days" in out


def test_demo_shows_the_installed_generations_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    absent = {"roomsync-exchange2010", "roomsync-o365"}
    real = Distribution.installed
    monkeypatch.setattr(Distribution, "installed", lambda self: self.name not in absent and real(self))

    result = CliRunner(env={"COLUMNS": "140"}).invoke(cli, ["demo"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "Exchange 2010 skipped: not installed: roomsync-exchange2010 (pip install ./plugins/exchange2010)"
        in out
    )
    assert "Exchange Online skipped: not installed: roomsync-o365 (pip install ./plugins/o365)" in out
    for g in GENERATIONS:
        assert (g.person.email in out) is (g.environment in ("ex2007", "ex2013"))
    assert "0 differences between ROOMS and Exchange over the next 30 days" in out


def test_without_ews_common_every_ews_generation_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Distribution.installed
    monkeypatch.setattr(
        Distribution, "installed", lambda self: self.name != "roomsync-ews-common" and real(self)
    )

    shown, skipped = installed()

    assert [g.plugin for g in shown] == ["o365"]
    assert skipped == {
        label: "not installed: roomsync-ews-common (pip install ./plugins/ews-common)"
        for label in ("Exchange 2007", "Exchange 2010", "Exchange 2013+")
    }


def test_demo_without_any_generation_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Distribution, "installed", lambda self: False)

    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)

    assert result.exit_code == 1
    assert (
        "Exchange 2013+ skipped: not installed: roomsync-ews-common, roomsync-exchange2013" in result.output
    )
    assert "pip install -r requirements-demo.txt" in result.output


def test_requirements_demo_installs_everything_the_demo_needs() -> None:
    listed = (Path(__file__).parents[1] / "requirements-demo.txt").read_text(encoding="utf-8").split()
    needed = {SIMULATOR.path} | {d.path for g in GENERATIONS for d in g.requires}
    assert needed <= set(listed), needed - set(listed)
    assert "./plugins/o365" in listed


def test_demo_refuses_the_database_of_an_earlier_run(tmp_path: Path) -> None:
    (tmp_path / "roomsync.db").write_bytes(b"")

    result = CliRunner().invoke(cli, ["demo", "--data-dir", str(tmp_path)], catch_exceptions=False)

    assert result.exit_code == 1
    assert "holds the database of an earlier demo; name a new directory" in result.output
