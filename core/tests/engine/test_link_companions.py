"""A link says whether its entry was written with buffer entries beside it, and an update tells
the connector, so that only then are they looked up."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from roomsync import hookspecs
from roomsync.connector.types import EntryUpdate

from .conftest import ALICE, World


class UpdateRecorder:
    def __init__(self) -> None:
        self.updates: list[EntryUpdate] = []

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_update_entries(self, mailbox: str, updates: list[EntryUpdate]) -> Generator[None, Any, Any]:
        self.updates.extend(updates)
        return (yield)


def companions_of(world: World, reservation_id: str | None) -> bool:
    with world.database.unit_of_work() as uow:
        [link] = uow.sync.links_for_reservation(reservation_id or "")
    return link.companions


def test_updates_say_whether_the_entry_may_have_buffer_entries(world: World) -> None:
    plain = world.book(ALICE, title="Plain")
    buffered = world.book(ALICE, title="Buffered", hour=3, setup_minutes=15)
    world.sync_ok(ALICE)
    assert not companions_of(world, plain.id) and companions_of(world, buffered.id)

    world.edit(plain.id or "", title="Plain, renamed")
    world.edit(buffered.id or "", title="Buffered, renamed")
    recorder = UpdateRecorder()
    host = world.runner.host("ref")
    host.pm.register(recorder)
    try:
        world.sync_ok(ALICE)
    finally:
        host.pm.unregister(recorder)

    sent = {update.fields.title: update.companions for update in recorder.updates}
    assert sent == {"Plain, renamed": False, "Buffered, renamed": True}


def test_a_reservation_that_loses_its_buffers_is_known_without_them_after_the_update(world: World) -> None:
    r = world.book(ALICE, title="Buffered", followup_minutes=30)
    world.sync_ok(ALICE)
    with world.database.unit_of_work() as uow:
        uow.rooms.update_reservation(r.id or "", followup_minutes=0)
        uow.commit()
    world.edit(r.id or "", title="No buffers any more")

    world.sync_ok(ALICE)

    assert not companions_of(world, r.id)
