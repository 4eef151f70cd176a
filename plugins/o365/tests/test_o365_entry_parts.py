"""The parts an entry is read from: rooms and participants of an event's attendees."""

from __future__ import annotations

from typing import Any

from roomsync.domain import Participant
from roomsync_o365 import mapping


def attendee(address: str | None, kind: str = "required", name: str | None = None) -> dict[str, Any]:
    email: dict[str, Any] = {"address": address} if address is not None else {}
    if name is not None:
        email["name"] = name
    return {"emailAddress": email, "type": kind}


def test_rooms_are_the_resource_addresses_lowercased_and_sorted() -> None:
    attendees = [
        attendee("Room-B@Example.org ", "resource"),
        attendee("room-a@example.org", "resource"),
        attendee("bob@example.org"),
        attendee(None, "resource"),
    ]

    assert mapping.rooms_of(attendees) == ("room-a@example.org", "room-b@example.org")
    assert mapping.rooms_of([]) == ()


def test_participants_leave_out_resources_the_mailbox_the_organizer_and_the_rooms() -> None:
    attendees = [
        attendee("alice@example.org"),
        attendee("carol@example.org", "optional"),
        attendee("room-a@example.org"),
        attendee("room-b@example.org", "resource"),
        attendee(None, name="Nobody"),
        attendee("Bob@Example.org", name="Bob"),
        attendee("dave@example.org", name="Dave@Example.org"),
    ]

    found = mapping.participants_of(
        attendees, "alice@example.org", "carol@example.org", ("room-a@example.org",)
    )

    assert found == (
        Participant(email="bob@example.org", name="Bob"),
        Participant(email="dave@example.org", name=""),
    )


def test_a_later_attendee_with_the_same_address_wins() -> None:
    attendees = [attendee("bob@example.org", name="Bob"), attendee("bob@example.org", "optional", "Robert")]

    assert mapping.participants_of(attendees, "alice@example.org", "alice@example.org", ()) == (
        Participant(email="bob@example.org", name="Robert"),
    )
