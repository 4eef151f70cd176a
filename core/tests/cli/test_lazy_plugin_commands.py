"""Plugins' commands are added when they are needed, not for every core command."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

PROBE = """
import json, sys
from click.testing import CliRunner
from roomsync.cli.main import build_cli
result = CliRunner().invoke(build_cli(), sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.startswith(("roomsync_sim.", "roomsync_web.")))
print(json.dumps({"exit": result.exit_code, "output": result.output, "loaded": loaded}))
"""


def run(*args: str) -> dict[str, Any]:
    """The command in a fresh interpreter, so what it imported is its own doing."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_a_core_command_starts_without_the_plugins_command_modules() -> None:
    pytest.importorskip("roomsync_sim")
    found = run("sync", "--help")
    assert found["exit"] == 0 and "--once" in found["output"]
    assert found["loaded"] == []


def test_the_help_still_lists_the_plugins_commands_and_runs_them() -> None:
    pytest.importorskip("roomsync_sim")
    listed = run("--help")
    assert listed["exit"] == 0
    assert any(line.strip().startswith("sim ") for line in listed["output"].splitlines())
    assert run("sim", "--help")["exit"] == 0
