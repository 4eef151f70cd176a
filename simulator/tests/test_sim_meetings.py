"""Meetings through exchangelib: requests in attendees' calendars, updates and cancellations that
follow, and rooms answering by their booking policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from exchangelib import IMPERSONATION, Attendee, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence, WeeklyPattern

from roomsync_sim.testing import running_simulator
from sim_support import DIALECTS, SEED, Org, calendar_item_class

BERLIN = EWSTimeZone("Europe/Berlin")
SEND = "SendToAllAndSaveCopy"

MEETING_SEED = {
    **SEED,
    "rooms": [
        {"smtp": "room.1@example.org", "name": "Room 1"},
        {"smtp": "small@example.org", "name": "Small room", "booking": {"max_duration_minutes": 60}},
        {"smtp": "single@example.org", "name": "No series", "booking": {"allow_recurring": False}},
        {"smtp": "manual@example.org", "name": "Manual room", "booking": {"automate_processing": "None"}},
        {"smtp": "shared@example.org", "name": "Shared room", "booking": {"allow_conflicts": True}},
    ],
}


@pytest.fixture(params=DIALECTS)
def morg(request: pytest.FixtureRequest) -> Iterator[Org]:
    with running_simulator(request.param, MEETING_SEED, validate=True) as running:
        o = Org(running, request.param)
        try:
            yield o
        finally:
            o.close()
        assert not running.simulator.violations, running.simulator.violations


def at(day: int, hour: int, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(2024, 3, day, hour, minute, tzinfo=BERLIN)


def people(*addresses: str) -> list[Attendee]:
    return [Attendee(mailbox=Mailbox(email_address=a)) for a in addresses]


def meeting(org: Org, organizer: str, subject: str, start, end, rooms=(), required=(), **fields):  # type: ignore[no-untyped-def]
    account = org.account(organizer)
    item = calendar_item_class(org.dialect)(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=start,
        end=end,
        resources=people(*rooms) or None,
        required_attendees=people(*required) or None,
        **fields,
    )
    item.save(send_meeting_invitations=SEND)
    return account.calendar.get(id=item.id)


def calendar_of(org: Org, smtp: str) -> list:  # type: ignore[type-arg]
    account = org.account(smtp, login="svc@example.org", access_type=IMPERSONATION)
    return list(account.calendar.all().order_by("start"))


def weekly(org: Org, count: int) -> Recurrence:
    pattern = (
        WeeklyPattern(interval=1, weekdays=["Monday"])
        if org.dialect != "exchange2007"
        else DailyPattern(interval=7)
    )
    return Recurrence(pattern=pattern, boundary=NumberedPattern(start=at(4, 10).date(), number=count))


def test_request_update_and_cancellation_reach_attendees(morg: Org) -> None:
    item = meeting(
        morg,
        "alice@example.org",
        "Review",
        at(4, 10),
        at(4, 11),
        rooms=["room.1@example.org"],
        required=["bob@example.org"],
    )
    assert [(a.mailbox.email_address, a.response_type) for a in item.resources] == [
        ("room.1@example.org", "Accept")
    ]
    assert item.resources[0].last_response_time is not None
    assert item.required_attendees[0].response_type == "Unknown"
    [copy] = calendar_of(morg, "bob@example.org")
    assert (copy.subject, copy.legacy_free_busy_status, copy.my_response_type) == (
        "Review",
        "Tentative",
        "NoResponseReceived",
    )
    assert copy.organizer.email_address == "alice@example.org" and copy.uid == item.uid
    assert copy.start == at(4, 10)
    [booking] = calendar_of(morg, "room.1@example.org")
    assert (booking.legacy_free_busy_status, booking.my_response_type) == ("Busy", "Accept")
    # an update sent to everyone follows; without sending it stays the organizer's
    item.location = "Room 1"
    fields = ["location"]
    if morg.dialect != "exchange2007":
        item.start, item.end = at(5, 14), at(5, 15)
        fields += ["start", "end"]
    item.save(update_fields=fields, send_meeting_invitations=SEND)
    [copy] = calendar_of(morg, "bob@example.org")
    assert copy.location == "Room 1"
    if morg.dialect != "exchange2007":
        assert (copy.start, copy.end) == (at(5, 14), at(5, 15))
        assert calendar_of(morg, "room.1@example.org")[0].start == at(5, 14)
    item = morg.account().calendar.get(id=item.id)
    item.subject = "Private note"
    item.save(update_fields=["subject"])
    assert calendar_of(morg, "bob@example.org")[0].subject == "Review"
    # the organizer cancels: the attendee's copy is marked, the room's booking removed
    item.delete(send_meeting_cancellations=SEND)
    [cancelled] = calendar_of(morg, "bob@example.org")
    assert cancelled.is_cancelled and cancelled.subject == "Canceled: Review"
    assert cancelled.legacy_free_busy_status == "Free"
    assert calendar_of(morg, "room.1@example.org") == []


def test_no_invitations_no_copies(morg: Org) -> None:
    account = morg.account()
    calendar_item_class(morg.dialect)(
        account=account,
        folder=account.calendar,
        subject="Quiet",
        start=at(4, 10),
        end=at(4, 11),
        required_attendees=people("bob@example.org"),
        resources=people("room.1@example.org"),
    ).save(send_meeting_invitations="SendToNone")
    assert calendar_of(morg, "bob@example.org") == [] and calendar_of(morg, "room.1@example.org") == []


def test_room_booking_policy(morg: Org) -> None:
    first = meeting(morg, "bob@example.org", "First", at(4, 10), at(4, 11), rooms=["room.1@example.org"])
    assert first.resources[0].response_type == "Accept"
    clash = meeting(
        morg,
        "alice@example.org",
        "Clash",
        at(4, 10, 30),
        at(4, 11, 30),
        rooms=["room.1@example.org", "shared@example.org"],
    )
    assert [a.response_type for a in clash.resources] == ["Decline", "Accept"]
    # the booking's subject is its organizer's name (DeleteSubject, AddOrganizerToSubject)
    assert [i.subject for i in calendar_of(morg, "room.1@example.org")] == ["Bob Brown"]
    long = meeting(morg, "alice@example.org", "Long", at(6, 9), at(6, 11), rooms=["small@example.org"])
    assert long.resources[0].response_type == "Decline" and calendar_of(morg, "small@example.org") == []
    short = meeting(morg, "alice@example.org", "Short", at(6, 9), at(6, 10), rooms=["small@example.org"])
    assert short.resources[0].response_type == "Accept"
    manual = meeting(morg, "alice@example.org", "Manual", at(6, 9), at(6, 10), rooms=["manual@example.org"])
    assert manual.resources[0].response_type == "Unknown" and calendar_of(morg, "manual@example.org") == []
    # a free appointment does not block the room
    free = meeting(morg, "alice@example.org", "Hold", at(7, 9), at(7, 10), legacy_free_busy_status="Free")
    assert free.subject == "Hold"


def test_recurring_meetings_and_rooms(morg: Org) -> None:
    # the third Monday is taken: Exchange declines the whole series by default
    meeting(morg, "bob@example.org", "Taken", at(18, 10), at(18, 11), rooms=["room.1@example.org"])
    series = meeting(
        morg,
        "alice@example.org",
        "Weekly",
        at(4, 10),
        at(4, 11),
        rooms=["room.1@example.org"],
        recurrence=weekly(morg, 4),
    )
    assert series.resources[0].response_type == "Decline"
    ok = meeting(
        morg,
        "alice@example.org",
        "Weekly",
        at(4, 12),
        at(4, 13),
        rooms=["room.1@example.org", "single@example.org"],
        recurrence=weekly(morg, 4),
    )
    assert [a.response_type for a in ok.resources] == ["Accept", "Decline"]
    room = morg.account("room.1@example.org", login="svc@example.org", access_type=IMPERSONATION)
    booked = [o.subject for o in room.calendar.view(start=at(1, 0), end=at(31, 0))]
    assert booked.count("Alice Adams") == 4 and booked.count("Bob Brown") == 1  # Weekly, Taken
    # deleting one occurrence reaches the room
    occurrence = ok.occurrence(index=2)
    occurrence.refresh()
    occurrence.delete(send_meeting_cancellations=SEND)
    booked = [o.subject for o in room.calendar.view(start=at(1, 0), end=at(31, 0))]
    assert booked.count("Alice Adams") == 3


def test_booking_window(morg: Org) -> None:
    soon = EWSDateTime.now(tz=BERLIN).replace(hour=10, minute=0, second=0, microsecond=0) + dt.timedelta(
        days=30
    )
    late = soon + dt.timedelta(days=200)
    if morg.dialect == "exchange2007":
        soon, late = soon.astimezone(EWSTimeZone("UTC")), late.astimezone(EWSTimeZone("UTC"))
    near = meeting(
        morg, "alice@example.org", "Near", soon, soon + dt.timedelta(hours=1), rooms=["room.1@example.org"]
    )
    far = meeting(
        morg, "alice@example.org", "Far", late, late + dt.timedelta(hours=1), rooms=["room.1@example.org"]
    )
    assert (near.resources[0].response_type, far.resources[0].response_type) == ("Accept", "Decline")
    if morg.dialect != "exchange2007":
        # free/busy of the room reflects the booking
        [view] = morg.account().protocol.get_free_busy_info(
            [("room.1@example.org", "Room", False)],
            soon - dt.timedelta(hours=1),
            soon + dt.timedelta(hours=2),
            merged_free_busy_interval=60,
        )
        assert view.merged == "020" and [e.busy_type for e in view.calendar_events] == ["Busy"]
