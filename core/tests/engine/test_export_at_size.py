"""A first export at size: links saved in bulk, our own writes known without reading them back,
and the crash safety of writes whose settling was lost."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import event

from roomsync import hookspecs
from roomsync.connector.types import ChangeSet
from roomsync.storage import Database
from roomsync.storage.protocols import LinkState

from .conftest import ALICE, KillAtCreate, World


class FeedRecorder:
    """Keeps every change page the connector answered."""

    def __init__(self) -> None:
        self.pages: list[ChangeSet] = []

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> Generator[None, Any, Any]:
        page = yield
        self.pages.append(page)
        return page


class KillAfterUpdate:
    """Stands for the process dying right after the server applied an update."""

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_update_entries(self, mailbox: str, updates: list[Any]) -> Generator[None, Any, Any]:
        yield
        raise KeyboardInterrupt("killed after the server applied the update")


@contextmanager
def plugged(world: World, plugin: object) -> Iterator[None]:
    host = world.runner.host("ref")
    host.pm.register(plugin)
    try:
        yield
    finally:
        host.pm.unregister(plugin)


@contextmanager
def link_statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements that touch the links table meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def heard(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if " links" in statement:
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", heard)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", heard)


def test_a_first_export_saves_its_links_in_a_few_statements(world: World) -> None:
    """Each link was looked up with its own SELECT, then written again with its own UPDATE."""
    for n in range(120):
        world.book(ALICE, title=f"R{n}", hour=n)

    with link_statements(world.database) as statements:
        world.sync_ok(ALICE)

    assert len(world.exchange.entries(ALICE)) == 120
    assert len(statements) <= 20, f"{len(statements)} statements on links for 120 links"
    with world.database.unit_of_work() as uow:
        links = uow.sync.links_in_mailbox(ALICE)
    assert len(links) == 120 and all(link.state is LinkState.SYNCED and link.item_id for link in links)


def test_the_pass_after_an_export_knows_every_entry_from_its_links(world: World) -> None:
    count = 150
    for n in range(count):
        world.book(ALICE, title=f"R{n}", hour=n)
    feed = FeedRecorder()

    with plugged(world, feed):
        world.sync_ok(ALICE)
        world.exchange.calls.clear()
        [after] = world.sync_ok(ALICE)

    # The cycle's second pass read every created entry back as unchanged: ids and change keys.
    echoed = {ref.item_id for page in feed.pages for ref in page.unchanged}
    assert len(echoed) == count
    assert all(not page.entries for page in feed.pages)
    with world.database.unit_of_work() as uow:
        keys = {link.item_id: link.change_key for link in uow.sync.links_in_mailbox(ALICE)}
    assert {ref.item_id: ref.change_key for page in feed.pages for ref in page.unchanged} == keys
    # Nothing was looked up by stamp, and the next cycle has nothing to do.
    assert world.exchange.calls["find_by_stamp"] == 0
    assert not after.changed_anything
    assert len(world.exchange.entries(ALICE)) == count


def test_an_outlook_edit_after_our_write_is_read_and_imported(world: World) -> None:
    kept = world.book(ALICE, title="Kept")
    edited = world.book(ALICE, title="Edited", hour=2)
    world.sync_ok(ALICE)
    entry = world.entry(ALICE, edited.id or "")
    world.exchange.user_update(ALICE, entry.item_id, title="Edited in Outlook")

    world.sync_ok(ALICE)

    assert world.reservation(edited.id or "").fields.title == "Edited in Outlook"
    assert world.reservation(kept.id or "").fields.title == "Kept"


def test_an_update_whose_settling_was_lost_is_read_and_recognised(world: World) -> None:
    """The connector knows the version its update left, the link still holds the one before:
    the entry is read by its stamp, and the write is recognised as ours, not as an Outlook edit."""
    r = world.book(ALICE, title="Before")
    world.sync_ok(ALICE)
    world.edit(r.id or "", title="After")
    with plugged(world, KillAfterUpdate()), suppress(KeyboardInterrupt):
        world.sync(ALICE)
    assert world.entry(ALICE, r.id or "").fields.title == "After"
    world.exchange.calls.clear()

    [report] = world.sync_ok(ALICE)

    assert world.exchange.calls["find_by_stamp"] == 1
    assert report.conflicts == 0 and report.imported == 0
    with world.database.unit_of_work() as uow:
        [link] = uow.sync.links_in_mailbox(ALICE)
    assert link.state is LinkState.SYNCED
    assert link.change_key == world.entry(ALICE, r.id or "").change_key
    [idle] = world.sync_ok(ALICE)
    assert not idle.changed_anything
    assert len(world.exchange.entries(ALICE)) == 1


def test_a_create_whose_settling_was_lost_is_adopted_once(world: World) -> None:
    for n in range(12):
        world.book(ALICE, title=f"R{n}", hour=n)
    assert world.killed_sync(ALICE)  # after the first batch of 10 reached the server

    world.sync_ok(ALICE)
    [idle] = world.sync_ok(ALICE)

    assert sorted(e.fields.title for e in world.exchange.entries(ALICE)) == sorted(f"R{n}" for n in range(12))
    assert not idle.changed_anything
    with world.database.unit_of_work() as uow:
        links = uow.sync.links_in_mailbox(ALICE)
    assert len(links) == 12 and all(link.state is LinkState.SYNCED for link in links)


def test_an_export_killed_after_a_page_keeps_that_page_and_finishes_without_duplicates(
    world: World,
) -> None:
    """Pages of 5 batches of 10 in the test world: killed at the second page's first batch."""
    for n in range(120):
        world.book(ALICE, title=f"R{n}", hour=n)
    with plugged(world, KillAtCreate(6)), suppress(KeyboardInterrupt):
        world.sync(ALICE)

    with world.database.unit_of_work() as uow:
        states = [link.state for link in uow.sync.links_in_mailbox(ALICE)]
    assert states.count(LinkState.SYNCED) == 50  # the first page, committed with its outcome
    assert states.count(LinkState.CREATING) == 50  # the page the crash hit: recorded
    assert len(world.exchange.entries(ALICE)) == 60

    world.sync_ok(ALICE)
    [idle] = world.sync_ok(ALICE)

    titles = sorted(e.fields.title for e in world.exchange.entries(ALICE))
    assert titles == sorted(f"R{n}" for n in range(120))
    with world.database.unit_of_work() as uow:
        links = uow.sync.links_in_mailbox(ALICE)
    assert len(links) == 120 and all(link.state is LinkState.SYNCED for link in links)
    assert not idle.changed_anything
