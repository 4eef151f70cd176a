"""Distribution groups among participants: ROOMS holds the persons, Exchange the group or them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roomsync.domain import Participant
from roomsync.storage import Database

from .conftest import ALICE, BOB, ROOM_A, World, make_world

TEAM, OPS, LOOP = "team@example.org", "ops@example.org", "loop@example.org"
DAVE, ERIN, HEIDI = "dave@example.org", "erin@example.org", "heidi@example.org"
FRANK, GINA = "frank@example.org", "gina@example.org"
FIVE = sorted([DAVE, ERIN, HEIDI, FRANK, GINA])


def with_groups(world: World) -> World:
    """A team of three persons and a nested group of two (which also lists a room)."""
    world.exchange.add_group(TEAM, [DAVE, ERIN, HEIDI, OPS])
    world.exchange.add_group(OPS, [FRANK, GINA, ROOM_A, ALICE])
    return world


@pytest.fixture
def grouped(database: Database) -> Iterator[World]:
    made = with_groups(make_world(database))
    yield made
    made.runner.close()


def emails(participants: tuple[Participant, ...]) -> list[str]:
    return [p.email for p in participants]


def log_messages(world: World) -> list[str]:
    with world.database.unit_of_work() as uow:
        return [entry.message for entry in uow.sync.recent_log(mailbox=ALICE, event="groups")]


def test_a_group_in_rooms_becomes_its_five_persons_while_outlook_keeps_the_group(grouped: World) -> None:
    r = grouped.book(ALICE, rooms=(ROOM_A,), participants=(Participant(email=TEAM), Participant(email=BOB)))
    grouped.sync_ok(ALICE)
    held = grouped.reservation(r.id or "").fields.participants
    assert emails(held) == sorted([TEAM, BOB, *FIVE])  # never the room, never the organizer
    assert emails(grouped.entry(ALICE, r.id or "").fields.participants) == [BOB, TEAM]

    grouped.exchange.calls.clear()
    grouped.sync_ok(ALICE)
    grouped.sync_ok(ALICE)
    assert grouped.exchange.calls["update_entries"] == 0  # "the group" and "its members" agree
    assert grouped.exchange.calls["expand_group"] == 0  # nothing changed: nothing to expand


def test_members_mode_writes_the_persons_to_exchange(database: Database) -> None:
    world = with_groups(make_world(database, groups="members"))
    try:
        r = world.book(ALICE, participants=(Participant(email=TEAM),))
        world.sync_ok(ALICE)
        assert emails(world.reservation(r.id or "").fields.participants) == FIVE
        assert emails(world.entry(ALICE, r.id or "").fields.participants) == FIVE
        world.edit(r.id or "", title="Renamed")
        world.sync_ok(ALICE)
        world.exchange.calls.clear()
        world.sync_ok(ALICE)
        assert world.exchange.calls["update_entries"] == 0
    finally:
        world.runner.close()


def test_an_outlook_meeting_sent_to_a_group_books_the_room_for_its_persons(grouped: World) -> None:
    sent = grouped.exchange.user_create(
        ALICE,
        grouped.fields(title="Sent to the team", rooms=(ROOM_A,), participants=(Participant(email=TEAM),)),
    )
    grouped.sync_ok(ALICE)
    [booked] = grouped.reservations(ALICE)
    assert emails(booked.fields.participants) == sorted([TEAM, *FIVE])
    [entry] = [e for e in grouped.exchange.entries(ALICE) if e.item_id == sent.item_id]
    assert emails(entry.fields.participants) == [TEAM]  # Exchange still sends to the group

    grouped.exchange.user_update(ALICE, sent.item_id, title="Moved to the afternoon")
    grouped.exchange.calls.clear()
    grouped.sync_ok(ALICE)
    assert grouped.reservation(booked.id or "").fields.title == "Moved to the afternoon"
    assert emails(grouped.reservation(booked.id or "").fields.participants) == sorted([TEAM, *FIVE])
    assert grouped.exchange.calls["update_entries"] == 0  # no participant difference to write back


def test_a_loop_of_groups_is_expanded_once_and_noted(grouped: World) -> None:
    grouped.exchange.add_group(LOOP, [DAVE, TEAM])
    grouped.exchange.add_group(OPS, [FRANK, GINA, LOOP])  # team > ops > loop > team
    r = grouped.book(ALICE, participants=(Participant(email=TEAM),))
    grouped.sync_ok(ALICE)
    assert emails(grouped.reservation(r.id or "").fields.participants) == sorted([TEAM, *FIVE])
    assert any("loop team@example.org > ops@example.org > loop" in m for m in log_messages(grouped))


def test_a_group_over_the_size_cap_stays_the_group_and_the_rest_syncs(database: Database) -> None:
    world = with_groups(make_world(database, group_size=4))
    try:
        world.exchange.add_group("pair@example.org", [FRANK, GINA])
        participants = (
            Participant(email=TEAM),
            Participant(email="pair@example.org"),
            Participant(email=BOB),
        )
        r = world.book(ALICE, participants=participants)
        reports = world.sync_ok(ALICE)
        held = emails(world.reservation(r.id or "").fields.participants)
        assert held == sorted([BOB, FRANK, GINA, "pair@example.org", TEAM])  # the pair expanded
        assert emails(world.entry(ALICE, r.id or "").fields.participants) == [BOB, "pair@example.org", TEAM]
        notes = [n for report in reports for n in report.notes]
        assert "group team@example.org has more than group_size = 4 members" in " ".join(notes)
    finally:
        world.runner.close()


def test_a_group_nested_deeper_than_the_limit_stays_the_group(database: Database) -> None:
    world = with_groups(make_world(database, group_depth=1))
    try:
        r = world.book(ALICE, participants=(Participant(email=TEAM), Participant(email=BOB)))
        world.sync_ok(ALICE)
        assert emails(world.reservation(r.id or "").fields.participants) == [BOB, TEAM]
        assert any(
            "deeper than group_depth = 1 (team@example.org > ops@example.org)" in m
            for m in log_messages(world)
        )
        world.exchange.calls.clear()
        world.sync_ok(ALICE)
        assert world.exchange.calls["update_entries"] == 0
    finally:
        world.runner.close()


def test_a_connector_whose_groups_cannot_be_read_leaves_them_as_they_are(grouped: World) -> None:
    grouped.exchange.expand_group = _refuse  # type: ignore[method-assign]
    r = grouped.book(ALICE, participants=(Participant(email=TEAM), Participant(email=BOB)))
    grouped.sync_ok(ALICE)
    assert emails(grouped.entry(ALICE, r.id or "").fields.participants) == [BOB, TEAM]
    assert any("not expanded in this cycle: no right to read groups" in m for m in log_messages(grouped))


def _refuse(address: str) -> None:
    from roomsync.errors import AccessDenied

    raise AccessDenied("no right to read groups")


def test_the_differences_scan_sees_groups_as_a_cycle_does(grouped: World) -> None:
    from roomsync.engine.difference_scans import ScanRequest, resolve_each, scan
    from roomsync.engine.differences import Resolution

    r = grouped.book(ALICE, participants=(Participant(email=TEAM), Participant(email=BOB)))
    grouped.sync_ok(ALICE)
    assert scan(grouped.runner, ScanRequest(persons=[ALICE])).open == []  # "the group" = "its persons"

    grouped.edit(r.id or "", title="Renamed in ROOMS")
    [found] = scan(grouped.runner, ScanRequest(persons=[ALICE])).open
    assert found.keys == ["title"]
    [outcome] = resolve_each(grouped.runner, [found], lambda _: (Resolution.USE_ROOMS, None), "ops")
    assert outcome.error is None
    entry = grouped.entry(ALICE, r.id or "")
    assert (entry.fields.title, emails(entry.fields.participants)) == ("Renamed in ROOMS", [BOB, TEAM])
    grouped.exchange.calls.clear()
    grouped.sync_ok(ALICE)
    assert grouped.exchange.calls["update_entries"] == 0
