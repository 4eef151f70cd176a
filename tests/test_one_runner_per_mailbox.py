"""One cycle per mailbox at a time, across processes, on SQLite and PostgreSQL.

Real ``roomsync`` processes on one database, the exchange2013 plugin over HTTP to a simulator
that answers every request late (so cycles are long enough to collide): two ``sync --once``
over the same persons, and daemons beside each other. The record of who ran which mailbox when
is the processes' own JSON reports (a cycle's start and end lie within its hold of the lease).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.apply import now
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.databases import empty_database_url
from roomsync_ews_common.testing import SIM_PASSWORD_ENV
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.testing import running_simulator

PERSONS = [f"person{n}@example.org" for n in range(1, 5)]
LATENCY_MS = 120
START = (datetime.now(UTC) + timedelta(days=4)).replace(hour=9, minute=0, second=0, microsecond=0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema on the PostgreSQL test server."""
    with empty_database_url(request.param, tmp_path) as url:
        yield url


@dataclass
class Installation:
    config: Path
    database: Database

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from roomsync.cli.main import main; main()",
                "--config",
                str(self.config),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, SIM_PASSWORD_ENV: "svc-password"},
        )

    def wait_for_daemons(self, count: int, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 120
        while len(self.database.leases.registrations(now())) < count:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the daemon never registered"
            time.sleep(0.1)


@pytest.fixture
def installation(database_url: str, tmp_path: Path) -> Iterator[Installation]:
    seed = deepcopy(DEFAULT_SEED)
    seed["users"] += [{"smtp": p, "name": p.split("@")[0], "password": "pw"} for p in PERSONS]
    with running_simulator("exchange2013", seed, validate=False) as sim:
        sim.simulator.faults.add("latency", ms=LATENCY_MS)
        config = tmp_path / "roomsync.toml"
        config.write_text(
            f"""
data_dir = "data"
database_url = "{database_url}"
[environments.onprem]
plugin = "exchange2013"
[environments.onprem.options]
url = "{sim.ews_url}"
allow_http = true
username = "svc@example.org"
password = {{ env = "{SIM_PASSWORD_ENV}" }}
auth = "basic"
access = "impersonation"
timezone = "Europe/Berlin"
""",
            encoding="utf-8",
        )
        database = Database(database_url)
        database.upgrade()
        with database.unit_of_work() as uow:
            for n, email in enumerate(PERSONS):
                uow.rooms.upsert_person(Person(email=email, environment="onprem"))
                start = START + timedelta(hours=n)
                fields = EventFields(
                    title=f"Meeting {n}",
                    start=start,
                    end=start + timedelta(hours=1),
                    timezone="Europe/Berlin",
                )
                uow.rooms.create_reservation(Reservation(fields=fields, organizer=email), origin=Origin.ROOMS)
            uow.commit()
        try:
            yield Installation(config, database)
        finally:
            database.dispose()


@dataclass(frozen=True)
class Cycle:
    process: int
    mailbox: str
    started: datetime
    finished: datetime
    created: int


def cycles(process: int, reports: list[dict[str, Any]]) -> list[Cycle]:
    """The cycles that ran (not skipped); every one of them must have succeeded."""
    failed = [r for r in reports if not r["ok"]]
    assert not failed, failed
    return [
        Cycle(
            process,
            r["mailbox"],
            datetime.fromisoformat(r["started"]),
            datetime.fromisoformat(r["finished"]),
            r["created"],
        )
        for r in reports
        if r["skipped"] is None
    ]


def assert_no_two_cycles_of_one_mailbox_overlapped(ran: list[Cycle]) -> None:
    for mailbox in PERSONS:
        mine = sorted((c for c in ran if c.mailbox == mailbox), key=lambda c: c.started)
        for before, after in itertools.pairwise(mine):
            assert before.finished <= after.started, f"{mailbox}: {before} overlaps {after}"


def assert_everyone_synchronised_once_each(ran: list[Cycle]) -> None:
    assert {c.mailbox for c in ran} == set(PERSONS)
    # each reservation's entry was created by exactly one cycle, in one process
    assert {m: sum(c.created for c in ran if c.mailbox == m) for m in PERSONS} == dict.fromkeys(PERSONS, 1)


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_daemons_and_sync_commands_on_one_database_never_run_one_mailbox_together(
    installation: Installation,
) -> None:
    """A daemon; then at once a second daemon (refused), one that shares, and two ``sync --once``."""
    first = installation.start("--json", "run", "--interval", "0.5")
    daemons = [first]
    try:
        installation.wait_for_daemons(1, first)
        refused = installation.start("run")
        sharing = installation.start("--json", "run", "--share", "--interval", "0.5")
        daemons.append(sharing)
        syncs = [installation.start("--json", "sync", "--once") for _ in range(2)]

        _, err = refused.communicate(timeout=120)
        assert refused.returncode == 1, err
        assert (
            "another roomsync run is active on this database: "
            f"host {socket.gethostname()}, pid {first.pid}, since "
        ) in err
        assert "s ago)" in err and "Traceback" not in err
        once = []
        for process in syncs:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            once.append(json.loads(out))
        installation.wait_for_daemons(2, sharing)  # its signal handler is in place
        time.sleep(1)  # both daemons cycle on meanwhile
        for process in daemons:
            process.send_signal(signal.SIGTERM)
        ran = []
        for n, process in enumerate(daemons):
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            ran += cycles(n, json_lines(out))
    finally:
        for process in daemons:
            if process.poll() is None:
                process.kill()
                process.communicate()
    ran += cycles(2, once[0]) + cycles(3, once[1])

    assert_no_two_cycles_of_one_mailbox_overlapped(ran)
    assert_everyone_synchronised_once_each(ran)
    skipped = [r["skipped"] for r in once[0] + once[1] if r["skipped"]]
    assert all(why.startswith("in a cycle of another runner (host ") for why in skipped)
    assert {c.process for c in ran} >= {0, 1}, "a daemon never got a mailbox"
    assert installation.database.leases.registrations(now()) == []
    assert installation.database.leases.leases(now()) == []
