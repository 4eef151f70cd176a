"""A connector's own writes, remembered so their echo in the change feed needs no read."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

from roomsync.connector.own_writes import WrittenEntries
from roomsync.connector.types import EntryDraft, EntryUpdate, ItemRef, WriteErrorKind, WriteResult
from roomsync.domain import EventFields

START = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
MAILBOX = "ada@example.org"
FIELDS = EventFields(title="Board", start=START, end=START + timedelta(hours=1))


def test_a_successful_write_is_known_by_its_change_key() -> None:
    written = WrittenEntries()
    draft = EntryDraft(stamp="r1", fields=FIELDS, setup_minutes=15)

    written.remember_write(MAILBOX, WriteResult.success("item-1", "ck-1"), draft)

    assert written.take(MAILBOX, "item-1", "ck-2") is None  # changed since: read it
    assert written.take("someone@example.org", "item-1", "ck-1") is None  # another mailbox's
    assert written.take(MAILBOX, "item-1", "ck-1") == ItemRef(item_id="item-1", change_key="ck-1", stamp="r1")
    assert written.take(MAILBOX, "item-1", "ck-1") is None  # recognised once
    assert len(written) == 0


def test_a_series_is_recognised_once_per_occurrence_by_peeking() -> None:
    written = WrittenEntries()
    written.remember(MAILBOX, "master", "ck-1")

    assert written.peek(MAILBOX, "master", "ck-1") == ItemRef(item_id="master", change_key="ck-1")
    assert written.peek(MAILBOX, "master", "ck-1") is not None
    assert written.peek(MAILBOX, "master", "") is None


def test_failed_writes_answers_without_a_change_key_and_meetings_with_rooms_are_not_remembered() -> None:
    written = WrittenEntries()
    update = EntryUpdate(item_id="item-1", stamp="r1", fields=FIELDS)
    with_room = EntryDraft(stamp="r2", fields=FIELDS.model_copy(update={"rooms": ("room@example.org",)}))

    written.remember_write(MAILBOX, WriteResult.failure(WriteErrorKind.STALE, "changed"), update)
    written.remember_write(MAILBOX, WriteResult.success("item-2", ""), update)
    written.remember_write(MAILBOX, WriteResult.success("item-3", "ck-3"), with_room)

    assert len(written) == 0


def test_every_write_of_a_large_export_is_recognised() -> None:
    """Up to 20,000 entries were kept before: the 30,000 after them were read back."""
    written = WrittenEntries()
    count = 50_000
    for n in range(count):
        written.remember(MAILBOX, f"item-{n}", f"ck-{n}")

    assert all(written.take(MAILBOX, f"item-{n}", f"ck-{n}") for n in range(count))
    assert len(written) == 0


def test_a_written_version_costs_a_fingerprint_not_the_entry() -> None:
    """Item ids and change keys as long as Exchange's; the entries as remembered before kept
    their fields too (more than a kilobyte each)."""
    count = 20_000
    ids = [f"AAMkAGI2TG93AAA{n:0>120}" for n in range(count)]
    keys = [f"DwAAABYAAADxR{n:0>40}" for n in range(count)]
    written = WrittenEntries()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for item_id, key in zip(ids, keys, strict=True):
            written.remember(MAILBOX, item_id, key)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / count < 150, f"{held / count:.0f} bytes per written version"
