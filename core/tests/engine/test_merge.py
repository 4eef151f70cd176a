"""The three-way merge on its own: keys, snapshots and what each side keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roomsync.engine.merge import snapshot, take, three_way
from roomsync.model import EventFields, Participant

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
