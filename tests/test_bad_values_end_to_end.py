"""One reservation holding a value Exchange cannot take never blocks its organizer's others.

On every generation (Exchange 2007, 2010 and 2013 over EWS, Exchange Online over Graph), through
the runner and the real plugin against the simulator: the good reservations of the organizer
are written, the bad one is not and its organizer hears why, a later cycle sends nothing for it,
and once it is edited to a value Exchange takes it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from roomsync import hookspecs
from roomsync.config import settings_from_mapping
from roomsync.connector.types import EntryDraft, EntryUpdate, WriteErrorKind
from roomsync.domain import EventFields, Participant, Person
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.notify.message import NotificationKind
from roomsync.storage import Database
from roomsync.testkit.end_to_end import RoomsSide
from roomsync.testkit.notifications import NotificationRecorder
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "alice@example.org"
START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=7, minute=0, second=0, microsecond=0)
GENERATIONS = ["exchange2007", "exchange2010", "exchange2013", "o365"]
# What the organizer's cycle reads and writes per entry: none of it may concern the bad one later.
PER_ENTRY_REQUESTS = {
    "CreateItem",
    "UpdateItem",
    "FindItem",
    "GetItem",
    "events.create",
    "events.update",
    "events.list",
    "$batch",
}


def _far(fields: EventFields) -> EventFields:
    start = fields.start.replace(year=4600)
    return fields.model_copy(update={"start": start, "end": start + fields.duration})


# kind -> (make the fields bad, the field named, a word of the reason, what the organizer reads)
BAD: dict[str, tuple[Callable[[EventFields], EventFields], str, str, str]] = {
    "long title": (
        lambda f: f.model_copy(update={"title": "Bad " + "long " * 60}),
        "title",
        "at most 255",
        "The title is 304 characters long; Outlook takes at most 255.",
    ),
    "control character": (
        lambda f: f.model_copy(update={"title": "Bad\x01title"}),
        "title",
        "U+0001",
        "The title holds an invisible character at position 4",
    ),
    "non-character": (
        lambda f: f.model_copy(update={"title": "Bad\ufffetitle"}),
        "title",
        "U+FFFE",
        "The title holds an invisible character at position 4",
    ),
    "control character in the description": (
        lambda f: f.model_copy(update={"body": "Bad \x0b body"}),
        "description",
        "U+000B",
        "The description holds an invisible character at position 5",
    ),
    "time out of range": (_far, "start", "4501", "is too late; Outlook takes only times before"),
    "too many attendees": (
        lambda f: f.model_copy(
            update={
                "participants": tuple(Participant(email=f"guest{n}@elsewhere.example") for n in range(501))
            }
        ),
        "participants",
        "at most 500",
        "The meeting has 501 participants, rooms included; Outlook takes at most 500.",
    ),
}


@dataclass
class Estate(RoomsSide):
    start = START  # not a field: the day the bookings are made for
    sim: RunningSimulator
    runner: SyncRunner
    database: Database
    notes: NotificationRecorder

    def subjects(self, mailbox: str) -> list[str]:
        return self.sim.calendar_subjects(mailbox)

    def requests(self) -> dict[str, int]:
        counts = self.sim.simulator.stats()["counts"]
        return {kind: counts.get(kind, 0) for kind in PER_ENTRY_REQUESTS}

    def sync(self) -> CycleReport:
        [report] = self.runner.sync_once()
        assert report.ok, report.error
        return report


@contextmanager
def estate_on(generation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    with ExitStack() as stack:
        options: dict[str, Any]
        if generation == "o365":
            from roomsync_o365.testing import SECRET_ENV
            from roomsync_o365.testing import simulator_options as graph_options

            sim = stack.enter_context(running_simulator("o365", tls_dir=tmp_path / "tls"))
            monkeypatch.setenv(SECRET_ENV, sim.client_secret)
            options = graph_options(sim)
        else:
            from roomsync_ews_common.testing import SIM_PASSWORD_ENV
            from roomsync_ews_common.testing import simulator_options as ews_options

            sim = stack.enter_context(running_simulator(generation, validate=True))
            monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
            options = ews_options(sim.ews_url)
        settings = settings_from_mapping(
            {"environments": {"here": {"plugin": generation, "options": options}}}
        )
        database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
        database.upgrade()
        stack.callback(database.dispose)
        with database.unit_of_work() as uow:
            uow.rooms.upsert_person(Person(email=ALICE, environment="here"))
            uow.commit()
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        notes = NotificationRecorder()
        pm.register(notes)
        runner = SyncRunner(settings, database, pm)
        stack.callback(runner.close)
        yield Estate(sim, runner, database, notes)
        assert [v for v in sim.simulator.violations if v.direction == "response"] == []


@pytest.mark.parametrize("generation", GENERATIONS)
def test_bad_reservations_are_refused_alone_and_written_once_fixed(
    generation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with estate_on(generation, tmp_path, monkeypatch) as estate:
        estate.book(ALICE, "Good 0", 0)
        bad = {}
        for hour, kind in enumerate(BAD, start=1):
            estate.book(ALICE, f"Good {hour}", hour)
            made = estate.book(ALICE, f"Bad {hour}", hour)
            spoil = BAD[kind][0]
            with estate.database.unit_of_work() as uow:
                bad[kind] = uow.rooms.update_reservation(made.id or "", fields=spoil(made.fields))
                uow.commit()
        goods = [f"Good {n}" for n in range(len(BAD) + 1)]

        report = estate.sync()
        assert (report.created, report.refused) == (len(goods), len(BAD))
        assert estate.subjects(ALICE) == goods
        organizers = [n for n in estate.notes.sent if n.kind is NotificationKind.NOT_WRITTEN]
        admins = {n.reservation_id: n for n in estate.notes.sent if n.kind is NotificationKind.WRITE_REFUSED}
        told = {note.reservation_id: note for note in organizers}
        assert len(told) == len(organizers) == len(admins) == len(BAD)
        assert len(estate.notes.sent) == 2 * len(BAD)
        with estate.database.unit_of_work() as uow:
            logged = {e.reservation_id: e for e in uow.sync.recent_log(mailbox=ALICE, event="refused")}
        for kind, reservation in bad.items():
            _, field, reason, words = BAD[kind]
            note = told[reservation.id]
            assert note.kind is NotificationKind.NOT_WRITTEN and note.recipient == ALICE, kind
            assert words in note.body and "U+" not in note.body, (kind, note.body)
            assert f"its {field} " in str(note.facts["why"]) and reason in str(note.facts["why"]), kind
            assert "environment" not in note.body and "'here'" not in note.body, kind
            detail = admins[reservation.id].body
            assert field in detail and reason in detail and "'here'" in detail, kind
            assert reason in logged[reservation.id].message, kind

        # Nothing is asked of Exchange for them while they stay as they are, and no one is told again.
        before = estate.requests()
        again = estate.sync()
        assert (again.created, again.updated, again.refused) == (0, 0, 0)
        assert estate.requests() == before
        assert len(estate.notes.sent) == 2 * len(BAD)

        # Fixed in ROOMS: written at the next cycle, the others untouched.
        with estate.database.unit_of_work() as uow:
            for hour, reservation in enumerate(bad.values(), start=1):
                current = uow.rooms.get_reservation(reservation.id or "")
                assert current is not None
                start = START + timedelta(hours=hour)
                uow.rooms.update_reservation(
                    reservation.id or "",
                    fields=current.fields.model_copy(
                        update={
                            "title": f"Fixed {hour}",
                            "body": "",
                            "participants": (),
                            "start": start,
                            "end": start + timedelta(hours=1),
                        }
                    ),
                )
            uow.commit()
        fixed = estate.sync()
        assert (fixed.created, fixed.updated, fixed.refused) == (len(BAD), 0, 0)
        assert estate.subjects(ALICE) == sorted([*goods, *(f"Fixed {h}" for h in range(1, len(BAD) + 1))])
        assert len(estate.notes.sent) == 2 * len(BAD)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_the_connector_fails_only_the_items_refused_by_its_client_or_its_server(
    generation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the engine's check: what exchangelib, lxml, the JSON encoder or the server refuses."""
    with estate_on(generation, tmp_path, monkeypatch) as estate:
        host = estate.runner.host("here")
        base = EventFields(
            title="Good", start=START, end=START + timedelta(hours=1), timezone="Europe/Berlin"
        )
        bad = {kind: spoil(base) for kind, (spoil, _, _, _) in BAD.items()}
        drafts = [
            EntryDraft(stamp="good-1", fields=base.model_copy(update={"title": "Good 1"})),
            *(EntryDraft(stamp=f"bad-{n}", fields=fields) for n, fields in enumerate(bad.values())),
            EntryDraft(stamp="good-2", fields=base.model_copy(update={"title": "Good 2"})),
        ]
        results = host.connector.roomsync_create_entries(mailbox=ALICE, drafts=drafts)
        kinds = [r.error_kind for r in results]
        assert kinds == [None, *[WriteErrorKind.INVALID] * len(bad), None], [r.error for r in results]
        assert estate.subjects(ALICE) == ["Good 1", "Good 2"]

        updates = [
            EntryUpdate(item_id=results[0].item_id or "", stamp="good-1", fields=bad["long title"]),
            EntryUpdate(
                item_id=results[-1].item_id or "",
                stamp="good-2",
                fields=base.model_copy(update={"title": "Good 2, edited"}),
            ),
        ]
        updated = host.connector.roomsync_update_entries(mailbox=ALICE, updates=updates)
        assert [r.error_kind for r in updated] == [WriteErrorKind.INVALID, None], [r.error for r in updated]
        assert estate.subjects(ALICE) == ["Good 1", "Good 2, edited"]
