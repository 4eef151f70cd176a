"""The SQL sync store: links, mailbox states, items not imported and the sync log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from roomsync.storage import Database, SqlUnitOfWork
from roomsync.storage.protocols import Link, LinkState, LogEntry, MailboxState, SeenEntry

MAILBOX, OTHER = "alice@example.org", "bob@example.org"
PLUS_TWO = timezone(timedelta(hours=2))
SNAPSHOT = {
    "title": "Review: Ü €",
    "start": "2025-03-03T08:00:00+00:00",
    "rooms": ["room-a@example.org"],
    "participants": [{"email": "bob@example.org", "name": "Bob", "external": False}],
    "reminder_minutes": None,
    "private": True,
}


def full_link(**changes: object) -> Link:
    values: dict[str, object] = {
        "reservation_id": "17",
        "mailbox": MAILBOX,
        "item_id": "AAMkAD" + "x" * 140 + "=",
        "change_key": "DwAAABYAAAA",
        "state": LinkState.SYNCED,
        "rooms_version": 4,
        "rooms_snapshot": SNAPSHOT,
        "exchange_snapshot": {**SNAPSHOT, "title": "Changed"},
        "conflicts": 2,
        "attempts": 1,
        "last_error": "throttled",
    }
    return Link(**{**values, **changes})  # type: ignore[arg-type]


def test_link_round_trip(database: Database, uow: SqlUnitOfWork) -> None:
    link = full_link()
    uow.sync.save_link(link)
    uow.commit()

    assert link.updated_at is not None and link.updated_at.tzinfo is UTC
    with database.unit_of_work() as fresh:
        loaded = fresh.sync.links_for_reservation("17")
    assert loaded == [link]
    assert loaded[0].rooms_snapshot == SNAPSHOT


def test_new_link_has_defaults(uow: SqlUnitOfWork) -> None:
    uow.sync.save_link(Link(reservation_id="5", mailbox=MAILBOX))

    (link,) = uow.sync.links_for_reservation("5")
    assert (link.state, link.item_id, link.rooms_snapshot, link.conflicts) == (
        LinkState.CREATING,
        None,
        None,
        0,
    )


def test_save_link_replaces(uow: SqlUnitOfWork) -> None:
    uow.sync.save_link(full_link())
    uow.sync.save_link(full_link(item_id="new-item", state=LinkState.FAILED, attempts=3, rooms_snapshot=None))

    (link,) = uow.sync.links_for_reservation("17")
    assert (link.item_id, link.state, link.attempts, link.rooms_snapshot) == (
        "new-item",
        LinkState.FAILED,
        3,
        None,
    )


def test_snapshot_changed_in_place_is_saved(database: Database, uow: SqlUnitOfWork) -> None:
    uow.sync.save_link(full_link())
    (link,) = uow.sync.links_for_reservation("17")
    assert link.rooms_snapshot is not None
    link.rooms_snapshot["title"] = "Edited in place"
    uow.sync.save_link(link)
    uow.commit()

    with database.unit_of_work() as fresh:
        (loaded,) = fresh.sync.links_for_reservation("17")
    assert loaded.rooms_snapshot is not None and loaded.rooms_snapshot["title"] == "Edited in place"


def test_links_by_item_and_mailbox(uow: SqlUnitOfWork) -> None:
    uow.sync.save_link(full_link(reservation_id="1", item_id="item-1"))
    uow.sync.save_link(full_link(reservation_id="2", item_id="item-2", state=LinkState.DELETING))
    uow.sync.save_link(full_link(reservation_id="3", item_id=None, state=LinkState.CREATING))
    uow.sync.save_link(full_link(reservation_id="1", mailbox=OTHER, item_id="item-1"))

    by_item = uow.sync.link_by_item(MAILBOX, "item-2")
    assert by_item is not None and by_item.reservation_id == "2"
    other = uow.sync.link_by_item(OTHER, "item-1")
    assert other is not None and other.mailbox == OTHER
    assert uow.sync.link_by_item(OTHER, "item-2") is None
    assert [link.reservation_id for link in uow.sync.links_in_mailbox(MAILBOX)] == ["1", "2", "3"]
    pending = uow.sync.links_in_mailbox(MAILBOX, [LinkState.CREATING, LinkState.DELETING])
    assert [link.reservation_id for link in pending] == ["2", "3"]
    assert uow.sync.links_in_mailbox(MAILBOX, []) == []
    assert [link.mailbox for link in uow.sync.links_for_reservation("1")] == [MAILBOX, OTHER]


def test_delete_link(uow: SqlUnitOfWork) -> None:
    uow.sync.save_link(full_link())
    uow.sync.save_link(full_link(mailbox=OTHER))

    uow.sync.delete_link("17", MAILBOX)
    uow.sync.delete_link("17", "nobody@example.org")  # nothing to delete is fine

    assert [link.mailbox for link in uow.sync.links_for_reservation("17")] == [OTHER]
    uow.sync.save_link(full_link(item_id="again"))
    assert uow.sync.link_by_item(MAILBOX, "again") is not None


def test_unknown_mailbox_gets_a_fresh_unsaved_state(uow: SqlUnitOfWork) -> None:
    assert uow.sync.mailbox_state(MAILBOX) == MailboxState(mailbox=MAILBOX)
    assert uow.sync.mailbox_states() == []


def test_mailbox_state_round_trip(database: Database, uow: SqlUnitOfWork) -> None:
    state = MailboxState(
        mailbox=MAILBOX,
        environment="ex2013",
        sync_state="H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+" * 20,
        rooms_cursor=42,
        last_success=datetime(2025, 3, 3, 10, 0, 0, 123456, tzinfo=PLUS_TWO),
        last_attempt=datetime(2025, 3, 3, 8, 5, tzinfo=UTC),
        last_error="timed out",
        consecutive_failures=3,
    )
    uow.sync.save_mailbox_state(state)
    uow.sync.save_mailbox_state(MailboxState(mailbox=OTHER))
    uow.commit()

    with database.unit_of_work() as fresh:
        loaded = fresh.sync.mailbox_state(MAILBOX)
        listed = fresh.sync.mailbox_states()
    assert loaded == state
    assert loaded.last_success is not None and loaded.last_success.tzinfo is UTC
    assert loaded.last_success.hour == 8 and loaded.last_success.microsecond == 123456
    assert [s.mailbox for s in listed] == [MAILBOX, OTHER]


def test_mailbox_state_is_replaced(uow: SqlUnitOfWork) -> None:
    uow.sync.save_mailbox_state(MailboxState(mailbox=MAILBOX, sync_state="one", consecutive_failures=2))
    state = uow.sync.mailbox_state(MAILBOX)
    state.sync_state, state.consecutive_failures, state.rooms_cursor = "two", 0, 7
    uow.sync.save_mailbox_state(state)

    assert uow.sync.mailbox_state(MAILBOX) == MailboxState(mailbox=MAILBOX, sync_state="two", rooms_cursor=7)


def test_seen_entries(uow: SqlUnitOfWork) -> None:
    entry = SeenEntry(mailbox=MAILBOX, item_id="item-1", change_key="ck-1", reason="room taken")
    uow.sync.save_seen_entry(entry)
    assert uow.sync.seen_entry(MAILBOX, "item-1") == entry
    assert uow.sync.seen_entry(OTHER, "item-1") is None

    changed = SeenEntry(mailbox=MAILBOX, item_id="item-1", change_key="ck-2", reason="unrelated")
    uow.sync.save_seen_entry(changed)
    assert uow.sync.seen_entry(MAILBOX, "item-1") == changed

    uow.sync.forget_seen_entry(MAILBOX, "item-1")
    uow.sync.forget_seen_entry(MAILBOX, "never-seen")
    assert uow.sync.seen_entry(MAILBOX, "item-1") is None
    uow.sync.save_seen_entry(entry)
    assert uow.sync.seen_entry(MAILBOX, "item-1") == entry


def test_log_round_trip_newest_first(database: Database, uow: SqlUnitOfWork) -> None:
    start = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    entries = [
        LogEntry(at=start, mailbox=MAILBOX, level="info", event="cycle", message="cycle done"),
        LogEntry(
            at=start + timedelta(minutes=1),
            mailbox=MAILBOX,
            level="warning",
            event="conflict",
            message="title changed on both sides",
            reservation_id="17",
            data={"fields": ["title"], "policy": "rollback", "count": 2},
        ),
        LogEntry(at=start + timedelta(minutes=2), mailbox=None, level="error", event="failure", message="db"),
        # Same instant as the previous one but written later, in another zone.
        LogEntry(
            at=(start + timedelta(minutes=2)).astimezone(PLUS_TWO),
            mailbox=OTHER,
            level="info",
            event="cycle",
            message="cycle done",
        ),
    ]
    for entry in entries:
        uow.sync.log(entry)
    uow.commit()

    with database.unit_of_work() as fresh:
        recent = fresh.sync.recent_log()
        assert recent == entries[::-1]
        assert all(entry.at.tzinfo is UTC for entry in recent)
        assert fresh.sync.recent_log(limit=2) == entries[:1:-1]
        assert fresh.sync.recent_log(mailbox=MAILBOX) == [entries[1], entries[0]]
        assert fresh.sync.recent_log(event="cycle") == [entries[3], entries[0]]
        assert fresh.sync.recent_log(mailbox=MAILBOX, event="conflict") == [entries[1]]


def test_naive_datetimes_are_refused(uow: SqlUnitOfWork) -> None:
    with pytest.raises(StatementError, match="naive"):
        uow.sync.save_mailbox_state(MailboxState(mailbox=MAILBOX, last_attempt=datetime(2025, 3, 3, 8, 0)))
