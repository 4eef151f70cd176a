"""A reservation holding a value the server cannot take is refused on its own and waits for a change."""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pluggy
import pytest

from roomsync import hookspecs
from roomsync.config import settings_from_mapping
from roomsync.connector.types import WriteErrorKind, WriteLimits, WriteResult
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import (
    EventFields,
    Frequency,
    Language,
    OccurrenceChange,
    Participant,
    Person,
    Recurrence,
)
from roomsync.engine.limits import problems
from roomsync.engine.runner import SyncRunner
from roomsync.notify.message import NotificationKind
from roomsync.notify.render import Renderer
from roomsync.storage import Database
from roomsync.storage.protocols import LinkState
from roomsync.testkit.notifications import NotificationRecorder

from .conftest import ALICE, BASE, World

LIMITS = {
    "max_title_length": 20,
    "max_attendees": 3,
    "earliest": "2000-01-01T00:00:00Z",
    "latest": "3000-01-01T00:00:00Z",
    "xml_text": True,
}


def fields(**changes: Any) -> EventFields:
    values: dict[str, Any] = {"title": "Fine", "start": BASE, "end": BASE + timedelta(hours=1)}
    return EventFields(**{**values, **changes})


# --- the check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"title": "x" * 21}, "title", "is 21 characters long; at most 20 are taken"),
        ({"title": "a\x00b"}, "title", "U+0000 at position 2"),
        ({"title": "a\x08"}, "title", "U+0008"),
        ({"body": "\x0b"}, "description", "U+000B"),
        ({"body": "\x0c"}, "description", "U+000C"),
        ({"body": "\x1f"}, "description", "U+001F"),
        ({"body": "\ufffe"}, "description", "U+FFFE"),
        ({"body": "\uffff"}, "description", "U+FFFF"),
        ({"body": "lone \ud800"}, "description", "U+D800"),
        ({"body": "lone \udfff"}, "description", "U+DFFF"),
        (
            {"participants": (Participant(email="p@x.org", name="P\x01"),)},
            "name of participant p@x.org",
            "U+0001",
        ),
        (
            {"start": datetime(1999, 12, 31, tzinfo=UTC), "end": BASE},
            "start",
            "is before 2000-01-01T00:00:00+00:00",
        ),
        ({"end": datetime(3000, 1, 1, tzinfo=UTC)}, "end", "is not before 3000-01-01T00:00:00+00:00"),
        (
            {"recurrence": Recurrence(frequency=Frequency.DAILY, until=date(3001, 1, 1))},
            "series end",
            "is not before 3000",
        ),
        (
            {
                "participants": tuple(Participant(email=f"p{n}@x.org") for n in range(3)),
                "rooms": ("r@x.org",),
            },
            "participants",
            "are 4 with the rooms; a meeting takes at most 3",
        ),
    ],
)
def test_each_value_beyond_the_limits_is_named_with_its_reason(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    [problem] = problems(fields(**changes), WriteLimits.model_validate(LIMITS))
    assert problem.field == field and reason in problem.reason


def test_occurrence_titles_and_times_are_checked_too() -> None:
    change = OccurrenceChange(
        original_start=BASE + timedelta(days=1),
        start=BASE + timedelta(days=1),
        end=BASE + timedelta(days=1, hours=1),
        title="y" * 30,
    )
    found = problems(
        fields(recurrence=Recurrence(frequency=Frequency.DAILY, count=3), occurrences=(change,)),
        WriteLimits.model_validate(LIMITS),
    )
    assert [p.field for p in found] == [f"title of the occurrence of {change.original_start.isoformat()}"]


def test_within_the_limits_or_without_limits_nothing_is_found() -> None:
    allowed = fields(title="x" * 20, body="tab\tnew\nline\r\n€ 𝄞")
    assert problems(allowed, WriteLimits.model_validate(LIMITS)) == []
    assert problems(fields(title="x" * 999, body="\x00"), WriteLimits()) == []


# --- the engine ----------------------------------------------------------------------------


class Recorder:
    """What the connector is asked to write; a server refusing the drafts titled ``refuse``."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.updated: list[str] = []
        self.refuse: str | None = None

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_create_entries(self, mailbox: str, drafts: list[Any]) -> Generator[None, Any, Any]:
        self.created += [d.stamp for d in drafts]
        asked = list(drafts)
        drafts[:] = [d for d in asked if d.fields.title != self.refuse]  # what the server takes
        answers = iter((yield))
        return [
            WriteResult.failure(WriteErrorKind.INVALID, "ErrorDataSizeLimitExceeded: too big")
            if d.fields.title == self.refuse
            else next(answers)
            for d in asked
        ]

    @hookspecs.hookimpl(wrapper=True)
    def roomsync_update_entries(self, mailbox: str, updates: list[Any]) -> Generator[None, Any, Any]:
        self.updated += [u.stamp for u in updates]
        return (yield)


@pytest.fixture
def limited(database: Database) -> Iterator[tuple[World, Recorder]]:
    name = f"limits-{uuid.uuid4().hex}"
    options = {"directory": name, "max_batch": 10, "limits": LIMITS}
    settings = settings_from_mapping(
        {"data_dir": "unused", "environments": {"ref": {"plugin": "reference", "options": options}}}
    )
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email=ALICE, environment="ref"))
        uow.commit()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    notes = NotificationRecorder()
    pm.register(notes)
    world = World(settings, database, MailboxDirectory.named(name), SyncRunner(settings, database, pm), notes)
    recorder = Recorder()
    world.runner.host("ref").pm.register(recorder)
    yield world, recorder
    world.runner.close()


def titles(world: World) -> list[str]:
    return sorted(e.fields.title for e in world.exchange.entries(ALICE))


def link_state(world: World, reservation_id: str) -> LinkState:
    with world.database.unit_of_work() as uow:
        [link] = uow.sync.links_for_reservation(reservation_id)
    return link.state


def test_a_draft_beyond_the_limits_is_not_sent_and_the_others_are_written(
    limited: tuple[World, Recorder],
) -> None:
    world, recorder = limited
    for hour in (0, 1, 2):
        world.book(title=f"Good {hour}", hour=hour)
    bad = world.book(title="A title far too long for it", hour=3)
    [report] = world.sync_ok()
    assert (report.created, report.refused, report.failed_writes) == (3, 1, 0)
    assert titles(world) == ["Good 0", "Good 1", "Good 2"]
    assert world.stamp(bad.id) not in recorder.created
    assert link_state(world, bad.id or "") is LinkState.REFUSED
    [note, admins] = world.notes.sent
    assert note.kind is NotificationKind.NOT_WRITTEN and note.recipient == ALICE
    assert note.reservation_id == bad.id
    assert note.facts["why"] == "its title is 27 characters long; at most 20 are taken"  # the English
    assert {k: v for k, v in note.facts.items() if k.startswith("problem_")} == {
        "problem_1": "too-long",
        "problem_1_field": "title",
        "problem_1_value": 27,
        "problem_1_limit": 20,
    }
    assert "The title is 27 characters long; Outlook takes at most 20." in note.body
    assert "change it in ROOMS" in note.body and "'ref'" not in note.body
    german = Renderer().render(note, Language.DE).text
    assert "Der Titel ist 27 Zeichen lang; Outlook nimmt höchstens 20 an." in german
    assert "characters" not in german and "taken" not in german
    assert admins.kind is NotificationKind.WRITE_REFUSED and admins.recipient is None
    assert "environment 'ref'" in admins.body and "title is 27 characters long" in admins.body
    assert "1 not written (values refused)" in report.summary()

    calls = dict(world.exchange.calls)
    [quiet] = world.sync_ok()
    assert (quiet.created, quiet.refused) == (0, 0)
    assert world.exchange.calls["find_by_stamp"] == calls.get("find_by_stamp", 0)
    assert len(world.notes.sent) == 2

    world.edit(bad.id or "", title="Short now")
    [fixed] = world.sync_ok()
    assert fixed.created == 1
    assert titles(world) == ["Good 0", "Good 1", "Good 2", "Short now"]
    assert link_state(world, bad.id or "") is LinkState.SYNCED


def test_a_create_the_server_refuses_is_not_retried_until_the_reservation_changes(
    limited: tuple[World, Recorder],
) -> None:
    world, recorder = limited
    recorder.refuse = "Refused"
    good = world.book(title="Good", hour=0)
    bad = world.book(title="Refused", hour=1)
    [report] = world.sync_ok()
    assert (report.created, report.refused) == (1, 1)
    assert titles(world) == ["Good"]
    [note, admins] = world.notes.sent
    assert "did not accept one of its values" in note.body
    assert not [fact for fact in note.facts if fact.startswith("problem_")]
    assert (
        "Der Kalenderserver hat einen ihrer Werte nicht angenommen."
        in Renderer().render(note, Language.DE).text
    )
    assert "ErrorDataSizeLimitExceeded" in admins.body and "ErrorDataSizeLimitExceeded" not in note.body

    recorder.created.clear()
    world.edit(good.id or "", title="Good, edited")
    world.sync_ok()
    assert recorder.created == [] and world.stamp(bad.id) not in recorder.updated
    assert len(world.notes.sent) == 2

    recorder.refuse = None
    world.edit(bad.id or "", title="Accepted")
    world.sync_ok()
    assert recorder.created == [world.stamp(bad.id)]
    assert titles(world) == ["Accepted", "Good, edited"]


def test_an_update_beyond_the_limits_keeps_the_entry_and_waits_for_the_next_edit(
    limited: tuple[World, Recorder],
) -> None:
    world, recorder = limited
    r = world.book(title="Fine", hour=0)
    other = world.book(title="Other", hour=1)
    world.sync_ok()
    world.edit(r.id or "", body="bell \x07")
    world.edit(other.id or "", title="Other, edited")
    recorder.updated.clear()
    [report] = world.sync_ok()
    assert (report.updated, report.refused) == (1, 1)
    assert recorder.updated == [world.stamp(other.id)]
    assert world.entry(ALICE, r.id or "").fields.body == ""
    assert link_state(world, r.id or "") is LinkState.REFUSED
    note, admins = world.notes.sent
    assert note.facts["problem_1"] == "character" and note.facts["problem_1_field"] == "description"
    assert (note.facts["problem_1_value"], note.facts["problem_1_character"]) == (6, 7)
    assert "The description holds an invisible character at position 6" in note.body and "U+" not in note.body
    assert "description holds the character U+0007 at position 6" in admins.body  # the English of the check

    world.sync_ok()
    assert recorder.updated == [world.stamp(other.id)]
    world.edit(r.id or "", body="bell")
    [fixed] = world.sync_ok()
    assert fixed.updated == 1 and world.entry(ALICE, r.id or "").fields.body == "bell"
    assert link_state(world, r.id or "") is LinkState.SYNCED


def test_the_organizer_hears_each_problem_as_facts_worded_in_their_language(
    limited: tuple[World, Recorder],
) -> None:
    world, _recorder = limited
    guests = tuple(Participant(email=f"p{n}@x.org", name=f"P{n}") for n in range(3))
    spoiled = (Participant(email="anna@x.org", name="Anna\x01"), *guests)
    bad = world.book(title="Fine", hour=0, participants=spoiled)
    far = datetime(3001, 1, 1, 8, tzinfo=UTC)
    world.edit(bad.id or "", start=far, end=far + timedelta(hours=1))
    [report] = world.sync_ok()
    assert report.refused == 1

    [note] = [n for n in world.notes.sent if n.kind is NotificationKind.NOT_WRITTEN]
    berlin = "+01:00"  # the reservation's zone, Europe/Berlin, in January
    assert {k: v for k, v in note.facts.items() if k.startswith("problem_")} == {
        "problem_1": "character",
        "problem_1_field": "participant-name",
        "problem_1_value": 5,
        "problem_1_character": 1,
        "problem_1_participant": "anna@x.org",
        "problem_2": "too-late",
        "problem_2_field": "start",
        "problem_2_value": f"3001-01-01T09:00:00{berlin}",
        "problem_2_limit": f"3000-01-01T01:00:00{berlin}",
        "problem_3": "too-late",
        "problem_3_field": "end",
        "problem_3_value": f"3001-01-01T10:00:00{berlin}",
        "problem_3_limit": f"3000-01-01T01:00:00{berlin}",
        "problem_4": "too-many-attendees",
        "problem_4_field": "participants",
        "problem_4_value": 4,
        "problem_4_limit": 3,
    }
    assert str(note.facts["why"]).startswith("its name of participant anna@x.org holds the character U+0001")

    italian = Renderer().render(note, Language.IT).text
    assert [line for line in italian.splitlines() if line.startswith("- ")] == [
        "- Il nome indicato per anna@x.org contiene, in posizione 5, un carattere invisibile che Outlook non "
        "accetta.",
        "- L'inizio (giovedì 1 gennaio 3001 alle 09:00) cade troppo tardi; Outlook accetta solo date "
        "anteriori a mercoledì 1 gennaio 3000 alle 01:00.",
        "- La fine (giovedì 1 gennaio 3001 alle 10:00) cade troppo tardi; Outlook accetta solo date "
        "anteriori a mercoledì 1 gennaio 3000 alle 01:00.",
        "- La riunione conta 4 partecipanti, sale comprese; Outlook ne accetta al massimo 3.",
    ]
