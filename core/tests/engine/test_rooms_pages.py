"""A cycle with more ROOMS changes than a page plans and commits them page by page: each page
holds its own reservations and links only, keeps its cursor, and a crash resumes after the last
page committed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from roomsync.engine import cycle, read_phase
from roomsync.engine.plan import MailboxView, Plan
from roomsync.storage.protocols import LinkState

from .conftest import ALICE, KillAtCreate, World

PAGE = 25
COUNT = 120


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_phase, "ROOMS_PAGE", PAGE)


@contextmanager
def views(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """(reservations, links) of every view the cycle planned on."""
    seen: list[tuple[int, int]] = []
    planned = cycle.plan

    def spied(view: MailboxView) -> Plan:
        seen.append((len(view.reservations), len(view.links)))
        return planned(view)

    monkeypatch.setattr(cycle, "plan", spied)
    yield seen


def titles(world: World) -> list[str]:
    return sorted(entry.fields.title for entry in world.exchange.entries(ALICE))


def test_a_first_export_goes_page_by_page_each_holding_only_its_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(COUNT):
        world.book(ALICE, title=f"R{n}", hour=n)

    with views(monkeypatch) as seen:
        [report] = world.sync_ok(ALICE)

    assert report.created == COUNT
    assert titles(world) == sorted(f"R{n}" for n in range(COUNT))
    # One view per page, then the pass reading the last page's echoes back.
    assert len(seen) == -(-COUNT // PAGE) + 1
    assert max(reservations for reservations, _ in seen) == PAGE
    # A page sees the links of its echoes and its own, never the whole mailbox's.
    assert max(links for _, links in seen) <= 2 * PAGE
    with world.database.unit_of_work() as uow:
        links = uow.sync.links_in_mailbox(ALICE)
    assert len(links) == COUNT and all(link.state is LinkState.SYNCED for link in links)
    [idle] = world.sync_ok(ALICE)
    assert not idle.changed_anything


def test_an_export_killed_in_its_third_page_resumes_after_the_second(world: World) -> None:
    booked = [world.book(ALICE, title=f"R{n}", hour=n) for n in range(COUNT)]
    host = world.runner.host("ref")
    killer = KillAtCreate(7)  # a page of 25 is 3 batches of creates: the third page's first
    host.pm.register(killer)
    try:
        with suppress(KeyboardInterrupt):
            world.sync(ALICE)
    finally:
        host.pm.unregister(killer)

    with world.database.unit_of_work() as uow:
        cursor = uow.sync.mailbox_state(ALICE).rooms_cursor
        after, _ = uow.rooms.changes_since(cursor, ALICE)
        states = [link.state for link in uow.sync.links_in_mailbox(ALICE)]
    assert after == [r.id for r in booked[2 * PAGE :]]  # the cursor stands after page two
    assert states.count(LinkState.SYNCED) == 2 * PAGE
    assert len(world.exchange.entries(ALICE)) == 2 * PAGE + 10

    world.sync_ok(ALICE)
    [idle] = world.sync_ok(ALICE)

    assert titles(world) == sorted(f"R{n}" for n in range(COUNT))
    assert not idle.changed_anything


def test_history_stays_out_of_a_first_export_on_every_page(world: World) -> None:
    """Only a first cycle leaves out what ended before ``past_days``: its later pages too."""
    for n in range(COUNT):
        # Every third reservation ended a week ago.
        world.book(ALICE, title=f"R{n}", hour=n - (24 * 10 if n % 3 == 0 else 0))

    world.sync_ok(ALICE)

    assert titles(world) == sorted(f"R{n}" for n in range(COUNT) if n % 3)


def test_outlook_changes_and_a_page_of_rooms_changes_meet_in_one_cycle(world: World) -> None:
    first = [world.book(ALICE, title=f"R{n}", hour=n) for n in range(PAGE)]
    world.sync_ok(ALICE)
    entry = world.entry(ALICE, first[0].id or "")
    world.exchange.user_update(ALICE, entry.item_id, title="Renamed in Outlook")
    for n in range(PAGE, COUNT):
        world.book(ALICE, title=f"R{n}", hour=n)
    world.edit(first[1].id or "", title="Renamed in ROOMS")

    world.sync_ok(ALICE)

    assert world.reservation(first[0].id or "").fields.title == "Renamed in Outlook"
    assert world.entry(ALICE, first[1].id or "").fields.title == "Renamed in ROOMS"
    assert len(world.exchange.entries(ALICE)) == COUNT
    [idle] = world.sync_ok(ALICE)
    assert not idle.changed_anything
