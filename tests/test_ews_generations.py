"""Persons on Exchange 2007, 2010 and 2013 synchronised in the same cycles, one server each.

Each generation is its own simulator in its own dialect, reached through its own plugin; the
runner picks the connector per person. Nothing of one person may reach another's server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from roomsync.config import settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine.freebusy import free_busy
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS, SimulatorUser, simulator_options
from roomsync_sim.testing import RunningSimulator, running_simulator

START = (datetime.now(UTC) + timedelta(days=4)).replace(hour=7, minute=0, second=0, microsecond=0)
GENERATIONS = {
    "exchange2007": "alice@example.org",
    "exchange2010": "bob@example.org",
    "exchange2013": "carol@example.org",
}


def room_of(plugin: str) -> str:
    return f"room.{plugin.removeprefix('exchange')}@example.org"


def seed(plugin: str) -> dict[str, Any]:
    """One person and one room on this server, and the service account that may act for them."""
    person = GENERATIONS[plugin]
    return {
        "users": [
            {"smtp": "svc@example.org", "name": "ROOMS service", "password": SIM_USERS["svc@example.org"]},
            {"smtp": person, "name": person.split("@")[0].title(), "password": SIM_USERS[person]},
        ],
        "rooms": [{"smtp": room_of(plugin), "name": f"Room {plugin}"}],
        "grants": [{"kind": "impersonation", "grantee": "svc@example.org"}],
    }


@dataclass
class Estate:
    runner: SyncRunner
    database: Database
    sims: dict[str, RunningSimulator]
    users: dict[str, SimulatorUser]

    def book(self, plugin: str, title: str) -> Reservation:
        fields = EventFields(
            title=title,
            start=START,
            end=START + timedelta(hours=1),
            timezone="Europe/Berlin",
            rooms=(room_of(plugin),),
        )
        with self.database.unit_of_work() as uow:
            made = uow.rooms.create_reservation(
                Reservation(fields=fields, organizer=GENERATIONS[plugin]), origin=Origin.ROOMS
            )
            uow.commit()
        return made

    def entry_item(self, plugin: str, stamp: str) -> Any:
        [entry] = self.runner.host(plugin).find_by_stamp(GENERATIONS[plugin], [stamp])[stamp]
        return entry


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
    with ExitStack() as stack:
        sims = {p: stack.enter_context(running_simulator(p, seed(p), validate=True)) for p in GENERATIONS}
        settings = settings_from_mapping(
            {
                "environments": {
                    p: {"plugin": p, "options": simulator_options(sim.ews_url)} for p, sim in sims.items()
                }
            }
        )
        database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
        database.upgrade()
        with database.unit_of_work() as uow:
            for plugin, person in GENERATIONS.items():
                uow.rooms.upsert_person(Person(email=person, environment=plugin))
                uow.rooms.add_room(Room(name=f"Room {plugin}", mailbox=room_of(plugin), environment=plugin))
            uow.commit()
        runner = SyncRunner(settings, database)
        stack.callback(runner.close)
        stack.callback(database.dispose)
        users = {}
        for plugin, sim in sims.items():
            connector = runner.host(plugin).connector
            assert isinstance(connector, EwsConnector)
            users[plugin] = SimulatorUser(sim.ews_url, connector.request_server_version, type(connector))
            stack.callback(users[plugin].close)
        yield Estate(runner, database, sims, users)
        for sim in sims.values():
            assert [v for v in sim.simulator.violations if v.direction == "response"] == []


def test_three_generations_in_one_cycle_each_on_its_own_server(estate: Estate) -> None:
    booked = {plugin: estate.book(plugin, f"Meeting on {plugin}") for plugin in GENERATIONS}

    reports = estate.runner.sync_once()

    assert sorted((r.mailbox, r.environment, r.ok, r.created) for r in reports) == sorted(
        (person, plugin, True, 1) for plugin, person in GENERATIONS.items()
    )
    for plugin, reservation in booked.items():
        entry = estate.entry_item(plugin, reservation.id or "")
        assert entry.fields.title == f"Meeting on {plugin}"
        assert entry.fields.rooms == (room_of(plugin),)
        assert (entry.fields.start, entry.fields.end) == (START, START + timedelta(hours=1))
        others = [p for p in GENERATIONS if p != plugin]
        for other in others:  # nothing of this person reached another generation's server
            assert estate.runner.host(other).find_by_stamp(GENERATIONS[other], [reservation.id or ""]) == {}

    # An edit in Outlook on every generation comes back in the next cycle.
    for plugin, reservation in booked.items():
        entry = estate.entry_item(plugin, reservation.id or "")
        moved = entry.fields.model_copy(
            update={
                "title": f"Moved on {plugin}",
                "start": START + timedelta(hours=2),
                "end": START + timedelta(hours=3),
            }
        )
        estate.users[plugin].update(GENERATIONS[plugin], entry.item_id, moved)
    reports = estate.runner.sync_once()
    assert all(r.ok and r.imported == 1 for r in reports), [(r.mailbox, r.error) for r in reports]
    with estate.database.unit_of_work() as uow:
        for plugin, reservation in booked.items():
            current = uow.rooms.get_reservation(reservation.id or "")
            assert current is not None
            assert current.fields.title == f"Moved on {plugin}"
            assert current.fields.start == START + timedelta(hours=2)

    # Free/busy of persons and rooms of all three servers in one call, each asked of its own.
    mailboxes = [*GENERATIONS.values(), *(room_of(p) for p in GENERATIONS)]
    views = free_busy(estate.runner, mailboxes, START - timedelta(hours=1), START + timedelta(hours=6))
    for view in views:
        assert not view.errors, view.errors
        spans = {(b.start, b.end) for b in view.busy}
        assert (START + timedelta(hours=2), START + timedelta(hours=3)) in spans, view.mailbox
        if view.mailbox in GENERATIONS.values():  # the person's calendar agrees with ROOMS
            assert {b.source for b in view.busy} == {"both"}, view.mailbox
