"""Which buffer companions an update rewrites, adds and removes (reconcile_companions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roomsync.connector.companions import (
    Buffer,
    CompanionChanges,
    companion_lookups,
    companion_stamp,
    reconcile_companions,
)
from roomsync.connector.types import EntryUpdate
from roomsync.domain import EventFields, ShowAs

START = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
SETUP = companion_stamp("r1", Buffer.SETUP)
FOLLOWUP = companion_stamp("r1", Buffer.FOLLOWUP)


def update(setup: int = 0, followup: int = 0, stamp: str = "r1", **changes: object) -> EntryUpdate:
    fields = EventFields.model_validate(
        {"title": "Board", "start": START, "end": START + timedelta(hours=1), **changes}
    )
    return EntryUpdate(
        item_id=f"item-{stamp}",
        change_key="ck",
        stamp=stamp,
        fields=fields,
        setup_minutes=setup,
        followup_minutes=followup,
    )


def test_the_lookups_are_both_companions_of_every_update() -> None:
    assert companion_lookups([update(), update(stamp="r2")]) == [
        SETUP,
        FOLLOWUP,
        companion_stamp("r2", Buffer.SETUP),
        companion_stamp("r2", Buffer.FOLLOWUP),
    ]


def test_nothing_to_do_without_buffers_or_companions() -> None:
    assert reconcile_companions([update()], {}) == CompanionChanges()


def test_missing_companions_are_created_as_known_new() -> None:
    changes = reconcile_companions([update(setup=30, followup=15)], {})

    assert [d.stamp for d in changes.create] == [SETUP, FOLLOWUP]
    assert all(d.known_new for d in changes.create)
    assert changes.create[0].fields.start == START - timedelta(minutes=30)
    assert changes.update == () and changes.delete == ()


def test_existing_companions_are_rewritten_by_item_id_without_a_change_key() -> None:
    changes = reconcile_companions([update(setup=30)], {SETUP: "item-setup"})

    [rewrite] = changes.update
    assert (rewrite.item_id, rewrite.stamp, rewrite.change_key) == ("item-setup", SETUP, None)
    assert rewrite.fields.title == "Setup: Board"
    assert rewrite.fields.end == START
    assert changes.create == () and changes.delete == ()


def test_companions_no_longer_wanted_are_deleted() -> None:
    existing = {SETUP: "item-setup", FOLLOWUP: "item-followup"}

    shorter = reconcile_companions([update(followup=15)], existing)
    free = reconcile_companions([update(setup=30, followup=15, show_as=ShowAs.FREE)], existing)

    assert shorter.delete == ("item-setup",)
    assert [u.item_id for u in shorter.update] == ["item-followup"]
    assert free.delete == ("item-setup", "item-followup")
    assert free.update == () and free.create == ()


def test_each_update_gets_its_own_companions() -> None:
    changes = reconcile_companions(
        [update(setup=30, stamp="r1"), update(followup=10, stamp="r2")], {SETUP: "item-setup"}
    )

    assert [u.stamp for u in changes.update] == [SETUP]
    assert [d.stamp for d in changes.create] == [companion_stamp("r2", Buffer.FOLLOWUP)]
    assert changes.delete == ()


def test_lookups_only_for_updates_that_may_have_companions() -> None:
    """An update batch without buffers needs no lookup at all."""
    fields = EventFields(
        title="Plain", start=datetime(2026, 3, 23, 8, tzinfo=UTC), end=datetime(2026, 3, 23, 9, tzinfo=UTC)
    )
    known_without = EntryUpdate(item_id="i1", stamp="r1", fields=fields, companions=False)
    maybe = EntryUpdate(item_id="i2", stamp="r2", fields=fields)

    assert companion_lookups([known_without]) == []
    assert companion_lookups([known_without, maybe]) == ["r2#setup", "r2#followup"]
    # A buffer an entry now needs, where none was written, is created without looking.
    buffered = known_without.model_copy(update={"setup_minutes": 10})
    changes = reconcile_companions([buffered], {})
    assert [d.stamp for d in changes.create] == ["r1#setup"] and changes.create[0].known_new
