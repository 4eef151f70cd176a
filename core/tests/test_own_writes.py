"""A connector's own writes, remembered so their echo in the change feed needs no read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roomsync.connector.own_writes import WrittenEntries
from roomsync.connector.types import EntryDraft, EntryUpdate, WriteErrorKind, WriteResult
from roomsync.domain import EventFields

START = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
MAILBOX = "ada@example.org"
FIELDS = EventFields(title="Board", start=START, end=START + timedelta(hours=1))


def test_a_successful_write_is_known_by_its_change_key() -> None:
    written = WrittenEntries()
    draft = EntryDraft(stamp="r1", fields=FIELDS, setup_minutes=15)

    written.remember_write(MAILBOX, WriteResult.success("item-1", "ck-1"), draft)

    assert written.take(MAILBOX, "item-1", "ck-2") is None  # changed since: read it
    written.remember_write(MAILBOX, WriteResult.success("item-1", "ck-1"), draft)
    entry = written.take(MAILBOX, "item-1", "ck-1")
    assert entry is not None
    assert (entry.mailbox, entry.organizer, entry.stamp) == (MAILBOX, MAILBOX, "r1")
    assert (entry.fields, entry.setup_minutes, entry.followup_minutes) == (FIELDS, 15, 0)


def test_failed_writes_and_answers_without_a_change_key_are_not_remembered() -> None:
    written = WrittenEntries()
    update = EntryUpdate(item_id="item-1", stamp="r1", fields=FIELDS)

    written.remember_write(MAILBOX, WriteResult.failure(WriteErrorKind.STALE, "changed"), update)
    written.remember_write(MAILBOX, WriteResult.success("item-2", ""), update)

    assert len(written) == 0
