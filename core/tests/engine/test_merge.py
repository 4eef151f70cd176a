"""The three-way merge on its own: keys, snapshots and what each side keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roomsync.domain import EventFields, Frequency, OccurrenceChange, Participant, Recurrence, canonical
from roomsync.engine.merge import occurrence_key, readable, room_keys, snapshot, take, three_way

START = datetime(2030, 5, 6, 9, tzinfo=UTC)
BASE = EventFields(
    title="Base",
    start=START,
    end=START + timedelta(hours=1),
    timezone="Europe/Berlin",
    participants=(Participant(email="guest@partner.example", name="Guest", external=True),),
)


def test_one_sided_changes_are_not_conflicts() -> None:
    rooms = BASE.model_copy(update={"title": "ROOMS title"})
    exchange = BASE.model_copy(update={"reminder_minutes": 5})
    merge = three_way(rooms, exchange, snapshot(BASE), snapshot(BASE))
    assert merge.conflicts == frozenset()
    assert merge.from_exchange == {"reminder"}
    merged = take(rooms, exchange, merge.from_exchange)
    assert (merged.title, merged.reminder_minutes) == ("ROOMS title", 5)


def test_time_moves_as_one_key() -> None:
    later = BASE.model_copy(update={"start": START + timedelta(hours=2), "end": START + timedelta(hours=3)})
    merge = three_way(BASE, later, snapshot(BASE), snapshot(BASE))
    assert merge.from_exchange == {"time"}


def test_same_change_on_both_sides_is_no_conflict_but_different_is() -> None:
    a = BASE.model_copy(update={"title": "A"})
    b = BASE.model_copy(update={"title": "B"})
    assert three_way(a, a, snapshot(BASE), snapshot(BASE)).conflicts == frozenset()
    assert three_way(a, b, snapshot(BASE), snapshot(BASE)).conflicts == {"title"}


def test_instants_compare_equal_whatever_the_offset() -> None:
    shifted = BASE.model_copy(
        update={"start": START.astimezone(), "end": (START + timedelta(hours=1)).astimezone()}
    )
    assert snapshot(shifted) == snapshot(BASE)


def test_participants_count_by_address_and_keep_what_rooms_knows() -> None:
    # a server shows its own display name and knows nothing of "external"
    from_server = BASE.model_copy(
        update={
            "participants": (
                Participant(email="guest@partner.example", name="Guest, External (Partner)"),
                Participant(email="new@example.org", name="New Person"),
            )
        }
    )
    renamed_only = from_server.model_copy(update={"participants": from_server.participants[:1]})
    assert snapshot(renamed_only) == snapshot(BASE)
    merge = three_way(BASE, from_server, snapshot(BASE), snapshot(BASE))
    assert merge.from_exchange == {"participants"}
    merged = take(BASE, from_server, merge.from_exchange)
    guest, new = merged.participants
    assert (guest.email, guest.name, guest.external) == ("guest@partner.example", "Guest", True)
    assert (new.email, new.name) == ("new@example.org", "New Person")


# --- series: the pattern and each occurrence change are keys of their own ----------------------

DAILY = BASE.model_copy(update={"recurrence": Recurrence(frequency=Frequency.DAILY, count=6)})


def nth(n: int) -> datetime:
    return START + timedelta(days=n - 1)


def moved(n: int, hours: int = 2) -> OccurrenceChange:
    return OccurrenceChange(
        original_start=nth(n), start=nth(n) + timedelta(hours=hours), end=nth(n) + timedelta(hours=hours + 1)
    )


def retitled(n: int, title: str) -> OccurrenceChange:
    return OccurrenceChange(original_start=nth(n), start=nth(n), end=nth(n) + timedelta(hours=1), title=title)


def with_changes(*changes: OccurrenceChange, base: EventFields = DAILY) -> EventFields:
    return base.model_copy(update={"occurrences": tuple(sorted(changes, key=lambda c: c.original_start))})


def merged_both_ways(rooms: EventFields, exchange: EventFields, base: EventFields) -> EventFields:
    merge = three_way(rooms, exchange, snapshot(base), snapshot(base))
    assert merge.conflicts == frozenset()
    return take(rooms, exchange, merge.from_exchange)


def test_outlook_moves_occurrence_3_while_rooms_retitles_occurrence_5() -> None:
    rooms = with_changes(retitled(5, "Only this one"))
    exchange = with_changes(moved(3))
    merge = three_way(rooms, exchange, snapshot(DAILY), snapshot(DAILY))
    assert merge.conflicts == frozenset()
    assert merge.from_exchange == {occurrence_key(moved(3))}
    assert take(rooms, exchange, merge.from_exchange).occurrences == (moved(3), retitled(5, "Only this one"))


def test_outlook_cancels_occurrence_2_while_rooms_moves_occurrence_4() -> None:
    cancelled = OccurrenceChange(original_start=nth(2), cancelled=True)
    merged = merged_both_ways(with_changes(moved(4)), with_changes(cancelled), DAILY)
    assert merged.occurrences == (cancelled, moved(4))


def test_an_occurrence_restored_on_one_side_is_restored() -> None:
    base = with_changes(moved(3), moved(4))
    merged = merged_both_ways(with_changes(moved(3), moved(4, hours=5)), with_changes(moved(4)), base)
    assert merged.occurrences == (moved(4, hours=5),)


def test_the_same_occurrence_changed_differently_is_a_conflict_of_that_occurrence_only() -> None:
    rooms = with_changes(moved(3), retitled(5, "ROOMS"))
    exchange = with_changes(moved(3, hours=4))
    merge = three_way(rooms, exchange, snapshot(DAILY), snapshot(DAILY))
    assert merge.conflicts == {occurrence_key(moved(3))}
    assert room_keys(merge.exchange_changed) == {occurrence_key(moved(3))}


def test_a_new_pattern_carries_its_occurrence_changes_with_it() -> None:
    """Exchange drops the exceptions of a series whose pattern changes: the side that changed the
    pattern changed them too. A change the other side made meanwhile stays where the new pattern
    still has that occurrence."""
    base = with_changes(moved(3))
    longer = DAILY.model_copy(update={"recurrence": Recurrence(frequency=Frequency.DAILY, count=10)})
    merged = merged_both_ways(base, longer, base)
    assert merged.recurrence == longer.recurrence and merged.occurrences == ()
    merged = merged_both_ways(with_changes(moved(3), retitled(5, "ROOMS")), longer, base)
    assert merged.occurrences == (retitled(5, "ROOMS"),)
    shorter = DAILY.model_copy(update={"recurrence": Recurrence(frequency=Frequency.DAILY, count=4)})
    merged = merged_both_ways(with_changes(moved(3), retitled(5, "ROOMS")), shorter, base)
    assert (merged.recurrence, merged.occurrences) == (shorter.recurrence, ())


def test_a_series_becomes_a_single_entry_without_its_occurrences() -> None:
    base = with_changes(moved(3))
    single = BASE
    merged = merged_both_ways(base.model_copy(update={"title": "ROOMS"}), single, base)
    assert (merged.title, merged.recurrence, merged.occurrences) == ("ROOMS", None, ())


def test_snapshots_stored_before_occurrence_keys_still_read() -> None:
    """Link rows hold JSON snapshots where "recurrence" was the pattern and its changes together."""
    base = with_changes(moved(3))
    stored = {key: value for key, value in snapshot(base).items() if not key.startswith("occurrence:")}
    stored["recurrence"] = canonical([base.recurrence, base.occurrences])
    assert readable(stored) == snapshot(base)
    rooms = with_changes(moved(3), retitled(5, "ROOMS"))
    exchange = with_changes(moved(3), moved(2))
    merge = three_way(rooms, exchange, stored, stored)
    assert merge.conflicts == frozenset()
    assert merge.rooms_changed == {occurrence_key(retitled(5, "x"))}
    assert merge.from_exchange == {occurrence_key(moved(2))}
    assert three_way(base, base, stored, stored).exchange_changed == frozenset()
