"""Extension plugins add behaviour around the sync without being a connector."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import click
import pluggy
from click.testing import CliRunner

from roomsync import hookspecs
from roomsync.engine.differences import find_differences
from roomsync.engine.report import CycleReport
from roomsync.hookspecs import hookimpl
from roomsync.model import CalendarEntry, EntryDraft, Reservation

from .conftest import ALICE, BOB, CAROL, World


class Tagging:
    """Prefixes titles in Exchange and strips the prefix again on the way back."""

    @hookimpl
    def roomsync_map_export(self, reservation: Reservation, draft: EntryDraft) -> EntryDraft:
        fields = draft.fields.model_copy(update={"title": f"[ROOMS] {draft.fields.title}"})
        return draft.model_copy(update={"fields": fields})

    @hookimpl
    def roomsync_map_import(self, entry: CalendarEntry) -> CalendarEntry:
        fields = entry.fields.model_copy(update={"title": entry.fields.title.removeprefix("[ROOMS] ")})
        return entry.model_copy(update={"fields": fields})


def test_map_hooks_shape_both_directions_without_echo_loops(world: World) -> None:
    world.runner.pm.register(Tagging())
    r = world.book(ALICE, title="Review")
    first = world.sync_ok()
    assert sum(report.imported for report in first) == 0  # its own mapped echo is not an import
    entry = world.entry(ALICE, r.id or "")
    assert entry.fields.title == "[ROOMS] Review"
    reports = world.sync_ok()
    assert not any(report.changed_anything for report in reports)  # the mapped echo is no change
    assert world.reservation(r.id or "").fields.title == "Review"
    assert find_differences(world.runner, days=30) == []  # the report compares mapped entries too
    world.exchange.user_update(ALICE, entry.item_id, title="[ROOMS] Review v2")
    world.sync_ok()
    assert world.reservation(r.id or "").fields.title == "Review v2"


class Finished:
    def __init__(self) -> None:
        self.reports: list[CycleReport] = []

    @hookimpl
    def roomsync_cycle_finished(self, report: CycleReport) -> None:
        self.reports.append(report)


def test_cycle_finished_sees_every_person_including_failures(world: World) -> None:
    seen = Finished()
    world.runner.pm.register(seen)
    world.exchange.deny(ALICE)
    returned = world.sync()
    assert seen.reports == returned
    assert {r.mailbox for r in seen.reports} == {ALICE, BOB, CAROL}
    assert [r.ok for r in seen.reports if r.mailbox == ALICE] == [False]
    assert all(r.ok for r in seen.reports if r.mailbox != ALICE)


class Timing:
    """Wraps a connector hook, as a metrics plugin would."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(wrapper=True)
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> Generator[None, Any, Any]:
        result = yield
        self.calls.append(mailbox)
        return result


def test_extensions_can_wrap_connector_calls(world: World) -> None:
    timing = Timing()
    world.runner.host("ref").pm.register(timing)
    world.sync_ok(ALICE)
    assert timing.calls == [ALICE]


class Commands:
    @hookimpl
    def roomsync_register_commands(self, cli: click.Group) -> None:
        @cli.command()
        def hello() -> None:
            click.echo("hello from a plugin")


def test_plugins_add_subcommands() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Commands())
    group = click.Group()
    pm.hook.roomsync_register_commands(cli=group)
    result = CliRunner().invoke(group, ["hello"])
    assert result.output == "hello from a plugin\n"
