"""Running the sync: ``sync``, ``run``, ``status`` and the per-person ``test``."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import click
from rich.progress import Progress
from rich.table import Table

from roomsync.cli.completion import complete_persons
from roomsync.cli.context import AppContext, pass_app
from roomsync.cli.stopping import STOPS
from roomsync.connector.checks import NOT_TRIED
from roomsync.domain import Person
from roomsync.engine.report import CycleReport
from roomsync.status import status_report
from roomsync.storage.leases import Lease, Registration
from roomsync.storage.protocols import LogEntry
from roomsync.sync_test import sync_test


def _report_table(reports: list[CycleReport]) -> Table:
    table = Table("person", "environment", "result", "seconds")
    for r in reports:
        result = r.summary() if r.ok else f"[red]{r.summary()}[/red]"
        table.add_row(r.mailbox, r.environment or "-", result, f"{r.seconds:.2f}")
    return table


@click.command()
@click.option("--once", is_flag=True, help="One cycle and exit (the default; 'roomsync run' repeats).")
@click.option(
    "--person",
    "persons",
    multiple=True,
    help="Only this person (repeatable).",
    shell_complete=complete_persons,
)
@click.option("--allow-mass-delete", is_flag=True, help="Accept a mailbox that lost most of its entries.")
@pass_app
def sync(app: AppContext, once: bool, persons: tuple[str, ...], allow_mass_delete: bool) -> None:
    """Synchronise every assigned person once (exit code 1 if any person failed)."""
    runner = app.runner
    people = runner.persons(persons or None)
    reports: list[CycleReport] = []
    with Progress(console=app.console, transient=True, disable=app.as_json) as progress:
        task = progress.add_task("syncing", total=len(people))
        for person in people:
            progress.update(task, description=f"syncing {person.email}")
            reports.append(runner.sync_person(person, allow_mass_delete))
            progress.advance(task)
    app.emit([r.as_dict() for r in reports], _report_table(reports))
    if any(not r.ok for r in reports):
        raise click.exceptions.Exit(1)


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # FloatRange lets inf and nan through (nan compares false with either bound).
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", ctx=ctx, param=param)
    return value


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    callback=_finite,
    help="Seconds between cycles (overrides the file).",
)
@click.option(
    "--share", is_flag=True, help="Start alongside other daemons on this database and share the persons."
)
@pass_app
def run(app: AppContext, interval: float | None, share: bool) -> None:
    """Run as a daemon; SIGTERM or Ctrl-C stops after the person in progress.

    Persons whose calendars a connector reports changed get a cycle at once; everyone gets one
    every interval. A second daemon on the same database refuses to start, naming the first,
    unless --share; a person's cycle never runs in two processes at once either way.
    """
    STOPS.catch()  # nothing to do when the console script caught them at process start
    try:
        _run(app, interval, share)
    finally:
        STOPS.release(redeliver=False)


def _run(app: AppContext, interval: float | None, share: bool) -> None:
    STOPS.listen(
        lambda received: click.echo(f"stopping after the current person ({received.name})", err=True)
    )
    if interval is not None:
        app.settings.sync.interval_seconds = interval

    def progress(person: Person, report: CycleReport) -> None:
        if app.as_json:
            import json

            click.echo(json.dumps(report.as_dict(), default=str))
        elif report.changed_anything or not report.ok:
            click.echo(f"{datetime.now(UTC):%H:%M:%S} {person.email}: {report.summary()}")

    every = f"{app.settings.sync.interval_seconds:g} s"

    def announce(environment: str, watching: bool, mailboxes: int) -> None:
        if watching:
            click.echo(
                f"{environment}: watching {mailboxes} mailboxes for changes (and a full cycle every {every})",
                err=True,
            )
        else:
            click.echo(f"{environment}: no change notifications; a full cycle every {every}", err=True)

    with app.runner.registered(share):
        cycles = app.runner.run(STOPS.event, progress, announce)
    click.echo(f"stopped after {cycles} cycles", err=True)


@click.command()
@pass_app
def status(app: AppContext) -> None:
    """Per person: environment, last success, failures, pending writes; the recent problems.

    Also the daemons working on the database and the cycles in progress (held leases).
    """
    report = status_report(app.database())
    app.emit(report.as_dict(), _status_table(report.persons))
    if not app.as_json and (report.runners or report.cycles):
        app.console.print(_running_table(report.runners, report.cycles))
    if not app.as_json and report.problems:
        app.console.print(_problems_table(report.problems))


def _status_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("person", "environment", "last success", "failures", "pending", "last error")
    for r in rows:
        failures = str(r["consecutive_failures"])
        table.add_row(
            str(r["email"]),
            str(r["environment"] or "[yellow]none[/yellow]"),
            str(r["last_success"] or "never"),
            f"[red]{failures}[/red]" if r["consecutive_failures"] else failures,
            str(r["pending"]),
            str(r["last_error"] or ""),
        )
    return table


def _running_table(daemons: list[Registration], cycles: list[Lease]) -> Table:
    running = Table("runner", "since", "cycle in progress", title="Running")
    for daemon in daemons:
        running.add_row(daemon.holder.describe(), f"{daemon.started_at:%Y-%m-%d %H:%M:%S}", "")
    for c in cycles:
        running.add_row(c.holder.describe(), f"{c.acquired_at:%Y-%m-%d %H:%M:%S}", c.mailbox)
    return running


def _problems_table(problems: list[LogEntry]) -> Table:
    log_table = Table("at", "person", "event", "message", title="Recent problems")
    for e in problems:
        log_table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.mailbox or "-", e.event, e.message)
    return log_table


@click.command(name="test")
@click.argument("email", shell_complete=complete_persons)
@pass_app
def test_person(app: AppContext, email: str) -> None:
    """The sync test of one person: configuration, connection, read, write, free/busy, changes."""
    steps = sync_test(app.runner, email)
    data = [s.model_dump() for s in steps]
    table = Table("step", "result", "detail", title=f"Sync test of {email}")
    for s in steps:
        # A step not tried failed only because an earlier one did: the earlier one says why.
        skipped = not s.ok and s.detail.startswith(NOT_TRIED)
        result = (
            "[green]ok[/green]" if s.ok else "[yellow]not tried[/yellow]" if skipped else "[red]failed[/red]"
        )
        table.add_row(s.name, result, s.detail)
    app.emit(data, table)
    if not all(s.ok for s in steps):
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(sync)
    cli.add_command(run)
    cli.add_command(status)
    cli.add_command(test_person)
