"""Room calendars on every generation: Outlook bookings of rooms by people roomsync does not sync.

The runner, a database and each connector over real HTTP against the simulator in its dialect
(Exchange 2007, 2010 and 2013 over EWS, Exchange Online over Graph). Bob is in the organisation
but not synchronised by roomsync: he books rooms in Outlook (a meeting inviting the room, sent,
so the room's booking policy answers it as Exchange's does). Alice is synchronised. Room 1 is
sync master, room 2 is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from roomsync.config import settings_from_mapping
from roomsync.domain import (
    ConflictPolicy,
    EventFields,
    Frequency,
    Person,
    Recurrence,
    Reservation,
    Room,
    Weekday,
)
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.notify.message import NotificationKind
from roomsync.plugins import connector_class, plugin_manager
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SimulatorUser
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV, GraphUser
from roomsync_o365.testing import simulator_options as graph_options
from roomsync_sim.graph.tenants import DEFAULT_CLIENT_ID, DEFAULT_SECRET
from roomsync_sim.meetings import attendees
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.soap import t
from roomsync_sim.testing import running_simulator

ALICE, BOB, DAVE = "alice@example.org", "bob@example.org", "dave@example.org"
ROOM1, ROOM2, GHOST, LOCKED = (
    "room.1@example.org",
    "room.2@example.org",
    "room.ghost@example.org",
    "room.locked@example.org",
)
ENVIRONMENT = "site"
ZONE = ZoneInfo("Europe/Berlin")
DAY = (datetime.now(UTC) + timedelta(days=4)).replace(hour=7, minute=0, second=0, microsecond=0)
EWS = ("exchange2007", "exchange2010", "exchange2013")
SCOPE = [ALICE, BOB, ROOM1, ROOM2]  # what the service account may reach: not the locked room
VERSIONS = {
    "exchange2007": "Exchange2007_SP1",
    "exchange2010": "Exchange2010_SP2",
    "exchange2013": "Exchange2013",
}


def seed(plugin: str) -> dict[str, Any]:
    """The default organisation, room 2 taking series with a conflicting occurrence (declining
    that one), and a room the service account may not reach (impersonation scope, Graph's
    application access policy)."""
    rooms = [
        {"smtp": ROOM1, "name": "Room 1"},
        {
            "smtp": ROOM2,
            "name": "Room 2",
            "booking": {"maximum_conflict_instances": 2, "conflict_percentage_allowed": 50},
        },
        {"smtp": LOCKED, "name": "Locked room"},
    ]
    grants: list[dict[str, Any]] = [{"kind": "impersonation", "grantee": "svc@example.org", "scope": SCOPE}]
    if plugin == "exchange2007":
        grants += [
            {"kind": "ad-impersonation", "grantee": "svc@example.org"},
            {"kind": "ad-may-impersonate", "grantee": "svc@example.org", "scope": SCOPE},
        ]
    apps = [{"client_id": DEFAULT_CLIENT_ID, "secrets": [DEFAULT_SECRET], "mailboxes": SCOPE}]
    return {**DEFAULT_SEED, "rooms": rooms, "grants": grants, "apps": apps}


class OutlookMeetings:
    """Bob in Outlook: meetings he sends, moves and cancels (invitations and updates sent)."""

    def __init__(self, plugin: str, sim: Any) -> None:
        self.plugin = plugin
        if plugin == "o365":
            self.graph = GraphUser(sim)
        else:
            kind = connector_class(plugin, ENVIRONMENT)
            self.ews = SimulatorUser(sim.ews_url, kind.request_server_version, kind)

    def send(self, fields: EventFields) -> str:
        if self.plugin == "o365":
            return self.graph.create(BOB, fields)
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        account = self.ews.account(BOB)
        [answer] = account.bulk_create(
            folder=account.calendar,
            items=[self.ews._item(BOB, fields)],
            send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY,
        )
        assert not isinstance(answer, Exception), answer
        return str(answer.id)

    def move(self, item_id: str, fields: EventFields) -> None:
        if self.plugin == "o365":
            self.graph.update(BOB, item_id, fields)
            return
        from exchangelib.items import ALWAYS_OVERWRITE, SEND_TO_ALL_AND_SAVE_COPY

        [answer] = self.ews.account(BOB).bulk_update(
            [(self.ews._item(BOB, fields, id=item_id), ["start", "end"])],
            conflict_resolution=ALWAYS_OVERWRITE,
            send_meeting_invitations_or_cancellations=SEND_TO_ALL_AND_SAVE_COPY,
        )
        assert not isinstance(answer, Exception), answer

    def cancel(self, item_id: str) -> None:
        if self.plugin == "o365":
            self.graph.delete(BOB, item_id)
            return
        from exchangelib.items import HARD_DELETE, SEND_TO_ALL_AND_SAVE_COPY
        from exchangelib.properties import ItemId

        [answer] = self.ews.account(BOB).bulk_delete(
            [ItemId(id=item_id)],
            delete_type=HARD_DELETE,
            send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY,
        )
        assert answer is True, answer

    def close(self) -> None:
        (self.graph if self.plugin == "o365" else self.ews).close()


@dataclass
class Site:
    plugin: str
    sim: Any
    database: Database
    runner: SyncRunner
    notes: NotificationRecorder
    bob: OutlookMeetings
    reports: list[CycleReport] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.sim.tenants[0].store if self.plugin == "o365" else self.sim.simulator.store

    def fields(self, title: str, hour: float, room: str = ROOM1, **changes: Any) -> EventFields:
        start = DAY + timedelta(hours=hour)
        return EventFields(
            title=title,
            start=start,
            end=start + timedelta(hours=1),
            timezone="Europe/Berlin",
            rooms=(room,),
            **changes,
        )

    def sync_rooms(self) -> dict[str, CycleReport]:
        return {r.mailbox: r for r in self.runner.sync_rooms_once()}

    def sync_rooms_ok(self, *rooms: str) -> None:
        reports = self.sync_rooms()
        failed = {m: r.error for m, r in reports.items() if not r.ok and (not rooms or m in rooms)}
        assert not failed, failed

    def book(self, organizer: str, fields: EventFields) -> Reservation:
        with self.database.unit_of_work() as uow:
            made = uow.rooms.create_reservation(Reservation(fields=fields, organizer=organizer), Origin.ROOMS)
            uow.commit()
        return made

    def of_room(self, room: str, include_cancelled: bool = False) -> list[Reservation]:
        with self.database.unit_of_work() as uow:
            return [
                r
                for r in uow.rooms.reservations(include_cancelled=include_cancelled, involving=[room])
                if room in r.fields.rooms
            ]

    def room_calendar(self, room: str) -> list[Any]:
        with self.store.lock:
            return list(self.store.mailbox(room).folder("calendar").items.values())

    def room_answer(self, organizer: str, room: str, title: str) -> str | None:
        """The room's ResponseType as the organizer's meeting ``title`` records it."""
        with self.store.lock:
            for item in self.store.mailbox(organizer).folder("calendar").items.values():
                subject = item.props.get("Subject")
                if subject is not None and subject.text == title:
                    for smtp, attendee in attendees(item):
                        if smtp == room:
                            return attendee.findtext(t("ResponseType"))
        return None


@pytest.fixture(scope="module", params=[*EWS, "o365"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    plugin = str(request.param)
    home = tmp_path_factory.mktemp(f"rooms-{plugin}")
    with pytest.MonkeyPatch.context() as patch:
        if plugin == "o365":
            context = running_simulator("o365", tls_dir=home / "tls", seed=seed(plugin))
        else:
            context = running_simulator(plugin, seed=seed(plugin), validate=True)
        with context as sim:
            if plugin == "o365":
                patch.setenv(SECRET_ENV, sim.client_secret)
                options = graph_options(sim)
            else:
                patch.setenv(SIM_PASSWORD_ENV, "svc-password")
                options = ews_options(sim.ews_url)
            settings = settings_from_mapping(
                {"data_dir": str(home), "environments": {ENVIRONMENT: {"plugin": plugin, "options": options}}}
            )
            database = Database(f"sqlite:///{home / 'roomsync.db'}")
            database.upgrade()
            with database.unit_of_work() as uow:
                uow.rooms.upsert_person(Person(email=ALICE, environment=ENVIRONMENT))
                uow.rooms.upsert_person(Person(email=DAVE))  # in ROOMS, not synchronised
                uow.rooms.add_room(Room(name="Room 1", mailbox=ROOM1))
                uow.rooms.add_room(Room(name="Room 2", mailbox=ROOM2, sync_master=False))
                uow.commit()
            notes = NotificationRecorder()
            runner = SyncRunner(settings, database, plugin_manager(notes))
            bob = OutlookMeetings(plugin, sim)
            yield Site(plugin, sim, database, runner, notes, bob)
            bob.close()
            runner.close()
            database.dispose()


def test_an_outlook_booking_of_a_room_becomes_a_reservation_that_follows_it(site: Site) -> None:
    fields = site.fields(f"Partner day {uuid.uuid4().hex[:6]}", 0)
    item_id = site.bob.send(fields)
    site.sync_rooms_ok(ROOM1)

    [booked] = [r for r in site.of_room(ROOM1) if r.organizer == BOB]
    assert booked.fields.start == fields.start and booked.fields.end == fields.end
    assert booked.fields.title == "Bob Brown"  # the room's policy (Exchange's default) keeps the name
    site.sync_rooms_ok(ROOM1)
    assert len([r for r in site.of_room(ROOM1) if r.organizer == BOB]) == 1

    moved = fields.model_copy(
        update={"start": fields.start + timedelta(hours=1), "end": fields.end + timedelta(hours=1)}
    )
    site.bob.move(item_id, moved)
    site.sync_rooms_ok(ROOM1)
    assert site.of_room(ROOM1)[0].fields.start == moved.start

    site.bob.cancel(item_id)
    site.sync_rooms_ok(ROOM1)
    assert [r for r in site.of_room(ROOM1) if r.organizer == BOB] == []
    [cancelled] = [r for r in site.of_room(ROOM1, include_cancelled=True) if r.id == booked.id]
    assert not cancelled.active


def test_a_booking_roomsync_exported_is_not_imported_again(site: Site) -> None:
    ours = site.book(ALICE, site.fields("Exported", 3))
    [report] = site.runner.sync_once([ALICE])
    assert report.ok, report.error
    site.sync_rooms_ok(ROOM1)
    assert [r.id for r in site.of_room(ROOM1) if r.fields.start == ours.fields.start] == [ours.id]


def test_a_collision_with_a_sync_master_room_is_declined_and_its_organizer_told(site: Site) -> None:
    held = site.book(DAVE, site.fields("Board in ROOMS", 5))  # never exported: Dave is not synced
    site.bob.send(site.fields("Clash", 5))
    assert any(i for i in site.room_calendar(ROOM1) if "Start" in i.props)  # the room accepted it
    site.sync_rooms_ok(ROOM1)

    assert [r.id for r in site.of_room(ROOM1) if r.fields.start == held.fields.start] == [held.id]
    assert site.room_answer(BOB, ROOM1, "Clash") == "Decline"
    with site.store.lock:
        inbox = list(site.store.mailbox(BOB).folder("inbox").items.values())
        declines = [
            m for m in inbox if m.kind == "MeetingResponse" and "Declined" in (m.props["Subject"].text or "")
        ]
    assert declines, "Bob received no decline from the room"
    notes = [
        n
        for n in site.notes.sent
        if n.kind is NotificationKind.ROOM_COLLISION and n.reservation_id == held.id
    ]
    assert [n.facts["outcome"] for n in notes] == ["declined"]


def test_a_collision_with_a_room_that_is_not_sync_master_keeps_both_and_is_reported(site: Site) -> None:
    held = site.book(DAVE, site.fields("Board in ROOMS", 6, room=ROOM2))
    site.bob.send(site.fields("Clash 2", 6, room=ROOM2))
    site.sync_rooms_ok(ROOM2)

    assert [r.id for r in site.of_room(ROOM2) if r.fields.start == held.fields.start] == [held.id]
    assert site.room_answer(BOB, ROOM2, "Clash 2") == "Accept"  # Exchange's booking stays
    notes = [
        n
        for n in site.notes.sent
        if n.kind is NotificationKind.ROOM_COLLISION and n.reservation_id == held.id
    ]
    assert [n.facts["outcome"] for n in notes] == ["kept"]


def test_a_room_declining_one_occurrence_of_a_series_is_handled_by_the_organizers_policy(site: Site) -> None:
    set_policy(site, ConflictPolicy.EXCHANGE_WINS)
    first = site.fields("Weekly", 9, room=ROOM2)
    day = list(Weekday)[first.start.astimezone(ZONE).weekday()]
    series = first.model_copy(
        update={"recurrence": Recurrence(frequency=Frequency.WEEKLY, weekdays=(day,), count=4)}
    )
    ours = site.book(ALICE, series)
    second = first.start + timedelta(weeks=1)
    # Before the series reaches Exchange, Bob books room 2 at its second occurrence.
    site.bob.send(site.fields("Taken", 9 + 24 * 7, room=ROOM2))
    [report] = site.runner.sync_once([ALICE])
    assert report.ok, report.error
    site.sync_rooms_ok(ROOM2)

    after = next(r for r in site.of_room(ROOM2) if r.id == ours.id)
    assert [c.original_start for c in after.fields.occurrences if c.cancelled] == [second]
    [note] = [
        n for n in site.notes.sent if n.kind is NotificationKind.ROOM_DECLINED and n.reservation_id == ours.id
    ]
    assert note.recipient == ALICE and note.facts["outcome"] == "room-removed"
    assert note.facts["occurrences"] == second.astimezone(ZONE).isoformat()


def test_a_room_that_does_not_exist_or_may_not_be_read_fails_alone(site: Site) -> None:
    with site.database.unit_of_work() as uow:
        uow.rooms.add_room(Room(name="Ghost", mailbox=GHOST))
        uow.rooms.add_room(Room(name="Locked", mailbox=LOCKED))
        uow.commit()
    try:
        fields = site.fields("Still synced", 12)
        site.bob.send(fields)
        reports = site.sync_rooms()
        assert reports[ROOM1].ok and reports[ROOM2].ok
        assert any(r.fields.start == fields.start for r in site.of_room(ROOM1))
        assert not reports[GHOST].ok and GHOST in (reports[GHOST].error or "")
        assert not reports[LOCKED].ok and LOCKED in (reports[LOCKED].error or "")
    finally:
        with site.database.unit_of_work() as uow:
            for room in (GHOST, LOCKED):
                if uow.rooms.room_by_mailbox(room) is not None:
                    uow.rooms.update_room(room, active=False)
            uow.commit()


def test_a_room_declining_an_exported_meeting_is_handled_by_the_organizers_policy(site: Site) -> None:
    set_policy(site, ConflictPolicy.CANCEL)
    ours = site.book(ALICE, site.fields("Taken in Exchange", 14, room=ROOM2))
    site.bob.send(site.fields("Bob was first", 14, room=ROOM2))  # Exchange's room has it already
    [report] = site.runner.sync_once([ALICE])
    assert report.ok, report.error

    assert site.room_answer(ALICE, ROOM2, "Taken in Exchange") is None  # the meeting was cancelled
    [cancelled] = [r for r in site.of_room(ROOM2, include_cancelled=True) if r.id == ours.id]
    assert not cancelled.active
    [note] = [
        n for n in site.notes.sent if n.kind is NotificationKind.ROOM_DECLINED and n.reservation_id == ours.id
    ]
    assert (
        note.recipient == ALICE and note.facts["outcome"] == "cancelled" and note.facts["occurrences"] == ""
    )
    assert note.facts["reason"] == "conflict"  # room 2 is busy then in Exchange


def set_policy(site: Site, policy: ConflictPolicy) -> None:
    with site.database.unit_of_work() as uow:
        person = uow.rooms.get_person(ALICE)
        assert person is not None
        uow.rooms.upsert_person(person.model_copy(update={"conflict_policy": policy}))
        uow.commit()
