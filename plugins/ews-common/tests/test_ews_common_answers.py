"""The attendees' answers on the organizer's item, read the way exchangelib hands them over."""

from __future__ import annotations

from exchangelib import Attendee, CalendarItem, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.properties import ItemId

from roomsync.connector.types import Answer, AttendeeAnswer
from roomsync_ews_common import mapping

UTC = EWSTimeZone("UTC")


def attendee(address: str, response: str) -> Attendee:
    return Attendee(mailbox=Mailbox(email_address=address), response_type=response)


def item(organizer: str, **values: object) -> CalendarItem:
    found = CalendarItem(
        _id=ItemId(id="AAMkAD", changekey="CQAAAB"),
        subject="Review",
        start=EWSDateTime(2027, 5, 3, 9, tzinfo=UTC),
        end=EWSDateTime(2027, 5, 3, 10, tzinfo=UTC),
        **values,
    )
    found.organizer = Mailbox(email_address=organizer)
    return found


def test_every_response_type_maps_to_an_answer_and_the_organizer_is_left_out() -> None:
    meeting = item(
        "Alice@Example.org",
        required_attendees=[
            attendee("alice@example.org", "Organizer"),
            attendee("Bob@Example.org", "Accept"),
            attendee("carol@example.org", "Tentative"),
        ],
        optional_attendees=[attendee("dan@example.org", "NoResponseReceived")],
        resources=[attendee("room.1@example.org", "Decline"), attendee("room.2@example.org", "Unknown")],
    )
    entry = mapping.to_entry(meeting, "alice@example.org", "UTC")
    assert entry.answers == (
        AttendeeAnswer(mailbox="bob@example.org", answer=Answer.ACCEPTED),
        AttendeeAnswer(mailbox="carol@example.org", answer=Answer.TENTATIVE),
        AttendeeAnswer(mailbox="dan@example.org", answer=Answer.NONE),
        AttendeeAnswer(mailbox="room.1@example.org", answer=Answer.DECLINED),
        AttendeeAnswer(mailbox="room.2@example.org", answer=Answer.NONE),
    )


def test_an_invitation_carries_no_answers() -> None:
    copy = item("alice@example.org", resources=[attendee("room.1@example.org", "Accept")])
    assert mapping.to_entry(copy, "bob@example.org", "UTC").answers == ()
