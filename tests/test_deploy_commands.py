"""Every command of deploy/ comes up: each compose service's and systemd unit's command line, read
from the files (so they cannot drift), run against a test configuration, then stopped (SIGTERM).

Only the installation's paths are replaced: the ``roomsync`` executable by this interpreter's,
``/etc/roomsync/roomsync.toml`` by the test's file, and the units' ``%i``/``%H`` specifiers as
systemd fills them. No container engine runs here: the images themselves are not built.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from roomsync_celery.testing import Cluster, Process, broker_or_skip, delete_queues

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
CONFIG_IN_FILES = "/etc/roomsync/roomsync.toml"
EXECUTABLE_IN_UNITS = "/opt/roomsync/bin/roomsync"


def compose_commands() -> dict[str, list[str]]:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))["services"]
    return {
        name: service["command"]
        for name, service in services.items()
        if service.get("command", [""])[0] == "roomsync"
    }


def unit_commands() -> dict[str, list[str]]:
    commands = {}
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        lines = [
            line for line in unit.read_text(encoding="utf-8").splitlines() if line.startswith("ExecStart=")
        ]
        assert len(lines) == 1, unit
        command = shlex.split(lines[0].removeprefix("ExecStart="))
        commands[unit.name] = [
            part.replace("%i", "1").replace("%H", socket.gethostname()) for part in command
        ]
    return commands


def local(command: list[str], config: Path) -> list[str]:
    """The command with this installation's executable and the test's configuration."""
    assert command[0] in ("roomsync", EXECUTABLE_IN_UNITS), command
    assert CONFIG_IN_FILES in command, command
    return [str(config) if part == CONFIG_IN_FILES else part for part in command[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[tuple[Path, int, str]]:
    broker = broker_or_skip("redis")
    port = free_port()
    queue = f"deploy{uuid.uuid4().hex[:8]}"
    config = tmp_path / "roomsync.toml"
    config.write_text(
        f"""
data_dir = "data"
[celery]
broker_url = "{broker}"
single_host = true
scheduler_lease_seconds = 3
queue_per_environment = false
[web]
host = "127.0.0.1"
port = {port}
""",
        encoding="utf-8",
    )
    yield config, port, queue
    delete_queues(broker, ["roomsync"])


def test_the_files_name_every_service() -> None:
    assert set(compose_commands()) == {"migrate", "serve", "scheduler", "worker"}
    assert set(unit_commands()) == {
        "roomsync-serve.service",
        "roomsync-scheduler.service",
        "roomsync-worker@.service",
    }


def came_up(name: str, process: Process, port: int) -> None:
    command = process.popen.args
    assert isinstance(command, list)
    if "worker" in command:
        Cluster.wait_for(process, "roomsync worker ready")
    elif "scheduler" in command:
        Cluster.wait_for(process, "scheduler active: holding the lock")
    else:
        deadline = time.monotonic() + 90
        while True:
            assert process.alive(), process.text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                    assert answer.status == 200
                    return
            except OSError:
                assert time.monotonic() < deadline, f"{name} never answered /healthz:\n{process.text()}"
                time.sleep(0.2)


@pytest.mark.parametrize("source", ["compose", "systemd"])
def test_each_service_command_comes_up_and_stops_on_sigterm(
    source: str, installation: tuple[Path, int, str], tmp_path: Path
) -> None:
    config, port, _ = installation
    commands = compose_commands() if source == "compose" else unit_commands()
    migrate = commands.pop("migrate", None)
    if migrate is not None:
        done = subprocess.run(
            [sys.executable, "-m", "roomsync", *local(migrate, config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    else:  # the units expect the database made beforehand ('roomsync db upgrade', see deploy/README.md)
        subprocess.run(
            [sys.executable, "-m", "roomsync", "--config", str(config), "db", "upgrade"], check=True
        )
    with Cluster(config, dict(os.environ), tmp_path) as cluster:
        for name, command in commands.items():
            process = cluster.spawn(name, local(command, config))
            came_up(name, process, port)
            # uvicorn ends by raising the SIGTERM it handled again, once it has shut down
            # (systemd counts that as a clean stop); worker and scheduler exit with 0.
            clean = (0, -signal.SIGTERM) if "serve" in command else (0,)
            assert Cluster.stop(process) in clean, process.text()[-3000:]
