"""``rooms import`` with a connector that reads no room directory, and ``rooms set --inactive``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from .test_cli import ALICE, as_json, home, ok, run, seed

__all__ = ["home"]  # the fixture

ROOM = "room.atlas@example.org"


def _book(home: Path, days: int, *rooms: str) -> str:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)
    created = as_json(
        home, "reservations", "create", "--title", "Review", "--organizer", ALICE,
        "--start", start.isoformat(), "--end", (start + timedelta(hours=1)).isoformat(),
        *(arg for room in rooms for arg in ("--room", room)),
    )  # fmt: skip
    assert isinstance(created, dict)
    return str(created["id"])


def _sync_disabled(home: Path, reservation_id: str) -> bool:
    shown = as_json(home, "reservations", "show", reservation_id)
    assert isinstance(shown, dict)
    return bool(shown["sync_disabled"])


def test_a_connector_without_a_room_directory_cannot_import(home: Path) -> None:
    seed(home)
    refused = run(home, "rooms", "import", "--environment", "lab")
    assert refused.exit_code == 1
    assert "environment 'lab' cannot list rooms" in refused.output
    assert "roomsync rooms add" in refused.output
    as_text = run(home, "--json", "rooms", "import", "--environment", "lab", "--dry-run")
    assert as_text.exit_code == 1 and '"kind": "configuration"' in as_text.output


def test_an_unknown_environment_is_refused_before_anything_is_read(home: Path) -> None:
    refused = run(home, "rooms", "import", "--environment", "elsewhere")
    assert refused.exit_code == 1
    assert "environment 'elsewhere' is not in the configuration; configured: lab" in refused.output


def test_an_inactive_room_cannot_be_booked_and_detaches_its_future_reservations(home: Path) -> None:
    seed(home)
    ok(home, "rooms", "add", "Boreas", "room.boreas@example.org")
    future = _book(home, 5, ROOM)
    both = _book(home, 6, ROOM, "room.boreas@example.org")

    made = as_json(home, "rooms", "set", ROOM, "--inactive")
    assert isinstance(made, dict)
    assert made["active"] is False and made["reservations"] == [future, both]
    assert _sync_disabled(home, future) and _sync_disabled(home, both)
    listed = {r["mailbox"]: r["active"] for r in as_json(home, "rooms", "list")}  # type: ignore[union-attr,index]
    assert listed == {ROOM: False, "room.boreas@example.org": True}
    assert "active" in ok(home, "rooms", "list").output

    refused = run(home, "reservations", "create", "--title", "x", "--organizer", ALICE,
                  "--start", "2031-01-07T10:00", "--end", "2031-01-07T11:00", "--room", ROOM)  # fmt: skip
    assert refused.exit_code == 1
    assert f"room Atlas <{ROOM}> is inactive and cannot be booked" in refused.output
    # A reservation that holds the room already may still change, keeping it.
    ok(home, "reservations", "update", both, "--title", "Renamed")

    again = ok(home, "rooms", "set", ROOM, "--active").output
    assert f"room Atlas <{ROOM}> is active; reservations {future}, {both} stay detached" in again
    assert _sync_disabled(home, future)
    _book(home, 7, ROOM)


def test_rooms_set_takes_activity_or_a_booking_window_not_both(home: Path) -> None:
    seed(home)
    both = run(home, "rooms", "set", ROOM, "--inactive", "--no-booking-window")
    assert both.exit_code == 2 and "give --active or --inactive without other options" in both.output
    unknown = run(home, "rooms", "set", "room.nowhere@example.org", "--inactive")
    assert unknown.exit_code == 1 and "unknown room room.nowhere@example.org" in unknown.output
