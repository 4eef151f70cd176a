"""The lease store: one holder per mailbox at a time, expiry, takeover, daemon registrations."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from roomsync.storage import Database
from roomsync.storage.leases import LEASE_SECONDS, AnotherRunnerActive, Holder, LeaseStore

MAILBOX = "alice@example.org"
T0 = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
FIRST = Holder("1" * 32, "host-a", 101)
SECOND = Holder("2" * 32, "host-b", 202)


@pytest.fixture
def leases(database: Database) -> LeaseStore:
    return database.leases


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_held_lease_is_refused_to_another_holder_and_names_its_holder(leases: LeaseStore) -> None:
    mine = leases.acquire(MAILBOX, FIRST, T0)
    theirs = leases.acquire(MAILBOX, SECOND, later(1))

    assert mine.holder == FIRST and mine.expires_at == later(LEASE_SECONDS)
    assert theirs == mine  # the lease in force, still the first holder's
    assert [lease.holder for lease in leases.leases(later(1))] == [FIRST]


def test_leases_of_different_mailboxes_are_independent(leases: LeaseStore) -> None:
    assert leases.acquire(MAILBOX, FIRST, T0).holder == FIRST
    assert leases.acquire("bob@example.org", SECOND, T0).holder == SECOND


def test_an_expired_lease_is_taken_over(leases: LeaseStore) -> None:
    leases.acquire(MAILBOX, FIRST, T0, seconds=10)

    assert leases.acquire(MAILBOX, SECOND, later(9)).holder == FIRST
    taken = leases.acquire(MAILBOX, SECOND, later(11))
    assert taken.holder == SECOND and taken.acquired_at == later(11)
    assert leases.leases(later(12)) == [taken]


def test_renewal_keeps_a_lease_past_its_first_expiry(leases: LeaseStore) -> None:
    leases.acquire(MAILBOX, FIRST, T0, seconds=10)

    assert leases.renew(FIRST, later(8), seconds=10) == {MAILBOX}
    assert leases.acquire(MAILBOX, SECOND, later(15)).holder == FIRST
    assert leases.acquire(MAILBOX, SECOND, later(19)).holder == SECOND
    assert leases.renew(FIRST, later(20), seconds=10) == set()  # lost: renewal does not take it back
    assert leases.acquire(MAILBOX, FIRST, later(21)).holder == SECOND


def test_release_frees_the_mailbox_and_only_its_holder_can_release(leases: LeaseStore) -> None:
    leases.acquire(MAILBOX, FIRST, T0)

    leases.release(MAILBOX, SECOND)
    assert leases.acquire(MAILBOX, SECOND, later(1)).holder == FIRST
    leases.release(MAILBOX, FIRST)
    assert leases.leases(later(1)) == []
    assert leases.acquire(MAILBOX, SECOND, later(2)).holder == SECOND


def test_a_holder_takes_its_own_lease_anew(leases: LeaseStore) -> None:
    leases.acquire(MAILBOX, FIRST, T0)  # a cycle whose release was lost

    again = leases.acquire(MAILBOX, FIRST, later(5))
    assert again.holder == FIRST and again.acquired_at == later(5)


def test_a_lease_of_a_process_of_this_host_that_is_gone_is_taken_over_at_once(leases: LeaseStore) -> None:
    crashed = Holder("3" * 32, socket.gethostname(), dead_pid())
    leases.acquire(MAILBOX, crashed, T0)

    assert leases.acquire(MAILBOX, SECOND, later(1)).holder == SECOND


def test_of_many_simultaneous_holders_exactly_one_gets_the_lease(database: Database) -> None:
    holders = [Holder(f"{n:032d}", "host", n) for n in range(8)]
    start = threading.Barrier(len(holders))
    won: list[Holder] = []

    def race(holder: Holder) -> None:
        start.wait()
        if database.leases.acquire(MAILBOX, holder, T0).holder == holder:
            won.append(holder)

    threads = [threading.Thread(target=race, args=(h,)) for h in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(won) == 1
    assert [lease.holder for lease in database.leases.leases(T0)] == won


def test_a_second_daemon_is_refused_with_the_first_ones_host_pid_and_start(leases: LeaseStore) -> None:
    leases.register(FIRST, T0)
    leases.heartbeat(FIRST, later(30))

    with pytest.raises(AnotherRunnerActive) as refused:
        leases.register(SECOND, later(40))

    assert str(refused.value).startswith(
        "another roomsync run is active on this database: host host-a, pid 101, "
        "since 2030-03-04 10:00:00 UTC (heartbeat 10 s ago)"
    )
    assert [r.holder for r in leases.registrations(later(40))] == [FIRST]


def test_daemons_that_share_register_side_by_side(leases: LeaseStore) -> None:
    leases.register(FIRST, T0)
    leases.register(SECOND, later(1), share=True)

    assert [r.holder for r in leases.registrations(later(2))] == [FIRST, SECOND]
    with pytest.raises(AnotherRunnerActive, match="host host-a, pid 101"):
        leases.register(Holder("4" * 32, "host-c", 303), later(3))


def test_a_daemon_whose_heartbeat_lapsed_does_not_block_and_is_removed(leases: LeaseStore) -> None:
    leases.register(FIRST, T0)

    leases.register(SECOND, later(LEASE_SECONDS + 1))
    assert [r.holder for r in leases.registrations(later(LEASE_SECONDS + 1))] == [SECOND]
    assert not leases.heartbeat(FIRST, later(LEASE_SECONDS + 2))  # it learns it was removed


def test_a_daemon_of_this_host_whose_process_is_gone_does_not_block(leases: LeaseStore) -> None:
    crashed = Holder("3" * 32, socket.gethostname(), dead_pid())
    leases.register(crashed, T0)

    leases.register(SECOND, later(1))
    assert [r.holder for r in leases.registrations(later(1))] == [SECOND]


def test_an_unregistered_daemon_no_longer_blocks(leases: LeaseStore) -> None:
    leases.register(FIRST, T0)
    leases.unregister(FIRST)

    leases.register(SECOND, later(1))
    assert [r.holder for r in leases.registrations(later(1))] == [SECOND]
