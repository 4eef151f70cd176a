"""Each EWS plugin works from a fresh install of the core, ews-common and the plugins alone.

The test suite runs with every distribution installed editable; a customer installs only what
an environment needs, from wheels. So a new virtual environment gets ``./core``,
``./plugins/ews-common`` and the three EWS plugins (pip builds them as a customer's pip would and
fetches their dependencies), without the simulator and without pytest, and each plugin is then
loaded through its entry point and run with the ``roomsync`` command of that environment against
a simulator started here.

One environment holds the three plugins: three environments of their own took about 40 s each
to build on the 2-core machine, one takes about 50 s. The tests of each plugin are separate and
share that one build, also across pytest-xdist workers (a file lock decides who builds).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roomsync_sim.testing import running_simulator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PLUGINS = ("exchange2007", "exchange2010", "exchange2013")
INSTALL = ("./core", "./plugins/ews-common", *(f"./plugins/{p}" for p in PLUGINS))
PASSWORD_ENV = "ROOMSYNC_FRESH_PASSWORD"
ALICE = "alice@example.org"
COPY_IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "tests")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a customer's shell: nothing of this test run's interpreter leaks in."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


@pytest.fixture(scope="session")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The fresh virtual environment, built once per test run whatever the number of workers."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one per test run
    venv = shared / "fresh-ews-install"
    with open(shared / "fresh-ews-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (venv / "built").exists():
                started = time.monotonic()
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_clean_env())
                # From a copy: pip builds in the source tree, and a build/ left in the clone could
                # serve files deleted since to a later build.
                sources = shared / "fresh-ews-sources"
                for path in INSTALL:
                    shutil.copytree(REPO / path, sources / path, ignore=COPY_IGNORE, dirs_exist_ok=True)
                pip = subprocess.run(
                    [str(venv / "bin" / "pip"), "install", "-q", *INSTALL],
                    cwd=sources,
                    env=_clean_env(),
                    capture_output=True,
                    text=True,
                )
                assert pip.returncode == 0, pip.stdout + pip.stderr
                (venv / "built").write_text(f"{time.monotonic() - started:.1f} s\n", encoding="utf-8")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    yield venv


def run(venv: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=_clean_env(**{PASSWORD_ENV: "svc-password", "COLUMNS": "200"}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_only_the_three_distributions_and_their_dependencies_are_there(fresh: Path) -> None:
    found = run(
        fresh,
        "python",
        "-c",
        "import importlib.util as u; print(u.find_spec('roomsync_sim'), u.find_spec('pytest'))",
    )
    assert found.stdout.split() == ["None", "None"], found.stderr


def connector_facts(venv: Path, plugin: str) -> dict[str, object]:
    """What the fresh install's entry point of ``plugin`` loads."""
    code = (
        "import json, sys; from roomsync.plugins import connector_class; "
        f"c = connector_class({plugin!r}, 'onprem'); "
        "print(json.dumps({'class': c.__name__, 'name': c.name, 'file': sys.modules[c.__module__].__file__, "
        "'dialect': c.request_server_version}))"
    )
    loaded = run(venv, "python", "-c", code)
    assert loaded.returncode == 0, loaded.stderr
    facts: dict[str, object] = json.loads(loaded.stdout)
    return facts


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_entry_point_loads_the_installed_connector(fresh: Path, plugin: str) -> None:
    facts = connector_facts(fresh, plugin)

    assert facts["name"] == plugin
    assert facts["class"] == f"Exchange{plugin.removeprefix('exchange')}Connector"
    assert Path(str(facts["file"])).is_relative_to(fresh), f"{facts['file']} is not the fresh install's copy"
    assert str(facts["dialect"]).startswith("Exchange")


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugins_and_the_sync_test_against_a_simulator(fresh: Path, tmp_path: Path, plugin: str) -> None:
    (tmp_path / "roomsync.toml").write_text(
        f"""
data_dir = "data"
[environments.onprem]
plugin = "{plugin}"
[environments.onprem.options]
url = "http://127.0.0.1:9/EWS/Exchange.asmx"
allow_http = true
username = "svc@example.org"
password = {{ env = "{PASSWORD_ENV}" }}
timezone = "Europe/Berlin"
""",
        encoding="utf-8",
    )
    for args in (("init",), ("persons", "add", ALICE, "--environment", "onprem")):
        done = run(fresh, "roomsync", *args, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr

    listed = run(fresh, "roomsync", "--json", "plugins", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert {
        "name": plugin,
        "kind": "connector",
        "distribution": f"roomsync-{plugin}",
        "version": "0.1.0",
    } in data["installed"]
    [environment] = data["environments"]
    assert environment["plugin"] == plugin and "error" not in environment, environment
    assert environment["capabilities"]["max_batch"] == 100

    config = tmp_path / "roomsync.toml"
    with running_simulator(
        plugin, validate=False
    ) as sim:  # the simulator's dialects carry the plugins' names
        config.write_text(config.read_text().replace("http://127.0.0.1:9/EWS/Exchange.asmx", sim.ews_url))
        tested = run(fresh, "roomsync", "--json", "test", ALICE, cwd=tmp_path)
    steps = json.loads(tested.stdout)
    assert tested.returncode == 0, steps
    assert [s["name"] for s in steps] == [
        "assigned",
        "plugin",
        "connect",
        "read",
        "write",
        "free/busy",
        "change detection",
    ]
    assert steps[1]["detail"] == f"{plugin} (roomsync-{plugin} 0.1.0)"


def test_the_demo_says_what_to_install(fresh: Path) -> None:
    demo = run(fresh, "roomsync", "demo")
    assert demo.returncode == 1
    assert "not installed: roomsync-exchange-simulator" in demo.stderr
    assert "pip install ./simulator" in demo.stderr
    assert "pip install -r requirements-demo.txt" in demo.stderr
