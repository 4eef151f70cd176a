"""A process killed while its connectors are open leaves no file behind, the ``ca_file`` trusted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roomsync_ews_common.testing import SIM_PASSWORD_ENV
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import simulator_options as o365_options
from roomsync_sim.testing import running_simulator

CHILD = """
import json, sys, time
from datetime import UTC, datetime, timedelta
from roomsync.connector.host import ConnectorHost
from roomsync.plugins import connector_class

plugin, options = sys.argv[1], json.loads(sys.argv[2])
host = ConnectorHost("tls", connector_class(plugin, "tls").from_config("tls", options, "roomsync.toml"))
now = datetime.now(UTC)
[answer] = host.free_busy(["alice@example.org"], now, now + timedelta(days=1))
print("ready" if answer.error is None else answer.error, flush=True)
time.sleep(60)
"""


@pytest.fixture(params=["exchange2013", "o365"])
def tls_environment(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, Any]]]:
    with running_simulator(request.param, tls_dir=tmp_path / "tls") as sim:
        assert sim.ca_file is not None
        if request.param == "o365":
            monkeypatch.setenv(SECRET_ENV, sim.client_secret)
            yield "o365", o365_options(sim)
        else:
            monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
            yield "exchange2013", ews_options(sim.ews_url, ca_file=str(sim.ca_file))


def test_a_killed_process_with_a_ca_file_leaves_no_temporary_file(
    tls_environment: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    plugin, options = tls_environment
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, plugin, json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        failed = child.stderr.read() if child.poll() is not None and child.stderr else ""
        assert line == "ready", (line, failed)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert sorted(p.name for p in temporary.iterdir()) == []
