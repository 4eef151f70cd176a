"""``persons resync``: the mailbox's sync state forgotten and read again, nothing duplicated or lost.

End to end over the Exchange 2013 simulator (HTTP, schema-checked); the lease, the refusal of an
empty calendar and the command line on the reference connector.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from roomsync.cli.main import cli
from roomsync.config import settings_from_mapping
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import EventFields, Participant, Person, Reservation, Room
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.leases import Holder
from roomsync.storage.protocols import LinkState, MailboxState, Origin, SeenEntry

ALICE, BOB, ROOM = "alice@example.org", "bob@example.org", "room.1@example.org"
START = (datetime.now(UTC) + timedelta(days=6)).replace(hour=8, minute=0, second=0, microsecond=0)
WRITES = ("CreateItem", "UpdateItem", "DeleteItem")


@dataclass
class Estate:
    runner: SyncRunner
    database: Database

    def book(self, title: str, hour: int, **fields: Any) -> str:
        start = START + timedelta(hours=hour)
        with self.database.unit_of_work() as uow:
            made = uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=title,
                        start=start,
                        end=start + timedelta(hours=1),
                        timezone="Europe/Berlin",
                        **fields,
                    ),
                    organizer=ALICE,
                ),
                origin=Origin.ROOMS,
            )
            uow.commit()
        return made.id or ""

    def rename(self, reservation_id: str, title: str) -> None:
        with self.database.unit_of_work() as uow:
            current = uow.rooms.get_reservation(reservation_id)
            assert current is not None
            uow.rooms.update_reservation(
                reservation_id, fields=current.fields.model_copy(update={"title": title})
            )
            uow.commit()

    def title(self, reservation_id: str) -> str:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_reservation(reservation_id)
        assert found is not None
        return found.fields.title

    def person(self) -> Person:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_person(ALICE)
        assert found is not None
        return found

    def item_ids(self) -> dict[str, str | None]:
        """Reservation id -> the item its link in Alice's mailbox names; every link synced."""
        with self.database.unit_of_work() as uow:
            links = uow.sync.links_in_mailbox(ALICE)
        assert all(link.state is LinkState.SYNCED for link in links), links
        return {link.reservation_id: link.item_id for link in links}

    def state(self) -> MailboxState:
        with self.database.unit_of_work() as uow:
            return uow.sync.mailbox_state(ALICE)

    def sync(self) -> CycleReport:
        report = self.runner.sync_person(self.person())
        assert report.ok, report.error
        return report


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rooms.db'}"


@pytest.fixture
def sqlite(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    database.upgrade()
    with database.unit_of_work() as uow:
        uow.rooms.add_room(Room(name="Room 1", mailbox=ROOM))
        uow.commit()
    yield database
    database.dispose()


def estate_on(database: Database, environment: dict[str, Any]) -> Estate:
    settings = settings_from_mapping({"environments": {"here": environment}})
    with database.unit_of_work() as uow:
        for email in (ALICE, BOB):
            uow.rooms.upsert_person(Person(email=email, environment="here"))
        uow.commit()
    return Estate(SyncRunner(settings, database), database)


@pytest.fixture
def simulated(sqlite: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Estate, Any, Any]]:
    """An estate on the Exchange 2013 simulator, with the person in Outlook (exchangelib)."""
    pytest.importorskip("roomsync_sim")
    pytest.importorskip("roomsync_exchange2013")
    from roomsync_ews_common.connector import EwsConnector
    from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS, SimulatorUser, simulator_options
    from roomsync_sim.testing import running_simulator

    monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
    with running_simulator("exchange2013") as sim:
        estate = estate_on(sqlite, {"plugin": "exchange2013", "options": simulator_options(sim.ews_url)})
        connector = estate.runner.host("here").connector
        assert isinstance(connector, EwsConnector)
        user = SimulatorUser(sim.ews_url, connector.request_server_version, type(connector))
        try:
            yield estate, sim, user
        finally:
            user.close()
            estate.runner.close()
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


@pytest.fixture
def referenced(sqlite: Database) -> Iterator[tuple[Estate, MailboxDirectory]]:
    name = f"resync-{uuid.uuid4().hex}"
    estate = estate_on(sqlite, {"plugin": "reference", "options": {"directory": name}})
    exchange = MailboxDirectory.named(name)
    exchange.add_room(ROOM)
    yield estate, exchange
    estate.runner.close()


def calendar(sim: Any, mailbox: str) -> dict[str, str]:
    """Every item of a mailbox's calendar in the simulator's store: id -> subject."""
    store = sim.simulator.store
    with store.lock:
        found = store.mailbox(mailbox)
        assert found is not None
        return {item.id: item.props["Subject"].text or "" for item in found.folder("calendar").items.values()}


def test_resync_relinks_every_entry_to_its_item_and_catches_up_on_both_sides(
    simulated: tuple[Estate, Any, Any],
) -> None:
    estate, sim, user = simulated
    meeting = estate.book("Planning", 0, rooms=(ROOM,), participants=(Participant(email=BOB),))
    kept = estate.book("Focus time", 2)
    renamed_here = estate.book("Review", 4)
    renamed_there = estate.book("Retro", 6)
    assert estate.sync().created == 4
    linked = estate.item_ids()
    before = calendar(sim, ALICE)
    assert len(before) == 4

    # Meanwhile: a change in ROOMS, one in Outlook, a new reservation.
    estate.rename(renamed_here, "Review (moved agenda)")
    [entry] = estate.runner.host("here").find_by_stamp(ALICE, [renamed_there])[renamed_there]
    user.update(ALICE, entry.item_id, entry.fields.model_copy(update={"title": "Retro (from Outlook)"}))
    new = estate.book("Added later", 8)
    writes_before = {kind: sim.simulator.counts[kind] for kind in WRITES}

    report = estate.runner.resync_person(estate.person())

    assert report.ok, report.error
    assert (report.created, report.deleted, report.cancelled, report.booked) == (1, 0, 0, 0), report
    assert (report.updated, report.imported) == (1, 1), report
    after = calendar(sim, ALICE)
    assert len(after) == 5  # nothing twice
    relinked = estate.item_ids()
    assert {rid: relinked[rid] for rid in linked} == linked  # the same items, found by their stamps
    assert after[relinked[new] or ""] == "Added later"
    assert after[linked[renamed_here] or ""] == "Review (moved agenda)"
    assert estate.title(renamed_there) == "Retro (from Outlook)"
    assert after[linked[meeting] or ""] == "Planning" and after[linked[kept] or ""] == "Focus time"
    counts = {kind: sim.simulator.counts[kind] - writes_before[kind] for kind in WRITES}
    assert counts == {"CreateItem": 1, "UpdateItem": 1, "DeleteItem": 0}
    assert estate.state().sync_state  # incremental again from here
    assert not estate.sync().changed_anything


def test_resync_forgets_refused_entries_and_the_journal_cursor(
    referenced: tuple[Estate, MailboxDirectory],
) -> None:
    estate, _ = referenced
    estate.book("Planning", 0)
    estate.sync()
    with estate.database.unit_of_work() as uow:
        uow.sync.save_seen_entry(SeenEntry(ALICE, "refused-item", "ck", "room taken"))
        uow.commit()
    assert estate.state().rooms_cursor is not None

    with estate.database.unit_of_work() as uow:
        forgotten = uow.sync.forget_mailbox(ALICE)
        assert uow.sync.seen_entry(ALICE, "refused-item") is None
        state = uow.sync.mailbox_state(ALICE)
        assert (state.sync_state, state.rooms_cursor) == (None, None)
        assert state.last_success is not None  # the history stays
        links = uow.sync.links_in_mailbox(ALICE)
        assert [(link.item_id, link.state) for link in links] == [(None, LinkState.CREATING)]
        assert links[0].exchange_snapshot is not None  # merged against, as before
        assert forgotten == [links[0].reservation_id]
        uow.rollback()


def test_resync_waits_for_no_one_and_forgets_nothing_while_another_runner_syncs_the_mailbox(
    referenced: tuple[Estate, MailboxDirectory],
) -> None:
    estate, _ = referenced
    estate.book("Planning", 0)
    estate.sync()
    linked, state = estate.item_ids(), estate.state()
    other = Holder(runner_id="other", host="elsewhere", pid=1)
    estate.database.leases.acquire(ALICE, other, datetime.now(UTC))

    report = estate.runner.resync_person(estate.person())

    assert report.skipped is not None and "another runner (host elsewhere, pid 1)" in report.skipped
    assert estate.item_ids() == linked and estate.state().sync_state == state.sync_state


def test_resync_refuses_a_calendar_that_lost_every_entry(referenced: tuple[Estate, MailboxDirectory]) -> None:
    estate, exchange = referenced
    estate.book("Planning", 0)
    estate.sync()
    linked, state = estate.item_ids(), estate.state()
    for entry in exchange.entries(ALICE):
        exchange.user_delete(ALICE, entry.item_id)

    report = estate.runner.resync_person(estate.person())

    assert not report.ok and "none of 1 of its synced entries is in its calendar" in (report.error or "")
    assert estate.item_ids() == linked and estate.state().sync_state == state.sync_state


def test_the_command_asks_first_then_prints_the_cycle(
    referenced: tuple[Estate, MailboxDirectory], tmp_path: Path, sqlite_url: str
) -> None:
    estate, exchange = referenced
    estate.book("Planning", 0)
    estate.sync()
    config = tmp_path / "roomsync.toml"
    config.write_text(
        f'database_url = "{sqlite_url}"\n[environments.here]\nplugin = "reference"\n'
        f'[environments.here.options]\ndirectory = "{exchange.name}"\n',
        encoding="utf-8",
    )

    def run(*args: str, answer: str = "") -> Any:
        return CliRunner().invoke(cli, ["--config", str(config), *args], input=answer, catch_exceptions=False)

    declined = run("persons", "resync", ALICE, answer="n\n")
    assert declined.exit_code == 1 and "Forget the sync state of alice@example.org" in declined.output
    assert estate.state().sync_state is not None
    assert run("persons", "resync", "nobody@example.org", "--yes").exit_code == 1

    done = run("--json", "persons", "resync", ALICE, "--yes")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["ok"] and (report["created"], report["deleted"]) == (0, 0)
    assert len(exchange.entries(ALICE)) == 1

    assert run("persons", "pause", ALICE).exit_code == 0
    paused = run("persons", "resync", ALICE, "--yes")
    assert paused.exit_code == 1 and "resume it first" in paused.output
