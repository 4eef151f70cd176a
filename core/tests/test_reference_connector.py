"""The reference connector: the shared connector suite, then what only the reference connector has.

The suite runs twice: with the default options, and with pages and batches so small that every
change listing pages and every batch is cut by the host.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import BusyInterval, EntryDraft, EntryUpdate, ItemRef, WriteErrorKind
from roomsync.connectors.reference import DirectoryUser, MailboxDirectory, ReferenceConnector
from roomsync.domain import EventFields, OccurrenceChange, Participant, Recurrence, ShowAs, Weekday
from roomsync.errors import AccessDenied, ConfigError, TransientConnectorError
from roomsync.plugins import connector_class
from roomsync.testkit import ConnectorKit, ConnectorSuite

ORGANIZER = "ada@example.org"
COLLEAGUE = "grace@example.org"
ROOM = "room-4.12@example.org"
SMALL = {"page_size": 2, "max_batch": 3}


def open_host(directory: str, **options: Any) -> ConnectorHost:
    connector = ReferenceConnector.from_config("test", {"directory": directory, **options})
    return ConnectorHost("test", connector)


@pytest.fixture
def directory_name() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def directory(directory_name: str) -> MailboxDirectory:
    directory = MailboxDirectory.named(directory_name)
    directory.add_room(ROOM)
    return directory


@pytest.fixture
def host(directory_name: str, directory: MailboxDirectory) -> ConnectorHost:
    return open_host(directory_name)


class TestReferenceConnector(ConnectorSuite):
    @pytest.fixture(params=[{}, SMALL], ids=["defaults", "small-pages-and-batches"])
    def kit(
        self, request: pytest.FixtureRequest, directory_name: str, directory: MailboxDirectory
    ) -> ConnectorKit:
        return ConnectorKit(
            host=open_host(directory_name, **request.param),
            mailbox=ORGANIZER,
            other_mailbox=COLLEAGUE,
            room=ROOM,
            user=DirectoryUser(directory),
            break_connection=directory.drop_listeners,
        )


def in_days(days: float, hours: float = 1, **more: Any) -> EventFields:
    start = datetime(2030, 3, 4, 9, tzinfo=UTC) + timedelta(days=days)
    return EventFields(
        title=more.pop("title", "Meeting"), start=start, end=start + timedelta(hours=hours), **more
    )


def draft(fields: EventFields, **more: Any) -> EntryDraft:
    return EntryDraft(stamp=f"res-{uuid.uuid4().hex[:8]}", fields=fields, **more)


# --- the directory ------------------------------------------------------------------------------


def test_directory_is_shared_by_name(directory_name: str) -> None:
    assert MailboxDirectory.named(directory_name) is MailboxDirectory.named(directory_name)
    writer, reader = open_host(directory_name), open_host(directory_name)
    [created] = writer.create_entries(ORGANIZER, [draft(in_days(1))])
    assert [e.item_id for e in reader.list_entries(ORGANIZER, in_days(0).start, in_days(3).start)] == [
        created.item_id
    ]
    elsewhere = open_host(f"{directory_name}-other")
    assert elsewhere.list_entries(ORGANIZER, in_days(0).start, in_days(3).start) == []


def test_reset_all_starts_a_new_organisation_whose_states_differ(directory_name: str) -> None:
    old = open_host(directory_name)
    old.create_entries(ORGANIZER, [draft(in_days(1))])
    state = old.changes(ORGANIZER, None).sync_state
    registered = dict(MailboxDirectory._registry)  # other tests' directories survive this one
    try:
        MailboxDirectory.reset_all()
        new = open_host(directory_name)
        assert new.connector.directory is not old.connector.directory  # type: ignore[attr-defined]
        page = new.changes(ORGANIZER, state)
        assert page.reset and page.entries == ()
    finally:
        MailboxDirectory._registry.update(registered)


def test_options_are_validated_with_the_key_path() -> None:
    with pytest.raises(ConfigError, match=r"environments\.lab\.options\.page_sise"):
        ReferenceConnector.from_config("lab", {"page_sise": 5})
    with pytest.raises(ConfigError, match=r"options\.max_batch"):
        ReferenceConnector.from_config("lab", {"max_batch": 0})


def test_connector_is_registered_under_its_entry_point() -> None:
    assert connector_class("reference", "lab") is ReferenceConnector


def test_capabilities_follow_the_options(directory_name: str) -> None:
    caps = open_host(directory_name, max_batch=7).capabilities()
    assert (caps.recurrence, caps.push, caps.max_batch) == (True, True, 7)


def test_user_api_goes_through_the_change_log(directory: MailboxDirectory, host: ConnectorHost) -> None:
    state = host.changes(ORGANIZER, None).sync_state
    entry = directory.user_create(ORGANIZER.upper(), in_days(1, title="Own"))
    assert (entry.mailbox, entry.organizer, entry.stamp) == (ORGANIZER, ORGANIZER, None)
    edited = directory.user_update(ORGANIZER, entry.item_id, title="Own, edited", rooms=[ROOM.upper()])
    assert edited.change_key != entry.change_key
    assert edited.fields.rooms == (ROOM,), "changes are validated like any fields"
    page = host.changes(ORGANIZER, state)
    assert [(e.item_id, e.fields.title) for e in page.entries] == [(entry.item_id, "Own, edited")]

    directory.user_delete(ORGANIZER, entry.item_id, to_deleted_items=True)
    assert [e.item_id for e in directory.deleted_items(ORGANIZER)] == [entry.item_id]
    assert host.changes(ORGANIZER, page.sync_state).deleted == (entry.item_id,)


def test_user_api_refuses_unknown_items_and_invalid_fields(directory: MailboxDirectory) -> None:
    entry = directory.user_create(ORGANIZER, in_days(1))
    with pytest.raises(ValidationError, match="is not after start"):
        directory.user_update(ORGANIZER, entry.item_id, end=entry.fields.start)
    with pytest.raises(LookupError, match="no item nope in the calendar of"):
        directory.user_update(ORGANIZER, "nope", title="x")
    with pytest.raises(LookupError):
        directory.user_delete(ORGANIZER, "nope")


def test_concurrent_writers_get_distinct_items(directory: MailboxDirectory, host: ConnectorHost) -> None:
    def write(n: int) -> list[str]:
        results = host.create_entries(ORGANIZER, [draft(in_days(n, title=f"T{n}.{k}")) for k in range(10)])
        return [r.item_id or "" for r in results]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [item for batch in pool.map(write, range(8)) for item in batch]
    assert len(set(ids)) == 80
    listed = host.changes(ORGANIZER, None)
    assert {e.item_id for e in listed.entries} == set(ids)
    seqs = [seq for seq, _ in directory._mailboxes[ORGANIZER].log]
    assert seqs == sorted(set(seqs)), "the change log is strictly increasing"


# --- fault injection ------------------------------------------------------------------------------


def test_denied_mailbox_raises_access_denied_naming_mailbox_and_right(
    directory: MailboxDirectory, host: ConnectorHost
) -> None:
    directory.deny(ORGANIZER, right="FullAccess")
    for call in (
        lambda: host.create_entries(ORGANIZER, [draft(in_days(1))]),
        lambda: host.changes(ORGANIZER, None),
        lambda: host.list_entries(ORGANIZER, in_days(0).start, in_days(1).start),
        lambda: host.find_by_stamp(ORGANIZER, ["x"]),
    ):
        with pytest.raises(AccessDenied, match=rf"no FullAccess right on mailbox {ORGANIZER}"):
            call()
    assert directory.entries(ORGANIZER) == []
    # Free/busy answers the others and puts the refusal on the denied mailbox alone.
    denied, room = host.free_busy([ORGANIZER, ROOM], in_days(0).start, in_days(1).start)
    assert denied.error and "FullAccess" in denied.error and ORGANIZER in denied.error
    assert room.error is None

    steps = host.check(ORGANIZER)
    assert [s.ok for s in steps] == [False] * 5
    assert ORGANIZER in steps[0].detail and "not tried" in steps[1].detail

    directory.allow(ORGANIZER)
    assert all(s.ok for s in host.check(ORGANIZER))
    assert host.list_entries(ORGANIZER, in_days(0).start, in_days(1).start) == []


def test_check_names_its_steps_and_reports_a_failing_one(
    directory: MailboxDirectory, host: ConnectorHost
) -> None:
    assert [s.name for s in host.check(ORGANIZER)] == [
        "connect",
        "read",
        "write",
        "free/busy",
        "change detection",
    ]
    directory.fail_next("create_entries", TransientConnectorError("server busy"))
    steps = {s.name: s for s in host.check(ORGANIZER)}
    assert not steps["write"].ok and steps["write"].detail == "server busy"
    assert steps["connect"].ok and steps["read"].ok and steps["change detection"].ok
    assert not [e for e in directory.entries(ORGANIZER) if (e.stamp or "").startswith("roomsync-probe-")]


def test_fail_next_raises_once_and_applies_nothing(directory: MailboxDirectory, host: ConnectorHost) -> None:
    directory.fail_next("changes")
    directory.fail_next("create_entries", AccessDenied("no right today"))
    with pytest.raises(TransientConnectorError):
        host.changes(ORGANIZER, None)
    assert host.changes(ORGANIZER, None).entries == ()
    with pytest.raises(AccessDenied, match="no right today"):
        host.create_entries(ORGANIZER, [draft(in_days(1))])
    assert directory.entries(ORGANIZER) == []
    assert host.create_entries(ORGANIZER, [draft(in_days(1))])[0].ok


def test_fault_injection_refuses_unknown_operations(directory: MailboxDirectory) -> None:
    with pytest.raises(ValueError, match="unknown operation 'create'"):
        directory.fail_next("create")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a write"):
        directory.drop_after_write("changes")


def test_retried_create_after_a_dropped_answer_returns_the_same_item(
    directory: MailboxDirectory, host: ConnectorHost
) -> None:
    lost = draft(in_days(1))
    directory.drop_after_write("create_entries")
    with pytest.raises(TransientConnectorError):
        host.create_entries(ORGANIZER, [lost])
    [written] = directory.entries(ORGANIZER)  # the server committed the write
    [retried] = host.create_entries(ORGANIZER, [lost])
    assert retried.ok and retried.item_id == written.item_id
    assert [e.item_id for e in host.find_by_stamp(ORGANIZER, [lost.stamp])[lost.stamp]] == [written.item_id]
    assert len([e for e in directory.entries(ORGANIZER) if e.stamp == lost.stamp]) == 1


def test_dropped_update_and_delete_are_applied(directory: MailboxDirectory, host: ConnectorHost) -> None:
    d = draft(in_days(1))
    [created] = host.create_entries(ORGANIZER, [d])
    assert created.item_id
    directory.drop_after_write("update_entries")
    update = EntryUpdate(item_id=created.item_id, stamp=d.stamp, fields=in_days(1, title="Changed"))
    with pytest.raises(TransientConnectorError):
        host.update_entries(ORGANIZER, [update])
    assert directory.entries(ORGANIZER)[0].fields.title == "Changed"
    directory.drop_after_write("delete_entries")
    with pytest.raises(TransientConnectorError):
        host.delete_entries(ORGANIZER, [ItemRef(item_id=created.item_id)])
    [retried] = host.delete_entries(ORGANIZER, [ItemRef(item_id=created.item_id)])
    assert retried.error_kind is WriteErrorKind.NOT_FOUND


def test_one_request_per_batch(directory: MailboxDirectory, directory_name: str) -> None:
    host = open_host(directory_name, max_batch=3)
    results = host.create_entries(ORGANIZER, [draft(in_days(1, title=f"T{n}")) for n in range(7)])
    assert directory.calls["create_entries"] == 3  # 3 + 3 + 1
    assert directory.calls["find_by_stamp"] == 3  # the stamp lookup before each batch
    directory.calls.clear()
    refs = [ItemRef(item_id=r.item_id or "") for r in results]
    host.delete_entries(ORGANIZER, refs)
    host.free_busy([ORGANIZER, COLLEAGUE, ROOM], in_days(0).start, in_days(2).start)
    assert dict(directory.calls) == {"delete_entries": 3, "free_busy": 1}


def test_create_of_existing_stamps_writes_nothing(directory: MailboxDirectory, host: ConnectorHost) -> None:
    d = draft(in_days(1))
    host.create_entries(ORGANIZER, [d])
    directory.calls.clear()
    [again, twice, _] = host.create_entries(ORGANIZER, [d, d, draft(in_days(2))])
    assert again.item_id == twice.item_id
    assert directory.calls["create_entries"] == 1 and len(directory.entries(ORGANIZER)) == 2
    directory.calls.clear()
    host.create_entries(ORGANIZER, [d])
    assert "create_entries" not in directory.calls


# --- change log paging ---------------------------------------------------------------------------


def test_change_log_pages_by_page_size(directory: MailboxDirectory, directory_name: str) -> None:
    host = open_host(directory_name, page_size=2)
    ids = [r.item_id for r in host.create_entries(ORGANIZER, [draft(in_days(n)) for n in range(5)])]
    pages = []
    state = None
    while True:
        page = host.changes(ORGANIZER, state)
        pages.append(page)
        state = page.sync_state
        if not page.more:
            break
    # Pages after the first know this connector's own writes: reported unchanged, not read.
    assert [len(p.entries) + len(p.unchanged) for p in pages] == [2, 2, 1]
    assert [p.more for p in pages] == [True, True, False]
    assert [i.item_id for p in pages for i in (*p.entries, *p.unchanged)] == ids
    assert len({p.sync_state for p in pages}) == 3

    # An item changed again while the caller pages comes once more, in its latest version.
    directory.user_update(ORGANIZER, ids[0] or "", title="Changed meanwhile")
    directory.user_delete(ORGANIZER, ids[1] or "")
    later = host.changes(ORGANIZER, state)
    assert [e.fields.title for e in later.entries] == ["Changed meanwhile"]
    assert later.deleted == (ids[1],) and not later.more


def test_items_created_and_deleted_between_reads_are_not_reported(
    directory: MailboxDirectory, host: ConnectorHost
) -> None:
    state = host.changes(ORGANIZER, None).sync_state
    entry = directory.user_create(ORGANIZER, in_days(1))
    directory.user_delete(ORGANIZER, entry.item_id)
    page = host.changes(ORGANIZER, state)
    assert (page.entries, page.deleted, page.reset) == ((), (), False)


@pytest.mark.parametrize(
    "state",
    [
        "",
        "ref1",
        "ref1:other-token:1",
        "ref2:{token}:0",
        "ref1:{token}:x",
        "ref1:{token}:-1",
        "ref1:{token}:99999",
    ],
)
def test_unusable_states_reset(directory: MailboxDirectory, host: ConnectorHost, state: str) -> None:
    [created] = host.create_entries(ORGANIZER, [draft(in_days(1))])
    page = host.changes(ORGANIZER, state.format(token=directory.token))
    assert page.reset
    assert [e.item_id for e in page.entries] == [created.item_id]
    assert page.sync_state.startswith(f"ref1:{directory.token}:")
    assert not host.changes(ORGANIZER, page.sync_state).reset


# --- free/busy -------------------------------------------------------------------------------------


def test_free_busy_covers_invitations_buffers_and_privacy(
    directory: MailboxDirectory, host: ConnectorHost
) -> None:
    meeting = in_days(1, rooms=(ROOM,), participants=(Participant(email=COLLEAGUE),), title="Board")
    private = in_days(1.125, private=True, title="Doctor")  # three hours later
    host.create_entries(ORGANIZER, [draft(meeting, setup_minutes=15, followup_minutes=30), draft(private)])
    window = (meeting.start - timedelta(hours=3), meeting.end + timedelta(hours=5))
    organizer, colleague, room, stranger = host.free_busy(
        [ORGANIZER, COLLEAGUE, ROOM, "nobody@example.org"], *window
    )
    buffered = BusyInterval(
        start=meeting.start - timedelta(minutes=15), end=meeting.end + timedelta(minutes=30), subject="Board"
    )
    assert room.intervals == (buffered,)
    assert colleague.intervals == (buffered,)
    assert organizer.intervals == (buffered, BusyInterval(start=private.start, end=private.end, subject=None))
    assert stranger.intervals == ()
    # A buffer alone reaching into the window makes the mailbox busy there.
    [edge] = host.free_busy([ROOM], meeting.end + timedelta(minutes=10), meeting.end + timedelta(hours=1))
    assert edge.intervals == (buffered,)


def test_free_busy_expands_series(directory: MailboxDirectory, host: ConnectorHost) -> None:
    start = datetime(2030, 3, 4, 9, tzinfo=UTC)  # a Monday
    series = EventFields(
        title="Weekly",
        start=start,
        end=start + timedelta(hours=1),
        recurrence=Recurrence(frequency="weekly", weekdays=(Weekday.MO,), count=4),
        occurrences=(
            OccurrenceChange(original_start=start + timedelta(weeks=1), cancelled=True),
            OccurrenceChange(
                original_start=start + timedelta(weeks=2),
                start=start + timedelta(weeks=2, hours=3),
                end=start + timedelta(weeks=2, hours=4),
                title="Moved",
            ),
        ),
        show_as=ShowAs.TENTATIVE,
    )
    directory.user_create(ROOM, series)
    [room] = host.free_busy([ROOM], start - timedelta(days=1), start + timedelta(weeks=5))
    assert [(i.start, i.subject, i.status) for i in room.intervals] == [
        (start, "Weekly", ShowAs.TENTATIVE),
        (start + timedelta(weeks=2, hours=3), "Moved", ShowAs.TENTATIVE),
        (start + timedelta(weeks=3), "Weekly", ShowAs.TENTATIVE),
    ]
    listed = host.list_entries(ROOM, start + timedelta(weeks=3), start + timedelta(weeks=3, hours=1))
    assert len(listed) == 1 and listed[0].fields.recurrence is not None


@pytest.mark.parametrize("when", ["end-before-start", "naive"])
def test_bad_windows_are_refused_before_any_request(
    directory: MailboxDirectory, host: ConnectorHost, when: str
) -> None:
    start = datetime(2030, 3, 4, 9, tzinfo=UTC)
    bad = (
        (start, start - timedelta(hours=1))
        if when == "end-before-start"
        else (start.replace(tzinfo=None), start)
    )
    with pytest.raises(
        ValueError, match="not after its start" if when == "end-before-start" else "no time zone"
    ):
        host.free_busy([ORGANIZER], *bad)
    with pytest.raises(ValueError):
        host.list_entries(ORGANIZER, *bad)
    assert not directory.calls


def test_update_keeps_organizer_and_replaces_buffers(
    directory: MailboxDirectory, host: ConnectorHost
) -> None:
    d = draft(in_days(1), setup_minutes=10)
    [created] = host.create_entries(ORGANIZER, [d])
    assert created.item_id and created.change_key
    update = EntryUpdate(
        item_id=created.item_id,
        change_key=created.change_key,
        stamp=d.stamp,
        fields=in_days(2),
        followup_minutes=20,
    )
    [result] = host.update_entries(ORGANIZER, [update])
    [entry] = directory.entries(ORGANIZER)
    assert (entry.organizer, entry.setup_minutes, entry.followup_minutes) == (ORGANIZER, 0, 20)
    assert entry.change_key == result.change_key != created.change_key


# --- mailboxes kept in a file -------------------------------------------------------------


def test_file_backed_directory_is_shared_between_instances(tmp_path: Path) -> None:
    from roomsync.connectors.reference_file import FileBackedDirectory

    path = tmp_path / "mailboxes.json"
    first, second = FileBackedDirectory(path), FileBackedDirectory(path)  # as two processes would
    start = datetime(2030, 1, 7, 9, tzinfo=UTC)
    made = first.user_create("a@x.org", EventFields(title="T", start=start, end=start + timedelta(hours=1)))
    assert [e.item_id for e in second.entries("a@x.org")] == [made.item_id]
    page = second.changes("a@x.org", 0, 10)
    second.user_update("a@x.org", made.item_id, title="T2")
    assert first.changes("a@x.org", page.last_seq, 10).entries[0].fields.title == "T2"
    assert first.token == second.token  # sync states stay valid across processes


def test_file_backed_directory_loses_no_write_under_concurrency(tmp_path: Path) -> None:
    import threading

    from roomsync.connectors.reference_file import FileBackedDirectory

    path = tmp_path / "mailboxes.json"
    start = datetime(2030, 1, 7, 9, tzinfo=UTC)

    def writer(n: int) -> None:
        directory = FileBackedDirectory(path)
        for i in range(20):
            at = start + timedelta(hours=i)
            directory.user_create(
                "a@x.org", EventFields(title=f"{n}-{i}", start=at, end=at + timedelta(hours=1))
            )

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    titles = {e.fields.title for e in FileBackedDirectory(path).entries("a@x.org")}
    assert len(titles) == 60


def test_watch_of_a_file_backed_directory_hears_other_processes(tmp_path: Path) -> None:
    from roomsync.connectors.reference_file import FileBackedDirectory
    from roomsync.testkit.wakes import WakeRecorder

    path = tmp_path / "mailboxes.json"
    host = ConnectorHost("file", ReferenceConnector.from_config("file", {"state_file": str(path)}))
    woken = WakeRecorder()
    try:
        assert host.watch(["a@x.org", "b@x.org"], woken)
        since = time.monotonic()
        at = datetime(2030, 1, 7, 9, tzinfo=UTC)
        other_process = FileBackedDirectory(path)
        other_process.user_create(
            "b@x.org", EventFields(title="Elsewhere", start=at, end=at + timedelta(hours=1))
        )
        assert woken.wait_for(["b@x.org"], 5, since)
        assert "a@x.org" not in woken.woken(since)
    finally:
        host.close()


def test_watch_reconnects_after_refused_attempts(directory_name: str, directory: MailboxDirectory) -> None:
    from roomsync.testkit.wakes import WakeRecorder

    host = open_host(directory_name)
    woken = WakeRecorder()
    try:
        assert host.watch([ORGANIZER], woken)
        directory.fail_next("listen")
        directory.fail_next("listen")
        since = time.monotonic()
        assert directory.drop_listeners() == 1
        assert woken.wait_for([ORGANIZER], 5, since)
        assert directory.calls["listen"] == 4  # the first watch, two refused attempts, the one that stood
        host.watch([], woken)
        assert directory.drop_listeners() == 0
    finally:
        host.close()
