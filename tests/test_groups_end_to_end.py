"""Distribution groups end to end: the runner, a real connector over HTTP, the simulator's directory.

EWS (ExpandDL) on Exchange 2010 and Graph (/groups, /members) on Exchange Online, with a seed of
nested groups, a loop and a group too large for the configured cap. ROOMS holds the persons,
Exchange keeps the group, and a second cycle writes nothing.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from roomsync.config import settings_from_mapping
from roomsync.domain import EventFields, Participant, Person, Reservation, Room
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.plugins import plugin_manager
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_ews_common.testing import SIM_PASSWORD_ENV
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import simulator_options as graph_options
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.testing import running_simulator

ALICE, BOB = "alice@example.org", "bob@example.org"
ROOM1 = "room.1@example.org"
TEAM, OPS, LOOP, ALL = "team@example.org", "ops@example.org", "loop@example.org", "all@example.org"
PEOPLE = ["dave", "erin", "heidi", "frank", "gina"]
FIVE = sorted(f"{name}@example.org" for name in PEOPLE)
START = (datetime.now(UTC) + timedelta(days=6)).replace(hour=8, minute=0, second=0, microsecond=0)
GRAPH_ROLES = ["Calendars.ReadWrite", "GroupMember.Read.All", "User.Read.All"]


def seed(roles: list[str] | None = None) -> dict[str, Any]:
    """The default organisation with five more people, a team nesting a group of two (and a
    room), a loop back to the team, and a list of everyone."""
    data = copy.deepcopy(DEFAULT_SEED)
    data["users"] += [{"smtp": f"{name}@example.org", "name": name.title()} for name in PEOPLE]
    data["distribution_lists"] = [
        {"smtp": TEAM, "name": "Team", "members": [*FIVE[:1], FIVE[1], "heidi@example.org", OPS]},
        {"smtp": OPS, "name": "Ops", "members": ["frank@example.org", "gina@example.org", ROOM1, LOOP]},
        {"smtp": LOOP, "name": "Loop", "members": [TEAM]},
        {"smtp": ALL, "name": "Everyone", "members": [ALICE, BOB, TEAM]},
    ]
    if roles is not None:
        data["apps"] = [
            {
                "client_id": "00000000-0000-0000-0000-00000000bbbb",
                "secrets": ["roomsync-sim-secret"],
                "roles": roles,
            }
        ]
    return data


@dataclass
class Estate:
    runner: SyncRunner
    database: Database
    counts: Counter[str]
    environment: str
    writes: tuple[str, ...]

    def book(self, title: str, *participants: str, hour: int = 0) -> str:
        start = START + timedelta(hours=hour)
        fields = EventFields(
            title=title,
            start=start,
            end=start + timedelta(hours=1),
            timezone="Europe/Berlin",
            rooms=(ROOM1,),
            participants=tuple(Participant(email=p) for p in participants),
        )
        with self.database.unit_of_work() as uow:
            stored = uow.rooms.create_reservation(
                Reservation(fields=fields, organizer=ALICE), origin=Origin.ROOMS
            )
            uow.commit()
        return stored.id or ""

    def sync(self) -> list[CycleReport]:
        reports = self.runner.sync_once([ALICE])
        assert [r.error for r in reports if not r.ok] == []
        return reports

    def held(self, reservation_id: str) -> list[str]:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_reservation(reservation_id)
        assert found is not None
        return [p.email for p in found.fields.participants]

    def in_exchange(self, reservation_id: str) -> list[str]:
        host = self.runner.host(self.environment)
        [entry] = host.find_by_stamp(ALICE, [reservation_id])[reservation_id]
        return [p.email for p in entry.fields.participants]

    def written(self) -> int:
        return sum(self.counts[kind] for kind in self.writes)


def _estate(
    settings: dict[str, Any], tmp_path: Path, counts: Counter[str], writes: tuple[str, ...]
) -> Estate:
    database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
    database.upgrade()
    environment = next(iter(settings["environments"]))
    with database.unit_of_work() as uow:
        for email in (ALICE, BOB):
            uow.rooms.upsert_person(Person(email=email, environment=environment))
        uow.rooms.add_room(Room(name="room.1", mailbox=ROOM1))
        uow.commit()
    runner = SyncRunner(settings_from_mapping(settings), database, plugin_manager(NotificationRecorder()))
    return Estate(runner, database, counts, environment, writes)


@contextmanager
def on_ews(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sync: Any) -> Iterator[Estate]:
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with running_simulator("exchange2010", seed(), validate=True) as sim:
        settings = {
            "environments": {"onprem": {"plugin": "exchange2010", "options": ews_options(sim.ews_url)}},
            "sync": sync,
        }
        estate = _estate(settings, tmp_path, sim.simulator.counts, ("CreateItem", "UpdateItem", "DeleteItem"))
        try:
            yield estate
        finally:
            estate.runner.close()
            estate.database.dispose()
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


@contextmanager
def on_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, roles: list[str] = GRAPH_ROLES, **sync: Any
) -> Iterator[Estate]:
    with running_simulator("o365", seed(roles), tls_dir=tmp_path / "tls") as sim:
        monkeypatch.setenv(SECRET_ENV, sim.client_secret)
        settings = {
            "environments": {"online": {"plugin": "o365", "options": graph_options(sim)}},
            "sync": sync,
        }
        writes = ("events.create", "events.update", "events.delete")
        estate = _estate(settings, tmp_path, sim.simulator.counts, writes)
        try:
            yield estate
        finally:
            estate.runner.close()
            estate.database.dispose()


@pytest.fixture(params=["exchange2010", "o365"])
def server(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A function opening an estate on the parameter's server with ``[sync]`` settings."""
    opened = on_ews if request.param == "exchange2010" else on_graph
    yield lambda **sync: opened(tmp_path, monkeypatch, **sync)


def test_rooms_holds_the_persons_and_exchange_the_group(server: Any) -> None:
    with server() as estate:
        r = estate.book("Team meeting", TEAM, BOB)
        estate.sync()
        assert estate.held(r) == sorted([BOB, TEAM, *FIVE])  # nested, looped, no room, no organizer
        assert estate.in_exchange(r) == [BOB, TEAM]
        written = estate.written()
        estate.sync()
        assert estate.written() == written  # the group and its persons are no difference


def test_members_mode_writes_each_person(server: Any) -> None:
    with server(groups="members") as estate:
        r = estate.book("Team meeting", TEAM)
        estate.sync()
        assert estate.held(r) == FIVE
        assert estate.in_exchange(r) == FIVE
        written = estate.written()
        estate.sync()
        assert estate.written() == written


def test_a_group_too_large_stays_the_group_and_the_others_sync(server: Any) -> None:
    with server(group_size=6) as estate:
        big = estate.book("Everyone", ALL, BOB)
        small = estate.book("Team", TEAM, hour=2)
        reports = estate.sync()
        notes = " ".join(n for report in reports for n in report.notes)
        assert "group all@example.org has more than group_size = 6 members" in notes
        assert "distribution group loop team@example.org > ops@example.org > loop@example.org" in notes
        assert estate.held(big) == [ALL, BOB]
        assert estate.in_exchange(big) == [ALL, BOB]
        assert estate.held(small) == sorted([TEAM, *FIVE])


def test_graph_without_the_group_permissions_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for roles, named in (
        (["Calendars.ReadWrite"], "GroupMember.Read.All"),
        (GRAPH_ROLES[:2], "User.Read.All"),
    ):
        with on_graph(tmp_path / named, monkeypatch, roles=roles) as estate:
            r = estate.book("Team meeting", TEAM, BOB)
            reports = estate.sync()
            notes = " ".join(n for report in reports for n in report.notes)
            assert "are not expanded in this cycle" in notes and named in notes
            assert estate.in_exchange(r) == [BOB, TEAM]  # synced all the same
