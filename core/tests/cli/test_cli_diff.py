"""``roomsync diff`` as an administrator meets it: stored differences with values side by side,
which side changed last, ignore until a side changes, series per occurrence, room collisions,
repair by policy (dry run, never a deletion) and the exit code monitoring reads."""

from __future__ import annotations

import getpass
import json
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import Result

from roomsync.domain import OccurrenceChange
from roomsync.storage import Database

from .test_cli import ALICE, BOB, _directory, as_json, book, home, ok, run, seed

__all__ = ["home"]  # the fixture, used by name

ATLAS = "room.atlas@example.org"


def _day(offset: int = 10) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


def diff(home: Path, *args: str, code: int = 1) -> Any:
    result = run(home, "--json", "diff", *args)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _entries_by_reservation(home: Path) -> dict[str, Any]:
    status = as_json(home, "db", "status")
    assert isinstance(status, dict)
    prefix = f"{status['installation']}:"
    return {(e.stamp or "").removeprefix(prefix): e for e in _directory(home).entries(ALICE)}


def _booked_and_synced(home: Path, *extra: str) -> dict[str, Any]:
    day = _day()
    booked = book(home, "--start", f"{day}T10:00", "--end", f"{day}T11:00", *extra)
    ok(home, "sync", "--once")
    return booked


def _with_repair(home: Path, block: str) -> None:
    config = home / "roomsync.toml"
    config.write_text(config.read_text() + "\n" + block, encoding="utf-8")


def test_a_difference_is_stored_with_both_values_the_side_that_changed_and_a_recommendation(
    home: Path,
) -> None:
    seed(home)
    booked = _booked_and_synced(home)
    entry = _entries_by_reservation(home)[str(booked["id"])]
    _directory(home).user_update(ALICE, entry.item_id, title="Edited in Outlook")

    [found] = diff(home)

    assert (found["kind"], found["reservation_id"], found["state"]) == ("fields-differ", booked["id"], "open")
    assert found["values"] == {
        "title": {"rooms": "Review", "exchange": "Edited in Outlook", "changed": "exchange"}
    }
    assert (found["changed_last"], found["recommendation"]) == ("exchange", "use-exchange")
    text = run(home, "diff")
    assert text.exit_code == 1
    assert "Review" in text.output and "Edited in Outlook" in text.output
    assert "changed last: Exchange" in text.output and f"#{found['id']}" in text.output
    lines = text.output.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines), text.output
    assert lines[0].startswith(f"#{found['id']}") and all(
        line.startswith("    ") for line in lines[1:] if line
    )
    assert diff(home)[0]["id"] == found["id"]  # the same record in the next scan

    resolved = diff(home, "--resolve", "use-exchange", "--id", str(found["id"]), code=0)
    assert resolved[0]["resolved"].startswith("reservation updated from the entry")
    assert diff(home, code=0) == []
    [record] = diff(home, "--stored", "--state", "resolved", code=0)
    assert (record["id"], record["state_by"]) == (found["id"], getpass.getuser())
    shown = as_json(home, "reservations", "show", str(booked["id"]))
    assert isinstance(shown, dict) and shown["title"] == "Edited in Outlook"


def test_ignore_lasts_until_either_side_changes(home: Path) -> None:
    seed(home)
    booked = _booked_and_synced(home)
    entry = _entries_by_reservation(home)[str(booked["id"])]
    _directory(home).user_update(ALICE, entry.item_id, title="Edited in Outlook")
    [found] = diff(home)

    diff(home, "--resolve", "ignore", "--id", str(found["id"]), code=0)
    assert diff(home, code=0) == []  # ignored: not open, so monitoring is quiet
    [hidden] = diff(home, "--all", code=0)
    assert hidden["state"] == "ignored"

    ok(home, "reservations", "update", str(booked["id"]), "--title", "Renamed in ROOMS")
    [back] = diff(home)
    assert (back["id"], back["state"]) == (found["id"], "open")
    assert back["values"]["title"]["rooms"] == "Renamed in ROOMS"
    assert back["changed_last"] == "both"


def test_a_difference_no_longer_found_is_resolved_by_the_scan(home: Path) -> None:
    seed(home)
    booked = _booked_and_synced(home)
    entry = _entries_by_reservation(home)[str(booked["id"])]
    directory = _directory(home)
    directory.user_update(ALICE, entry.item_id, title="Edited in Outlook")
    [found] = diff(home)
    directory.user_update(ALICE, entry.item_id, title="Review")  # put back by hand

    assert diff(home, code=0) == []
    [record] = diff(home, "--stored", "--state", "resolved", code=0)
    assert (record["id"], record["state_by"], record["resolution"]) == (
        found["id"],
        "scan",
        "no longer found",
    )
    gone = run(home, "diff", "--resolve", "use-rooms", "--id", str(found["id"]))
    assert gone.exit_code != 0 and "already resolved" in gone.output


def test_a_series_is_compared_per_occurrence(home: Path) -> None:
    seed(home)
    day = _day(7)
    series = book(
        home, "--start", f"{day}T10:00", "--end", f"{day}T11:00", "--repeat", "weekly", "--count", "4"
    )
    ok(home, "sync", "--once")
    entry = _entries_by_reservation(home)[str(series["id"])]
    first = datetime.fromisoformat(f"{day}T09:00+00:00")  # 10:00 in Berlin (winter)
    second, third = first + timedelta(days=7), first + timedelta(days=14)
    moved = OccurrenceChange(
        original_start=second, start=second + timedelta(hours=2), end=second + timedelta(hours=3)
    )
    dropped = OccurrenceChange(original_start=third, cancelled=True)
    _directory(home).user_update(ALICE, entry.item_id, occurrences=(moved, dropped))

    found = diff(home)

    assert sorted((d["kind"], d["occurrence"]) for d in found) == [
        ("fields-differ", second.isoformat()),
        ("fields-differ", third.isoformat()),
    ]
    only = diff(home, "--occurrence", third.date().isoformat())
    assert [d["occurrence"] for d in only] == [third.isoformat()]
    one = next(d for d in found if d["occurrence"] == third.isoformat())
    diff(home, "--resolve", "use-rooms", "--id", str(one["id"]), code=0)
    [left] = diff(home)
    assert left["occurrence"] == second.isoformat()
    [after] = _directory(home).entries(ALICE)
    assert [c.original_start for c in after.fields.occurrences] == [second]  # the cancellation undone only


def test_an_outlook_booking_of_a_taken_room_is_a_room_collision(home: Path) -> None:
    seed(home)
    day = _day()
    held = book(home, "--organizer", BOB, "--room", ATLAS, "--start", f"{day}T10:00", "--end", f"{day}T11:00")
    ok(home, "sync", "--once")
    _directory(home).user_create(
        ALICE, first_fields(home, held["id"]).model_copy(update={"title": "Team in Atlas"})
    )
    run(home, "sync", "--once")  # the booking is refused: the room is taken

    [found] = [d for d in diff(home) if d["kind"] == "room-collision"]

    assert (found["mailbox"], found["title"], found["recommendation"]) == (ALICE, "Team in Atlas", "review")
    assert f"reservation {held['id']}" in found["reason"]
    refused = run(home, "diff", "--resolve", "use-rooms", "--id", str(found["id"]))
    assert refused.exit_code == 1 and "neither deletes it" in refused.output
    diff(home, "--resolve", "ignore", "--id", str(found["id"]), code=0)
    assert [d for d in diff(home, code=0)] == []


def first_fields(home: Path, reservation_id: object) -> Any:
    with Database(f"sqlite:///{home / 'data' / 'roomsync.db'}").unit_of_work() as uow:
        found = uow.rooms.get_reservation(str(reservation_id))
    assert found is not None
    return found.fields


def _feed_misses_the_last_changes(home: Path) -> None:
    """Alice's sync state moved past Exchange's latest changes, as when a change feed loses some:
    the sync never sees them, only a scan does."""
    directory = _directory(home)
    with sqlite3.connect(home / "data" / "roomsync.db") as db:
        [state] = db.execute("SELECT sync_state FROM mailbox_states WHERE mailbox = ?", (ALICE,)).fetchone()
        moved = f"{state.rsplit(':', 1)[0]}:{directory.last_seq}"
        db.execute("UPDATE mailbox_states SET sync_state = ? WHERE mailbox = ?", (moved, ALICE))


def _retitled_behind_the_journal(home: Path, reservation_id: object, title: str) -> None:
    """The reservation's row changed by another tool, without a version or a journal entry."""
    with sqlite3.connect(home / "data" / "roomsync.db") as db:
        db.execute("UPDATE reservations SET title = ? WHERE id = ?", (title, int(str(reservation_id))))


def test_repair_by_policy_dry_run_then_for_real(home: Path) -> None:
    seed(home)
    day = _day()
    from_exchange = book(home, "--start", f"{day}T10:00", "--end", f"{day}T11:00")
    from_rooms = book(home, "--start", f"{day}T12:00", "--end", f"{day}T13:00")
    ok(home, "sync", "--once")
    directory = _directory(home)
    directory.user_update(
        ALICE, _entries_by_reservation(home)[str(from_exchange["id"])].item_id, title="Outlook title"
    )
    _feed_misses_the_last_changes(home)
    _retitled_behind_the_journal(home, from_rooms["id"], "ROOMS title")
    _with_repair(home, '[repair]\npolicy = "newer-wins"\n')

    planned = {d["reservation_id"]: d["repair"] for d in diff(home, "--repair", "--dry-run")}
    assert planned[from_rooms["id"]]["resolution"] == "use-rooms"
    # changed in Exchange after the last cycle: a dry run runs no cycle, so it leaves it to one
    assert planned[from_exchange["id"]]["resolution"] is None
    assert "the cycle before a repair handles it" in planned[from_exchange["id"]]["why"]
    assert all(d["done"] is None for d in planned.values())
    assert len(diff(home)) == 2  # a dry run changes nothing

    done = diff(home, "--repair", code=0)  # the cycle first (it sees neither), then the repairs
    assert {d["reservation_id"]: d["repair"]["resolution"] for d in done} == {
        from_exchange["id"]: "use-exchange",
        from_rooms["id"]: "use-rooms",
    }
    assert all(d["repair"]["done"] for d in done)
    assert diff(home, code=0) == []
    repaired = diff(home, "--stored", "--state", "auto-resolved", code=0)
    assert {(r["reservation_id"], r["state_by"]) for r in repaired} == {
        (from_exchange["id"], "repair"),
        (from_rooms["id"], "repair"),
    }
    assert sorted(e.fields.title for e in directory.entries(ALICE)) == ["Outlook title", "ROOMS title"]
    log = Database(f"sqlite:///{home / 'data' / 'roomsync.db'}")
    with log.unit_of_work() as uow:
        repairs = [e for e in uow.sync.recent_log(limit=50) if e.event == "repair"]
    assert len(repairs) == 2 and all("newer-wins" in e.message for e in repairs)


def test_a_change_the_sync_has_not_run_for_is_the_syncs_not_a_repairs(home: Path) -> None:
    seed(home)
    booked = _booked_and_synced(home)
    ok(home, "reservations", "update", str(booked["id"]), "--title", "Renamed in ROOMS")
    _with_repair(home, '[repair]\npolicy = "exchange-wins"\n')

    [planned] = diff(home, "--repair", "--dry-run")
    assert planned["pending"] and planned["repair"]["resolution"] is None
    assert diff(home, "--repair", code=0) == []  # its cycle exported the rename: nothing left

    [entry] = _directory(home).entries(ALICE)
    assert entry.fields.title == "Renamed in ROOMS"  # not taken back by exchange-wins
    [record] = diff(home, "--stored", "--state", "resolved", code=0)
    assert record["resolution"] == "no longer found"


def test_repair_never_deletes_whatever_the_policy(home: Path) -> None:
    seed(home)
    day = _day()
    kept = book(home, "--start", f"{day}T10:00", "--end", f"{day}T11:00")
    cancelled = book(home, "--start", f"{day}T12:00", "--end", f"{day}T13:00")
    ok(home, "sync", "--once")
    _directory(home).user_delete(ALICE, _entries_by_reservation(home)[str(kept["id"])].item_id)
    _feed_misses_the_last_changes(home)
    ok(home, "reservations", "cancel", str(cancelled["id"]))
    _with_repair(home, '[repair]\npolicy = "exchange-wins"\nkinds = { "missing-in-rooms" = "rooms-wins" }\n')

    outcome = diff(home, "--repair")

    why = {d["kind"]: (d["repair"]["resolution"], d["repair"]["why"]) for d in outcome}
    assert why["missing-in-exchange"][0] is None and "never automatic" in why["missing-in-exchange"][1]
    assert why["missing-in-rooms"] == (None, "never deleted automatically")
    shown = as_json(home, "reservations", "show", str(kept["id"]))
    assert isinstance(shown, dict) and shown["status"] == "active"
    assert len(_directory(home).entries(ALICE)) == 1  # the cancelled one's entry is still there

    config = home / "roomsync.toml"
    config.write_text(
        config.read_text().replace('plugin = "reference"', 'plugin = "reference"\nrepair = "rooms-wins"')
    )
    again = diff(home, "--repair", code=0)
    # the cycle before the repair deleted the cancelled reservation's entry, as the sync does;
    # the entry whose deletion it never saw is re-created for the active reservation
    assert [(d["kind"], d["repair"]["done"]) for d in again] == [
        ("missing-in-exchange", "entry created from the reservation")
    ]
    assert [e.fields.title for e in _directory(home).entries(ALICE)] == ["Review"]
    assert as_json(home, "reservations", "show", str(kept["id"]))["status"] == "active"  # type: ignore[index]


def test_scope_and_bad_input(home: Path) -> None:
    seed(home)
    _booked_and_synced(home)
    unknown = run(home, "diff", "--environment", "nowhere")
    assert unknown.exit_code != 0 and "unknown environment 'nowhere'" in unknown.output
    missing = run(home, "diff", "--reservation", "999")
    assert missing.exit_code != 0 and "no reservation 999" in missing.output
    lonely = run(home, "diff", "--dry-run")
    assert lonely.exit_code == 2 and "--dry-run goes with --repair" in lonely.output
    both = run(home, "diff", "--repair", "--stored")
    assert both.exit_code == 2
    assert diff(home, "--environment", "lab", "--days", "400", code=0) == []  # any window
    bad: Result = run(home, "diff", "--resolve", "use-rooms", "--id", "4242")
    assert bad.exit_code != 0 and "no difference 4242" in bad.output
