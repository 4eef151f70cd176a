"""Extension plugins add behaviour around the sync without being a connector."""

from __future__ import annotations

from collections.abc import Generator
from importlib.metadata import EntryPoint
from typing import Any

import click
import pluggy
import pytest
from click.testing import CliRunner

from roomsync import hookspecs, plugins
from roomsync.connector.types import CalendarEntry, Capabilities, ChangeSet, EntryDraft
from roomsync.domain import Reservation
from roomsync.engine.differences import find_differences
from roomsync.errors import PluginContractError
from roomsync.hookspecs import hookimpl

from .conftest import ALICE, BOB, CAROL, CycleRecorder, World


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


class Prefix:
    """Prefixes titles with its tag on the way out and strips exactly that tag on the way back."""

    def __init__(self, tag: str, seen: list[str] | None = None) -> None:
        self.tag = tag
        self.seen = seen if seen is not None else []

    @hookimpl
    def roomsync_map_export(self, draft: EntryDraft) -> EntryDraft:
        self.seen.append(f"{self.tag} export {draft.fields.title}")
        fields = draft.fields.model_copy(update={"title": f"{self.tag}{draft.fields.title}"})
        return draft.model_copy(update={"fields": fields})

    @hookimpl
    def roomsync_map_import(self, entry: CalendarEntry) -> CalendarEntry:
        self.seen.append(f"{self.tag} import {entry.fields.title}")
        fields = entry.fields.model_copy(update={"title": entry.fields.title.removeprefix(self.tag)})
        return entry.model_copy(update={"fields": fields})


def test_map_hooks_chain_export_in_registration_order_and_import_in_reverse(world: World) -> None:
    seen: list[str] = []
    world.runner.pm.register(Prefix("A:", seen))
    world.runner.pm.register(Prefix("B:", seen))
    r = world.book(ALICE, title="T")
    world.sync_ok(ALICE)
    entry = world.entry(ALICE, r.id or "")
    assert entry.fields.title == "B:A:T"  # A adjusted first, B adjusted A's result
    assert seen[:2] == ["A: export T", "B: export A:T"]
    reports = world.sync_ok(ALICE)  # the echo
    assert not any(report.changed_anything for report in reports)
    assert world.reservation(r.id or "").fields.title == "T"
    assert find_differences(world.runner, days=30) == []
    world.exchange.user_update(ALICE, entry.item_id, title="B:A:T v2")
    seen.clear()
    world.sync_ok(ALICE)
    assert seen[:2] == ["B: import B:A:T v2", "A: import A:T v2"]  # B unwraps first, then A
    assert world.reservation(r.id or "").fields.title == "T v2"
    assert world.entry(ALICE, r.id or "").fields.title == "B:A:T v2"


class Early(Prefix):
    @hookimpl(tryfirst=True)
    def roomsync_map_export(self, draft: EntryDraft) -> EntryDraft:
        return super().roomsync_map_export(draft)


class Late(Prefix):
    @hookimpl(trylast=True)
    def roomsync_map_export(self, draft: EntryDraft) -> EntryDraft:
        return super().roomsync_map_export(draft)


class Abstains:
    @hookimpl
    def roomsync_map_export(self, reservation: Reservation, draft: EntryDraft) -> None:
        assert reservation.fields.title == "T"  # the stored reservation, whatever the chain did
        return None


def test_tryfirst_and_trylast_place_a_plugin_at_the_ends_of_the_chain(world: World) -> None:
    for plugin in (Late("L1:"), Prefix("N1:"), Early("F1:"), Abstains(), Late("L2:"), Prefix("N2:")):
        world.runner.pm.register(plugin)
    world.runner.pm.register(Early("F2:"))
    r = world.book(ALICE, title="T")
    world.sync_ok(ALICE)
    assert world.entry(ALICE, r.id or "").fields.title == "L2:L1:N2:N1:F2:F1:T"


class WrapsExport:
    @hookimpl(wrapper=True)
    def roomsync_map_export(self, draft: EntryDraft) -> Generator[None, Any, Any]:
        return (yield)


def test_a_wrapper_of_a_chained_hook_is_refused_with_its_name(world: World) -> None:
    world.runner.pm.register(WrapsExport(), name="wraps-export")
    world.book(ALICE, title="T")
    [report] = world.sync(ALICE)
    assert not report.ok
    assert "plugin wraps-export wraps roomsync_map_export, which cannot be wrapped" in (report.error or "")
    assert world.exchange.entries(ALICE) == []


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


def test_cycle_finished_sees_every_person_including_failures(world: World) -> None:
    seen = CycleRecorder()
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


class OldStyleTiming:
    def __init__(self) -> None:
        self.batches: list[int] = []

    @hookimpl(hookwrapper=True)
    def roomsync_create_entries(self, mailbox: str, drafts: list[EntryDraft]) -> Generator[None, Any, None]:
        outcome = yield
        self.batches.append(len(outcome.get_result()))


def test_extensions_can_wrap_connector_calls_with_old_style_hookwrappers(world: World) -> None:
    timing = OldStyleTiming()
    world.runner.pm.register(timing)  # an installed extension: every environment's host gets it
    for i in range(12):
        world.book(ALICE, title=f"R{i}", hour=i * 2)
    world.sync_ok(ALICE)
    assert timing.batches == [10, 2]


class AnswersCapabilities:
    """An extension that would decide the connector's batch size."""

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        return Capabilities(max_batch=1)


class WrapsCapabilities:
    @hookimpl(wrapper=True)
    def roomsync_capabilities(self) -> Generator[None, Any, Capabilities]:
        answer: Capabilities = yield
        return answer.model_copy(update={"max_batch": 1})


class AnswersChanges:
    @hookimpl
    def roomsync_changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        return ChangeSet(entries=[], deleted=[], sync_state="forged")


def test_an_extension_answering_a_connector_hook_is_refused_and_the_connector_answers(world: World) -> None:
    host = world.runner.host("ref")
    with pytest.raises(PluginContractError) as refused:
        host.pm.register(AnswersCapabilities(), name="batch-one")
    assert str(refused.value) == (
        "environment 'ref': extension plugin batch-one answers the connector hook roomsync_capabilities, "
        "which only the connector of an environment answers; an extension may wrap it (wrapper=True)"
    )
    with pytest.raises(PluginContractError, match="plugin batch-one wraps roomsync_capabilities"):
        host.pm.register(WrapsCapabilities(), name="batch-one")
    with pytest.raises(PluginContractError, match="batch-one answers the connector hook roomsync_changes"):
        host.pm.register(AnswersChanges(), name="batch-one")
    assert host.pm.get_plugin("batch-one") is None  # nothing of a refused plugin stays
    for i in range(25):
        world.book(ALICE, title=f"R{i}", hour=i * 2)
    world.exchange.calls.clear()
    world.sync_ok(ALICE)
    assert host.capabilities().max_batch == 10  # the reference connector's own, as configured
    assert world.exchange.calls["create_entries"] == 3
    assert len(world.exchange.entries(ALICE)) == 25


def test_an_installed_extension_answering_a_connector_hook_fails_its_environment(world: World) -> None:
    world.runner.pm.register(AnswersCapabilities(), name="batch-one")
    world.book(ALICE, title="T")
    reports = world.sync()
    assert reports and not any(r.ok for r in reports)
    assert all("extension plugin batch-one answers the connector hook" in (r.error or "") for r in reports)
    assert world.exchange.entries(ALICE) == []
    world.runner.pm.unregister(name="batch-one")
    world.sync_ok()
    assert len(world.exchange.entries(ALICE)) == 1


def test_extension_plugins_load_in_the_order_of_their_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    found = [
        EntryPoint(name=name, value=value, group=plugins.EXTENSIONS)
        for name, value in (
            ("zz-log", "roomsync.notify.log"),
            ("aa-smtp", "roomsync.notify.smtp"),
            ("mm-smtp-again", "roomsync.notify.smtp"),
        )
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: [ep for ep in found if ep.group == group])
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins.load_extensions(pm)
    # the same module under a second name is one plugin, registered under its first name
    assert [name for name, _ in pm.list_name_plugin()] == ["aa-smtp", "zz-log"]


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
