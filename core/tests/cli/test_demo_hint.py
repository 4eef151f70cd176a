"""``roomsync demo`` of a core alone: the demo ships with the simulator, the core says so."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from roomsync.cli.demo_hint import INSTALL_HINT
from roomsync.cli.main import build_cli


@pytest.mark.parametrize("args", [[], ["--data-dir", "somewhere"]])
def test_a_core_without_the_simulator_says_what_to_install(args: list[str]) -> None:
    result = CliRunner().invoke(build_cli(plugin_commands=False), ["demo", *args])

    assert result.exit_code == 1
    assert "not installed: roomsync-exchange-simulator" in result.output
    assert "pip install -r requirements-demo.txt" in result.output
    assert "pip install ./simulator" in result.output


def test_the_hint_is_one_command_of_the_help() -> None:
    result = CliRunner().invoke(build_cli(plugin_commands=False), ["--help"])

    assert result.exit_code == 0
    [line] = [line for line in result.output.splitlines() if line.strip().startswith("demo")]
    assert "Install the Exchange simulator to run the demo" in line


def test_the_simulators_demo_replaces_the_hint() -> None:
    pytest.importorskip("roomsync_sim")
    result = CliRunner().invoke(build_cli(), ["demo", "--help"])

    assert result.exit_code == 0
    assert "--data-dir" in result.output
    assert INSTALL_HINT not in result.output
