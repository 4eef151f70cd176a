"""Graph webhooks on Celery: an Outlook change becomes a task for its mailbox, and the change
reaches ROOMS, long before the next round (an hour away).

A ``roomsync scheduler`` process holds the webhook subscriptions (the o365 connector's own
receiver on a loopback port), a ``roomsync worker`` process with the threads pool runs the
tasks, on PostgreSQL and Redis; the simulator's Graph dialect (over HTTPS) posts the
notifications. Alice is synchronised; Bob is not, and books room 1 in Outlook: the room's own
cycle, a task as well, brings his booking into ROOMS.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from roomsync_celery.marks import Marks
from roomsync_celery.testing import Cluster, Process, broker_or_skip, cycles_logged, delete_queues

from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine.apply import now
from roomsync.engine.runner import WAKE_DEBOUNCE_SECONDS
from roomsync.storage import Database
from roomsync.testkit.databases import empty_database_url
from roomsync_o365.testing import SECRET_ENV, GraphUser, simulator_options, watching_options
from roomsync_sim.testing import running_simulator

ALICE, BOB, ROOM1 = "alice@example.org", "bob@example.org", "room.1@example.org"
SEED: dict[str, Any] = {
    "users": [{"smtp": ALICE, "name": "Alice Adams"}, {"smtp": BOB, "name": "Bob Brown"}],
    "rooms": [{"smtp": ROOM1, "name": "Room 1"}],
}
HOUR = 3600  # the rounds' interval: only the first round falls within the tests
START = (datetime.now(UTC) + timedelta(days=4)).replace(hour=7, minute=0, second=0, microsecond=0)


@dataclass
class Estate:
    sim: Any
    database: Database
    cluster: Cluster
    worker: Process
    scheduler: Process
    outlook: GraphUser

    def cycles(self, mailbox: str, since: float = 0.0) -> list[dict[str, Any]]:
        """The cycles of ``mailbox`` the workers logged, started after ``since`` (``time.time()``)."""
        workers = [p for p in self.cluster.processes.values() if p is not self.scheduler]
        return [c for c in cycles_logged(workers) if c["mailbox"] == mailbox and c["task_started"] >= since]

    def settle(self) -> None:
        """Until every wake so far was served: none pending (the debounce passed), no task waiting
        or running."""
        marks = Marks(self.database.engine)
        time.sleep(WAKE_DEBOUNCE_SECONDS + 0.2)
        eventually(lambda: not marks.queued() and not self.database.leases.leases(now()), 15)

    def summaries(self, cycles: list[dict[str, Any]]) -> list[str]:
        return [str(c["message"]).split(": ", 1)[1] for c in cycles]

    def reservations(self, organizer: str) -> list[Reservation]:
        with self.database.unit_of_work() as uow:
            return list(uow.rooms.reservations(organizer=organizer))

    def fields(self, title: str, hours: float, *rooms: str) -> EventFields:
        start = START + timedelta(hours=hours)
        return EventFields(
            title=title, start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin", rooms=rooms
        )


def toml(options: dict[str, Any]) -> str:
    """An options table as TOML lines (JSON's strings are TOML's basic strings)."""
    lines = []
    for key, value in options.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    broker_url = broker_or_skip("redis")
    home = tmp_path_factory.mktemp("celery-graph")
    environment = f"online{uuid.uuid4().hex[:8]}"  # queues of its own on a shared broker
    with (
        empty_database_url("postgresql", home) as database_url,
        running_simulator("o365", SEED, tls_dir=home / "tls") as sim,
    ):
        # watching_options() receives on plain-http loopback; Graph itself takes https only
        sim.simulator.graph.subscriptions.allow_http_notification_url = True
        options = simulator_options(sim, **watching_options())
        config = home / "roomsync.toml"
        config.write_text(
            f'data_dir = "data"\ndatabase_url = {json.dumps(database_url)}\n'
            f"[sync]\ninterval_seconds = {HOUR}\nwatched_interval_seconds = {HOUR}\n"
            f'[logging]\nlevel = "info"\n[celery]\nbroker_url = "{broker_url}"\n'
            f'[environments.{environment}]\nplugin = "o365"\n'
            f"[environments.{environment}.options]\n{toml(options)}\n",
            encoding="utf-8",
        )
        database = Database(database_url)
        database.upgrade()
        with database.unit_of_work() as uow:
            uow.rooms.upsert_person(Person(email=ALICE, environment=environment))
            uow.rooms.add_room(Room(name="Room 1", mailbox=ROOM1, environment=environment))
            uow.commit()
        outlook = GraphUser(sim)
        try:
            with Cluster(config, {**os.environ, SECRET_ENV: sim.client_secret}) as cluster:
                worker = cluster.worker("threads", "--pool", "threads", concurrency=2, wait=False)
                scheduler = cluster.scheduler("scheduler")
                cluster.wait_for(worker, "roomsync worker ready")
                found = Estate(sim, database, cluster, worker, scheduler, outlook)
                # The first round's cycles, and a subscription for each mailbox.
                eventually(lambda: found.cycles(ALICE) and found.cycles(ROOM1), 30)
                eventually(lambda: len(sim.simulator.graph.subscriptions.items) == 2, 30)
                found.settle()
                yield found
                assert cluster.stop(scheduler) == 0, scheduler.text()[-3000:]
                assert "scheduler stopped after enqueueing" in scheduler.text()
        finally:
            outlook.close()
            delete_queues(broker_url, ["roomsync", f"roomsync.{environment}"])
            database.dispose()


def eventually(condition: Callable[[], object], seconds: float) -> float:
    """Seconds until ``condition`` held."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "never happened"
        time.sleep(0.05)
    return time.monotonic() - started


def test_an_outlook_change_becomes_a_task_for_its_mailbox_and_reaches_rooms(estate: Estate) -> None:
    since, reads = time.time(), estate.sim.simulator.counts["calendarView.delta"]
    estate.outlook.create(ALICE, estate.fields("Planned in Outlook", 1, ROOM1))
    took = eventually(
        lambda: [r for r in estate.reservations(ALICE) if r.fields.title == "Planned in Outlook"], 15
    )
    assert took < 10  # a woken task: the next round is an hour away
    eventually(lambda: estate.cycles(ALICE, since), 5)
    [woken, *_] = estate.cycles(ALICE, since)
    assert woken["reason"] == "wake" and woken["ok"]
    # After the runner's debounce (the change's notifications, a burst, are one task).
    assert woken["task_started"] - since >= WAKE_DEBOUNCE_SECONDS
    assert estate.summaries([woken]) == ["1 updated, 1 booked from Outlook"]

    # The cycle's own write (its stamp on the Outlook entry) comes back as a notification too:
    # the scheduler cannot tell it from another change, so it costs one more, idle, task and
    # its read of the calendar's changes; that one writes nothing, and nothing follows it.
    estate.settle()
    time.sleep(WAKE_DEBOUNCE_SECONDS)
    cycles = estate.cycles(ALICE, since)
    assert [c["reason"] for c in cycles] == ["wake", "wake"]
    assert estate.summaries(cycles) == ["1 updated, 1 booked from Outlook", "no changes"]
    room_cycles = estate.cycles(ROOM1, since)  # the room accepted: its calendar changed too
    assert all(summary == "no changes" for summary in estate.summaries(room_cycles))
    assert estate.sim.simulator.counts["calendarView.delta"] - reads == len(cycles) + len(room_cycles)


def test_a_rooms_booking_in_outlook_becomes_a_room_task_and_a_reservation(estate: Estate) -> None:
    """Bob is not synchronised: only room 1's own cycle (a task of kind room) sees his booking."""
    since = time.time()
    estate.outlook.create(BOB, estate.fields("Booked by Bob", 3, ROOM1))
    eventually(lambda: estate.reservations(BOB), 10)
    eventually(lambda: estate.cycles(ROOM1, since), 5)
    [booked] = estate.reservations(BOB)
    assert ROOM1 in booked.fields.rooms and booked.fields.start == START + timedelta(hours=3)
    [woken, *_] = estate.cycles(ROOM1, since)
    assert (woken["kind"], woken["reason"], woken["ok"]) == ("room", "wake", True)
    assert not estate.cycles(ALICE, since)


def test_the_threads_and_solo_pools_run_the_cycles_in_the_workers_own_process(estate: Estate) -> None:
    cycles = estate.cycles(ALICE) + estate.cycles(ROOM1)
    assert {c["pid"] for c in cycles} == {estate.worker.popen.pid}
    # Two threads: the first round's two tasks ran at once.
    first = sorted(cycles, key=lambda c: c["task_started"])[:2]
    assert first[1]["task_started"] < first[0]["task_finished"]

    solo = estate.cluster.worker("solo", "--pool", "solo", wait=False)
    assert estate.cluster.stop(estate.worker) == 0, estate.worker.text()[-3000:]  # a warm shutdown
    estate.cluster.wait_for(solo, "roomsync worker ready")
    since = time.time()
    estate.outlook.create(ALICE, estate.fields("Planned in Outlook again", 5, ROOM1))
    eventually(lambda: [r for r in estate.reservations(ALICE) if r.fields.title.endswith("again")], 10)
    eventually(lambda: estate.cycles(ALICE, since), 5)
    assert {c["pid"] for c in estate.cycles(ALICE, since)} == {solo.popen.pid}
    estate.settle()
    assert estate.cluster.stop(solo) == 0, solo.text()[-3000:]
