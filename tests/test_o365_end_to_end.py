"""The runner through the o365 connector against the simulator's Exchange Online tenants: the whole path.

ROOMS side in SQLite, the engine, the o365 plugin over real HTTPS (sign-in with msal, ``$batch``,
delta, ``getSchedule``, webhooks), the simulator in its ``o365`` dialect with two tenants: one
environment reaches the second through ``tenant_overrides``. "The user in Outlook" is a Graph
client acting in the person's mailbox with a token of that person's tenant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from roomsync.config import settings_from_mapping
from roomsync.connector.types import CalendarEntry
from roomsync.domain import EventFields, Participant, Person, Room
from roomsync.engine.freebusy import MailboxFreeBusy, free_busy
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.plugins import plugin_manager
from roomsync.storage import Database
from roomsync.testkit.end_to_end import ALICE, BOB, ROOM1, ROOM2, EndToEndSuite
from roomsync.testkit.end_to_end import Estate as EndToEndEstate
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_o365.testing import SECRET_ENV, GraphUser, simulator_options, watching_options
from roomsync_sim.testing import RunningSimulator, running_simulator

ERIN, FINN = "erin@subsidiary.example", "finn@subsidiary.example"
ROOM_S = "room.s@subsidiary.example"
ENVIRONMENT = "online"
SUBSIDIARY = "00000000-0000-0000-0000-00000000cccc"
SUBSIDIARY_CLIENT = "00000000-0000-0000-0000-00000000dddd"
SUBSIDIARY_SECRET = "subsidiary-secret"
SUBSIDIARY_SECRET_ENV = "ROOMSYNC_TEST_O365_SUBSIDIARY_SECRET"
START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=7, minute=0, second=0, microsecond=0)

SEED: dict[str, Any] = {
    "users": [
        {"smtp": ALICE, "name": "Alice Adams"},
        {"smtp": BOB, "name": "Bob Brown"},
    ],
    "rooms": [{"smtp": ROOM1, "name": "Room 1"}, {"smtp": ROOM2, "name": "Room 2"}],
    "tenants": [
        {
            "id": SUBSIDIARY,
            "domains": ["subsidiary.example"],
            "users": [{"smtp": ERIN, "name": "Erin Evans"}, {"smtp": FINN, "name": "Finn Fox"}],
            "rooms": [{"smtp": ROOM_S, "name": "Subsidiary room"}],
            "apps": [{"client_id": SUBSIDIARY_CLIENT, "secrets": [SUBSIDIARY_SECRET]}],
        }
    ],
}


@dataclass
class TenantGraph:
    """What :class:`GraphUser` needs of a simulator, with the token of one tenant's app."""

    sim: RunningSimulator
    tenant_id: str
    client_id: str

    @property
    def graph_url(self) -> str:
        return self.sim.graph_url

    @property
    def ca_file(self) -> Path | None:
        return self.sim.ca_file

    def access_token(self) -> str:
        return self.sim.access_token(self.tenant_id, self.client_id)


@dataclass
class Estate(EndToEndEstate):
    start = START  # not a field: the day the bookings are made for
    sim: RunningSimulator
    runner: SyncRunner
    database: Database
    notes: NotificationRecorder
    users: dict[str, GraphUser]  # mail domain -> Outlook in that tenant

    def outlook(self, mailbox: str) -> GraphUser:
        return self.users[mailbox.partition("@")[2]]

    def entries(self, mailbox: str, stamp: str) -> list[CalendarEntry]:
        return self.runner.host(ENVIRONMENT).find_by_stamp(mailbox, [stamp]).get(stamp, [])

    def subjects(self, mailbox: str) -> list[str]:
        return self.sim.calendar_subjects(mailbox)

    def writes(self) -> int:
        counts = self.sim.simulator.counts
        return sum(counts[kind] for kind in ("events.create", "events.update", "events.delete"))


@contextmanager
def estate_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Iterator[Estate]:
    with ExitStack() as stack:
        sim = stack.enter_context(running_simulator("o365", SEED, tls_dir=tmp_path / "tls"))
        # watching_options() receives on plain-http loopback; Graph itself takes https only
        sim.simulator.graph.subscriptions.allow_http_notification_url = True
        monkeypatch.setenv(SECRET_ENV, sim.client_secret)
        monkeypatch.setenv(SUBSIDIARY_SECRET_ENV, SUBSIDIARY_SECRET)
        overrides = {
            "subsidiary.example": {
                "tenant_id": SUBSIDIARY,
                "client_id": SUBSIDIARY_CLIENT,
                "client_secret": {"env": SUBSIDIARY_SECRET_ENV},
            }
        }
        settings = settings_from_mapping(
            {
                "environments": {
                    ENVIRONMENT: {
                        "plugin": "o365",
                        "options": simulator_options(sim, tenant_overrides=overrides, **options),
                    }
                },
                "sync": {"interval_seconds": 60},
            }
        )
        database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
        database.upgrade()
        stack.callback(database.dispose)
        with database.unit_of_work() as uow:
            for email in (ALICE, BOB, ERIN):
                uow.rooms.upsert_person(Person(email=email, environment=ENVIRONMENT))
            for mailbox in (ROOM1, ROOM2, ROOM_S):
                uow.rooms.add_room(Room(name=mailbox.split("@")[0], mailbox=mailbox, environment=ENVIRONMENT))
            uow.commit()
        notes = NotificationRecorder()
        runner = SyncRunner(settings, database, plugin_manager(notes))
        stack.callback(runner.close)
        users = {
            "example.org": GraphUser(sim),
            "subsidiary.example": GraphUser(TenantGraph(sim, SUBSIDIARY, SUBSIDIARY_CLIENT)),
        }
        for user in users.values():
            stack.callback(user.close)
        yield Estate(sim, runner, database, notes, users)


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    with estate_on(tmp_path, monkeypatch) as found:
        yield found


class TestGraphEndToEnd(EndToEndSuite):
    """The end-to-end scenarios of the test kit, on an Exchange Online tenant over Graph."""

    reads_modified = True
    reads_uid = True
    reads_answers = True

    @pytest.fixture
    def estate(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
        with estate_on(tmp_path, monkeypatch) as found:
            yield found

    def after_booking(self, estate: EndToEndEstate, entry: CalendarEntry) -> None:
        assert isinstance(estate, Estate)
        assert [p.email for p in entry.fields.participants] == [BOB]
        # the room accepted; its booking has the organizer's name for subject (Exchange's defaults)
        assert "Alice Adams" in estate.subjects(ROOM1)

    def after_free_busy(self, estate: EndToEndEstate, views: dict[str, MailboxFreeBusy]) -> None:
        assert isinstance(estate, Estate)
        assert estate.sim.simulator.counts["getSchedule"] == 1  # four mailboxes of one tenant, one request


def test_two_tenants_in_one_environment_and_one_cycle(estate: Estate) -> None:
    """Persons of two mail domains, each domain's mailboxes in its own tenant through the overrides."""
    ours = estate.book(ALICE, "In the main tenant", 2, rooms=(ROOM1,))
    theirs = estate.book(
        ERIN, "In the subsidiary", 2, rooms=(ROOM_S,), participants=(Participant(email=FINN),)
    )

    reports = {r.mailbox: r for r in estate.sync()}

    assert (reports[ALICE].created, reports[ERIN].created) == (1, 1)
    main, subsidiary = estate.sim.tenants
    assert subsidiary.store.mailbox(ALICE) is None and main.store.mailbox(ERIN) is None
    assert estate.subjects(ERIN) == ["In the subsidiary"] and estate.subjects(FINN) == ["In the subsidiary"]
    assert estate.subjects(ROOM_S) == ["Erin Evans"]  # the room's booking: the organizer's name
    assert estate.subjects(ALICE) == ["In the main tenant"]
    [erins] = estate.entries(ERIN, theirs.id or "")
    assert estate.entries(ALICE, theirs.id or "") == []

    # An edit in the subsidiary's Outlook comes back in the same cycle as one in the main tenant's.
    [alices] = estate.entries(ALICE, ours.id or "")
    estate.outlook(ERIN).update(
        ERIN, erins.item_id, erins.fields.model_copy(update={"title": "Erin's title"})
    )
    estate.outlook(ALICE).update(
        ALICE, alices.item_id, alices.fields.model_copy(update={"title": "Alice's title"})
    )
    reports = {r.mailbox: r for r in estate.sync()}
    assert (reports[ALICE].imported, reports[ERIN].imported) == (1, 1)
    assert estate.reservation(theirs.id or "").fields.title == "Erin's title"
    assert estate.reservation(ours.id or "").fields.title == "Alice's title"

    # Free/busy of persons and rooms of both tenants in one call, each asked of its own tenant.
    meeting = (START + timedelta(hours=2), START + timedelta(hours=3))
    views = free_busy(
        estate.runner,
        [ALICE, ERIN, FINN, ROOM1, ROOM_S],
        meeting[0] - timedelta(hours=2),
        meeting[1] + timedelta(hours=2),
    )
    for view in views:
        assert not view.errors, (view.mailbox, view.errors)
        assert meeting in {(b.start, b.end) for b in view.busy}, view.mailbox
        if view.mailbox in (ALICE, ERIN):
            assert {b.source for b in view.busy} == {"both"}, view.mailbox


def test_a_users_change_wakes_the_persons_cycle_without_waiting_for_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``roomsync run`` with webhooks: the interval is a minute, so only a notification brings the cycle."""
    with estate_on(tmp_path, monkeypatch, **watching_options()) as estate:
        stop = threading.Event()
        cycles: list[tuple[float, str]] = []
        announced: list[tuple[str, bool, int]] = []

        def progress(person: Person, report: CycleReport) -> None:
            assert report.ok, report.error
            cycles.append((time.monotonic(), person.email))

        def cycled_since(mailbox: str, since: float) -> bool:
            return mailbox in {email for at, email in cycles if at >= since}

        def booked_by(organizer: str) -> bool:
            with estate.database.unit_of_work() as uow:
                return bool(uow.rooms.reservations(organizer=organizer))

        thread = threading.Thread(
            target=estate.runner.run, args=(stop, progress, lambda *a: announced.append(a)), daemon=True
        )
        thread.start()
        try:
            assert _eventually(lambda: {ALICE, BOB, ERIN} <= {email for _, email in cycles}, 20)
            assert announced == [(ENVIRONMENT, True, 6)]  # three persons and three rooms
            for mailbox, hour in ((ALICE, 1), (ERIN, 2)):  # one user in each tenant
                start = START + timedelta(hours=hour)
                since = time.monotonic()
                estate.outlook(mailbox).create(
                    mailbox,
                    EventFields(
                        title=f"Booked in Outlook by {mailbox}",
                        start=start,
                        end=start + timedelta(hours=1),
                        timezone="Europe/Berlin",
                        rooms=(ROOM1 if mailbox == ALICE else ROOM_S,),
                    ),
                )
                assert _eventually(partial(booked_by, mailbox), 15)
                assert time.monotonic() - since < 10  # the interval is 60 s
                assert _eventually(partial(cycled_since, mailbox, since), 5)
        finally:
            stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive()


def _eventually(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
