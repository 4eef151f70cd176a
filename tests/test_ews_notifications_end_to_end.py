"""``roomsync run`` through EWS notifications: an Outlook booking reaches ROOMS within seconds.

The interval is a minute, so only a notification can bring the cycle that imports the booking:
streaming on the 2013 dialect, pull on 2007, each against the simulator over HTTP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pluggy
import pytest

from roomsync import hookspecs
from roomsync.config import settings_from_mapping
from roomsync.domain import EventFields, Person, Room
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.plugins import connector_class
from roomsync.storage import Database
from roomsync_ews_common.notifications import PullWatcher
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser, simulator_options
from roomsync_sim.testing import running_simulator

ALICE, BOB, ROOM = "alice@example.org", "bob@example.org", "room.1@example.org"


@pytest.mark.parametrize(("plugin", "mechanism"), [("exchange2013", "streaming"), ("exchange2007", "pull")])
def test_an_outlook_booking_reaches_rooms_without_waiting_for_the_interval(
    plugin: str, mechanism: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    monkeypatch.setattr(PullWatcher, "interval", 0.5)
    found = connector_class(plugin, "onprem")
    assert found.notifications == mechanism  # type: ignore[attr-defined]
    with running_simulator(plugin, validate=True) as sim:
        settings = settings_from_mapping(
            {
                "environments": {"onprem": {"plugin": plugin, "options": simulator_options(sim.ews_url)}},
                "sync": {"interval_seconds": 60},
            }
        )
        database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
        database.upgrade()
        with database.unit_of_work() as uow:
            for email in (ALICE, BOB):
                uow.rooms.upsert_person(Person(email=email, environment="onprem"))
            uow.rooms.add_room(Room(name="Room 1", mailbox=ROOM))
            uow.commit()
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        runner = SyncRunner(settings, database, pm)
        user = SimulatorUser(sim.ews_url, found.request_server_version, found)  # type: ignore[attr-defined]
        stop = threading.Event()
        cycles: list[str] = []
        announced: list[tuple[str, bool, int]] = []

        def progress(person: Person, report: CycleReport) -> None:
            assert report.ok, report.error
            cycles.append(person.email)

        thread = threading.Thread(
            target=runner.run, args=(stop, progress, lambda *a: announced.append(a)), daemon=True
        )
        thread.start()
        try:
            assert _eventually(lambda: {ALICE, BOB} <= set(cycles), 20)
            assert announced == [("onprem", True, 3)]  # the two persons and the room
            start = (datetime.now(UTC) + timedelta(days=4)).replace(hour=9, minute=0, second=0, microsecond=0)
            since = time.monotonic()
            user.create(
                ALICE,
                EventFields(
                    title="Booked in Outlook",
                    start=start,
                    end=start + timedelta(hours=1),
                    timezone="Europe/Berlin",
                    rooms=(ROOM,),
                ),
            )

            def imported() -> bool:
                with database.unit_of_work() as uow:
                    return bool(uow.rooms.reservations(organizer=ALICE))

            assert _eventually(imported, 15)
            assert time.monotonic() - since < 10  # the interval is 60 s
        finally:
            stop.set()
            thread.join(timeout=10)
            user.close()
            runner.close()
            database.dispose()
        assert not thread.is_alive()
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


def _eventually(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
