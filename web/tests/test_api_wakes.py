"""A reservation booked through the API reaches the organizer's Exchange calendar at once: with
``roomsync serve --run`` by the service's direct wake of its own daemon, with ``roomsync serve``
beside a separate ``roomsync run`` by that daemon's ROOMS change feed.

The interval is a minute and alice's mailbox is watched (streaming: her full cycle comes every
15 minutes), so only a wake brings the cycle within the seconds allowed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from support import ALICE, ROOM1, Installation, installation, next_weekday_at

WITHIN = 10.0  # seconds; the safety net would take 15 minutes, the first interval a minute


def _settled(inst: Installation, quiet: float = 2.0, seconds: float = 90.0) -> None:
    """Wait until the daemon's start is over: no request to the EWS server for ``quiet`` seconds."""
    deadline = time.monotonic() + seconds
    seen, since = Counter(inst.ews.simulator.counts), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = Counter(inst.ews.simulator.counts)
        if now != seen:
            seen, since = now, time.monotonic()
        elif sum(now.values()) and time.monotonic() - since >= quiet:
            return
    raise AssertionError("the daemon did not settle")


def _book(inst: Installation, title: str, hour: int) -> float:
    start = next_weekday_at(hour, days=5)
    api = inst.client(inst.key("admin"))
    sent = time.monotonic()
    made = api.post(
        "/api/v1/reservations",
        json={
            "title": title,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "organizer": ALICE,
            "rooms": [ROOM1],
        },
    )
    assert made.status_code == 201, made.text
    return sent


def _waited(condition: Callable[[], bool], seconds: float = WITHIN) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _slow_poll(inst: Installation) -> None:
    """SQLite's journal read only every minute: a change the feed finds takes up to that long."""
    with inst.config.open("a", encoding="utf-8") as config:
        config.write("[sync]\nrooms_poll_seconds = 60\n")


def test_with_the_daemon_in_the_service_the_api_wakes_the_organizer_itself(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with installation(tmp_path_factory.mktemp("direct"), "sqlite") as inst:
        _slow_poll(inst)  # so only the direct wake can be in time
        inst.serve("--run")
        _settled(inst)
        sent = _book(inst, "Booked through the API", 9)
        assert _waited(lambda: "Booked through the API" in inst.ews.calendar_subjects(ALICE))
        assert time.monotonic() - sent < WITHIN


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_beside_a_separate_daemon_the_feed_brings_the_api_change(
    tmp_path_factory: pytest.TempPathFactory, database: str
) -> None:
    directory = tmp_path_factory.mktemp("feed")
    with installation(directory, database) as inst:
        inst.serve()  # no daemon here: the API's wake has nobody to wake in this process
        log = (directory / "run.log").open("w", encoding="utf-8")
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from roomsync.cli.main import main; main()",
                "--config",
                str(inst.config),
                "run",
            ],
            stdout=log,
            stderr=log,
            env=inst.env,
        )
        try:
            _settled(inst)
            sent = _book(inst, "Booked beside the daemon", 10)
            assert _waited(lambda: "Booked beside the daemon" in inst.ews.calendar_subjects(ALICE)), Path(
                log.name
            ).read_text(encoding="utf-8")
            assert time.monotonic() - sent < WITHIN
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            log.close()
