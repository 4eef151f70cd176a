"""The sync test's steps, as every connector runs them (roomsync.connector.checks.sync_test)."""

from __future__ import annotations

from datetime import UTC, datetime

from roomsync.connector.checks import NOT_TRIED, PROBE_PREFIX, SyncTestActions, sync_test, through_hooks
from roomsync.connector.types import (
    BusyInterval,
    CalendarEntry,
    EntryDraft,
    FreeBusy,
    ItemRef,
    WriteErrorKind,
    WriteResult,
)
from roomsync.domain import ShowAs

NOW = datetime(2026, 3, 2, 9, 30, 15, tzinfo=UTC)
MAILBOX = "ada@example.org"


class Server:
    def __init__(self) -> None:
        self.created: list[EntryDraft] = []
        self.deleted: list[str] = []
        self.windows: list[tuple[datetime, datetime]] = []
        self.delete_answer: WriteResult | None = None
        self.free_busy_error: str | None = None

    def actions(self, request: str = "") -> SyncTestActions:
        return SyncTestActions(
            connect=lambda: "opened",
            list_entries=self.list_entries,
            create=self.create,
            delete=self.delete,
            free_busy=self.free_busy,
            changes=lambda: "first page read",
            free_busy_request=request,
        )

    def list_entries(self, start: datetime, end: datetime) -> list[CalendarEntry]:
        self.windows.append((start, end))
        return []

    def create(self, drafts: list[EntryDraft]) -> list[WriteResult]:
        self.created.extend(drafts)
        return [WriteResult.success("item-1", "ck") for _ in drafts]

    def delete(self, refs: list[ItemRef]) -> list[WriteResult]:
        self.deleted.extend(ref.item_id for ref in refs)
        return [self.delete_answer or WriteResult.success(ref.item_id, "") for ref in refs]

    def free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        self.windows.append((start, end))
        interval = BusyInterval(start=start, end=end, status=ShowAs.BUSY)
        return [FreeBusy(mailbox=m, intervals=(interval,), error=self.free_busy_error) for m in mailboxes]


def test_every_step_in_order_with_its_detail() -> None:
    server = Server()

    steps = sync_test(MAILBOX, server.actions(), now=NOW)

    assert [(s.name, s.ok, s.detail) for s in steps] == [
        ("connect", True, "opened"),
        ("read", True, "read 0 entries of the next 7 days"),
        ("write", True, "created and removed a probe entry"),
        ("free/busy", True, "1 busy intervals in the next 24 hours"),
        ("change detection", True, "first page read"),
    ]
    [probe] = server.created
    assert probe.stamp.startswith(PROBE_PREFIX)
    assert server.deleted == ["item-1"]
    read, free_busy = server.windows

    assert (read[1] - read[0]).days == 7 and (free_busy[1] - free_busy[0]).days == 1


def test_a_probe_that_stays_is_the_write_steps_failure() -> None:
    server = Server()
    server.delete_answer = WriteResult.failure(WriteErrorKind.DENIED, "no right")

    write = sync_test(MAILBOX, server.actions(), now=NOW)[2]

    assert not write.ok
    assert write.detail == "created probe entry item-1 but could not remove it: no right"


def test_a_free_busy_error_names_the_servers_request() -> None:
    server = Server()
    server.free_busy_error = "ErrorMailRecipientNotFound"

    named = sync_test(MAILBOX, server.actions("getSchedule"), now=NOW)[3]
    unnamed = sync_test(MAILBOX, server.actions(), now=NOW)[3]

    assert named.detail == f"getSchedule answered for {MAILBOX}: ErrorMailRecipientNotFound"
    assert unnamed.detail == "ErrorMailRecipientNotFound"
    assert not named.ok and not unnamed.ok


def test_nothing_is_tried_after_a_failed_connect() -> None:
    server = Server()

    def refuse() -> str:
        raise ConnectionRefusedError("nobody listens")

    actions = server.actions()
    steps = sync_test(
        MAILBOX,
        SyncTestActions(
            connect=refuse,
            list_entries=actions.list_entries,
            create=actions.create,
            delete=actions.delete,
            free_busy=actions.free_busy,
            changes=actions.changes,
        ),
        now=NOW,
    )

    assert steps[0].detail == "nobody listens"
    assert all(s.detail.startswith(NOT_TRIED) for s in steps[1:])
    assert server.created == [] and server.windows == []


class HookConnector:
    """A connector as the sync test sees it through its hooks, with what each was asked."""

    def __init__(self) -> None:
        self.server = Server()
        self.asked: list[str] = []

    def roomsync_list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        self.asked.append(f"list {mailbox}")
        return self.server.list_entries(start, end)

    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
        self.asked.append(f"create {mailbox}")
        return self.server.create(drafts)

    def roomsync_delete_entries(self, mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
        self.asked.append(f"delete {mailbox}")
        return self.server.delete(refs)

    def roomsync_free_busy(self, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        self.asked.append(f"free/busy {','.join(mailboxes)}")
        return self.server.free_busy(mailboxes, start, end)


def test_through_hooks_reads_writes_and_asks_through_the_connectors_hooks() -> None:
    connector = HookConnector()

    actions = through_hooks(connector, MAILBOX, lambda: "opened", lambda: "first page read", "getSchedule")
    steps = sync_test(MAILBOX, actions, now=NOW)

    assert all(s.ok for s in steps) and len(steps) == 5
    assert connector.asked == [
        f"list {MAILBOX}",
        f"create {MAILBOX}",
        f"delete {MAILBOX}",
        f"free/busy {MAILBOX}",
    ]
    assert actions.free_busy_request == "getSchedule"


def test_through_hooks_takes_a_replacement_for_one_action() -> None:
    connector = HookConnector()
    removed: list[str] = []

    def remove(refs: list[ItemRef]) -> list[WriteResult]:
        removed.extend(ref.item_id for ref in refs)
        return [WriteResult.success(ref.item_id, "") for ref in refs]

    actions = through_hooks(connector, MAILBOX, lambda: "opened", lambda: "read", delete=remove)
    sync_test(MAILBOX, actions, now=NOW)

    assert removed == ["item-1"]
    assert f"delete {MAILBOX}" not in connector.asked
