"""The parts an entry is read from: rooms and participants of an item."""

from __future__ import annotations

from exchangelib import Attendee, CalendarItem, Mailbox
from exchangelib.properties import ItemId

from roomsync.domain import Participant
from roomsync_ews_common import mapping


def attendee(email: str | None, name: str | None = None) -> Attendee:
    return Attendee(mailbox=Mailbox(email_address=email, name=name), response_type="Unknown")


def item(**values: object) -> CalendarItem:
    return CalendarItem(_id=ItemId(id="AAMkAD", changekey="CQAAAB"), **values)


def test_rooms_are_the_resources_addresses_lowercased_and_sorted() -> None:
    meeting = item(
        resources=[attendee("Room-B@Example.org "), attendee(None), attendee("room-a@example.org")]
    )

    assert mapping.rooms_of(meeting) == ("room-a@example.org", "room-b@example.org")
    assert mapping.rooms_of(item()) == ()


def test_participants_leave_out_the_mailbox_the_organizer_and_the_rooms() -> None:
    meeting = item(
        required_attendees=[
            attendee("alice@example.org"),
            attendee("Bob@Example.org", "Bob"),
            attendee("room-a@example.org"),
            attendee(None, "Nobody"),
        ],
        optional_attendees=[attendee("carol@example.org"), attendee("bob@example.org", "Robert")],
    )

    found = mapping.participants_of(
        meeting, "alice@example.org", "carol@example.org", ("room-a@example.org",)
    )

    assert found == (Participant(email="bob@example.org", name="Robert"),)
    assert mapping.participants_of(item(), "alice@example.org", "alice@example.org", ()) == ()
