"""The distributions as a package index would get them: wheels, their metadata, a fresh install.

Every distribution is built into a wheel as pip builds it for a customer (PEP 517, isolated
build environment from the package index), and each wheel's METADATA must carry the license as
an SPDX expression (PEP 639) with the license file inside, the classifiers and project URLs, and
upper bounds on the project's own distributions. Then a new virtual environment gets
``roomsync-exchange2010`` from those wheels alone (``--find-links``; third-party dependencies
from the index), and its ``roomsync`` command must list the plugin through its entry point.

Each distribution carries a copy of the root LICENSE (setuptools takes license files only
inside the project's directory); the copies must stay identical to it.

Without the package index the build tests are skipped with the reason; under CI (``CI`` set)
they fail instead.
"""

from __future__ import annotations

import email.parser
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = (
    "core",
    "plugins/ews-common",
    "plugins/exchange2007",
    "plugins/exchange2010",
    "plugins/exchange2013",
    "plugins/o365",
    "simulator",
    "web",
)
CLASSIFIERS = {
    "Intended Audience :: System Administrators",
    "Operating System :: OS Independent",
    "Programming Language :: Python :: 3.11",
    "Topic :: Office/Business :: Scheduling",
    "Typing :: Typed",
}
URL_LABELS = {"Homepage", "Documentation", "Source", "Issues"}
COPY_IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "tests", ".venv")


def _project(directory: str) -> dict[str, object]:
    with open(REPO / directory / "pyproject.toml", "rb") as f:
        project: dict[str, object] = tomllib.load(f)["project"]
    return project


CORE_VERSION = Version(str(_project("core")["version"]))
# 0.x: a minor release may change the hooks and the Connector API, so the bound is the next minor.
NEXT_BREAKING = (
    Version(f"0.{CORE_VERSION.minor + 1}")
    if CORE_VERSION.major == 0
    else Version(f"{CORE_VERSION.major + 1}")
)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def _pip(*args: str, python: str = sys.executable, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "pip", *args],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _index_reachable(probe: Path) -> str | None:
    """None when pip gets setuptools (the build backend) from the index, else pip's complaint."""
    try:
        done = _pip("download", "-q", "--no-deps", "-d", str(probe), "setuptools>=77", timeout=120)
    except subprocess.TimeoutExpired:
        return "pip download of setuptools timed out"
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of every distribution, built once per test run whatever the number of workers."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "packaging-wheels"
    with open(shared / "packaging-wheels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (out / "built").exists():
                problem = _index_reachable(shared / "packaging-probe")
                if problem is not None:
                    if os.environ.get("CI"):
                        pytest.fail(f"the package index cannot be reached under CI: {problem}")
                    pytest.skip(f"the package index cannot be reached (pip: {problem})")
                # From copies: pip builds in the source tree and would leave build/ in the clone.
                sources = shared / "packaging-sources"
                for directory in DISTRIBUTIONS:
                    shutil.copytree(
                        REPO / directory, sources / directory, ignore=COPY_IGNORE, dirs_exist_ok=True
                    )
                built = _pip(
                    "wheel", "-q", "--no-deps", "-w", str(out), *(str(sources / d) for d in DISTRIBUTIONS)
                )
                assert built.returncode == 0, built.stdout + built.stderr
                (out / "built").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return out


def _wheel_of(wheels: Path, directory: str) -> Path:
    name = canonicalize_name(str(_project(directory)["name"])).replace("-", "_")
    [wheel] = wheels.glob(f"{name}-*.whl")
    return wheel


def _metadata(wheel: Path) -> tuple[Message, dict[str, bytes]]:
    with zipfile.ZipFile(wheel) as z:
        [meta] = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        dist_info = meta.removesuffix("METADATA")
        files = {n.removeprefix(dist_info): z.read(n) for n in z.namelist() if n.startswith(dist_info)}
    return email.parser.BytesParser().parsebytes(files["METADATA"]), files


@pytest.mark.parametrize("directory", DISTRIBUTIONS)
def test_each_distribution_carries_the_root_license(directory: str) -> None:
    root = (REPO / "LICENSE").read_bytes()
    assert b"Apache License\n                           Version 2.0, January 2004" in root
    assert (REPO / directory / "LICENSE").read_bytes() == root, f"{directory}/LICENSE differs: copy ./LICENSE"


@pytest.mark.slow
@pytest.mark.parametrize("directory", DISTRIBUTIONS)
def test_the_wheel_metadata(wheels: Path, directory: str) -> None:
    meta, files = _metadata(_wheel_of(wheels, directory))

    assert Version(meta["Metadata-Version"]) >= Version("2.4")
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License"] is None  # the deprecated free-text field is gone
    assert meta.get_all("License-File") == ["LICENSE"]
    assert files["licenses/LICENSE"] == (REPO / "LICENSE").read_bytes()
    classifiers = set(meta.get_all("Classifier") or [])
    assert classifiers >= CLASSIFIERS
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert not any(c.startswith("License :: ") for c in classifiers)  # PEP 639: the expression only
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    readme = meta.get_payload(decode=True)
    built_from = wheels.parent / "packaging-sources" / directory  # the tree as it was at the build
    assert isinstance(readme, bytes) and readme.strip() == (built_from / "README.md").read_bytes().strip()
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert set(urls) == URL_LABELS
    assert all(u.startswith("https://github.com/roomsync/roomsync") for u in urls.values())

    own = [r for r in map(Requirement, meta.get_all("Requires-Dist") or []) if r.name.startswith("roomsync")]
    if directory != "core":
        assert any(r.name == "roomsync" and not r.marker for r in own), "the core is a requirement"
    for req in own:
        assert CORE_VERSION in req.specifier, f"{req} excludes the current {CORE_VERSION}"
        assert NEXT_BREAKING not in req.specifier, f"{req} has no upper bound below {NEXT_BREAKING}"


@pytest.mark.slow
def test_a_fresh_install_of_exchange2010_from_the_wheels(wheels: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_clean_env())
    python = str(venv / "bin" / "python")
    report = tmp_path / "report.json"
    installed = _pip(
        "install", "-q", "--no-compile", "--find-links", str(wheels), "--report", str(report),
        "roomsync-exchange2010",
        python=python,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # The project's distributions came from the wheels built here, not from an index.
    origin = {
        canonicalize_name(item["metadata"]["name"]): item["download_info"]["url"]
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]
    }
    own = {name: url for name, url in origin.items() if name.startswith("roomsync")}
    assert set(own) == {"roomsync", "roomsync-ews-common", "roomsync-exchange2010"}
    assert all(url.startswith(wheels.as_uri()) for url in own.values()), own

    env = _clean_env()
    imported = subprocess.run(
        [python, "-c", "import roomsync_exchange2010, roomsync_ews_common"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    listed = subprocess.run(
        [str(venv / "bin" / "roomsync"), "--json", "plugins"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert {
        "name": "exchange2010",
        "kind": "connector",
        "distribution": "roomsync-exchange2010",
        "version": str(_project("plugins/exchange2010")["version"]),
    } in json.loads(listed.stdout)["installed"]
