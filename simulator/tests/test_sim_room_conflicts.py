"""Rooms that accept part of a series (ConflictPercentageAllowed, MaximumConflictInstances) and the
subject of a room's booking (DeleteSubject, AddOrganizerToSubject), through exchangelib."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from exchangelib import IMPERSONATION, Attendee, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence, WeeklyPattern

from roomsync_sim.seed import BookingPolicy, SeedError, parse_seed
from roomsync_sim.testing import running_simulator
from sim_support import DIALECTS, SEED, Org, calendar_item_class

UTC = EWSTimeZone("UTC")  # a 2007 series without MeetingTimeZone runs in UTC
SEND = "SendToAllAndSaveCopy"
FLEX, STRICT, TWO = "flex@example.org", "strict@example.org", "two@example.org"
KEEP, BLANK, PREFIX = "keep@example.org", "blank@example.org", "prefix@example.org"

CONFLICT_SEED = {
    **SEED,
    "rooms": [
        {"smtp": STRICT, "name": "Strict room"},  # Exchange's defaults: no conflict at all
        {
            "smtp": FLEX,
            "name": "Flexible room",
            "booking": {"maximum_conflict_instances": 2, "conflict_percentage_allowed": 25},
        },
        {
            "smtp": TWO,
            "name": "Two conflicts",
            "booking": {"maximum_conflict_instances": 2, "conflict_percentage_allowed": 100},
        },
        {"smtp": KEEP, "booking": {"delete_subject": False, "add_organizer_to_subject": False}},
        {"smtp": BLANK, "booking": {"delete_subject": True, "add_organizer_to_subject": False}},
        {"smtp": PREFIX, "booking": {"delete_subject": False, "add_organizer_to_subject": True}},
    ],
}


@pytest.fixture(params=DIALECTS)
def org(request: pytest.FixtureRequest) -> Iterator[Org]:
    with running_simulator(request.param, CONFLICT_SEED, validate=True) as running:
        o = Org(running, request.param)
        try:
            yield o
        finally:
            o.close()
        assert not running.simulator.violations, running.simulator.violations


def monday(week: int, hour: int = 10) -> EWSDateTime:
    """The ``week``-th Monday (from 1) from 4 March 2024, UTC."""
    return EWSDateTime(2024, 3, 4, hour, tzinfo=UTC) + timedelta(weeks=week - 1)


def meeting(
    org: Org, organizer: str, subject: str, start: EWSDateTime, rooms: list[str], **fields: Any
) -> Any:
    account = org.account(organizer)
    item = calendar_item_class(org.dialect)(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=start,
        end=start + timedelta(hours=1),
        resources=[Attendee(mailbox=Mailbox(email_address=r)) for r in rooms],
        **fields,
    )
    item.save(send_meeting_invitations=SEND)
    return account.calendar.get(id=item.id)


def weekly(org: Org, count: int, first: int = 1) -> Recurrence:
    """Every Monday from the ``first``-th, ``count`` times (2007: every seven days)."""
    pattern = (
        WeeklyPattern(interval=1, weekdays=["Monday"])
        if org.dialect != "exchange2007"
        else DailyPattern(interval=7)
    )
    return Recurrence(pattern=pattern, boundary=NumberedPattern(start=monday(first).date(), number=count))


def room_calendar(org: Org, room: str) -> Any:
    return org.account(room, login="svc@example.org", access_type=IMPERSONATION).calendar


def booked_starts(org: Org, room: str, organizer_name: str) -> list[EWSDateTime]:
    view = room_calendar(org, room).view(start=monday(1, 0), end=monday(12, 0))
    return [o.start for o in view if o.subject == organizer_name]


def answers(item: Any) -> list[str]:
    return [a.response_type for a in item.resources]


def test_a_series_within_both_limits_is_accepted_without_its_conflicting_occurrences(org: Org) -> None:
    meeting(org, "bob@example.org", "Taken", monday(3), [FLEX, STRICT])
    series = meeting(
        org, "alice@example.org", "Weekly", monday(1), [FLEX, STRICT], recurrence=weekly(org, 10)
    )
    # 1 of 10 conflicts: within 2 and 25 % for the flexible room; the strict one declines it all
    assert answers(series) == ["Accept", "Decline"]
    starts = booked_starts(org, FLEX, "Alice Adams")
    assert len(starts) == 9 and monday(3) not in starts
    [copy] = [i for i in room_calendar(org, FLEX).all() if i.subject == "Alice Adams"]
    assert [d.start for d in copy.deleted_occurrences or ()] == [monday(3)]
    assert booked_starts(org, STRICT, "Alice Adams") == []
    # the room's copy keeps the declined occurrence out after the organizer's update
    series.location = "Flexible room"
    series.save(update_fields=["location"], send_meeting_invitations=SEND)
    assert len(booked_starts(org, FLEX, "Alice Adams")) == 9


def test_beyond_either_limit_the_whole_series_is_declined(org: Org) -> None:
    for week in (2, 5, 8):
        meeting(org, "bob@example.org", "Taken", monday(week), [FLEX, TWO])
    # three conflicts: more than 2 instances (both rooms), and 30 % is more than 25 % (flexible)
    series = meeting(org, "alice@example.org", "Weekly", monday(1), [FLEX, TWO], recurrence=weekly(org, 10))
    assert answers(series) == ["Decline", "Decline"]
    assert booked_starts(org, FLEX, "Alice Adams") == booked_starts(org, TWO, "Alice Adams") == []
    # one conflict of four (week 2): 25 %, at the limit, which only a larger share exceeds
    short = meeting(org, "alice@example.org", "Short", monday(1), [FLEX, TWO], recurrence=weekly(org, 4))
    assert answers(short) == ["Accept", "Accept"]
    # two conflicts of four (weeks 5 and 8): within two instances, beyond 25 %
    later = meeting(org, "alice@example.org", "Later", monday(5), [FLEX, TWO], recurrence=weekly(org, 4, 5))
    assert answers(later) == ["Decline", "Accept"]
    assert len(booked_starts(org, TWO, "Alice Adams")) == 3 + 2


def test_a_single_meeting_that_conflicts_is_declined_whatever_the_limits(org: Org) -> None:
    meeting(org, "bob@example.org", "Taken", monday(1), [FLEX])
    clash = meeting(org, "alice@example.org", "Clash", monday(1), [FLEX])
    assert answers(clash) == ["Decline"]


def test_the_subject_of_a_rooms_booking(org: Org) -> None:
    item = meeting(org, "alice@example.org", "Review", monday(1), [STRICT, KEEP, BLANK, PREFIX])
    assert answers(item) == ["Accept"] * 4
    subjects = {
        room: [i.subject for i in room_calendar(org, room).all()] for room in (STRICT, KEEP, BLANK, PREFIX)
    }
    assert subjects == {
        STRICT: ["Alice Adams"],  # Exchange's defaults: the organizer's name replaces the subject
        KEEP: ["Review"],
        BLANK: [None],
        PREFIX: ["Alice Adams Review"],
    }
    # the organizer's own item keeps its subject
    assert org.account("alice@example.org").calendar.get(id=item.id).subject == "Review"


def test_the_seed_takes_the_keys_with_exchanges_defaults() -> None:
    [room] = parse_seed({"rooms": [{"smtp": "room.1@example.org"}]}).users
    assert room.booking == BookingPolicy()
    assert (room.booking.conflict_percentage_allowed, room.booking.maximum_conflict_instances) == (0, 0)
    assert room.booking.delete_subject and room.booking.add_organizer_to_subject
    for booking, message in [
        (
            {"conflict_percentage_allowed": 101},
            "conflict_percentage_allowed must be a whole number from 0 to 100",
        ),
        ({"maximum_conflict_instances": -1}, "maximum_conflict_instances must be a whole number"),
        ({"maximum_conflict_instances": True}, "maximum_conflict_instances must be a whole number"),
        ({"delete_subject": "no"}, "delete_subject must be true or false"),
    ]:
        with pytest.raises(SeedError, match=rf"^rooms\[0\]\.booking: {message}"):
            parse_seed({"rooms": [{"smtp": "room.1@example.org", "booking": booking}]})
