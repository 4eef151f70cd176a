"""The behaviour every connector proves, specified once.

A connector's test module subclasses :class:`ConnectorSuite` and provides a ``kit`` fixture; the
inherited tests then run against that connector. Entries are compared as the engine compares
them (:func:`roomsync.engine.merge.snapshot`): times as instants whatever offset a server answers
in, participants by address whatever display name it shows. They are looked up by item id or
stamp, so a test mailbox with other entries in it does not disturb them.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest

from roomsync.connector.types import (
    CalendarEntry,
    ChangeSet,
    EntryUpdate,
    FreeBusy,
    ItemRef,
    WriteErrorKind,
    WriteResult,
)
from roomsync.domain import (
    EventFields,
    Frequency,
    OccurrenceChange,
    Participant,
    Recurrence,
    ShowAs,
    Weekday,
    canonical,
)
from roomsync.engine.merge import snapshot
from roomsync.errors import ConnectorError
from roomsync.recurrence import occurrences, rule
from roomsync.testkit.kit import ConnectorKit
from roomsync.testkit.wakes import WakeRecorder

_WEEKDAYS = list(Weekday)


class Changes:
    """Every page of ``changes()`` drained from one state, merged the way the engine merges them."""

    def __init__(self, kit: ConnectorKit, state: str | None, mailbox: str | None = None) -> None:
        self.pages: list[ChangeSet] = []
        self.entries: dict[str, CalendarEntry] = {}
        self.deleted: set[str] = set()
        self.unchanged: dict[str, str] = {}  # item id → change key: our own writes, not read
        while True:
            page = kit.host.changes(mailbox or kit.mailbox, state)
            self.pages.append(page)
            for entry in page.entries:
                self.entries[entry.item_id] = entry
                self.deleted.discard(entry.item_id)
                self.unchanged.pop(entry.item_id, None)
            for item_id in page.deleted:
                self.entries.pop(item_id, None)
                self.deleted.add(item_id)
                self.unchanged.pop(item_id, None)
            for ref in page.unchanged:
                assert ref.change_key, "an unchanged item was reported without its change key"
                self.entries.pop(ref.item_id, None)
                self.deleted.discard(ref.item_id)
                self.unchanged[ref.item_id] = ref.change_key
            assert page.sync_state, "changes() answered without a sync state"
            state = page.sync_state
            if not page.more:
                break
            assert len(self.pages) < 10_000, "changes() keeps answering more=True"
        self.state = state

    @property
    def listed(self) -> set[str]:
        """Every item reported present: read in full or known as written."""
        return set(self.entries) | set(self.unchanged)


def same_fields(actual: EventFields, expected: EventFields) -> None:
    """Equal for the sync: a difference here would be read as a change on every cycle."""
    assert snapshot(actual) == snapshot(expected)


def by_id(entries: Iterable[CalendarEntry]) -> dict[str, CalendarEntry]:
    return {entry.item_id: entry for entry in entries}


def created_ids(results: list[WriteResult]) -> list[str]:
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    ids = [r.item_id for r in results]
    assert all(ids), "a successful create must return the item id"
    return [i for i in ids if i]


def only_entry(kit: ConnectorKit, stamp: str) -> CalendarEntry:
    found = kit.host.find_by_stamp(kit.mailbox, [stamp]).get(stamp, [])
    assert len(found) == 1, f"expected exactly one entry stamped {stamp}, found {len(found)}"
    return found[0]


def stored_as(kit: ConnectorKit, stamp: str, fields: EventFields, change_key: str | None) -> None:
    """The one entry stamped ``stamp`` holds ``fields`` under ``change_key``."""
    entry = only_entry(kit, stamp)
    same_fields(entry.fields, fields)
    assert entry.change_key == change_key


def spans(answer: FreeBusy, status: bool = False) -> set[tuple[Any, ...]]:
    """The intervals of one free/busy answer as comparable instants (and statuses)."""
    assert answer.error is None, answer.error
    return {
        (canonical(i.start), canonical(i.end), *((i.status.value,) if status else ()))
        for i in answer.intervals
    }


def span(start: datetime, end: datetime, status: ShowAs | None = None) -> tuple[Any, ...]:
    return (canonical(start), canonical(end), *((status.value,) if status else ()))


def occurrence_spans(fields: EventFields, start: datetime, end: datetime) -> set[tuple[Any, ...]]:
    """The spans of the occurrences of ``fields`` in ``[start, end)``, as free/busy shows them."""
    return {span(o.start, o.end) for o in occurrences(fields, start, end)}


def first_local(kit: ConnectorKit, recurrence: Recurrence, days: int, hour: int, minute: int = 0) -> datetime:
    """The first occurrence of ``recurrence`` at least ``days`` from today, at ``hour`` local time."""
    after = datetime.combine(kit.today + timedelta(days=days), time(hour, minute))
    return next(iter(rule(recurrence, after))).replace(tzinfo=kit.zone)


def series(
    kit: ConnectorKit,
    title: str,
    recurrence: Recurrence,
    days: int,
    hour: int,
    minute: int = 0,
    minutes: int = 60,
    **more: Any,
) -> EventFields:
    """A series in the kit's zone, first at :func:`first_local`, each occurrence ``minutes`` long;
    ``more`` sets the rest (as :meth:`ConnectorKit.fields` does for single entries)."""
    start = first_local(kit, recurrence, days, hour, minute)
    return EventFields(
        title=title,
        start=start,
        end=start + timedelta(minutes=minutes),
        timezone=kit.timezone,
        recurrence=recurrence,
        **more,
    )


def next_dst_change(zone: ZoneInfo, after: date) -> date | None:
    """The first day after ``after`` whose noon has another UTC offset than the day before."""
    offset = datetime.combine(after, time(12), zone).utcoffset()
    for n in range(1, 400):
        day = after + timedelta(days=n)
        if datetime.combine(day, time(12), zone).utcoffset() != offset:
            return day
    return None


def weekly_across_dst(
    zone: ZoneInfo, after: date, weeks: int, title: str
) -> tuple[EventFields, list[datetime]] | None:
    """A weekly series of ``weeks`` hour-long occurrences at 09:00 in ``zone`` whose middle lies
    on the first DST change after ``after``, and the local starts of its occurrences; None where
    ``zone`` has no DST change in the coming year."""
    change = next_dst_change(zone, after)
    if change is None:
        return None
    first_day = change - timedelta(days=14)
    starts = [datetime.combine(first_day + timedelta(weeks=n), time(9), zone) for n in range(weeks)]
    assert len({s.utcoffset() for s in starts}) == 2, "the series must cross the DST change"
    return weekly(title, starts[0], zone.key, weeks), starts


def weekly(title: str, start: datetime, timezone: str, count: int, **more: Any) -> EventFields:
    """A weekly series of ``count`` hour-long occurrences on the weekday ``start`` has in
    ``timezone``; ``more`` sets the rest."""
    weekday = _WEEKDAYS[start.astimezone(ZoneInfo(timezone)).weekday()]
    return EventFields(
        title=title,
        start=start,
        end=start + timedelta(hours=1),
        timezone=timezone,
        recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(weekday,), count=count),
        **more,
    )


def update_one(kit: ConnectorKit, stamp: str, written: WriteResult, fields: EventFields) -> WriteResult:
    """Update the entry ``written`` answered for to ``fields``, with the change key it answered."""
    assert written.item_id, "a successful create must return the item id"
    update = EntryUpdate(item_id=written.item_id, change_key=written.change_key, stamp=stamp, fields=fields)
    [result] = kit.host.update_entries(kit.mailbox, [update])
    return result


class ConnectorSuite:
    """Subclass it in a test module and provide a ``kit`` fixture returning a :class:`ConnectorKit`."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.connector_suite]

    @pytest.fixture(autouse=True)
    def _clean_up(self, kit: ConnectorKit) -> Iterator[None]:
        yield
        kit.clean_up()

    # --- capabilities and the per-person check ----------------------------------------------

    def test_capabilities_are_sane(self, kit: ConnectorKit) -> None:
        caps = kit.host.hook.roomsync_capabilities()
        assert caps is not None, "roomsync_capabilities must answer"
        assert caps.max_batch >= 1 and caps.max_freebusy_mailboxes >= 1 and caps.max_freebusy_days >= 1
        assert kit.host.hook.roomsync_capabilities() == caps, "capabilities must not change between calls"

    def test_check_passes_every_step_and_leaves_nothing_behind(self, kit: ConnectorKit) -> None:
        before = Changes(kit, None)
        steps = kit.host.check(kit.mailbox)
        assert steps, "check() must report its steps"
        assert [s for s in steps if not s.ok] == []
        assert len({s.name for s in steps}) == len(steps), "step names must be distinct"
        assert all(s.name for s in steps)
        left = Changes(kit, before.state)
        assert left.entries == {}, "the probe entry of check() must be removed"

    # --- writes -------------------------------------------------------------------------------

    def test_batch_create_reads_back_every_field(self, kit: ConnectorKit) -> None:
        drafts = [
            kit.draft(
                kit.fields(
                    "Board meeting",
                    3,
                    9,
                    rooms=(kit.room,),
                    participants=(Participant(email=kit.other_mailbox, name="Other Person"),),
                    reminder_minutes=30,
                    body="Agenda:\n1. Budget\n2. Rooms",
                )
            ),
            kit.draft(kit.fields("Dentist", 3, 13, minutes=90, private=True, reminder_minutes=None)),
            kit.draft(kit.fields("Maybe", 4, 11, 30, show_as=ShowAs.TENTATIVE, reminder_minutes=0)),
            kit.draft(kit.fields("Away", 4, 15, minutes=15, show_as=ShowAs.OOF, body="back at 4")),
        ]
        results = kit.create(drafts)
        ids = created_ids(results)
        assert len(set(ids)) == len(drafts), "every draft must become its own entry"
        assert all(r.change_key for r in results)

        listed = by_id(kit.host.list_entries(kit.mailbox, kit.at(3, 0), kit.at(5, 0)))
        for draft, result in zip(drafts, results, strict=True):
            assert result.item_id in listed, f"created entry {draft.fields.title!r} is not listed"
            entry = listed[result.item_id]
            assert entry.stamp == draft.stamp
            assert entry.mailbox == kit.mailbox and entry.organizer == kit.mailbox
            assert entry.change_key == result.change_key
            same_fields(entry.fields, draft.fields)

    def test_list_entries_keeps_to_the_window(self, kit: ConnectorKit) -> None:
        inside, outside = kit.fields("Inside", 6, 10), kit.fields("Outside", 8, 10)
        across = kit.fields("Across midnight", 5, 23, 30, minutes=60)
        ids = created_ids(kit.create([kit.draft(inside), kit.draft(outside), kit.draft(across)]))
        listed = by_id(kit.host.list_entries(kit.mailbox, kit.at(6, 0), kit.at(7, 0)))
        assert ids[0] in listed and ids[2] in listed
        assert ids[1] not in listed

    def test_create_is_idempotent_by_stamp(self, kit: ConnectorKit) -> None:
        draft = kit.draft(kit.fields("Retried create", 5, 10))
        [first] = kit.create([draft])
        [again] = kit.create([draft])
        assert first.ok and again.ok
        assert again.item_id == first.item_id
        assert only_entry(kit, draft.stamp).item_id == first.item_id

    def test_find_by_stamp_finds_its_entries_and_no_others(self, kit: ConnectorKit) -> None:
        drafts = [kit.draft(kit.fields("One", 5, 9)), kit.draft(kit.fields("Two", 5, 11))]
        ids = created_ids(kit.create(drafts))
        unknown = kit.draft(kit.fields("Never written", 5, 13)).stamp
        found = kit.host.find_by_stamp(kit.mailbox, [drafts[0].stamp, drafts[1].stamp, unknown])
        for draft, item_id in zip(drafts, ids, strict=True):
            assert [e.item_id for e in found.get(draft.stamp, [])] == [item_id]
            same_fields(found[draft.stamp][0].fields, draft.fields)
        assert found.get(unknown, []) == []

    def test_update_with_current_change_key(self, kit: ConnectorKit) -> None:
        draft = kit.draft(kit.fields("Planning", 6, 9))
        [created] = kit.create([draft])
        assert created.item_id and created.change_key
        changed = kit.fields(
            "Planning (moved)",
            6,
            14,
            minutes=45,
            rooms=(kit.room,),
            participants=(Participant(email=kit.other_mailbox),),
            reminder_minutes=None,
            show_as=ShowAs.TENTATIVE,
            body="new agenda",
        )
        result = update_one(kit, draft.stamp, created, changed)
        assert result.ok, result.error
        assert result.item_id == created.item_id
        assert result.change_key and result.change_key != created.change_key
        stored_as(kit, draft.stamp, changed, result.change_key)

    def test_update_with_stale_change_key_changes_nothing(self, kit: ConnectorKit) -> None:
        draft = kit.draft(kit.fields("Review", 6, 9))
        [created] = kit.create([draft])
        assert created.item_id
        second = kit.fields("Review, second version", 6, 10)
        ok = update_one(kit, draft.stamp, created, second)
        assert ok.ok, ok.error
        result = update_one(kit, draft.stamp, created, kit.fields("Review, lost update", 6, 11))
        assert not result.ok
        assert result.error_kind is WriteErrorKind.STALE
        stored_as(kit, draft.stamp, second, ok.change_key)

    def test_user_edit_makes_the_change_key_stale(self, kit: ConnectorKit) -> None:
        draft = kit.draft(kit.fields("Standup", 7, 9))
        [created] = kit.create([draft])
        assert created.item_id
        edited = kit.fields("Standup (edited in Outlook)", 7, 9, 30)
        kit.user.update(kit.mailbox, created.item_id, edited)
        result = update_one(kit, draft.stamp, created, draft.fields)
        assert result.error_kind is WriteErrorKind.STALE
        same_fields(only_entry(kit, draft.stamp).fields, edited)

    def test_delete_then_delete_again_is_not_found(self, kit: ConnectorKit) -> None:
        drafts = [kit.draft(kit.fields("Gone", 7, 9)), kit.draft(kit.fields("Stays", 7, 11))]
        gone, stays = created_ids(kit.create(drafts))
        [deleted] = kit.host.delete_entries(kit.mailbox, [ItemRef(item_id=gone)])
        assert deleted.ok, deleted.error
        assert kit.host.find_by_stamp(kit.mailbox, [drafts[0].stamp]).get(drafts[0].stamp, []) == []
        assert only_entry(kit, drafts[1].stamp).item_id == stays
        [again] = kit.host.delete_entries(kit.mailbox, [ItemRef(item_id=gone)])
        assert not again.ok
        assert again.error_kind is WriteErrorKind.NOT_FOUND

    def test_update_of_an_unknown_item_is_not_found(self, kit: ConnectorKit) -> None:
        draft = kit.draft(kit.fields("Short-lived", 7, 14))
        [item_id] = created_ids(kit.create([draft]))
        kit.host.delete_entries(kit.mailbox, [ItemRef(item_id=item_id)])
        [result] = kit.host.update_entries(
            kit.mailbox, [EntryUpdate(item_id=item_id, stamp=draft.stamp, fields=draft.fields)]
        )
        assert not result.ok
        assert result.error_kind is WriteErrorKind.NOT_FOUND

    def test_batch_results_follow_the_input_order(self, kit: ConnectorKit) -> None:
        drafts = [kit.draft(kit.fields(f"Batch {n}", 8, 9 + n)) for n in range(3)]
        results = kit.create(drafts)
        first, gone, third = created_ids(results)
        kit.host.delete_entries(kit.mailbox, [ItemRef(item_id=gone)])
        kit.user.update(kit.mailbox, third, kit.fields("Batch 2, edited", 8, 11))
        updates = [
            EntryUpdate(
                item_id=i, change_key=r.change_key, stamp=d.stamp, fields=kit.fields("Changed", 8, 15)
            )
            for i, r, d in zip((first, gone, third), results, drafts, strict=True)
        ]
        answers = kit.host.update_entries(kit.mailbox, updates)
        assert [a.ok for a in answers] == [True, False, False]
        assert [a.error_kind for a in answers[1:]] == [WriteErrorKind.NOT_FOUND, WriteErrorKind.STALE]

    def test_create_more_than_max_batch_through_the_host(self, kit: ConnectorKit) -> None:
        count = kit.capabilities.max_batch + 1
        drafts = [kit.draft(kit.fields(f"Bulk {n}", 9, 8, minutes=30)) for n in range(count)]
        ids = created_ids(kit.create(drafts))
        assert len(set(ids)) == count
        found = kit.host.find_by_stamp(kit.mailbox, [d.stamp for d in drafts])
        assert {d.stamp: [e.item_id for e in found.get(d.stamp, [])] for d in drafts} == {
            d.stamp: [i] for d, i in zip(drafts, ids, strict=True)
        }

    # --- change detection -------------------------------------------------------------------

    def test_first_full_read_lists_existing_entries(self, kit: ConnectorKit) -> None:
        drafts = [kit.draft(kit.fields("Synced A", 10, 9)), kit.draft(kit.fields("Synced B", 10, 11))]
        ids = created_ids(kit.create(drafts))
        own = kit.fields("Made in Outlook", 10, 14)
        user_id = kit.user_create(own)
        full = Changes(kit, None)
        assert isinstance(full.state, str) and full.state
        for draft, item_id in zip(drafts, ids, strict=True):
            assert full.entries[item_id].stamp == draft.stamp
            same_fields(full.entries[item_id].fields, draft.fields)
        assert full.entries[user_id].stamp is None
        assert full.entries[user_id].organizer == kit.mailbox
        same_fields(full.entries[user_id].fields, own)

    def test_own_writes_come_back(self, kit: ConnectorKit) -> None:
        kept, removed = kit.draft(kit.fields("Kept", 11, 9)), kit.draft(kit.fields("Removed", 11, 11))
        results = kit.create([kept, removed])
        kept_id, removed_id = created_ids(results)
        state = Changes(kit, None).state
        new = kit.draft(kit.fields("New", 11, 14))
        [created] = kit.create([new])
        changed = kit.fields("Kept, changed", 11, 9, 30)
        updated = update_one(kit, kept.stamp, results[0], changed)
        assert updated.ok, updated.error
        kit.host.delete_entries(kit.mailbox, [ItemRef(item_id=removed_id)])

        echo = Changes(kit, state)
        # Each comes back read in full or, known as written, by the change key the write got.
        for item_id, stamp, change_key, fields in (
            (created.item_id, new.stamp, created.change_key, new.fields),
            (kept_id, kept.stamp, updated.change_key, changed),
        ):
            assert item_id is not None
            if item_id in echo.unchanged:
                assert echo.unchanged[item_id] == change_key
                continue
            assert item_id in echo.entries
            assert echo.entries[item_id].stamp == stamp
            assert echo.entries[item_id].change_key == change_key
            same_fields(echo.entries[item_id].fields, fields)
        assert removed_id in echo.deleted and removed_id not in echo.entries
        assert removed_id not in echo.unchanged

    def test_no_changes_give_empty_pages_and_a_usable_state(self, kit: ConnectorKit) -> None:
        kit.create([kit.draft(kit.fields("Quiet", 11, 16))])
        state = Changes(kit, None).state
        quiet = Changes(kit, state)
        assert quiet.entries == {} and quiet.deleted == set()
        assert not any(page.reset for page in quiet.pages)

    def test_user_edits_come_back(self, kit: ConnectorKit) -> None:
        own_id = kit.user_create(kit.fields("Lunch", 12, 12))
        synced = kit.draft(kit.fields("Synced", 12, 9))
        [synced_id] = created_ids(kit.create([synced]))
        state = Changes(kit, None).state
        lunch = kit.fields("Long lunch", 12, 12, minutes=120, body="with the team")
        moved = kit.fields("Synced, moved in Outlook", 12, 10)
        kit.user.update(kit.mailbox, own_id, lunch)
        kit.user.update(kit.mailbox, synced_id, moved)

        edits = Changes(kit, state)
        assert edits.entries[own_id].stamp is None and edits.entries[own_id].is_own
        same_fields(edits.entries[own_id].fields, lunch)
        assert edits.entries[synced_id].stamp == synced.stamp, "a user edit keeps the stamp"
        same_fields(edits.entries[synced_id].fields, moved)

    def test_user_deletions_come_back(self, kit: ConnectorKit) -> None:
        [synced_id] = created_ids(kit.create([kit.draft(kit.fields("Synced", 13, 9))]))
        own_id = kit.user_create(kit.fields("Own", 13, 11))
        state = Changes(kit, None).state
        kit.user.delete(kit.mailbox, synced_id)
        kit.user.delete(kit.mailbox, own_id, to_deleted_items=True)
        gone = Changes(kit, state)
        assert {synced_id, own_id} <= gone.deleted
        assert synced_id not in gone.entries and own_id not in gone.entries

    def test_unusable_sync_state_starts_a_full_listing(self, kit: ConnectorKit) -> None:
        drafts = [kit.draft(kit.fields("Existing", 14, 9))]
        [item_id] = created_ids(kit.create(drafts))
        page = kit.host.changes(kit.mailbox, "roomsync-kit:this is not a sync state")
        assert page.reset, "an unusable sync state must start over with reset=True"
        listing = Changes(kit, page.sync_state) if page.more else None
        entries = {**by_id(page.entries), **(listing.entries if listing else {})}
        assert entries[item_id].stamp == drafts[0].stamp

    def test_draining_pages_reports_each_item(self, kit: ConnectorKit) -> None:
        drafts = [kit.draft(kit.fields(f"Page {n}", 15, 8 + n, minutes=30)) for n in range(7)]
        ids = created_ids(kit.create(drafts))
        full = Changes(kit, None)
        reported = [
            item_id
            for page in full.pages
            for item_id in [*(e.item_id for e in page.entries), *(u.item_id for u in page.unchanged)]
        ]
        assert all(reported.count(i) == 1 for i in ids), "each item once in a full listing"
        more = [kit.draft(kit.fields(f"Later {n}", 16, 8 + n, minutes=30)) for n in range(5)]
        later = created_ids(kit.create(more))
        retitled = kit.fields("Page 0, retitled", 15, 8, minutes=30)
        [result] = kit.host.update_entries(
            kit.mailbox, [EntryUpdate(item_id=ids[0], stamp=drafts[0].stamp, fields=retitled)]
        )
        since = Changes(kit, full.state)
        assert set(later) | {ids[0]} <= since.listed
        if ids[0] in since.unchanged:
            assert since.unchanged[ids[0]] == result.change_key
        else:
            same_fields(since.entries[ids[0]].fields, retitled)

    # --- series -------------------------------------------------------------------------------

    def _needs_recurrence(self, kit: ConnectorKit) -> None:
        if not kit.capabilities.recurrence:
            pytest.skip("the connector declares recurrence=False")

    def _needs_free_busy(self, kit: ConnectorKit) -> None:
        if not kit.capabilities.free_busy:
            pytest.skip("the connector declares free_busy=False")

    @staticmethod
    def _busy_if_supported(kit: ConnectorKit, probe: Callable[[], None]) -> None:
        """The free/busy part of a series test; its round trip counts without it."""
        if kit.capabilities.free_busy:
            kit.eventually(probe)

    def _series_round_trip(self, kit: ConnectorKit, fields: EventFields) -> CalendarEntry:
        draft = kit.draft(fields)
        [item_id] = created_ids(kit.create([draft]))
        window_end = fields.start + timedelta(days=400)
        listed = [
            e for e in kit.host.list_entries(kit.mailbox, fields.start, window_end) if e.stamp == draft.stamp
        ]
        assert [e.item_id for e in listed] == [item_id], "a series is listed once, as its master"
        same_fields(listed[0].fields, fields)
        same_fields(only_entry(kit, draft.stamp).fields, fields)
        return listed[0]

    def test_weekly_series_with_exceptions_round_trips(self, kit: ConnectorKit) -> None:
        self._needs_recurrence(kit)
        recurrence = Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO, Weekday.TH), count=6)
        plain = series(kit, "Team weekly", recurrence, 7, 10, rooms=(kit.room,))
        start = plain.start
        occ = list(occurrences(plain, start, start + timedelta(days=60)))
        assert len(occ) == 6
        moved = OccurrenceChange(
            original_start=occ[1].original_start,
            start=occ[1].start + timedelta(hours=2),
            end=occ[1].end + timedelta(hours=2),
            title="Team weekly (moved)",
        )
        cancelled = OccurrenceChange(original_start=occ[3].original_start, cancelled=True)
        fields = EventFields.model_validate({**dict(plain), "occurrences": (moved, cancelled)})
        self._series_round_trip(kit, fields)

        def busy() -> None:
            [answer] = kit.host.free_busy(
                [kit.mailbox], start - timedelta(days=1), start + timedelta(days=30)
            )
            found = spans(answer)
            expected = occurrence_spans(fields, start, start + timedelta(days=30))
            assert len(expected) == 5 and expected <= found
            assert span(occ[1].start, occ[1].end) not in found, "a moved occurrence leaves its slot"
            assert span(occ[3].start, occ[3].end) not in found, "a cancelled occurrence is not busy"

        self._busy_if_supported(kit, busy)

    def test_monthly_series_by_weekday_round_trips(self, kit: ConnectorKit) -> None:
        self._needs_recurrence(kit)
        second_tuesday = Recurrence(
            frequency=Frequency.MONTHLY, weekdays=(Weekday.TU,), week_of_month=2, count=4
        )
        last_friday = Recurrence(
            frequency=Frequency.MONTHLY,
            weekdays=(Weekday.FR,),
            week_of_month=-1,
            until=kit.today + timedelta(days=200),
        )
        for title, recurrence, hour in (("Jour fixe", second_tuesday, 14), ("Month end", last_friday, 16)):
            fields = series(kit, title, recurrence, 7, hour, minutes=90)
            self._series_round_trip(kit, fields)
            window = (fields.start, fields.start + timedelta(days=100))
            expected = occurrence_spans(fields, *window)
            assert len(expected) >= 3

            def busy(window: tuple[datetime, datetime] = window, expected: set[Any] = expected) -> None:
                [answer] = kit.host.free_busy([kit.mailbox], *window)
                assert expected <= spans(answer)

            self._busy_if_supported(kit, busy)

    def test_series_across_a_dst_change_keeps_its_wall_clock_time(self, kit: ConnectorKit) -> None:
        self._needs_recurrence(kit)
        across = weekly_across_dst(kit.zone, kit.today + timedelta(days=21), 5, "Across DST")
        if across is None:
            pytest.skip(f"time zone {kit.timezone} has no DST change in the coming year")
        fields, starts = across
        self._series_round_trip(kit, fields)

        def busy() -> None:
            [answer] = kit.host.free_busy(
                [kit.mailbox], starts[0] - timedelta(days=1), starts[-1] + timedelta(days=1)
            )
            found = spans(answer)
            for local in starts:
                assert span(local, local + timedelta(hours=1)) in found, (
                    f"no busy time at {local.isoformat()}"
                )

        self._busy_if_supported(kit, busy)

    # --- free/busy ----------------------------------------------------------------------------

    def test_free_busy_of_mailbox_and_room(self, kit: ConnectorKit) -> None:
        self._needs_free_busy(kit)
        meeting = kit.fields(
            "Workshop", 20, 10, rooms=(kit.room,), participants=(Participant(email=kit.other_mailbox),)
        )
        free = kit.fields("Reading time", 20, 13, show_as=ShowAs.FREE)
        maybe = kit.fields("Perhaps", 20, 15, show_as=ShowAs.TENTATIVE)
        away = kit.fields("Out", 20, 17, show_as=ShowAs.OOF)
        kit.create([kit.draft(f) for f in (meeting, free, maybe, away)])

        def busy() -> None:
            mine, room = kit.host.free_busy([kit.mailbox, kit.room], kit.at(20, 0), kit.at(21, 0))
            assert (mine.mailbox, room.mailbox) == (kit.mailbox, kit.room)
            found = spans(mine, status=True)
            assert span(meeting.start, meeting.end, ShowAs.BUSY) in found
            assert span(maybe.start, maybe.end, ShowAs.TENTATIVE) in found
            assert span(away.start, away.end, ShowAs.OOF) in found
            assert not [i for i in mine.intervals if i.start < free.end and i.end > free.start], (
                "an entry shown as free must not make the mailbox busy"
            )
            assert span(meeting.start, meeting.end) in spans(room), "the booked room must be busy"

        kit.eventually(busy)

    def test_free_busy_answers_in_the_order_asked(self, kit: ConnectorKit) -> None:
        self._needs_free_busy(kit)
        kit.create([kit.draft(kit.fields("Ordered", 21, 10, rooms=(kit.room,)))])
        for asked in ([kit.room, kit.other_mailbox, kit.mailbox], [kit.mailbox, kit.room, kit.other_mailbox]):
            answers = kit.host.free_busy(asked, kit.at(21, 0), kit.at(22, 0))
            assert [a.mailbox for a in answers] == asked

    def test_free_busy_of_an_empty_window_has_no_intervals(self, kit: ConnectorKit) -> None:
        self._needs_free_busy(kit)
        kit.create([kit.draft(kit.fields("Elsewhere", 22, 10, rooms=(kit.room,)))])
        answers = kit.host.free_busy([kit.mailbox, kit.room], kit.at(22, 12), kit.at(22, 13))
        assert [(a.mailbox, a.intervals, a.error) for a in answers] == [
            (kit.mailbox, (), None),
            (kit.room, (), None),
        ]

    def test_free_busy_with_end_before_start_is_refused(self, kit: ConnectorKit) -> None:
        self._needs_free_busy(kit)
        start, end = kit.at(23, 9), kit.at(23, 17)
        with pytest.raises((ValueError, ConnectorError)):
            kit.host.free_busy([kit.mailbox], end, start)
        with pytest.raises((ValueError, ConnectorError)):
            kit.host.free_busy([kit.mailbox], start, start)

    # --- watching -----------------------------------------------------------------------------

    @contextmanager
    def _watching(self, kit: ConnectorKit, mailboxes: list[str]) -> Iterator[WakeRecorder]:
        if not kit.capabilities.push:
            pytest.skip("the connector declares push=False")
        woken = WakeRecorder()
        started = clock.monotonic()
        assert kit.host.watch(mailboxes, woken), "a connector that declares push must watch"
        try:
            assert woken.wait_for(mailboxes, kit.wake_seconds, started), (
                f"once the watch stands every watched mailbox must be woken; woken: {woken.woken()}"
            )
            yield woken
        finally:
            kit.host.watch([], WakeRecorder())

    def test_watch_wakes_the_mailbox_a_user_changed(self, kit: ConnectorKit) -> None:
        with self._watching(kit, [kit.mailbox, kit.other_mailbox]) as woken:
            since = clock.monotonic()
            kit.user_create(kit.fields("Booked in Outlook", 24, 10))
            assert woken.wait_for([kit.mailbox], kit.wake_seconds, since), (
                f"a change by the user must wake {kit.mailbox} within {kit.wake_seconds} s"
            )

    def test_watch_of_more_mailboxes_wakes_the_added_one(self, kit: ConnectorKit) -> None:
        with self._watching(kit, [kit.mailbox]) as woken:
            since = clock.monotonic()
            assert kit.host.watch([kit.mailbox, kit.other_mailbox], woken)
            assert woken.wait_for([kit.other_mailbox], kit.wake_seconds, since), (
                "a mailbox added to the watch must be woken once its watch stands"
            )
            since = clock.monotonic()
            kit.user_create(kit.fields("Booked by the added one", 24, 12), mailbox=kit.other_mailbox)
            assert woken.wait_for([kit.other_mailbox], kit.wake_seconds, since)

    def test_watch_is_restored_after_a_broken_connection_and_wakes_everyone(self, kit: ConnectorKit) -> None:
        if kit.break_connection is None:
            pytest.skip("the kit has no way to break the connector's connection")
        with self._watching(kit, [kit.mailbox, kit.other_mailbox]) as woken:
            since = clock.monotonic()
            kit.break_connection()
            assert woken.wait_for([kit.mailbox, kit.other_mailbox], kit.wake_seconds, since), (
                "changes may have been lost while the connection was down: once it is restored, "
                f"every watched mailbox must be woken; woken: {woken.woken(since)}"
            )
            since = clock.monotonic()
            kit.user_create(kit.fields("After the reconnect", 24, 14))
            assert woken.wait_for([kit.mailbox], kit.wake_seconds, since), "the restored watch must work"
