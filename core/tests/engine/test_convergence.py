"""Convergence, proved with random interleavings of edits on both sides and sync cycles.

Two state machines drive the real engine, SQL store and reference connector:

* ``ModelMachine`` keeps a model of what every field must be after a cycle (a change made on one
  side survives; a field changed on both sides goes to ROOMS under the rollback policy, and the
  fifth conflict stops the reservation's sync) and checks it after every cycle: no change lost.
* ``CrashMachine`` adds processes killed right after the server committed a create, and checks
  after every completed cycle that both sides are equal and no entry exists twice.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from roomsync.connector.types import CalendarEntry
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import EventFields, OccurrenceChange
from roomsync.engine import read_phase
from roomsync.engine.merge import snapshot
from roomsync.storage import Database
from roomsync.testkit.convergence import Estate, run_convergence

from .conftest import ALICE, BASE, BOB, CAROL, ROOM_A, ROOM_B, World, make_world

PERSONS = [ALICE, BOB, CAROL]
TITLES = st.sampled_from(["alpha", "beta", "gamma"])


@cache
def template_database() -> Path:
    """One migrated SQLite file, copied for every example: migrations run once."""
    path = Path(tempfile.mkdtemp(prefix="roomsync-convergence-")) / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    return path


# The machines' cycles read ROOMS changes in pages this small, so that the pages of a cycle
# (read_phase.ROOMS_PAGE) meet every interleaving too; every other engine test has one page.
MACHINE_PAGE = 2


def fresh_world() -> World:
    path = template_database().with_name(f"{uuid.uuid4().hex}.db")
    shutil.copy(template_database(), path)
    return make_world(Database(f"sqlite:///{path}"))


def assert_converged(world: World) -> None:
    """Every active reservation has exactly one entry, in its organizer's calendar, equal to it."""
    entries = [e for mailbox in PERSONS for e in world.exchange.entries(mailbox)]
    by_stamp: dict[str | None, list[Any]] = {}
    for entry in entries:
        by_stamp.setdefault(entry.stamp, []).append(entry)
    assert None not in by_stamp, "an entry lost its stamp"
    for reservation in world.reservations(include_cancelled=True):
        found = by_stamp.pop(world.stamp(reservation.id), [])
        if not reservation.active:
            assert found == [], f"cancelled reservation {reservation.id} still has entries"
            continue
        assert len(found) == 1, f"reservation {reservation.id} has {len(found)} entries"
        if reservation.sync_disabled:
            continue
        [entry] = found
        assert entry.mailbox == reservation.organizer
        assert snapshot(entry.fields) == snapshot(reservation.fields)
    assert by_stamp == {}, f"entries without reservation: {list(by_stamp)}"


@dataclass
class Expected:
    organizer: str
    title: str
    start: datetime
    reminder: int | None
    base_title: str  # the title both sides agreed on at the last cycle
    outlook_title: str
    outlook_reminder: int | None
    active: bool = True
    synced: bool = False
    moved: bool = False  # organizer changed since the last cycle
    conflicts: int = 0
    disabled: bool = False


ROOMS_EDITS = ["rename_in_rooms", "move_in_rooms", "cancel_in_rooms", "change_organizer"]
OUTLOOK_EDITS = [
    "rename_in_outlook",
    "rename_in_outlook",
    "remind_in_outlook",
    "remind_in_outlook",
    "delete_in_outlook",
]


class ModelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = fresh_world()
        self.page, read_phase.ROOMS_PAGE = read_phase.ROOMS_PAGE, MACHINE_PAGE
        self.expected: dict[str, Expected] = {}

    def teardown(self) -> None:
        read_phase.ROOMS_PAGE = self.page
        self.world.runner.close()
        self.world.database.dispose()

    def _editable(self, rid: str) -> Expected | None:
        e = self.expected[rid]
        return e if e.active and not e.disabled else None

    def _entry_item(self, rid: str) -> str | None:
        e = self.expected[rid]
        if not (e.active and e.synced and not e.moved and not e.disabled):
            return None
        return self.world.entry(e.organizer, rid).item_id

    @rule(organizer=st.sampled_from(PERSONS), slot=st.integers(0, 40), title=TITLES)
    def book(self, organizer: str, slot: int, title: str) -> None:
        r = self.world.book(organizer, title=title, hour=slot * 3)
        self.expected[r.id or ""] = Expected(
            organizer,
            title,
            r.fields.start,
            r.fields.reminder_minutes,
            title,
            title,
            r.fields.reminder_minutes,
        )

    @precondition(lambda self: self.expected)
    @rule(data=st.data())
    def edit(self, data: st.DataObject) -> None:
        """A few edits on either side between two cycles; Outlook edits go to synced entries."""
        for _ in range(data.draw(st.integers(1, 4), label="edits")):
            synced = [rid for rid, e in self.expected.items() if self._entry_item(rid) is not None]
            pool = ROOMS_EDITS + (OUTLOOK_EDITS if synced else [])
            action = data.draw(st.sampled_from(pool), label="action")
            rid = data.draw(st.sampled_from(synced if action in OUTLOOK_EDITS else sorted(self.expected)))
            getattr(self, action)(data, rid)

    def rename_in_rooms(self, data: st.DataObject, rid: str) -> None:
        if (e := self._editable(rid)) is not None:
            e.title = data.draw(TITLES)
            self.world.edit(rid, title=e.title)

    def move_in_rooms(self, data: st.DataObject, rid: str) -> None:
        if (e := self._editable(rid)) is not None:
            current = self.world.reservation(rid).fields
            shift = timedelta(hours=data.draw(st.integers(1, 2)))
            self.world.edit(rid, start=current.start + shift, end=current.end + shift)
            e.start = current.start + shift

    def cancel_in_rooms(self, data: st.DataObject, rid: str) -> None:
        if (e := self._editable(rid)) is not None:
            self.world.cancel(rid)
            e.active = False

    def change_organizer(self, data: st.DataObject, rid: str) -> None:
        organizer = data.draw(st.sampled_from(PERSONS))
        if (e := self._editable(rid)) is not None and organizer != e.organizer:
            self.world.edit(rid, organizer=organizer)
            e.organizer = organizer
            e.moved = e.synced or e.moved

    def rename_in_outlook(self, data: st.DataObject, rid: str) -> None:
        if (item := self._entry_item(rid)) is not None:
            e = self.expected[rid]
            e.outlook_title = data.draw(TITLES)
            self.world.exchange.user_update(e.organizer, item, title=e.outlook_title)

    def remind_in_outlook(self, data: st.DataObject, rid: str) -> None:
        if (item := self._entry_item(rid)) is not None:
            e = self.expected[rid]
            e.outlook_reminder = data.draw(st.sampled_from([0, 5, 30]))
            self.world.exchange.user_update(e.organizer, item, reminder_minutes=e.outlook_reminder)

    def delete_in_outlook(self, data: st.DataObject, rid: str) -> None:
        if (item := self._entry_item(rid)) is not None:
            e = self.expected[rid]
            self.world.exchange.user_delete(e.organizer, item, to_deleted_items=data.draw(st.booleans()))
            e.active = False

    @rule()
    def sync(self) -> None:
        self.world.sync_ok()
        for e in self.expected.values():
            self._expect_after_cycle(e)
        assert_converged(self.world)
        for rid, e in self.expected.items():
            stored = self.world.reservation(rid)
            assert stored.active == e.active, rid
            assert stored.sync_disabled == e.disabled, rid
            if e.active:
                assert stored.organizer == e.organizer
                assert stored.fields.title == e.title, rid
                assert stored.fields.start == e.start, rid
                assert stored.fields.reminder_minutes == e.reminder, rid

    @staticmethod
    def _expect_after_cycle(e: Expected) -> None:
        if not e.active or e.disabled:
            return
        if e.synced and not e.moved:
            rooms_changed = e.title != e.base_title
            outlook_changed = e.outlook_title != e.base_title
            if rooms_changed and outlook_changed and e.title != e.outlook_title:
                e.conflicts += 1
                if e.conflicts >= 5:
                    e.disabled = True  # ROOMS keeps its value; the entry keeps Outlook's
                    return
            elif outlook_changed:
                e.title = e.outlook_title
            e.reminder = e.outlook_reminder
        e.base_title = e.outlook_title = e.title
        e.outlook_reminder = e.reminder
        e.synced, e.moved = True, False


class CrashMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = fresh_world()
        self.page, read_phase.ROOMS_PAGE = read_phase.ROOMS_PAGE, MACHINE_PAGE
        self.ids: list[str] = []

    def teardown(self) -> None:
        read_phase.ROOMS_PAGE = self.page
        self.world.runner.close()
        self.world.database.dispose()

    @rule(organizer=st.sampled_from(PERSONS), slot=st.integers(0, 40))
    def book(self, organizer: str, slot: int) -> None:
        self.ids.append(self.world.book(organizer, title=f"slot {slot}", hour=slot * 3).id or "")

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), title=TITLES)
    def rename_somewhere(self, data: st.DataObject, title: str) -> None:
        rid = data.draw(st.sampled_from(self.ids))
        stored = self.world.reservation(rid)
        if not stored.active:
            return
        if data.draw(st.booleans(), label="in outlook"):
            found = [
                e for e in self.world.exchange.entries(stored.organizer) if e.stamp == self.world.stamp(rid)
            ]
            if found:
                self.world.exchange.user_update(stored.organizer, found[0].item_id, title=title)
        else:
            self.world.edit(rid, title=title)

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def move_to_other_organizer(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(self.ids))
        stored = self.world.reservation(rid)
        if stored.active:
            self.world.edit(
                rid, organizer=data.draw(st.sampled_from([p for p in PERSONS if p != stored.organizer]))
            )

    @rule(mailbox=st.sampled_from(PERSONS))
    def killed_sync(self, mailbox: str) -> None:
        self.world.killed_sync(mailbox)

    @rule(operation=st.sampled_from(["create_entries", "update_entries", "delete_entries"]))
    def timed_out_write(self, operation: Any) -> None:
        self.world.exchange.drop_after_write(operation)
        self.world.sync()
        self.world.exchange.clear_faults()  # unused when that cycle had nothing to write

    @rule()
    def sync(self) -> None:
        self.world.sync_ok()
        assert_converged(self.world)


machine_settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestModel = pytest.mark.slow(ModelMachine.TestCase)
TestModel.settings = machine_settings
TestCrash = pytest.mark.slow(CrashMachine.TestCase)
TestCrash.settings = machine_settings


# --- the test kit's machine (the one every connector runs) on the reference connector ---------


@dataclass
class ReferenceEstate(Estate):
    exchange: MailboxDirectory | None = None

    @property
    def directory(self) -> MailboxDirectory:
        assert self.exchange is not None
        return self.exchange

    def outlook_create(self, mailbox: str, fields: EventFields) -> None:
        self.directory.user_create(mailbox, fields)

    def outlook_update(self, entry: CalendarEntry, fields: EventFields) -> None:
        self.directory.user_update(entry.mailbox, entry.item_id, **dict(fields))

    def outlook_occurrence(self, entry: CalendarEntry, index: int, change: OccurrenceChange) -> None:
        kept = [c for c in entry.fields.occurrences if c.original_start != change.original_start]
        self.directory.user_update(entry.mailbox, entry.item_id, occurrences=(*kept, change))

    def outlook_delete(self, entry: CalendarEntry) -> None:
        self.directory.user_delete(entry.mailbox, entry.item_id, to_deleted_items=True)

    def fault(self, kind: str) -> None:
        for operation in ("create_entries", "update_entries", "delete_entries"):
            if kind == "drop_after_apply":
                self.directory.drop_after_write(operation)
            else:
                self.directory.fail_next(operation)

    def clear_faults(self) -> None:
        self.directory.clear_faults()


def reference_estate() -> Estate:
    world = fresh_world()
    return ReferenceEstate(
        database=world.database,
        runner=world.runner,
        environment="ref",
        persons=(ALICE, BOB),
        rooms=(ROOM_A, ROOM_B),
        start=BASE,
        faults=("timeout", "drop_after_apply"),
        exchange=world.exchange,
    )


@pytest.mark.slow
def test_the_kits_machine_converges_on_the_reference_connector() -> None:
    counts = run_convergence(reference_estate, "Reference")
    print(f"\nconvergence reference: {dict(sorted(counts.items()))}")
    assert counts["examples"] >= 1
