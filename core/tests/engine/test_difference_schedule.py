"""The daemon's scheduled differences scans: off by default, within the request budget of each
environment, continuing where the budget stopped them, and repairing by policy as they go."""

from __future__ import annotations

import threading
import time

from roomsync.engine.difference_schedule import DifferenceSchedule
from roomsync.notify.message import NotificationKind
from roomsync.repair_settings import RepairConfig
from roomsync.storage.differences import DifferenceState

from .conftest import ALICE, BOB, CAROL, ROOM_A, World


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _drift_everywhere(world: World) -> dict[str, str]:
    """A synced reservation per person, each retitled in Outlook where the change feeds lose it."""
    booked = {email: world.book(email, title=f"Meeting of {email}") for email in (ALICE, BOB, CAROL)}
    world.sync_ok()
    for email, reservation in booked.items():
        entry = world.entry(email, reservation.id or "")
        world.exchange.user_update(email, entry.item_id, title="Edited in Outlook")
    for email in booked:
        with world.database.unit_of_work() as uow:
            state = uow.sync.mailbox_state(email)
            state.sync_state = world.runner.host("ref").changes(email, state.sync_state).sync_state
            uow.sync.save_mailbox_state(state)
            uow.commit()
    return {email: r.id or "" for email, r in booked.items()}


def test_scans_are_off_unless_configured(world: World) -> None:
    schedule = DifferenceSchedule(world.runner)
    assert not schedule.enabled
    with schedule.running(threading.Event()) as thread:
        assert thread is None


def test_the_budget_spreads_a_round_over_hours_and_repairs_by_policy(world: World) -> None:
    booked = _drift_everywhere(world)
    world.runner.settings.repair = RepairConfig(
        policy="exchange-wins", scan_every_hours=6, requests_per_hour=2
    )
    clock = Clock()
    schedule = DifferenceSchedule(world.runner, clock)
    stop = threading.Event()

    assert schedule.tick(stop) == 2  # a scan costs at least one request: two fit in the hour
    clock.now = 1800
    assert schedule.tick(stop) == 0  # the hour's budget is spent
    clock.now = 3601
    assert schedule.tick(stop) == 1  # the rest of the round
    clock.now = 3700
    assert schedule.tick(stop) == 0  # the next round is due six hours after the first began

    records = world.database.differences.list()
    assert {(r.mailbox, r.state, r.state_by) for r in records} == {
        (email, DifferenceState.AUTO_RESOLVED, "repair") for email in (ALICE, BOB, CAROL)
    }
    assert {world.reservation(rid).fields.title for rid in booked.values()} == {"Edited in Outlook"}
    told = [n for n in world.notes.sent if n.kind is NotificationKind.REPAIRED]
    assert sorted(n.recipient or "" for n in told) == sorted([ALICE, BOB, CAROL])
    assert {(n.facts["what"], n.facts["fields"], n.facts["title"]) for n in told} == {
        ("reservation-updated", "title", "Edited in Outlook")
    }
    clock.now = 6 * 3600 + 1
    assert schedule.tick(stop) == 2  # a new round, nothing left to find
    assert all(r.state is DifferenceState.AUTO_RESOLVED for r in world.database.differences.list())


def test_a_stop_ends_the_round_between_persons(world: World) -> None:
    _drift_everywhere(world)
    world.runner.settings.repair = RepairConfig(scan_every_hours=1)
    stop = threading.Event()
    stop.set()
    assert DifferenceSchedule(world.runner, Clock()).tick(stop) == 0
    assert world.database.differences.list() == []


def test_the_daemon_scans_beside_its_cycles(world: World) -> None:
    from roomsync.cli.sync import scans_banner

    held = world.book(BOB, title="Held by Bob", rooms=(ROOM_A,))
    world.sync_ok()
    # Alice books the same room in Outlook: the cycles refuse it, and it stays in her calendar
    world.exchange.user_create(ALICE, held.fields.model_copy(update={"title": "Alice in room A"}))
    world.runner.settings.repair = RepairConfig(scan_every_hours=24, policy="rooms-wins")
    world.runner.settings.sync.interval_seconds = 3600
    stop = threading.Event()
    daemon = threading.Thread(target=world.runner.run, args=(stop,))
    daemon.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not world.database.differences.list():
            time.sleep(0.2)
    finally:
        stop.set()
        daemon.join(timeout=60)
    assert not daemon.is_alive()
    [collision] = world.database.differences.list()
    assert (collision.kind, collision.mailbox, collision.state) == (
        "room-collision",
        ALICE,
        DifferenceState.OPEN,
    )
    assert [e.fields.title for e in world.exchange.entries(ALICE)] == ["Alice in room A"]  # only reported
    assert "every 24 h" in scans_banner(world.runner.settings.repair)
