"""The runner holds each mailbox's lease for its cycle: skipped while another runner has it,
renewed while the cycle runs, released when it ends, also on errors."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from roomsync.engine.apply import now
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.errors import TransientConnectorError
from roomsync.hookspecs import hookimpl
from roomsync.storage.leases import AnotherRunnerActive, Holder

from .conftest import ALICE, BOB, CycleRecorder, World

OTHER = Holder("f" * 32, "other-host", 4242)


def test_a_mailbox_another_runner_synchronises_is_skipped_and_synced_next_time(world: World) -> None:
    booked = world.book(ALICE)
    finished = CycleRecorder()
    world.runner.pm.register(finished)
    world.database.leases.acquire(ALICE, OTHER, now())

    reports = {r.mailbox: r for r in world.sync_ok()}

    skipped = reports[ALICE]
    assert skipped.skipped is not None and "host other-host, pid 4242" in skipped.skipped
    assert skipped.summary().startswith("skipped: in a cycle of another runner (host other-host, pid 4242)")
    assert world.exchange.entries(ALICE) == []  # nothing of alice's was touched
    assert reports[BOB].skipped is None
    assert {r.mailbox for r in finished.reports} == {BOB, "carol@example.org"}

    world.database.leases.release(ALICE, OTHER)
    [again] = world.sync_ok(ALICE)
    assert again.skipped is None and again.created == 1
    world.entry(ALICE, booked.id or "")


def test_the_lease_is_released_after_the_cycle_also_when_it_fails(world: World) -> None:
    world.book(ALICE)
    world.exchange.fail_next("changes", TransientConnectorError("server busy"))

    [failed] = world.sync(ALICE)
    assert not failed.ok
    assert world.database.leases.leases(now()) == []
    [ok] = world.sync_ok(ALICE)
    assert ok.created == 1
    assert world.database.leases.leases(now()) == []


def test_the_lease_is_released_when_the_cycle_is_interrupted(world: World) -> None:
    world.book(ALICE)

    assert world.killed_sync(ALICE)
    assert world.database.leases.leases(now()) == []


class Slow:
    """Holds the cycle in its read of the changes until told to go on."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.go_on = threading.Event()

    @hookimpl(wrapper=True)
    def roomsync_changes(self, mailbox: str, sync_state: Any) -> Any:
        self.reading.set()
        assert self.go_on.wait(30)
        return (yield)


def test_the_lease_is_renewed_while_a_long_cycle_runs(world: World) -> None:
    world.runner.lease_seconds = 0.6  # renewed every 0.1 s
    slow = Slow()
    world.runner.host("ref").pm.register(slow)
    other = SyncRunner(world.settings, world.database, world.runner.pm)
    result: list[CycleReport] = []
    cycle = threading.Thread(target=lambda: result.extend(world.sync(ALICE)))
    cycle.start()
    try:
        assert slow.reading.wait(30)
        time.sleep(1.5)  # well past the lease's first expiry
        [meanwhile] = other.sync_once([ALICE])
    finally:
        slow.go_on.set()
        cycle.join(30)
        other.close()

    assert meanwhile.skipped is not None
    assert result[0].ok and result[0].skipped is None


def test_one_renewal_keeps_every_cycle_in_progress_reports_a_lease_lost_and_ends_when_idle(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.runner.lease_seconds = 1.8  # renewed every 0.3 s: a beat may fail on a busy machine
    renewals = f"lease renewals of runner {world.runner.holder.runner_id}"
    slow = Slow()
    world.runner.host("ref").pm.register(slow)
    cycles = [threading.Thread(target=world.sync, args=(mailbox,)) for mailbox in (ALICE, BOB)]
    for cycle in cycles:
        cycle.start()
    try:
        deadline = time.monotonic() + 30
        while len(world.database.leases.leases(now())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        world.database.leases.release(ALICE, world.runner.holder)  # as if taken away meanwhile
        taken = world.database.leases.acquire(ALICE, OTHER, now(), seconds=60)
        time.sleep(2.4)  # past the leases' first expiry
        renewers = [thread for thread in threading.enumerate() if thread.name == renewals]
        still = world.database.leases.acquire(BOB, OTHER, now())
    finally:
        slow.go_on.set()
        for cycle in cycles:
            cycle.join(30)

    assert taken.holder == OTHER
    assert still.holder == world.runner.holder  # bob's lease was kept alive all along
    assert len(renewers) == 1
    assert any(f"the lease of {ALICE} was lost" in r.getMessage() for r in caplog.records)
    assert not any(f"the lease of {BOB} was lost" in r.getMessage() for r in caplog.records)
    time.sleep(0.9)  # three beats: the first to find nothing held ends the thread
    assert not [thread for thread in threading.enumerate() if thread.name == renewals]


def test_a_second_daemon_is_refused_unless_it_shares(world: World) -> None:
    second = SyncRunner(world.settings, world.database, world.runner.pm)
    with world.runner.registered():
        refused = pytest.raises(AnotherRunnerActive, match="another roomsync run is active on this database")
        with refused, second.registered():
            pass
        with second.registered(share=True):
            assert len(world.database.leases.registrations(now())) == 2
    assert world.database.leases.registrations(now()) == []
    with second.registered():  # the first one's registration ended with it
        pass


def test_a_cycle_writes_in_another_mailbox_only_once_that_mailboxs_own_cycle_ended(world: World) -> None:
    """A reservation handed from Alice to Bob: Bob's cycle removes Alice's old entry, but never
    while Alice's own cycle in this runner is running (it may be reading that entry)."""
    r = world.synced_then_handed_over("Handed on")
    held, release = threading.Event(), threading.Event()

    def alices_cycle() -> None:
        with world.runner.holding(ALICE) as ours:
            assert ours
            held.set()
            release.wait(10)

    alice = threading.Thread(target=alices_cycle)
    alice.start()
    assert held.wait(5)
    bob = threading.Thread(target=world.sync_ok, args=(BOB,))
    bob.start()
    time.sleep(1.0)
    assert [e.stamp for e in world.exchange.entries(ALICE)] == [world.stamp(r.id)]  # still waiting
    release.set()
    alice.join(10)
    bob.join(20)

    assert not bob.is_alive()
    world.moved_entry(r.id)
