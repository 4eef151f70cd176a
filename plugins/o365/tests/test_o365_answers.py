"""The attendees' answers on the organizer's event, read from Graph's ``status.response``."""

from __future__ import annotations

from typing import Any

from roomsync.connector.types import Answer, AttendeeAnswer
from roomsync_o365 import mapping


def attendee(address: str, response: str | None, kind: str = "required") -> dict[str, Any]:
    status = {"response": response, "time": "0001-01-01T00:00:00Z"} if response is not None else None
    return {"type": kind, "status": status, "emailAddress": {"address": address, "name": address}}


def event(organizer: str, attendees: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "AAMk1",
        "changeKey": "CK1",
        "type": "singleInstance",
        "subject": "Review",
        "start": {"dateTime": "2030-03-25T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2030-03-25T09:00:00.0000000", "timeZone": "UTC"},
        "organizer": {"emailAddress": {"address": organizer}},
        "attendees": attendees,
    }


def test_every_response_maps_to_an_answer_and_the_organizer_is_left_out() -> None:
    found = event(
        "Ada@Example.org",
        [
            attendee("ada@example.org", "organizer"),
            attendee("Bo@Example.org", "accepted"),
            attendee("cy@example.org", "tentativelyAccepted", "optional"),
            attendee("di@example.org", "notResponded"),
            attendee("ed@example.org", None),
            attendee("room.1@example.org", "declined", "resource"),
            attendee("room.2@example.org", "none", "resource"),
        ],
    )
    entry = mapping.to_entry(found, "ada@example.org", "UTC")
    assert entry.answers == (
        AttendeeAnswer(mailbox="bo@example.org", answer=Answer.ACCEPTED),
        AttendeeAnswer(mailbox="cy@example.org", answer=Answer.TENTATIVE),
        AttendeeAnswer(mailbox="di@example.org", answer=Answer.NONE),
        AttendeeAnswer(mailbox="ed@example.org", answer=Answer.NONE),
        AttendeeAnswer(mailbox="room.1@example.org", answer=Answer.DECLINED),
        AttendeeAnswer(mailbox="room.2@example.org", answer=Answer.NONE),
    )


def test_an_invitation_carries_no_answers() -> None:
    copy = event("ada@example.org", [attendee("room.1@example.org", "accepted", "resource")])
    assert mapping.to_entry(copy, "bo@example.org", "UTC").answers == ()
