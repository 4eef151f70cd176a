"""``roomsync diff``: differences between ROOMS and Exchange, and their resolution."""

from __future__ import annotations

import click
from rich.table import Table

from roomsync.cli.completion import complete_persons
from roomsync.cli.context import AppContext, pass_app
from roomsync.engine.differences import MAX_DAYS, Resolution, find_differences, resolve
from roomsync.errors import NotFound, RoomsyncError


@click.command()
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=MAX_DAYS, show_default=True)
@click.option(
    "--person",
    "persons",
    multiple=True,
    help="Only this person (repeatable).",
    shell_complete=complete_persons,
)
@click.option(
    "--resolve",
    "resolution",
    type=click.Choice([r.value for r in Resolution]),
    help="Resolve the differences found (all, or those of --reservation).",
)
@click.option("--reservation", "reservation_ids", multiple=True, help="Resolve only these reservations.")
@pass_app
def diff(
    app: AppContext,
    days: int,
    persons: tuple[str, ...],
    resolution: str | None,
    reservation_ids: tuple[str, ...],
) -> None:
    """Compare ROOMS and Exchange over the next DAYS days (at most 90)."""
    if reservation_ids:
        with app.database().unit_of_work() as uow:
            known = uow.rooms.get_reservations(reservation_ids)
        unknown = [rid for rid in reservation_ids if rid.strip() not in known]
        if unknown:
            raise NotFound(f"no reservation {', '.join(unknown)}")
    failures: dict[str, str] = {}
    found = find_differences(app.runner, days, list(persons) or None, failures)
    rows = []
    for d in found:
        row = d.as_dict()
        if resolution and (not reservation_ids or d.reservation_id in reservation_ids):
            try:
                row["resolved"] = resolve(app.runner, d, Resolution(resolution))
            except RoomsyncError as exc:
                row["resolved"] = None
                row["error"] = str(exc)
        rows.append(row)
    table = Table("reservation", "person", "title", "difference", "fields", "resolution")
    for row in rows:
        outcome = row.get("resolved") or (f"[red]{row['error']}[/red]" if row.get("error") else "")
        table.add_row(
            str(row["reservation_id"] or "-"),
            row["mailbox"],
            row["title"],
            row["kind"],
            ", ".join(row["keys"]),
            outcome,
        )
    if app.as_json:
        app.emit({"differences": rows, "not_compared": failures} if failures else rows)
    else:
        app.emit(rows, table if rows else "no differences" if not failures else None)
        for email, error in failures.items():
            app.console.print(f"[red]{email}: not compared: {error}[/red]")
    if failures or any(row.get("error") for row in rows):
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(diff)
