"""The streaming watcher below the connector: groups of subscriptions on shared connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib.errors import ErrorServerBusy, ErrorTimeoutExpired

from roomsync.domain import EventFields
from roomsync.testkit.kit import eventually_true
from roomsync.testkit.wakes import WakeRecorder
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.notifications import Backoff, StreamingWatcher
from roomsync_ews_common.options import EwsOptions
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser, simulator_options
from roomsync_sim.testing import running_simulator

ALICE, BOB, ROOM1, ROOM2 = "alice@example.org", "bob@example.org", "room.1@example.org", "room.2@example.org"


def test_backoff_retries_at_once_then_doubles_up_to_its_longest_pause() -> None:
    backoff = Backoff(1.0, 4.0)
    assert [backoff.failed() for _ in range(5)] == [0.0, 1.0, 2.0, 4.0, 4.0]
    backoff.succeeded()
    assert backoff.failed() == 0.0

    assert backoff.failed(ErrorServerBusy("busy", back_off=7.5)) == 7.5  # BackOffMilliseconds
    try:  # how exchangelib reports a connection that broke: its own wait is not the server's
        try:
            raise ErrorTimeoutExpired("Reraised from ConnectionError(reset)")
        except ErrorTimeoutExpired as exc:
            raise ErrorServerBusy(f"Reraised from {exc}", back_off=10)  # noqa: B904
    except ErrorServerBusy as reraised:
        assert backoff.failed(reraised) == 2.0  # the schedule, not exchangelib's 10 s


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with running_simulator("exchange2013", validate=True) as running:
        yield running
    assert [v for v in running.simulator.violations if v.direction == "response"] == []


def test_groups_share_a_connection_and_follow_the_watched_set(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StreamingWatcher, "group_size", 2)
    options = EwsOptions.model_validate(simulator_options(sim.ews_url))
    watcher = StreamingWatcher(AccountPool(options, "Exchange2013", own_connections="test"), "test")
    notifier, counts = sim.simulator.notifier, sim.simulator.counts
    woken = WakeRecorder()
    user = SimulatorUser(sim.ews_url, "Exchange2013")
    try:
        four = [ALICE, BOB, ROOM1, ROOM2]
        watcher.watch(four, woken)
        assert woken.wait_for(four, 10)
        assert sorted(sorted(group.members) for group in watcher.groups) == [[ALICE, BOB], [ROOM1, ROOM2]]
        # Two connections carry the four subscriptions.
        assert eventually_true(lambda: all(s.connections == 1 for s in notifier.subscriptions.values()))
        assert counts["GetStreamingEvents"] == 2 and counts["Subscribe"] == 4

        since = time.monotonic()
        start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
        user.create(BOB, EventFields(title="Seen", start=start, end=start + timedelta(hours=1)))
        assert woken.wait_for([BOB], 10, since)

        # One mailbox less: its group is rebuilt without it, the other group keeps its connection.
        watcher.watch([ALICE, BOB, ROOM1], woken)
        assert eventually_true(lambda: len(notifier.subscriptions) == 3), (
            "the dropped mailbox is unsubscribed"
        )
        assert {s.mailbox for s in notifier.subscriptions.values()} == {ALICE, BOB, ROOM1}
        assert counts["Subscribe"] == 4, "the mailboxes still watched keep their subscriptions"
        assert eventually_true(lambda: counts["GetStreamingEvents"] == 3)
        groups = list(watcher.groups)
    finally:
        watcher.close()
        user.close()
    # Closing shuts the open connections down: their threads end at once, not at a keep-alive.
    assert eventually_true(lambda: not any(group.thread.is_alive() for group in groups), 2)
