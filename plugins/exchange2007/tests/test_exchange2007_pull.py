"""Exchange 2007's pull notifications as rounds: every watched mailbox's subscription asked once a
round, a few GetEvents in flight at once (never more than the watcher's or the environment's
bound), and a change waking only its mailbox; against the simulator in its 2007 dialect over HTTP.

GetEvents carries one subscription (2007's Messages.xsd) and a pull subscription watches folders
of one mailbox, so a round is one request per mailbox; the rate is set by ``pull_seconds``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync.domain import EventFields
from roomsync.testkit.kit import eventually_true
from roomsync.testkit.wakes import WakeRecorder
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.notifications import PullWatcher
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser, simulator_options
from roomsync_exchange2007 import Exchange2007Connector
from roomsync_exchange2007.connector import Exchange2007Options
from roomsync_sim.request_log import LoggedRequest
from roomsync_sim.testing import running_simulator

ALICE, BOB, ROOM1, ROOM2 = "alice@example.org", "bob@example.org", "room.1@example.org", "room.2@example.org"
FOUR = [ALICE, BOB, ROOM1, ROOM2]
LATENCY_MS = 60  # so requests of one round overlap when they are sent together


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with running_simulator("exchange2007", validate=True, latency_ms=LATENCY_MS) as running:
        yield running
    assert [v for v in running.simulator.violations if v.direction == "response"] == []


def watcher_on(sim: Any, interval: float, **options: Any) -> PullWatcher:
    found = Exchange2007Options.model_validate(simulator_options(sim.ews_url, **options))
    version = Exchange2007Connector.request_server_version
    return PullWatcher(AccountPool(found, version, own_connections="watch:test"), "test", interval)


def most_at_once(requests: list[LoggedRequest]) -> int:
    """The most of these requests that were in progress at one time."""
    edges = sorted([(r.started, 1) for r in requests] + [(r.finished or r.started, -1) for r in requests])
    level = most = 0
    for _, step in edges:
        level += step
        most = max(most, level)
    return most


def get_events(sim: Any) -> list[LoggedRequest]:
    return [r for r in sim.simulator.requests.entries() if r.operation == "GetEvents" and r.finished]


def test_every_round_asks_each_mailbox_once_with_several_in_flight(sim: Any) -> None:
    watcher = watcher_on(sim, 0.5)
    woken = WakeRecorder()
    try:
        watcher.watch(FOUR, woken)
        assert woken.wait_for(FOUR, 10)  # subscribed: each is woken once, its past unknown
        assert eventually_true(lambda: watcher.rounds >= 6, 20)
        watcher.close()
        asked = get_events(sim)
        per_mailbox = Counter(r.mailbox for r in asked)
        assert set(per_mailbox) == set(FOUR)
        # one GetEvents per mailbox and round after the first (which subscribed)
        assert max(per_mailbox.values()) - min(per_mailbox.values()) <= 1
        assert max(per_mailbox.values()) <= watcher.rounds - 1
        assert sim.simulator.counts["Subscribe"] == 4
        assert 1 < most_at_once(asked) <= PullWatcher.concurrency
    finally:
        watcher.close()


def test_the_environments_concurrency_bounds_the_round(sim: Any) -> None:
    watcher = watcher_on(sim, 0.5, max_concurrency=2)
    try:
        watcher.watch(FOUR, WakeRecorder())
        assert eventually_true(lambda: watcher.rounds >= 5, 20)
        watcher.close()
        assert most_at_once(get_events(sim)) == 2
    finally:
        watcher.close()


def test_a_change_wakes_only_its_mailbox(sim: Any) -> None:
    watcher = watcher_on(sim, 0.5)
    woken = WakeRecorder()
    user = SimulatorUser(sim.ews_url, Exchange2007Connector.request_server_version, Exchange2007Connector)
    try:
        watcher.watch(FOUR, woken)
        assert woken.wait_for(FOUR, 10)
        rounds = watcher.rounds
        assert eventually_true(lambda: watcher.rounds >= rounds + 2, 10)  # the first events asked
        since = time.monotonic()
        start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
        user.create(BOB, EventFields(title="Seen", start=start, end=start + timedelta(hours=1)))
        assert woken.wait_for([BOB], 10, since)
        assert eventually_true(lambda: watcher.rounds >= rounds + 5, 10)
        assert woken.woken(since) == {BOB}
    finally:
        user.close()
        watcher.close()
