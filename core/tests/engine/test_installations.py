"""Stamps name their installation: another installation's entries, and entries from before."""

from __future__ import annotations

from sqlalchemy import update

from roomsync.connector.types import EntryDraft
from roomsync.stamps import Installation, StampCodec
from roomsync.storage.models import InstallationRow

from .conftest import ALICE, World

OTHER = Installation(id="0f0f0f0f-1111-4222-8333-444444444444")


def test_another_installations_entry_with_the_same_id_is_left_alone(world: World) -> None:
    theirs = StampCodec(OTHER).encode("1")
    world.exchange.create_entries(ALICE, [EntryDraft(stamp=theirs, fields=world.fields("Theirs", hour=4))])
    mine = world.book(ALICE, title="Mine")
    assert mine.id == "1"

    [report] = world.sync_ok(ALICE)
    world.sync_ok(ALICE)

    assert (report.created, report.updated, report.imported, report.booked) == (1, 0, 0, 0)
    assert sorted((e.stamp, e.fields.title) for e in world.exchange.entries(ALICE)) == sorted(
        [(theirs, "Theirs"), (world.stamp("1"), "Mine")]
    )
    assert world.reservation("1").fields.title == "Mine" and world.reservation("1").version == 1


def test_an_outlook_edit_of_anothers_entry_changes_nothing_here(world: World) -> None:
    theirs = StampCodec(OTHER).encode("1")
    [entry] = world.exchange.create_entries(ALICE, [EntryDraft(stamp=theirs, fields=world.fields("Theirs"))])
    world.book(ALICE, title="Mine")
    world.sync_ok(ALICE)
    world.exchange.user_update(ALICE, entry.item_id, title="Theirs, edited")
    world.exchange.user_delete(ALICE, world.entry(ALICE, "1").item_id)
    world.book(ALICE, title="Second")
    world.sync_ok(ALICE)
    # The deletion of our own entry cancels our reservation; their edit reaches nothing of ours.
    assert not world.reservation("1").active
    assert world.reservation("2").fields.title == "Second"
    assert [e.fields.title for e in world.exchange.entries(ALICE) if e.stamp == theirs] == ["Theirs, edited"]


def test_a_bare_stamp_is_not_a_new_installations_own(world: World) -> None:
    world.exchange.create_entries(ALICE, [EntryDraft(stamp="1", fields=world.fields("From an old release"))])
    world.book(ALICE, title="Mine")
    [report] = world.sync_ok(ALICE)
    assert report.created == 1
    assert sorted(e.stamp or "" for e in world.exchange.entries(ALICE)) == sorted(["1", world.stamp("1")])


def test_an_installation_from_before_keeps_its_bare_stamps_and_restamps_them(world: World) -> None:
    with world.database.engine.begin() as connection:
        connection.execute(update(InstallationRow).values(bare_stamps=True))
    world.runner.close()  # the runner read the identity before the change above
    mine = world.book(ALICE, title="Mine")
    # Written by this installation before stamps were scoped, then a crash lost the link.
    world.exchange.create_entries(ALICE, [EntryDraft(stamp=mine.id or "", fields=mine.fields)])

    [report] = world.sync_ok(ALICE)
    assert report.created == 0  # adopted by its bare stamp, not written twice
    assert [e.stamp for e in world.exchange.entries(ALICE)] == ["1"]

    world.edit("1", title="Mine, renamed")
    world.sync_ok(ALICE)
    [entry] = world.exchange.entries(ALICE)
    assert (entry.stamp, entry.fields.title) == (world.stamp("1"), "Mine, renamed")  # re-stamped
