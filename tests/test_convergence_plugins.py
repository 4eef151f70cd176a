"""Convergence through the real plugins: the test kit's machine against the simulator per dialect.

ROOMS in SQLite, the runner, the exchange2007/2010/2013 plugin over EWS or the o365 plugin over
Graph, the simulator in that dialect with its faults; the person in Outlook is exchangelib with
the person's own credentials (EWS) or plain Graph requests (o365). One simulator per dialect,
emptied for every example. The size of a run is the hypothesis profile's (``ci`` by default,
``--hypothesis-profile=long`` for the long one); the moves made are printed with ``-s``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pluggy
import pytest

from roomsync import hookspecs
from roomsync.config import settings_from_mapping
from roomsync.connector.types import CalendarEntry
from roomsync.domain import EventFields, Frequency, OccurrenceChange, Person, Recurrence, Room
from roomsync.engine.merge import snapshot
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.testkit.convergence import Estate, run_convergence
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.notifications import PullWatcher
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS, SimulatorUser, simulator_options
from roomsync_o365 import testing as o365_testing
from roomsync_sim.testing import RunningSimulator, running_simulator

PERSONS = ("alice@example.org", "bob@example.org")
ROOMS = ("room.1@example.org", "room.2@example.org")
EWS_FAULTS = ("server_busy", "http_503", "reset", "drop_after_apply")
DIALECTS = ["exchange2007", "exchange2010", "exchange2013", "o365"]
WRITE_OPERATIONS = {
    "ews": ["CreateItem", "UpdateItem", "DeleteItem"],
    "graph": ["events.create", "events.update", "events.delete", "$batch"],
}


@cache
def template_database() -> Path:
    """One migrated SQLite file, copied for every example: migrations run once."""
    path = Path(tempfile.mkdtemp(prefix="roomsync-convergence-")) / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    with database.unit_of_work() as uow:
        for email in PERSONS:
            uow.rooms.upsert_person(Person(email=email, environment="onprem"))
        for mailbox in ROOMS:
            uow.rooms.add_room(Room(name=mailbox.split("@")[0], mailbox=mailbox))
        uow.commit()
    database.dispose()
    return path


def fresh_database() -> Database:
    path = template_database().with_name(f"{uuid.uuid4().hex}.db")
    shutil.copy(template_database(), path)
    return Database(f"sqlite:///{path}")


def runner_for(plugin: str, options: dict[str, Any], database: Database) -> SyncRunner:
    settings = settings_from_mapping({"environments": {"onprem": {"plugin": plugin, "options": options}}})
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return SyncRunner(settings, database, pm)


def first_hour() -> datetime:
    return (datetime.now(UTC) + timedelta(days=2)).replace(hour=7, minute=0, second=0, microsecond=0)


@dataclass
class SimulatorEstate(Estate):
    sim: Any = None
    operations: list[str] = field(default_factory=list)

    def fault(self, kind: str) -> None:
        faults = self.sim.simulator.faults
        if kind == "drop_after_apply":
            faults.add(kind, count=1, operations=self.operations)
        else:
            faults.add(kind, count=1, back_off_ms=50)

    def clear_faults(self) -> None:
        self.sim.simulator.faults.clear()


@dataclass
class EwsEstate(SimulatorEstate):
    user: Any = None

    def outlook_create(self, mailbox: str, fields: EventFields) -> None:
        self.user.create(mailbox, fields)

    def outlook_update(self, entry: CalendarEntry, fields: EventFields) -> None:
        self.user.update(entry.mailbox, entry.item_id, fields)

    def outlook_occurrence(self, entry: CalendarEntry, index: int, change: OccurrenceChange) -> None:
        from exchangelib.items import ALWAYS_OVERWRITE, MOVE_TO_DELETED_ITEMS, SEND_TO_ALL_AND_SAVE_COPY
        from exchangelib.properties import OccurrenceItemId

        account = self.user.account(entry.mailbox)
        occurrence = OccurrenceItemId(id=entry.item_id, instance_index=index)
        if change.cancelled:
            [answer] = account.bulk_delete(
                [occurrence],
                delete_type=MOVE_TO_DELETED_ITEMS,
                send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY,
            )
            assert answer is True, answer
            return
        assert change.start is not None and change.end is not None
        # Written as the generation takes it (2007 has no per-time zone elements), as SimulatorUser does.
        item = self.user.connector_class.build_occurrence(
            account, occurrence, entry.fields.title, change.start, change.end, entry.fields.timezone
        )
        [answer] = account.bulk_update(
            [(item, ["start", "end"])],
            conflict_resolution=ALWAYS_OVERWRITE,
            send_meeting_invitations_or_cancellations=SEND_TO_ALL_AND_SAVE_COPY,
        )
        assert not isinstance(answer, Exception), answer

    def outlook_delete(self, entry: CalendarEntry) -> None:
        self.user.delete(entry.mailbox, entry.item_id, to_deleted_items=True)

    def close(self) -> None:
        self.user.close()
        super().close()


@dataclass
class GraphEstate(SimulatorEstate):
    user: Any = None

    def _send(self, method: str, mailbox: str, rest: str, body: Any = None) -> Any:
        return self.user.send(method, f"/users/{mailbox}/{rest}", body)

    def outlook_create(self, mailbox: str, fields: EventFields) -> None:
        self.user.create(mailbox, fields)

    def outlook_update(self, entry: CalendarEntry, fields: EventFields) -> None:
        self.user.update(entry.mailbox, entry.item_id, fields)

    def outlook_occurrence(self, entry: CalendarEntry, index: int, change: OccurrenceChange) -> None:
        day = timedelta(days=1)
        window = (
            f"startDateTime={_graph_time(change.original_start - day)}"
            f"&endDateTime={_graph_time(change.original_start + day)}"
        )
        listed = self._send("GET", entry.mailbox, f"events/{entry.item_id}/instances?{window}")
        wanted = change.original_start.astimezone(UTC)
        [instance] = [
            i for i in listed["value"] if datetime.fromisoformat(i["originalStart"]).astimezone(UTC) == wanted
        ]
        if change.cancelled:
            self._send("DELETE", entry.mailbox, f"events/{instance['id']}")
            return
        assert change.start is not None and change.end is not None
        body = {
            "start": {"dateTime": _graph_time(change.start), "timeZone": "UTC"},
            "end": {"dateTime": _graph_time(change.end), "timeZone": "UTC"},
        }
        self._send("PATCH", entry.mailbox, f"events/{instance['id']}", body)

    def outlook_delete(self, entry: CalendarEntry) -> None:
        self.user.delete(entry.mailbox, entry.item_id)

    def close(self) -> None:
        self.user.close()
        super().close()


def _graph_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


@pytest.fixture(scope="module", params=DIALECTS)
def simulator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    dialect = request.param
    with pytest.MonkeyPatch.context() as patch:
        if dialect == "o365":
            seed = {"users": [{"smtp": p} for p in PERSONS], "rooms": [{"smtp": r} for r in ROOMS]}
            with running_simulator(dialect, seed, tls_dir=tmp_path_factory.mktemp("tls")) as sim:
                patch.setenv(o365_testing.SECRET_ENV, sim.client_secret)
                yield dialect, sim
        else:
            patch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
            patch.setattr(PullWatcher, "interval", 0.2)
            with running_simulator(dialect, validate=True) as sim:
                yield dialect, sim


def estate_maker(dialect: str, sim: RunningSimulator) -> Any:
    def make() -> Estate:
        sim.simulator.faults.clear()
        sim.simulator.reset()
        database = fresh_database()
        common: dict[str, Any] = {
            "database": database,
            "environment": "onprem",
            "persons": PERSONS,
            "rooms": ROOMS,
            "start": first_hour(),
            "faults": EWS_FAULTS,
            "sim": sim,
        }
        if dialect == "o365":
            runner = runner_for(
                "o365", o365_testing.simulator_options(sim, max_retry_wait_seconds=2), database
            )
            return GraphEstate(
                runner=runner,
                operations=WRITE_OPERATIONS["graph"],
                user=o365_testing.GraphUser(sim),
                **common,
            )
        runner = runner_for(dialect, simulator_options(sim.ews_url), database)
        connector = runner.host("onprem").connector
        assert isinstance(connector, EwsConnector)
        user = SimulatorUser(sim.ews_url, connector.request_server_version, type(connector))
        return EwsEstate(runner=runner, operations=WRITE_OPERATIONS["ews"], user=user, **common)

    return make


@pytest.mark.slow
def test_both_sides_converge_through_the_plugin(simulator: tuple[str, RunningSimulator]) -> None:
    dialect, sim = simulator
    counts = run_convergence(estate_maker(dialect, sim), dialect.capitalize())
    print(f"\nconvergence {dialect}: {dict(sorted(counts.items()))}")
    if dialect != "o365":
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


# --- scenarios: each a plain test of what a run found or what the merge promises -------------


def _series(estate: Estate, title: str, days: int = 6) -> tuple[str, EventFields]:
    start = estate.start
    fields = EventFields(
        title=title,
        start=start,
        end=start + timedelta(hours=1),
        timezone="Europe/Berlin",
        rooms=(ROOMS[0],),
        recurrence=Recurrence(frequency=Frequency.DAILY, count=days),
    )
    rid = estate.book(PERSONS[0], fields)
    assert rid is not None
    return rid, fields


def _synced(estate: Estate) -> None:
    reports = estate.sync()
    assert all(r.ok for r in reports), [r.error for r in reports if not r.ok]


def _nth_start(fields: EventFields, n: int) -> datetime:
    return fields.start + timedelta(days=n - 1)


def _entry_of(estate: Estate, rid: str) -> CalendarEntry:
    entry = estate.own_entry(PERSONS[0], rid)
    assert entry is not None
    return entry


@pytest.mark.parametrize(
    ("outlook_cancels", "rooms_moves"),
    [(False, False), (True, True)],
    ids=["outlook-moves-3-rooms-retitles-5", "outlook-cancels-2-rooms-moves-4"],
)
def test_edits_to_different_occurrences_on_both_sides_both_survive(
    simulator: tuple[str, RunningSimulator], outlook_cancels: bool, rooms_moves: bool
) -> None:
    estate = estate_maker(*simulator)()
    try:
        rid, fields = _series(estate, "Daily stand-up")
        _synced(estate)
        outlook_n, rooms_n = (2, 4) if outlook_cancels else (3, 5)
        there = _nth_start(fields, outlook_n)
        if outlook_cancels:
            outlook_change = OccurrenceChange(original_start=there, cancelled=True)
        else:
            hour = timedelta(hours=1)
            outlook_change = OccurrenceChange(original_start=there, start=there + hour, end=there + 2 * hour)
        estate.outlook_occurrence(_entry_of(estate, rid), outlook_n, outlook_change)
        here = _nth_start(fields, rooms_n)
        if rooms_moves:
            late = timedelta(hours=3)
            rooms_change = OccurrenceChange(
                original_start=here, start=here + late, end=here + late + timedelta(hours=1)
            )
        else:
            rooms_change = OccurrenceChange(
                original_start=here, start=here, end=here + timedelta(hours=1), title="Demo day"
            )
        stored = estate.reservation(rid).fields
        assert estate.edit(
            rid, EventFields.model_validate({**stored.model_dump(), "occurrences": (rooms_change,)})
        )
        _synced(estate)

        expected = {outlook_change.original_start, rooms_change.original_start}
        reservation = estate.reservation(rid)
        assert {c.original_start for c in reservation.fields.occurrences} == expected
        assert snapshot(_entry_of(estate, rid).fields) == snapshot(reservation.fields)
        assert estate.reservation(rid).fields.occurrences == tuple(
            sorted((outlook_change, rooms_change), key=lambda c: c.original_start)
        )
    finally:
        estate.close()
