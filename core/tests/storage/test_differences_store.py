"""Stored differences across scans, on each database: one record per difference, states kept,
ignored ones opening again when a side changed, and only what a scan looked at settled by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomsync.errors import NotFound
from roomsync.storage import Database
from roomsync.storage.differences import SCAN, DifferenceRecord, DifferenceState, ScanScope

ALICE, BOB = "alice@example.org", "bob@example.org"
NOW = datetime.now(UTC)


def _found(
    ident: str, mailbox: str = ALICE, days: int = 3, sides: str = "v1", **extra: object
) -> DifferenceRecord:
    return DifferenceRecord(
        ident=ident,
        kind="fields-differ",
        mailbox=mailbox,
        title=f"Meeting {ident}",
        starts_at=NOW + timedelta(days=days),
        reservation_id=extra.pop("reservation_id", ident),  # type: ignore[arg-type]
        item_id=f"item-{ident}",
        fields={"title": {"rooms": "A", "exchange": "B", "changed": "exchange"}},
        sides=sides,
        **extra,  # type: ignore[arg-type]
    )


def _scope(*mailboxes: str, days: int = 90, **extra: object) -> ScanScope:
    return ScanScope(frozenset(mailboxes), NOW, NOW + timedelta(days=days), **extra)  # type: ignore[arg-type]


def test_a_difference_keeps_its_number_and_first_sighting_across_scans(database: Database) -> None:
    store = database.differences
    [first] = store.merge_scan([_found("a")], _scope(ALICE))
    [again] = store.merge_scan([_found("a", sides="v2")], _scope(ALICE))
    assert (again.id, again.first_seen, again.state) == (first.id, first.first_seen, DifferenceState.OPEN)
    assert again.last_seen is not None and first.last_seen is not None and again.last_seen >= first.last_seen
    assert again.fields == first.fields and again.starts_at == first.starts_at


def test_ignored_stays_ignored_until_a_side_changes(database: Database) -> None:
    store = database.differences
    [record] = store.merge_scan([_found("a")], _scope(ALICE))
    assert record.id is not None
    store.mark(record.id, DifferenceState.IGNORED, "ops")
    [same] = store.merge_scan([_found("a")], _scope(ALICE))
    assert (same.state, same.state_by) == (DifferenceState.IGNORED, "ops")
    [changed] = store.merge_scan([_found("a", sides="v2")], _scope(ALICE))
    assert (changed.state, changed.state_by, changed.resolution) == (
        DifferenceState.OPEN,
        SCAN,
        "changed since it was ignored",
    )


def test_a_scan_settles_only_what_it_looked_at(database: Database) -> None:
    store = database.differences
    store.merge_scan([_found("near", days=3), _found("far", days=200)], _scope(ALICE, days=365))
    store.merge_scan([_found("bob", mailbox=BOB)], _scope(BOB))
    # a 90-day scan of alice finds nothing: the near one is settled, the far one (outside the
    # window) and bob's (another mailbox) are not
    store.merge_scan([], _scope(ALICE))
    states = {r.ident: r.state for r in store.list()}
    assert states == {
        "near": DifferenceState.RESOLVED,
        "far": DifferenceState.OPEN,
        "bob": DifferenceState.OPEN,
    }
    # a series dated before the window is settled when its reservation was compared
    store.merge_scan([_found("series", days=-30)], _scope(ALICE, reservation_ids=frozenset({"series"})))
    store.merge_scan([], _scope(ALICE, reservation_ids=frozenset({"series"})))
    [series] = store.list(reservation_ids=["series"])
    assert (series.state, series.resolution) == (DifferenceState.RESOLVED, "no longer found")
    # a scan narrowed to some reservations leaves the others in its window alone
    store.merge_scan([_found("other", days=5)], _scope(ALICE))
    store.merge_scan([], _scope(ALICE, reservation_ids=frozenset({"near"}), narrowed=True))
    assert store.list(reservation_ids=["other"])[0].state is DifferenceState.OPEN


def test_a_resolved_difference_found_again_is_open_again(database: Database) -> None:
    store = database.differences
    [record] = store.merge_scan([_found("a")], _scope(ALICE))
    assert record.id is not None
    store.mark(record.id, DifferenceState.AUTO_RESOLVED, "repair", "entry rewritten from the reservation")
    [back] = store.merge_scan([_found("a")], _scope(ALICE))
    assert (back.id, back.state, back.resolution) == (record.id, DifferenceState.OPEN, "back")


def test_filters_and_unknown_numbers(database: Database) -> None:
    store = database.differences
    store.merge_scan([_found("a", environment="onprem"), _found("b")], _scope(ALICE))
    store.merge_scan([_found("c", mailbox=BOB)], _scope(BOB))
    assert [r.ident for r in store.list(mailboxes=["ALICE@example.org"])] == ["a", "b"]
    assert [r.ident for r in store.list(environment="onprem")] == ["a"]
    assert store.list(states=[DifferenceState.IGNORED]) == []
    with pytest.raises(NotFound, match="no difference 4242"):
        store.mark(4242, DifferenceState.IGNORED, "ops")
    with pytest.raises(NotFound, match="no difference 4242"):
        store.get(4242)
