"""Planning ``rooms import``: what is added, updated, made inactive, and when nothing is."""

from __future__ import annotations

from roomsync.connector.directory import DirectoryRoom, RoomList
from roomsync.domain import Room
from roomsync.rooms_import import Outcome, plan_import

A = DirectoryRoom(mailbox="A@x.org", name="Room A", capacity=8)
B = DirectoryRoom(mailbox="b@x.org", name="Room B")
KNOWN = [
    Room(name="Old A", mailbox="a@x.org", capacity=4, environment="site"),
    Room(name="Gone", mailbox="gone@x.org", environment="site"),
    Room(name="Elsewhere", mailbox="other@x.org", environment="other"),
]


def outcomes(directory: list[RoomList], only: str | None = None) -> dict[str, Outcome]:
    return {c.mailbox: c.outcome for c in plan_import("site", KNOWN, directory, only).rooms}


def test_new_rooms_are_added_known_ones_updated_and_missing_ones_made_inactive() -> None:
    plan = plan_import("site", KNOWN, [RoomList(mailbox="l@x.org", name="L", rooms=(A, B))])
    by_mailbox = {c.mailbox: c for c in plan.rooms}
    assert {m: c.outcome for m, c in by_mailbox.items()} == {
        "a@x.org": Outcome.UPDATED,
        "b@x.org": Outcome.ADDED,
        "gone@x.org": Outcome.INACTIVE,
    }
    assert by_mailbox["a@x.org"].changed == {"name": ("Old A", "Room A"), "capacity": (4, 8)}
    assert plan.ok and plan.kept_active_because is None


def test_a_capacity_the_directory_does_not_know_is_kept() -> None:
    plan = plan_import(
        "site",
        KNOWN,
        [RoomList(mailbox="l@x.org", name="L", rooms=(A.model_copy(update={"capacity": None}),))],
    )
    [change] = [c for c in plan.rooms if c.mailbox == "a@x.org"]
    assert change.changed == {"name": ("Old A", "Room A")} and change.capacity == 4


def test_a_room_in_two_lists_is_one_room_with_the_capacity_either_list_knows() -> None:
    first = RoomList(mailbox="l1@x.org", name="L1", rooms=(B,))
    second = RoomList(mailbox="l2@x.org", name="L2", rooms=(B.model_copy(update={"capacity": 3}),))
    [change] = [c for c in plan_import("site", KNOWN, [first, second]).rooms if c.mailbox == "b@x.org"]
    assert change.lists == ("L1", "L2") and change.capacity == 3


def test_a_room_of_another_environment_is_updated_but_keeps_its_environment() -> None:
    other = DirectoryRoom(mailbox="other@x.org", name="Elsewhere")
    plan = plan_import("site", KNOWN, [RoomList(mailbox="l@x.org", name="L", rooms=(A, other))])
    [change] = [c for c in plan.rooms if c.mailbox == "other@x.org"]
    assert change.outcome is Outcome.UNCHANGED and change.note == "kept in environment other"


def test_no_room_is_made_inactive_from_a_partial_or_empty_directory() -> None:
    failed = RoomList(mailbox="l2@x.org", name="L2", error="GetRooms failed")
    read = RoomList(mailbox="l@x.org", name="L", rooms=(A,))
    plan = plan_import("site", KNOWN, [read, failed])
    assert outcomes([read, failed])["gone@x.org"] is Outcome.UNCHANGED
    assert not plan.ok and plan.kept_active_because == "1 room list(s) could not be read"
    assert outcomes([read], only="l@x.org")["gone@x.org"] is Outcome.UNCHANGED
    empty = plan_import("site", KNOWN, [RoomList(mailbox="l@x.org", name="L")])
    assert {c.outcome for c in empty.rooms} == {Outcome.UNCHANGED}
    assert empty.kept_active_because is not None and "lists no room at all" in empty.kept_active_because


def test_an_inactive_room_listed_again_is_reactivated() -> None:
    known = [KNOWN[1].model_copy(update={"active": False})]
    again = DirectoryRoom(mailbox="gone@x.org", name="Gone")
    plan = plan_import("site", known, [RoomList(mailbox="l@x.org", name="L", rooms=(again,))])
    assert [c.outcome for c in plan.rooms] == [Outcome.REACTIVATED]
