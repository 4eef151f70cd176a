"""A room declining a meeting as itself (``roomsync_decline_entries``) on every generation.

Each connector runs over real HTTP against the simulator in its dialect (Exchange 2007, 2010 and
2013 over EWS, Exchange Online over Graph): the organizer books a room with AutoAccept through
the connector, the room's booking is read through the connector and declined with a comment.
What Exchange then does is looked up in the simulator's store: the booking has left the room's
calendar, the organizer's item records the room's decline (and changed, so the organizer's own
change feed reports it) and the organizer's Inbox holds the room's answer with the comment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CalendarEntry, EntryDraft, ItemRef, WriteErrorKind
from roomsync.domain import EventFields
from roomsync.plugins import connector_class
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import build as graph_connector
from roomsync_sim.meetings import attendees
from roomsync_sim.testing import running_simulator

ALICE = "alice@example.org"
ROOM = "room.1@example.org"
COMMENT = "Der Raum ist in ROOMS vergeben"
ENVIRONMENT = "site"
START = (datetime.now(UTC) + timedelta(days=9)).replace(hour=8, minute=0, second=0, microsecond=0)
PLUGINS = {"exchange2007": "exchange2007", "exchange2010": "exchange2010", "exchange2013": "exchange2013"}
REQUESTS = {"o365": "$batch"}


@dataclass
class Site:
    plugin: str
    sim: Any
    host: ConnectorHost
    starts: dict[str, datetime] = field(default_factory=dict)

    @property
    def store(self) -> Any:
        """The simulator's store of the organisation (Graph keeps one per tenant)."""
        return self.sim.tenants[0].store if self.plugin == "o365" else self.sim.simulator.store

    def requests(self) -> int:
        """Requests that carry declines: EWS CreateItem, Graph $batch."""
        return int(self.sim.counts()[REQUESTS.get(self.plugin, "CreateItem")])

    def book(self, title: str, hour: int) -> str:
        """A meeting of Alice's in the room, written by the connector; the organizer's item id."""
        start = START + timedelta(hours=hour)
        fields = EventFields(
            title=title, start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin", rooms=(ROOM,)
        )
        [result] = self.host.create_entries(ALICE, [EntryDraft(stamp=f"R-{title}", fields=fields)])
        assert result.ok and result.item_id, result
        self.starts[title] = start
        return result.item_id

    def booking(self, title: str) -> CalendarEntry | None:
        """The room's booking of ``title`` as the connector reads it (found by its time: an
        AutoAccept room's booking carries the organizer's name as its subject)."""
        window = (START - timedelta(days=1), START + timedelta(days=2))
        found = [e for e in self.host.list_entries(ROOM, *window) if e.fields.start == self.starts[title]]
        assert len(found) <= 1, found
        return found[0] if found else None

    def changes(self, mailbox: str, state: str | None) -> tuple[list[CalendarEntry], str]:
        """Every page of changes since ``state``, and the state after them."""
        entries: list[CalendarEntry] = []
        while True:
            page = self.host.changes(mailbox, state)
            entries.extend(page.entries)
            state = page.sync_state
            if not page.more:
                return entries, state

    def organizer_item(self, title: str) -> Any:
        with self.store.lock:
            calendar = self.store.mailbox(ALICE).folder("calendar")
            [item] = [i for i in calendar.items.values() if _subject(i) == title]
            return item

    def room_answer(self, title: str) -> str | None:
        """The room's ResponseType as the organizer's item records it."""
        item = self.organizer_item(title)
        with self.store.lock:
            found = [a.findtext(_t("ResponseType")) for smtp, a in attendees(item) if smtp == ROOM]
        return found[0] if found else None

    def responses(self, title: str) -> list[tuple[str, str]]:
        """(item class, body text) of the meeting responses to ``title`` in Alice's Inbox."""
        with self.store.lock:
            inbox = self.store.mailbox(ALICE).folder("inbox")
            return [
                (_text(i, "ItemClass"), _text(i, "Body"))
                for i in inbox.items.values()
                if i.kind == "MeetingResponse" and _subject(i).endswith(title)
            ]


def _t(name: str) -> str:
    from roomsync_sim.soap import t

    return t(name)


def _text(item: Any, name: str) -> str:
    elem = item.props.get(name)
    return (elem.text or "") if elem is not None else ""


def _subject(item: Any) -> str:
    return _text(item, "Subject")


@pytest.fixture(scope="module", params=[*PLUGINS, "o365"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    plugin = str(request.param)
    with pytest.MonkeyPatch.context() as patch:
        if plugin == "o365":
            tls = tmp_path_factory.mktemp("o365-tls")
            with running_simulator("o365", tls_dir=tls) as sim:
                patch.setenv(SECRET_ENV, sim.client_secret)
                host = ConnectorHost(ENVIRONMENT, graph_connector(sim))
                yield Site(plugin, sim, host)
                host.close()
            return
        with running_simulator(PLUGINS[plugin], validate=True) as sim:
            patch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
            connector = connector_class(plugin, ENVIRONMENT).from_config(
                ENVIRONMENT, ews_options(sim.ews_url), "roomsync.toml"
            )
            host = ConnectorHost(ENVIRONMENT, connector)
            yield Site(plugin, sim, host)
            host.close()
            assert [v for v in sim.simulator.violations if v.direction == "request"] == []


def test_the_room_declines_a_booking_as_itself(site: Site) -> None:
    organizer_id = site.book("Board", 0)
    _, alice_state = site.changes(ALICE, None)
    booking = site.booking("Board")
    assert booking is not None
    assert site.room_answer("Board") == "Accept"  # AutoAccept booked it
    key_before = site.organizer_item("Board").change_key

    [result] = site.host.decline_entries(ROOM, [ItemRef(item_id=booking.item_id)], COMMENT)

    assert result.ok, result
    assert site.booking("Board") is None
    assert site.room_answer("Board") == "Decline"
    [(item_class, body)] = [r for r in site.responses("Board") if r[0].endswith(".Neg")]
    assert item_class == "IPM.Schedule.Meeting.Resp.Neg"
    assert COMMENT in body
    # Exchange records the answer on the organizer's item: it changed, and its feed says so.
    assert site.organizer_item("Board").change_key != key_before
    changed, _ = site.changes(ALICE, alice_state)
    assert organizer_id in [entry.item_id for entry in changed]


def test_a_second_decline_finds_nothing(site: Site) -> None:
    site.book("Twice", 2)
    booking = site.booking("Twice")
    assert booking is not None
    [first] = site.host.decline_entries(ROOM, [ItemRef(item_id=booking.item_id)], COMMENT)
    assert first.ok, first

    [second] = site.host.decline_entries(ROOM, [ItemRef(item_id=booking.item_id)], COMMENT)

    assert not second.ok
    assert second.error_kind is WriteErrorKind.NOT_FOUND, second
    assert second.item_id == booking.item_id


def test_the_organizer_cannot_decline_its_own_meeting(site: Site) -> None:
    organizer_id = site.book("Own", 4)

    [result] = site.host.decline_entries(ALICE, [ItemRef(item_id=organizer_id)], COMMENT)

    assert not result.ok
    assert result.error_kind is WriteErrorKind.INVALID, result
    assert site.booking("Own") is not None  # nothing happened to the meeting
    assert site.room_answer("Own") == "Accept"


def test_declines_of_one_call_are_one_request_and_answered_in_order(site: Site) -> None:
    site.book("First", 6)
    site.book("Second", 7)
    first, second = site.booking("First"), site.booking("Second")
    assert first is not None and second is not None
    [taken] = site.host.decline_entries(ROOM, [ItemRef(item_id=first.item_id)], COMMENT)
    assert taken.ok, taken
    refs = [ItemRef(item_id=second.item_id), ItemRef(item_id=first.item_id)]
    before = site.requests()

    results = site.host.decline_entries(ROOM, refs, COMMENT)

    assert site.requests() - before == 1
    assert [(r.ok, r.error_kind, r.item_id) for r in results] == [
        (True, None, refs[0].item_id),
        (False, WriteErrorKind.NOT_FOUND, first.item_id),
    ]
    assert site.booking("Second") is None
    assert site.room_answer("Second") == "Decline"
