"""``roomsync run`` with Exchange's notifications: a reservation changed in ROOMS, by another
process's connection, reaches the organizer's Exchange calendar without waiting for the watched
persons' safety-net cycle, and nothing is asked of Exchange while nothing changes.

The interval is a minute and a watched person's full cycle comes every 15 minutes, so only the
ROOMS change feed can bring these cycles; exchange2013 (streaming) and o365 (webhooks) against
the simulator over HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from rooms_changes_estate import ALICE, BOB, Estate, estate, eventually

BOTH = [
    pytest.param(("exchange2013", "sqlite"), id="exchange2013-sqlite"),
    pytest.param(("o365", "sqlite"), id="o365-sqlite"),
    pytest.param(("exchange2013", "postgresql"), id="exchange2013-postgresql", marks=pytest.mark.postgresql),
    pytest.param(("o365", "postgresql"), id="o365-postgresql", marks=pytest.mark.postgresql),
]


@pytest.fixture(params=BOTH)
def running(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Estate]:
    plugin, database = request.param
    with estate(plugin, database, tmp_path, monkeypatch.setenv) as found:
        assert eventually(lambda: {ALICE, BOB} <= {m for _, m in found.cycles}, 30), found.failures
        assert found.announced and found.announced[0][1], found.announced  # the environment watches
        assert found.settled()
        yield found
    assert not found.thread.is_alive()
    assert found.failures == []
    assert [v for v in found.sim.simulator.violations if v.direction == "response"] == []


def test_a_rooms_edit_reaches_the_exchange_calendar_at_once(running: Estate) -> None:
    since = time.monotonic()
    booked = running.book("Booked in ROOMS", 9)
    assert eventually(lambda: "Booked in ROOMS" in running.subjects(), 15)
    assert time.monotonic() - since < 10  # the safety net would take 15 minutes
    running.retitle(booked, "Renamed in ROOMS")
    assert eventually(lambda: "Renamed in ROOMS" in running.subjects(), 15)
    assert "Booked in ROOMS" not in running.subjects()
    assert BOB not in {m for at, m in running.cycles if at >= since}  # only the organizer is woken


def test_nothing_is_asked_of_exchange_while_nothing_changes(running: Estate) -> None:
    running.book("Before the quiet", 10)
    assert eventually(lambda: "Before the quiet" in running.subjects(), 15)
    assert running.settled()
    before, cycles = running.requests(), len(running.cycles)
    time.sleep(3)  # a dozen polls of SQLite's journal; PostgreSQL's bell stays silent
    assert running.requests() == before
    assert len(running.cycles) == cycles


def test_a_change_brought_from_outlook_wakes_no_cycle_through_rooms(running: Estate) -> None:
    """The cycle's own journal rows about what it read from the mailbox would only bring a cycle
    with nothing to do."""
    since = time.monotonic()
    running.in_outlook("Booked in Outlook", 11)
    assert eventually(lambda: running.imported("Booked in Outlook"), 15)
    assert running.settled()
    assert [at for at in running.feed_wakes if at >= since] == []
