"""``roomsync rooms import`` and ``rooms set --active/--inactive``: rooms from the directory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import click
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from roomsync import room_activity
from roomsync.cli.completion import complete_environments
from roomsync.cli.context import AppContext, pass_app
from roomsync.cli.persons import checked_address
from roomsync.domain import Room
from roomsync.errors import UnknownEnvironment
from roomsync.rooms_import import ImportResult, Outcome, import_rooms

_STYLE = {
    Outcome.ADDED: "green",
    Outcome.UPDATED: "cyan",
    Outcome.REACTIVATED: "green",
    Outcome.INACTIVE: "yellow",
    Outcome.UNCHANGED: "dim",
}


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(ids)


def _detail(change_dict: dict[str, dict[str, object]]) -> str:
    return "; ".join(f"{key} {values['from'] or '-'} → {values['to']}" for key, values in change_dict.items())


def result_view(result: ImportResult) -> RenderableType:
    """The import as people read it: one row per room, then detached reservations and failures."""
    table = Table("room", "mailbox", "outcome", "lists", "capacity", "note")
    for change in result.rooms:
        data = change.as_dict()
        note = "; ".join(part for part in (_detail(data["changed"]), change.note) if part)
        table.add_row(
            escape(change.name),
            change.mailbox,
            f"[{_STYLE[change.outcome]}]{change.outcome.value}[/]",
            escape(", ".join(change.lists)) or "-",
            str(change.capacity or "-"),
            escape(note),
        )
    would = "would be " if result.dry_run else ""
    lines: list[RenderableType] = [table]
    for change in result.rooms:
        if change.detached:
            lines.append(
                Text(
                    f"{change.mailbox} is inactive: reservations {_ids(change.detached)} {would}detached "
                    "from sync (their calendar entries stay as they are)"
                )
            )
        if change.still_detached:
            lines.append(
                Text(
                    f"{change.mailbox} is active again; reservations {_ids(change.still_detached)} stay "
                    "detached from sync"
                )
            )
    for failed in result.failed_lists:
        lines.append(Text(f"room list {failed.name or failed.mailbox}: {failed.error}", style="red"))
    if result.kept_active_because:
        lines.append(Text(f"no room made inactive: {result.kept_active_because}"))
    counts = ", ".join(f"{count} {outcome}" for outcome, count in result.counts().items())
    lines.append(Text(f"{'dry run, nothing changed: ' if result.dry_run else ''}{counts}"))
    return Group(*lines)


@click.command(name="import")
@click.option(
    "--environment",
    required=True,
    help="Environment whose room directory is read.",
    shell_complete=complete_environments,
)
@click.option("--list", "room_list", metavar="ADDRESS", help="Read only this room list.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@pass_app
def import_rooms_command(app: AppContext, environment: str, room_list: str | None, dry_run: bool) -> None:
    """Add or update rooms from the room lists of an environment's directory.

    Rooms ROOMS does not know are added to the environment; known ones get the directory's name
    and capacity. Nothing is deleted: a room of the environment that the directory no longer
    lists becomes inactive (not bookable) and its future reservations are detached from sync;
    one listed again becomes active again. Exit code 1 when the directory, or one of its room
    lists, could not be read.
    """
    if environment not in app.settings.environments:
        raise UnknownEnvironment(environment, list(app.settings.environments))
    wanted = checked_address(room_list, "--list") if room_list is not None else None
    directory = app.runner.host(environment).room_directory(wanted)
    with app.database().unit_of_work() as uow:
        result = import_rooms(
            uow, environment, directory, datetime.now(UTC), only_list=wanted, dry_run=dry_run
        )
        if dry_run:
            uow.rollback()
        else:
            uow.commit()
    app.emit(result.as_dict(), result_view(result))
    if not result.ok:
        raise click.exceptions.Exit(1)


def set_activity(app: AppContext, mailbox: str, active: bool) -> tuple[Room, list[str]]:
    """``rooms set --active/--inactive``: the room and the reservations detached now (inactive)
    or still detached (active), committed."""
    now = datetime.now(UTC)
    with app.database().unit_of_work() as uow:
        if active:
            found = room_activity.activate(uow, mailbox, now)
        else:
            reason = f"room {mailbox} was set inactive ({now:%Y-%m-%d})"
            found = room_activity.deactivate(uow, mailbox, reason, now)
        uow.commit()
    return found


def activity_text(room: Room, reservations: Sequence[str]) -> str:
    if room.active:
        kept = f"; reservations {_ids(reservations)} stay detached from sync" if reservations else ""
        return f"room {room.name} <{room.mailbox}> is active{kept}"
    detached = f"; reservations {_ids(reservations)} detached from sync" if reservations else ""
    return f"room {room.name} <{room.mailbox}> is inactive and cannot be booked{detached}"
