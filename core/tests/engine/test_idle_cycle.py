"""The idle cycle: nothing changed on either side costs a few indexed reads and one commit.

Statements are counted with SQLAlchemy's cursor events during one person's cycle, run in a unit
of work of its own as the runner runs it (the runner's lease is not part of the cycle).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import event, text

from roomsync.engine.cycle import IDLE_TIME_RESOLUTION, CycleContext, sync_mailbox
from roomsync.engine.report import CycleReport
from roomsync.errors import TransientConnectorError
from roomsync.status import person_status
from roomsync.storage import Database
from roomsync.storage.rooms_sql import _CHANGES_SINCE

from .conftest import ALICE, World


@dataclass
class Statements:
    sql: list[str] = field(default_factory=list)
    commits: int = 0

    def touching(self, table: str) -> list[str]:
        return [s for s in self.sql if f" {table}" in s or f'"{table}"' in s]

    def writes(self) -> list[str]:
        return [s for s in self.sql if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


@contextmanager
def counted(database: Database) -> Iterator[Statements]:
    seen = Statements()

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.sql.append(" ".join(statement.split()))

    def committed(_conn: Any) -> None:
        seen.commits += 1

    event.listen(database.engine, "before_cursor_execute", executed)
    event.listen(database.engine, "commit", committed)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", executed)
        event.remove(database.engine, "commit", committed)


def one_cycle(world: World, email: str = ALICE) -> tuple[CycleReport, Statements]:
    runner = world.runner
    ctx = CycleContext(
        limits=world.settings.sync, pm=runner.pm, host_for=runner.host_for_mailbox, syncable=runner.syncable
    )
    (person,) = runner.persons([email])
    host = runner.host_for_person(person)
    with counted(world.database) as seen, world.database.unit_of_work() as uow:
        report = sync_mailbox(uow, host, person, ctx)
    return report, seen


def in_step(world: World) -> str:
    """Alice with one reservation in her calendar, every pass of its export done."""
    booked = world.book(ALICE, title="Standing meeting")
    world.sync_ok(ALICE)
    world.sync_ok(ALICE)
    return booked.id or ""


def test_an_idle_cycle_reads_three_times_writes_nothing_and_commits_once(world: World) -> None:
    in_step(world)
    report, seen = one_cycle(world)
    assert report.ok and not report.changed_anything
    assert seen.commits == 1
    assert seen.writes() == []
    assert len(seen.sql) == 3, seen.sql  # the mailbox state, the journal after the cursor, pending links
    assert len(seen.touching("mailbox_states")) == 1
    assert seen.touching("rooms") == [] and seen.touching("reservations") == []
    assert world.exchange.calls["changes"] >= 1


def test_an_idle_cycle_stores_its_time_once_the_stored_one_is_older_than_the_resolution(
    world: World,
) -> None:
    in_step(world)
    with world.database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(ALICE)
        assert state.last_success is not None
        old = state.last_success - IDLE_TIME_RESOLUTION - timedelta(seconds=1)
        state.last_success = state.last_attempt = old
        uow.sync.save_mailbox_state(state)
        uow.commit()
    _, seen = one_cycle(world)
    assert seen.commits == 1
    (write,) = seen.writes()
    assert write.upper().startswith("UPDATE MAILBOX_STATES SET LAST_SUCCESS")
    assert "sync_state" not in write and "rooms_cursor" not in write
    with world.database.unit_of_work() as uow:
        stored = uow.sync.mailbox_state(ALICE)
    assert stored.last_success is not None and stored.last_success > old + IDLE_TIME_RESOLUTION


def test_changes_on_either_side_after_idle_cycles_are_synchronised(world: World) -> None:
    reservation_id = in_step(world)
    for _ in range(3):
        report, _ = one_cycle(world)
        assert report.ok and not report.changed_anything
    world.edit(reservation_id, title="Moved in ROOMS")
    (report,) = world.sync_ok(ALICE)
    assert report.updated == 1
    assert world.entry(ALICE, reservation_id).fields.title == "Moved in ROOMS"
    for _ in range(2):
        assert not one_cycle(world)[0].changed_anything
    entry = world.entry(ALICE, reservation_id)
    world.exchange.user_update(ALICE, entry.item_id, title="Moved in Outlook")
    (report,) = world.sync_ok(ALICE)
    assert report.imported == 1
    assert world.reservation(reservation_id).fields.title == "Moved in Outlook"


def test_a_write_that_failed_is_retried_by_the_next_cycle_though_nothing_else_changed(world: World) -> None:
    reservation_id = in_step(world)
    world.edit(reservation_id, title="Second title")
    world.exchange.fail_next("update_entries", TransientConnectorError("server busy"))
    world.sync(ALICE)
    assert world.entry(ALICE, reservation_id).fields.title == "Standing meeting"
    report, _ = one_cycle(world)  # no change on either side: only the pending link
    assert report.updated == 1
    assert world.entry(ALICE, reservation_id).fields.title == "Second title"


def test_status_after_idle_cycles_shows_the_last_success_and_a_failure_is_cleared_at_once(
    world: World,
) -> None:
    in_step(world)
    world.exchange.fail_next("changes", TransientConnectorError("server busy"))
    (failed,) = world.sync(ALICE)
    assert not failed.ok
    with world.database.unit_of_work() as uow:
        failing = uow.sync.mailbox_state(ALICE)
    assert failing.consecutive_failures == 1 and failing.last_error
    report, seen = one_cycle(world)  # idle, but the failure must be cleared: a write
    assert report.ok and len(seen.writes()) == 1
    with world.database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(ALICE)
        (row,) = [r for r in person_status(uow) if r["email"] == ALICE]
    assert state.consecutive_failures == 0 and state.last_error is None and state.last_fault is None
    assert state.last_success is not None and failing.last_attempt is not None
    assert state.last_success >= failing.last_attempt
    assert row["last_success"] == state.last_success.isoformat()


def test_the_rooms_changes_probe_is_answered_by_the_journal_index(world: World) -> None:
    in_step(world)
    with world.database.engine.connect() as connection:
        bound = _CHANGES_SINCE.params(organizer=ALICE, cursor=1)
        sql = str(bound.compile(connection, compile_kwargs={"literal_binds": True}))
        if connection.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
        else:
            connection.execute(text("SET enable_seqscan = off"))  # a tiny table is read whole otherwise
            plan = connection.exec_driver_sql(f"EXPLAIN {sql}").all()
    assert "ix_journal_organizer_seq" in " ".join(str(row) for row in plan)
