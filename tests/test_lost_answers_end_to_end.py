"""A write the server applied but whose answer never arrived, through the real plugins.

The simulator's ``drop_after_apply`` fault carries the write out and closes the connection
without answering. The next ROOMS edit of the same field must reach Exchange under every policy:
the value on the server is roomsync's own write, not an Outlook edit in conflict with ROOMS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from roomsync.config import settings_from_mapping
from roomsync.domain import ConflictPolicy, Person
from roomsync.engine.runner import SyncRunner
from roomsync.notify.message import NotificationKind
from roomsync.plugins import plugin_manager
from roomsync.storage import Database
from roomsync.testkit.end_to_end import RoomsSide
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import simulator_options as graph_options
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "alice@example.org"
START = (datetime.now(UTC) + timedelta(days=7)).replace(hour=8, minute=0, second=0, microsecond=0)
UPDATE_OPERATION = {"exchange2013": "UpdateItem", "o365": "$batch"}


@dataclass
class Estate(RoomsSide):
    start = START
    sim: RunningSimulator
    database: Database
    runner: SyncRunner
    notes: NotificationRecorder
    dialect: str

    def titles(self) -> list[str]:
        entries = self.runner.host("exchange").list_entries(
            ALICE, START - timedelta(days=1), START + timedelta(days=1)
        )
        return [e.fields.title for e in entries]


def estate_for(dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: ExitStack) -> Estate:
    if dialect == "o365":
        seed: dict[str, Any] = {"users": [{"smtp": ALICE, "name": "Alice"}]}
        sim = stack.enter_context(running_simulator("o365", seed, tls_dir=tmp_path / "tls"))
        monkeypatch.setenv(SECRET_ENV, sim.client_secret)
        options = graph_options(sim)
    else:
        seed = {
            "users": [
                {
                    "smtp": "svc@example.org",
                    "name": "ROOMS service",
                    "password": SIM_USERS["svc@example.org"],
                },
                {"smtp": ALICE, "name": "Alice", "password": SIM_USERS[ALICE]},
            ],
            "grants": [{"kind": "impersonation", "grantee": "svc@example.org"}],
        }
        sim = stack.enter_context(running_simulator(dialect, seed, validate=True))
        monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
        options = ews_options(sim.ews_url)
    settings = settings_from_mapping({"environments": {"exchange": {"plugin": dialect, "options": options}}})
    database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
    database.upgrade()
    stack.callback(database.dispose)
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email=ALICE, environment="exchange"))
        uow.commit()
    notes = NotificationRecorder()
    runner = SyncRunner(settings, database, plugin_manager(notes))
    stack.callback(runner.close)
    return Estate(sim, database, runner, notes, dialect)


@pytest.fixture(params=sorted(UPDATE_OPERATION))
def estate(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Estate]:
    with ExitStack() as stack:
        yield estate_for(request.param, tmp_path, monkeypatch, stack)


@pytest.mark.parametrize("policy", list(ConflictPolicy))
def test_a_dropped_update_answer_then_another_edit_is_no_conflict(
    estate: Estate, policy: ConflictPolicy
) -> None:
    estate.set_policy(ALICE, policy)
    r = estate.book(ALICE, "First", 1)
    estate.runner.sync_once()
    assert estate.titles() == ["First"]

    for n in range(2):  # a second conflict would cancel under the cancel policy
        estate.retitle_in_rooms(r.id or "", f"Dropped {n}")
        operations = [UPDATE_OPERATION[estate.dialect]]
        estate.sim.simulator.faults.add("drop_after_apply", count=1, operations=operations)
        estate.runner.sync_once()  # the server applied it; the answer never came
        assert estate.titles() == [f"Dropped {n}"]
        estate.retitle_in_rooms(r.id or "", f"Edited {n}")
        reports = estate.runner.sync_once()
        assert all(report.ok for report in reports), [report.error for report in reports]
        assert sum(report.conflicts for report in reports) == 0
        assert estate.titles() == [f"Edited {n}"]

    troubles = {NotificationKind.CONFLICT, NotificationKind.SYNC_DISABLED, NotificationKind.CANCELLED}
    assert [n for n in estate.notes.sent if n.kind in troubles] == []
    stored = estate.reservation(r.id or "")
    assert stored.active and not stored.sync_disabled and stored.fields.title == "Edited 1"
