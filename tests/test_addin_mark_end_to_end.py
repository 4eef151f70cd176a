"""A meeting Outlook saved with the add-in's mark, through a real connector and the simulator.

The add-in books the room in ROOMS and leaves the reservation's stamp in its custom property;
Outlook then writes and sends the meeting itself. roomsync must take that entry for the
reservation's (never create a second one), leave an entry another installation's add-in marked
alone, and treat a mark it cannot read as no mark.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import test_ews_end_to_end as ews_end_to_end
import test_o365_end_to_end as o365_end_to_end
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

from roomsync import addin_mark
from roomsync.connector.types import CalendarEntry
from roomsync.domain import EventFields
from roomsync.stamps import StampCodec
from roomsync.testkit.end_to_end import ALICE, ROOM1, ROOM2
from roomsync.testkit.end_to_end import Estate as AnyEstate
from roomsync_ews_common import stamp as ews_props
from roomsync_o365 import mapping as graph_mapping
from roomsync_o365 import properties as graph_props
from roomsync_o365.graph_client import user

setup = ews_end_to_end.setup  # the dialect's own estates, parametrised below
estate = o365_end_to_end.estate


@dataclass
class Outlook:
    """An estate and its organizer's Outlook with the add-in, writing meetings as Outlook does."""

    estate: AnyEstate
    environment: str
    write: Callable[[str, EventFields, str], str]
    """``(mailbox, fields, custom properties)`` -> the new item's id; invitations are sent."""

    def calendar(self, mailbox: str) -> list[CalendarEntry]:
        start = self.estate.start
        return self.estate.runner.host(self.environment).list_entries(
            mailbox, start - timedelta(days=1), start + timedelta(days=2)
        )

    def fields(self, title: str, hour: int, room: str) -> EventFields:
        start = self.estate.start + timedelta(hours=hour)
        return EventFields(
            title=title, start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin", rooms=(room,)
        )


def ews_outlook(setup: ews_end_to_end.Setup) -> Outlook:
    def write(mailbox: str, fields: EventFields, mark: str) -> str:
        account = setup.user.account(mailbox)
        item = setup.user._item(mailbox, fields)
        setattr(item, ews_props.ADDIN, mark)
        [answer] = account.bulk_create(
            folder=account.calendar, items=[item], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY
        )
        assert not isinstance(answer, Exception), answer
        return str(answer.id)

    return Outlook(setup, "onprem", write)


def graph_outlook(estate: o365_end_to_end.Estate) -> Outlook:
    def write(mailbox: str, fields: EventFields, mark: str) -> str:
        event = {
            **graph_mapping.to_event(fields, None),
            "singleValueExtendedProperties": [{"id": graph_props.ADDIN, "value": mark}],
        }
        return str(estate.outlook(mailbox).send("POST", user(mailbox, "events"), event)["id"])

    return Outlook(estate, "online", write)


def marked_for_this_installation(outlook: Outlook) -> None:
    estate = outlook.estate
    booked = estate.book(ALICE, "Booked with the add-in", 2, rooms=(ROOM1,))
    assert booked.id is not None
    stamp = StampCodec(estate.database.installation()).encode(booked.id)
    item_id = outlook.write(ALICE, booked.fields, addin_mark.custom_properties(stamp))

    reports = estate.sync()

    assert sum(r.created for r in reports) == 0 and sum(r.booked for r in reports) == 0
    [entry] = outlook.calendar(ALICE)  # no second entry: nothing was created
    assert (entry.item_id, entry.stamp) == (item_id, booked.id)
    with estate.database.unit_of_work() as uow:
        [link] = uow.sync.links_for_reservation(booked.id)
        assert [r.id for r in uow.rooms.reservations(organizer=ALICE)] == [booked.id]
    assert (link.mailbox, link.item_id) == (ALICE, entry.item_id)
    writes = estate.writes()
    assert not any(r.changed_anything for r in estate.sync())  # the echo of its own adoption
    assert estate.writes() == writes


def marked_by_another_installation(outlook: Outlook) -> None:
    estate = outlook.estate
    other = str(uuid.uuid4())
    fields = outlook.fields("Booked elsewhere", 4, ROOM2)
    item_id = outlook.write(ALICE, fields, addin_mark.custom_properties(f"{other}:1"))
    writes = estate.writes()

    assert not any(r.changed_anything for r in estate.sync())

    assert estate.writes() == writes
    [entry] = outlook.calendar(ALICE)
    assert (entry.item_id, entry.stamp, entry.stamped_by) == (item_id, None, other)
    with estate.database.unit_of_work() as uow:
        assert uow.rooms.reservations(organizer=ALICE) == []
        assert uow.sync.link_by_item(ALICE, item_id) is None


def unreadable_mark(outlook: Outlook) -> None:
    estate = outlook.estate
    item_id = outlook.write(ALICE, outlook.fields("Garbled mark", 6, ROOM2), "{not json")

    assert sum(r.booked for r in estate.sync()) == 1  # an Outlook booking of a known room

    with estate.database.unit_of_work() as uow:
        [booked] = uow.rooms.reservations(organizer=ALICE)
        assert booked.id is not None
        [link] = uow.sync.links_for_reservation(booked.id)
    assert booked.fields.title == "Garbled mark" and booked.fields.rooms == (ROOM2,)
    assert link.item_id == item_id
    [entry] = outlook.calendar(ALICE)
    assert (entry.item_id, entry.stamp) == (item_id, booked.id)


SCENARIOS = [marked_for_this_installation, marked_by_another_installation, unreadable_mark]


@pytest.mark.parametrize("setup", ["exchange2013"], indirect=True)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_ews(setup: ews_end_to_end.Setup, scenario: Callable[[Outlook], None]) -> None:
    scenario(ews_outlook(setup))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_graph(estate: o365_end_to_end.Estate, scenario: Callable[[Outlook], None]) -> None:
    scenario(graph_outlook(estate))
