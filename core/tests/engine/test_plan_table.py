"""The plan, decided from a view built in memory: no database, no connector, no clock.

Each row of the table is one rule of the sync: the view's inputs and the actions it must give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync.config import SyncConfig
from roomsync.connector.types import CalendarEntry
from roomsync.domain import ConflictPolicy, EventFields, Reservation, ReservationStatus
from roomsync.engine.merge import snapshot
from roomsync.engine.plan import MailboxView, Plan, plan
from roomsync.storage.protocols import Link, LinkState

ADA = "ada@example.org"
BOB = "bob@example.org"
ROOM = "room.a@example.org"
START = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)


def fields(title: str = "Board", hours: int = 9, rooms: tuple[str, ...] = (ROOM,)) -> EventFields:
    start = START.replace(hour=hours)
    return EventFields(title=title, start=start, end=start + timedelta(hours=1), rooms=list(rooms))


def reservation(rid: str = "1", organizer: str = ADA, **changes: Any) -> Reservation:
    """Version 1 as synchronised; a reservation changed in ROOMS since is version 2."""
    status = changes.pop("status", ReservationStatus.ACTIVE)
    version = 2 if changes or status is not ReservationStatus.ACTIVE else 1
    return Reservation(id=rid, organizer=organizer, fields=fields(**changes), status=status, version=version)


def synced(
    res: Reservation, mailbox: str = ADA, item: str = "item-1", exchange: EventFields | None = None
) -> Link:
    return Link(
        reservation_id=str(res.id),
        mailbox=mailbox,
        item_id=item,
        change_key="ck-1",
        state=LinkState.SYNCED,
        rooms_version=res.version,
        rooms_snapshot=snapshot(res.fields),
        exchange_snapshot=snapshot(exchange or res.fields),
    )


def entry(
    item: str = "item-1", stamp: str | None = "1", organizer: str = ADA, **changes: Any
) -> CalendarEntry:
    return CalendarEntry(
        item_id=item,
        change_key="ck-2",
        mailbox=ADA,
        organizer=organizer,
        stamp=stamp,
        fields=fields(**changes),
    )


@dataclass
class View:
    """The view's inputs a row sets; everything else is empty."""

    reservations: list[Reservation] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    elsewhere: list[Link] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    entries: list[CalendarEntry] = field(default_factory=list)
    foreign: list[CalendarEntry] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    bookings: list[Reservation] = field(default_factory=list)
    unsyncable: set[str] = field(default_factory=set)
    policy: ConflictPolicy = ConflictPolicy.ROLLBACK

    def build(self) -> MailboxView:
        by_id = {str(r.id): r for r in self.reservations}
        return MailboxView(
            mailbox=ADA,
            policy=self.policy,
            limits=SyncConfig(),
            reservations=by_id,
            links={link.reservation_id: link for link in self.links},
            links_elsewhere={link.reservation_id: [link] for link in self.elsewhere},
            candidates=self.candidates,
            entries=self.entries,
            foreign=self.foreign,
            deleted=self.deleted,
            stamped={},
            feed_stamps=frozenset(e.stamp for e in self.entries if e.stamp),
            known_rooms=frozenset({ROOM}),
            syncable=frozenset({r.organizer for r in self.reservations} - self.unsyncable),
            room_bookings=self.bookings,
            not_before=START - timedelta(days=30),
        )


def created(p: Plan) -> list[str]:
    return [c.reservation_id for c in p.creates]


def updated(p: Plan) -> list[tuple[str, str]]:
    return [(u.reservation_id, u.fields.title) for u in p.updates]


def deleted(p: Plan) -> list[tuple[str, str, bool]]:
    return [(d.reservation_id, d.mailbox, d.after_create) for d in p.deletes]


def imported(p: Plan) -> list[tuple[str, str]]:
    return [(i.reservation_id, i.fields.title) for i in p.imports]


def booked(p: Plan) -> list[str]:
    return [n.entry.fields.title for n in p.new_reservations]


def cancelled(p: Plan) -> list[str]:
    return [c.reservation_id for c in p.cancels]


def rejected(p: Plan) -> list[str]:
    return [r.entry.fields.title for r in p.rejects]


def nothing(p: Plan) -> bool:
    return not (
        p.creates or p.updates or p.deletes or p.imports or p.new_reservations or p.cancels or p.rejects
    )


NEW = reservation()
SYNCED = synced(NEW)
RENAMED = reservation(title="Board (renamed)")
CASES: list[tuple[str, View, Callable[[Plan], object], object]] = [
    ("a new reservation is created", View([NEW], candidates=["1"]), created, ["1"]),
    (
        "a reservation handed to a person who is synchronised keeps its entry for that person's cycle",
        View([reservation(organizer=BOB)], [SYNCED], candidates=["1"]),
        deleted,
        [],
    ),
    (
        "a reservation handed to a person who is not synchronised loses its entry here at once",
        View([reservation(organizer=BOB)], [SYNCED], candidates=["1"], unsyncable={BOB}),
        deleted,
        [("1", ADA, False)],
    ),
    (
        "a cancelled reservation deletes its entry",
        View([reservation(status=ReservationStatus.CANCELLED)], [SYNCED], candidates=["1"]),
        deleted,
        [("1", ADA, False)],
    ),
    (
        "a rename in ROOMS updates the entry",
        View([RENAMED], [SYNCED], candidates=["1"]),
        updated,
        [("1", "Board (renamed)")],
    ),
    (
        "a rename in Outlook is imported into ROOMS",
        View([NEW], [SYNCED], entries=[entry(title="Board (Outlook)")]),
        imported,
        [("1", "Board (Outlook)")],
    ),
    (
        "an entry deleted in Outlook cancels its reservation",
        View([NEW], [SYNCED], deleted={"item-1"}),
        cancelled,
        ["1"],
    ),
    (
        "an entry that comes back as written changes nothing",
        View([NEW], [SYNCED], entries=[entry()]),
        nothing,
        True,
    ),
    (
        "an unstamped Outlook meeting with a free room becomes a reservation",
        View(entries=[entry(item="item-9", stamp=None, title="Team")]),
        booked,
        ["Team"],
    ),
    (
        "an unstamped Outlook meeting with a taken room is rejected",
        View(entries=[entry(item="item-9", stamp=None, title="Team")], bookings=[reservation("7")]),
        rejected,
        ["Team"],
    ),
    (
        "a room booked at another time does not stop the booking",
        View(entries=[entry(item="item-9", stamp=None, title="Team")], bookings=[reservation("7", hours=14)]),
        booked,
        ["Team"],
    ),
    (
        "an invitation from someone else never books a room",
        View(entries=[entry(item="item-9", stamp=None, organizer=BOB, title="Team")]),
        nothing,
        True,
    ),
    (
        "another installation's entry is never touched",
        View(foreign=[entry(item="item-9", stamp=None, title="Theirs")]),
        nothing,
        True,
    ),
    (
        "an organizer change creates in the new mailbox and deletes the old entry after it",
        View([NEW], candidates=["1"], elsewhere=[synced(NEW, mailbox=BOB, item="item-b")]),
        deleted,
        [("1", BOB, True)],
    ),
]


@pytest.mark.parametrize(("view", "outcome", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan(view: View, outcome: Callable[[Plan], object], expected: object) -> None:
    assert outcome(plan(view.build())) == expected


@pytest.mark.parametrize(
    ("policy", "conflicts", "updates", "imports"),
    [
        (ConflictPolicy.ROLLBACK, ["title"], [("1", "Board (ROOMS)")], []),
        (ConflictPolicy.CANCEL, ["title"], [("1", "Board (ROOMS)")], []),
        (ConflictPolicy.EXCHANGE_WINS, [], [], [("1", "Board (Outlook)")]),  # no conflict: Outlook wins
    ],
)
def test_both_sides_changing_one_field_is_settled_by_the_persons_policy(
    policy: ConflictPolicy,
    conflicts: list[str],
    updates: list[tuple[str, str]],
    imports: list[tuple[str, str]],
) -> None:
    view = View(
        [reservation(title="Board (ROOMS)")],
        [SYNCED],
        candidates=["1"],
        entries=[entry(title="Board (Outlook)")],
        policy=policy,
    )
    result = plan(view.build())
    assert [key for _, keys in result.conflicts for key in keys] == conflicts
    assert updated(result) == updates
    assert imported(result) == imports


def test_a_room_taken_by_the_reservation_itself_is_free_for_it() -> None:
    moved = entry(title="Board", hours=10)
    view = View([NEW], [SYNCED], entries=[moved], bookings=[NEW])
    assert imported(plan(view.build())) == [("1", "Board")]


def test_two_outlook_meetings_of_one_cycle_cannot_both_have_the_room() -> None:
    first, second = (entry(item=f"item-{n}", stamp=None, title=f"Team {n}") for n in (8, 9))
    result = plan(View(entries=[first, second]).build())
    assert booked(result) == ["Team 8"] and rejected(result) == ["Team 9"]


def test_the_view_holds_no_callables() -> None:
    built = View([NEW], candidates=["1"]).build()
    assert not [name for name, value in vars(built).items() if callable(value)]
    assert replace(built, syncable=frozenset()) != built


def test_an_update_says_what_an_entry_gone_meanwhile_means() -> None:
    """Deleted in Outlook between the read and the write: the plan, not the write, decides."""
    [update] = plan(View([RENAMED], [SYNCED], candidates=["1"]).build()).updates
    assert update.if_gone == "deleted in Outlook"
