"""A long first export tells its progress batch by batch; ``run`` names the intervals it uses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from roomsync.cli.sync import banner
from roomsync.config import settings_from_mapping
from roomsync.domain import EventFields, Person, Reservation
from roomsync.engine.runner import WAKE_DEBOUNCE_SECONDS, SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin

ALICE = "alice@example.org"
START = (datetime.now(UTC) + timedelta(days=2)).replace(hour=7, minute=0, second=0, microsecond=0)


def book_many(database: Database, count: int) -> list[str]:
    """``count`` reservations of Alice's, half an hour each, one after the other."""
    ids = []
    with database.unit_of_work() as uow:
        for n in range(count):
            start = START + timedelta(minutes=30 * n)
            fields = EventFields(
                title=f"Slot {n}", start=start, end=start + timedelta(minutes=30), timezone="Europe/Berlin"
            )
            made = uow.rooms.create_reservation(
                Reservation(fields=fields, organizer=ALICE), origin=Origin.ROOMS
            )
            ids.append(made.id or "")
        uow.commit()
    return ids


def cancel(database: Database, ids: list[str]) -> None:
    with database.unit_of_work() as uow:
        for reservation_id in ids:
            uow.rooms.cancel_reservation(reservation_id)
        uow.commit()


def alice(database: Database) -> Person:
    with database.unit_of_work() as uow:
        found = uow.rooms.get_person(ALICE)
    assert found is not None
    return found


def runner_on(database: Database, environment: dict[str, object]) -> SyncRunner:
    settings = settings_from_mapping({"environments": {"here": environment}})
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email=ALICE, environment="here"))
        uow.commit()
    return SyncRunner(settings, database)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def simulated(sqlite: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncRunner]:
    """A runner on the Exchange 2013 simulator over HTTP (batches of 100)."""
    pytest.importorskip("roomsync_sim")
    pytest.importorskip("roomsync_exchange2013")
    from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS, simulator_options
    from roomsync_sim.testing import running_simulator

    monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
    with running_simulator("exchange2013") as sim:
        runner = runner_on(sqlite, {"plugin": "exchange2013", "options": simulator_options(sim.ews_url)})
        try:
            yield runner
        finally:
            runner.close()


def test_a_first_export_reports_every_batch_it_wrote_over_the_simulator(
    simulated: SyncRunner, sqlite: Database
) -> None:
    book_many(sqlite, 250)
    calls: list[tuple[int, int]] = []

    report = simulated.sync_person(alice(sqlite), on_batch=lambda done, total: calls.append((done, total)))

    assert report.ok and report.created == 250, report
    assert calls == [(100, 250), (200, 250), (250, 250)]
    quiet: list[tuple[int, int]] = []
    again = simulated.sync_person(alice(sqlite), on_batch=lambda done, total: quiet.append((done, total)))
    assert again.ok and not again.changed_anything and quiet == []


def test_deletes_are_reported_per_batch_too(sqlite: Database) -> None:
    runner = runner_on(
        sqlite,
        {"plugin": "reference", "options": {"directory": f"progress-{uuid.uuid4().hex}", "max_batch": 10}},
    )
    try:
        ids = book_many(sqlite, 25)
        assert runner.sync_person(alice(sqlite)).created == 25
        cancel(sqlite, ids)
        calls: list[tuple[int, int]] = []

        report = runner.sync_person(alice(sqlite), on_batch=lambda done, total: calls.append((done, total)))

        assert report.deleted == 25, report
        assert calls == [(10, 25), (20, 25), (25, 25)]
    finally:
        runner.close()


def test_a_failing_progress_callback_does_not_cost_the_cycle(sqlite: Database) -> None:
    runner = runner_on(
        sqlite, {"plugin": "reference", "options": {"directory": f"progress-{uuid.uuid4().hex}"}}
    )

    def broken(done: int, total: int) -> None:
        raise RuntimeError("the terminal went away")

    try:
        book_many(sqlite, 3)
        report = runner.sync_person(alice(sqlite), on_batch=broken)
        assert report.ok and report.created == 3, report
    finally:
        runner.close()


def test_the_run_banner_states_the_intervals_really_used() -> None:
    settings = settings_from_mapping(
        {
            "environments": {"watched": {"plugin": "reference"}, "polled": {"plugin": "reference"}},
            "sync": {"interval_seconds": 60, "watched_interval_seconds": 900},
        }
    )

    assert banner("watched", True, 12, settings.sync) == (
        f"watched: watching 12 mailboxes; woken cycles {WAKE_DEBOUNCE_SECONDS:g} s after a change "
        "(debounce), a full cycle every 900 s"
    )
    assert (
        banner("polled", False, 3, settings.sync)
        == "polled: no change notifications; a full cycle every 60 s"
    )
    # Full cycles start every interval: a watched interval shorter than it cannot be kept.
    settings.sync.interval_seconds = 1200
    assert banner("watched", True, 12, settings.sync).endswith("a full cycle every 1200 s")
