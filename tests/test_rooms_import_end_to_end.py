"""``roomsync rooms import`` against the simulator: EWS room lists (2010, 2013), Graph places (o365).

The command line as an administrator runs it, with a configuration file naming the simulator;
the simulator's seed holds the room lists. A room that leaves its list (taken out of the seed
in the running simulator) becomes inactive with its future reservation detached, and active
again once it is back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from roomsync.cli.main import cli
from roomsync.storage import Database
from roomsync_ews_common.testing import SIM_PASSWORD_ENV
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import simulator_options as graph_options
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "alice@example.org"
ROOM1, ROOM2, ROOM3 = "room.1@example.org", "room.2@example.org", "room.3@example.org"
LOBBY = "room.lobby@example.org"  # a room in no room list
GONE = "room.gone@example.org"  # in ROOMS for the environment, never in the directory
BUILDING_A, BUILDING_B = "building.a@example.org", "building.b@example.org"
APP_ID = "00000000-0000-0000-0000-00000000bbbb"
APP_SECRET = "roomsync-sim-secret"


def seed(*roles: str) -> dict[str, Any]:
    """Two room lists (room 1 in both), one room in no list; the app's Graph permissions."""
    return {
        "users": DEFAULT_SEED["users"],
        "grants": DEFAULT_SEED["grants"],
        "rooms": [
            {"smtp": ROOM1, "name": "Room 1", "place": {"capacity": 8, "building": "A", "floor_number": 1}},
            {"smtp": ROOM2, "name": "Room 2"},
            {"smtp": ROOM3, "name": "Room 3", "place": {"capacity": 20, "floor_label": "Roof"}},
            {"smtp": LOBBY, "name": "Lobby corner"},
        ],
        "room_lists": [
            {"smtp": BUILDING_A, "name": "Building A", "rooms": [ROOM1, ROOM2]},
            {"smtp": BUILDING_B, "name": "Building B", "rooms": [ROOM3, ROOM1]},
        ],
        "apps": [{"client_id": APP_ID, "secrets": [APP_SECRET], "roles": ["Calendars.ReadWrite", *roles]}],
    }


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


class Admin:
    """The command line on one configuration with the environment ``site``."""

    def __init__(self, home: Path, plugin: str, options: dict[str, Any]) -> None:
        self.home = home
        lines = "\n".join(f"{key} = {toml_value(value)}" for key, value in options.items())
        (home / "roomsync.toml").write_text(
            f'data_dir = "data"\n[environments.site]\nplugin = "{plugin}"\n'
            f"[environments.site.options]\n{lines}\n",
            encoding="utf-8",
        )
        self.ok("init")

    def run(self, *args: str) -> Result:
        runner = CliRunner(env={"COLUMNS": "200"})
        return runner.invoke(
            cli, ["--config", str(self.home / "roomsync.toml"), *args], catch_exceptions=False
        )

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--json", *args).stdout)

    def imported(self, *args: str) -> dict[str, dict[str, Any]]:
        """``rooms import --json``: each room's row by mailbox."""
        answer = self.json("rooms", "import", "--environment", "site", *args)
        return {row["mailbox"]: row for row in answer["rooms"]}

    def rooms(self) -> dict[str, dict[str, Any]]:
        return {row["mailbox"]: row for row in self.json("rooms", "list")}

    def book(self, room: str, title: str = "Planning") -> str:
        start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
        created = self.json(
            "reservations", "create", "--title", title, "--organizer", ALICE,
            "--start", start.isoformat(), "--end", (start + timedelta(hours=1)).isoformat(), "--room", room,
        )  # fmt: skip
        return str(created["id"])

    def sync_disabled(self, reservation_id: str) -> bool:
        database = Database(f"sqlite:///{self.home / 'data' / 'roomsync.db'}")
        try:
            with database.unit_of_work() as uow:
                found = uow.rooms.get_reservation(reservation_id)
                assert found is not None
                return found.sync_disabled
        finally:
            database.dispose()


@dataclass
class Removed:
    """Where a room was in the running simulator's seed, to put it back."""

    room: str
    lists: list[tuple[list[str], int]]
    mailbox: tuple[list[Any], int, Any] | None


def take_out(sim: RunningSimulator, room: str) -> Removed:
    """Remove ``room`` from every room list and, on Graph, the room mailbox itself (a room in
    no list is still one of Graph's places)."""
    seed = sim.simulator.directory.seed
    lists = []
    for group in seed.groups:
        if room in group.members:
            lists.append((group.members, group.members.index(room)))
            group.members.remove(room)
    mailbox = None
    if sim.dialect == "o365":
        [user] = [u for u in seed.users if u.smtp == room]
        mailbox = (seed.users, seed.users.index(user), user)
        seed.users.remove(user)
    return Removed(room, lists, mailbox)


def put_back(removed: Removed) -> None:
    for members, index in removed.lists:
        members.insert(index, removed.room)
    if removed.mailbox is not None:
        users, index, user = removed.mailbox
        users.insert(index, user)


@contextmanager
def ews_admin(dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Admin, Any]]:
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with running_simulator(dialect, seed(), validate=True) as sim:
        yield Admin(tmp_path, dialect, ews_options(sim.ews_url)), sim
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


@contextmanager
def graph_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *roles: str) -> Iterator[tuple[Admin, Any]]:
    with running_simulator("o365", seed(*roles), tls_dir=tmp_path / "tls") as sim:
        monkeypatch.setenv(SECRET_ENV, sim.client_secret)
        yield Admin(tmp_path, "o365", graph_options(sim)), sim


def lifecycle(admin: Admin, sim: RunningSimulator, in_no_list: bool) -> None:
    """Import, dry run, a room leaving its list and coming back: what every directory must do."""
    admin.ok("persons", "add", ALICE, "--environment", "site")
    admin.ok("rooms", "add", "Old wing", GONE, "--environment", "site", "--capacity", "4")
    kept = admin.book(GONE, "In the old wing")

    dry = admin.imported("--dry-run")
    assert dry[ROOM1]["outcome"] == "added" and dry[GONE]["outcome"] == "inactive"
    assert dry[GONE]["detached"] == [kept]
    assert set(admin.rooms()) == {GONE}  # the dry run changed nothing
    assert not admin.sync_disabled(kept)

    first = admin.imported()
    assert {m: r["outcome"] for m, r in first.items()} == {
        ROOM1: "added",
        ROOM2: "added",
        ROOM3: "added",
        **({LOBBY: "added"} if in_no_list else {}),
        GONE: "inactive",
    }
    assert first[ROOM1]["lists"] == ["Building A", "Building B"]
    assert first[GONE]["detached"] == [kept] and admin.sync_disabled(kept)
    rooms = admin.rooms()
    assert rooms[ROOM1]["environment"] == "site" and rooms[ROOM1]["name"] == "Room 1"
    assert rooms[GONE]["active"] is False and rooms[ROOM2]["active"] is True
    times = ["--start", "2031-01-07T10:00", "--end", "2031-01-07T11:00"]
    refused = admin.run(
        "reservations", "create", "--title", "x", "--organizer", ALICE, *times, "--room", GONE
    )
    assert refused.exit_code == 1 and f"<{GONE}> is inactive and cannot be booked" in refused.output

    again = admin.imported()
    assert {r["outcome"] for m, r in again.items()} == {"unchanged"}

    booked = admin.book(ROOM3)
    removed = take_out(sim, ROOM3)
    left = admin.imported()
    assert left[ROOM3]["outcome"] == "inactive" and left[ROOM3]["detached"] == [booked]
    assert admin.sync_disabled(booked)
    assert admin.rooms()[ROOM3]["active"] is False

    put_back(removed)
    back = admin.run("rooms", "import", "--environment", "site")
    assert back.exit_code == 0, back.output
    assert f"{ROOM3} is active again; reservations {booked} stay detached from sync" in back.output
    assert admin.rooms()[ROOM3]["active"] is True and admin.sync_disabled(booked)

    only = admin.imported("--list", BUILDING_B)
    assert [only[m]["lists"] for m in (ROOM3, ROOM1)] == [["Building B"], ["Building B"]]
    assert only[ROOM2]["outcome"] == "unchanged"  # not in that list, but perhaps in another
    assert (
        only[ROOM2]["note"] == f"not in the directory, kept active: only the room list {BUILDING_B} was read"
    )
    unknown = admin.run("rooms", "import", "--environment", "site", "--list", "nowhere@example.org")
    assert unknown.exit_code == 1 and "no room list nowhere@example.org" in unknown.output


@pytest.mark.parametrize("dialect", ["exchange2010", "exchange2013"])
def test_ews_room_lists_become_rooms(dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ews_admin(dialect, tmp_path, monkeypatch) as (admin, sim):
        lifecycle(admin, sim, in_no_list=False)  # EWS sees no room outside a list
        assert admin.rooms()[ROOM1]["capacity"] is None  # EWS does not show capacities
        assert sim.simulator.counts["GetRoomLists"] > 0 and sim.simulator.counts["GetRooms"] > 0


def test_graph_places_become_rooms_with_capacity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with graph_admin(tmp_path, monkeypatch, "Place.Read.All") as (admin, sim):
        lifecycle(admin, sim, in_no_list=True)
        rooms = admin.rooms()
        assert rooms[ROOM1]["capacity"] == 8 and rooms[ROOM3]["capacity"] == 20
        assert rooms[LOBBY]["name"] == "Lobby corner"
        row = admin.imported()[ROOM3]
        assert row["lists"] == ["Building B"]


def test_a_capacity_changed_in_the_directory_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with graph_admin(tmp_path, monkeypatch, "Place.Read.All") as (admin, _):
        admin.ok("rooms", "add", "Conference 1", ROOM1, "--capacity", "6", "--environment", "site")
        row = admin.imported()[ROOM1]
        assert row["outcome"] == "updated"
        assert row["changed"] == {
            "name": {"from": "Conference 1", "to": "Room 1"},
            "capacity": {"from": 6, "to": 8},
        }


def test_graph_without_place_read_all_names_the_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with graph_admin(tmp_path, monkeypatch) as (admin, _):
        admin.ok("rooms", "add", "Old wing", GONE, "--environment", "site")
        refused = admin.run("rooms", "import", "--environment", "site")
        assert refused.exit_code == 1
        assert "Place.Read.All" in refused.output and "403" in refused.output
        assert admin.rooms()[GONE]["active"] is True


def test_exchange2007_has_no_room_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ews_admin("exchange2007", tmp_path, monkeypatch) as (admin, sim):
        refused = admin.run("rooms", "import", "--environment", "site")
        assert refused.exit_code == 1
        assert "Exchange 2007 has no room lists (GetRoomLists came with Exchange 2010)" in refused.output
        assert "roomsync rooms add" in refused.output
        assert sim.simulator.counts["GetRoomLists"] == 0


def test_an_unknown_environment_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ews_admin("exchange2013", tmp_path, monkeypatch) as (admin, _):
        refused = admin.run("rooms", "import", "--environment", "elsewhere")
        assert refused.exit_code == 1
        assert "environment 'elsewhere' is not in the configuration; configured: site" in refused.output
