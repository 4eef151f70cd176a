"""Running the sync: ``sync``, ``run``, ``status`` and the per-person ``test``."""

from __future__ import annotations

import math
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich import box
from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from roomsync.cli.completion import complete_environments, complete_persons
from roomsync.cli.context import AppContext, pass_app
from roomsync.cli.stopping import STOPS
from roomsync.config import SyncConfig
from roomsync.connector.checks import NOT_TRIED
from roomsync.domain import Person
from roomsync.engine.apply import OnBatch
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import WAKE_DEBOUNCE_SECONDS
from roomsync.repair_settings import RepairConfig
from roomsync.status import StatusFilter, status_report
from roomsync.storage.leases import Lease, Registration
from roomsync.storage.protocols import LogEntry
from roomsync.sync_test import sync_test


def report_table(reports: list[CycleReport]) -> Table:
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
@click.option(
    "--room",
    "rooms",
    multiple=True,
    help="Only this room's calendar (its mailbox; repeatable).",
)
@click.option("--allow-mass-delete", is_flag=True, help="Accept a mailbox that lost most of its entries.")
@pass_app
def sync(
    app: AppContext, once: bool, persons: tuple[str, ...], rooms: tuple[str, ...], allow_mass_delete: bool
) -> None:
    """Synchronise every assigned person, then every active room's calendar, once (exit code 1
    if any failed). With --person or --room, only those.

    A room's calendar brings the bookings made in Outlook by people roomsync does not synchronise
    into ROOMS. A paused person is not synchronised, also when named with --person: the report
    says since when and why ('roomsync persons resume' ends the pause).
    """
    runner = app.runner
    reports: list[CycleReport] = []
    if persons or not rooms:
        people = runner.persons(persons or None)
        with ProgressBars(app, people) as bars:
            reports = runner.sync_persons(
                people, allow_mass_delete, progress=bars.finished, batches=bars.batches
            )
    if rooms or not persons:
        reports += runner.sync_rooms_once(rooms or None, allow_mass_delete)
    app.emit([r.as_dict() for r in reports], report_table(reports))
    if any(not r.ok for r in reports):
        raise click.exceptions.Exit(1)


class ProgressBars:
    """Two bars over persons' cycles: the persons done, and the entries the cycles in progress
    have written of those they have to write (a first export of many reservations moves batch by
    batch). Neither is shown with --json or when the output is not a terminal. Cycles run at
    once: the entries are fed from their threads, added up over the cycles in progress."""

    def __init__(self, app: AppContext, people: Sequence[Person]) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self.progress = Progress(*columns, console=app.console, transient=True, disable=app.as_json)
        self.everyone = self.progress.add_task("persons", total=len(people))
        self.entries = self.progress.add_task("entries written", total=None, visible=False)
        self._writing: dict[str, tuple[int, int]] = {}  # (written, to write) of each cycle in progress
        self._lock = threading.Lock()

    def __enter__(self) -> ProgressBars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def batches(self, person: Person) -> OnBatch:
        """The ``on_batch`` of the person's cycle, which is starting."""
        with self._lock:
            self._writing[person.email] = (0, 0)
            running = len(self._writing)
        described = f"syncing {person.email}" + (f" and {running - 1} more" if running > 1 else "")
        self.progress.update(self.everyone, description=described)

        def on_batch(done: int, total: int) -> None:
            with self._lock:
                self._writing[person.email] = (done, total)
                written = sum(d for d, _ in self._writing.values())
                wanted = sum(t for _, t in self._writing.values())
            self.progress.update(self.entries, completed=written, total=wanted, visible=True)

        return on_batch

    def finished(self, person: Person, report: CycleReport) -> None:
        with self._lock:
            self._writing.pop(person.email, None)
            idle = not self._writing
        if idle:
            self.progress.reset(self.entries, total=None, visible=False)
        self.progress.advance(self.everyone)


def with_progress(
    app: AppContext, people: Sequence[Person], cycle: Callable[[Person, OnBatch], CycleReport]
) -> list[CycleReport]:
    """Each person's cycle, one after the other, under the :class:`ProgressBars`."""
    reports: list[CycleReport] = []
    with ProgressBars(app, people) as bars:
        for person in people:
            report = cycle(person, bars.batches(person))
            reports.append(report)
            bars.finished(person, report)
    return reports


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

    Persons whose calendars a connector reports changed get a cycle at once and a full cycle
    every watched interval ([sync] watched_interval_seconds); the others get one every interval.
    Paused persons get none. A second daemon on the same database refuses to start, naming the
    first, unless --share; a person's cycle never runs in two processes at once either way.
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

    def announce(environment: str, watching: bool, mailboxes: int) -> None:
        click.echo(banner(environment, watching, mailboxes, app.settings.sync), err=True)

    if app.settings.repair.scan_every_hours > 0:
        click.echo(scans_banner(app.settings.repair), err=True)
    with app.runner.registered(share):
        cycles = app.runner.run(STOPS.event, progress, announce)
    click.echo(f"stopped after {cycles} cycles", err=True)


def banner(environment: str, watching: bool, mailboxes: int, sync: SyncConfig) -> str:
    """What ``run`` says of an environment: how soon its persons' changes are synchronised.

    The daemon starts a full cycle every interval; a watched person is in it only once their
    last cycle is a watched interval old, so that is theirs, or the interval if it is longer.
    """
    if not watching:
        return f"{environment}: no change notifications; a full cycle every {sync.interval_seconds:g} s"
    every = max(sync.watched_interval_seconds, sync.interval_seconds)
    return (
        f"{environment}: watching {mailboxes} mailboxes; woken cycles {WAKE_DEBOUNCE_SECONDS:g} s "
        f"after a change (debounce), a full cycle every {every:g} s"
    )


def scans_banner(repair: RepairConfig) -> str:
    """What ``run`` says of its differences scans ([repair] scan_every_hours)."""
    return (
        f"differences: everyone scanned every {repair.scan_every_hours:g} h over {repair.days} days, "
        f"at most {repair.requests_per_hour} requests an hour per environment; "
        f"repair policy {repair.policy.value}"
    )


@click.command()
@click.option("--person", help="Only this person.", shell_complete=complete_persons)
@click.option(
    "--environment", help="Only the persons of this environment.", shell_complete=complete_environments
)
@click.option("--failing", is_flag=True, help="Only the persons whose last cycle failed.")
@pass_app
def status(app: AppContext, person: str | None, environment: str | None, failing: bool) -> None:
    """Per person: environment, last success, failures, pending writes; the recent problems.

    A person's problems are shown until their next successful cycle. Also the daemons working on
    the database and the cycles in progress (held leases).
    """
    if environment is not None and environment not in app.settings.environments:
        raise click.BadParameter(f"unknown environment {environment!r}", param_hint="--environment")
    report = status_report(app.database(), StatusFilter(person, environment, failing))
    app.emit(report.as_dict(), _persons_view(report.persons, app.console.width))
    if app.as_json:
        return
    if report.rooms:
        app.console.print(_rooms_table(report.rooms))
    paused = [(str(r["email"]), "", _paused(r)) for r in report.persons if r["paused_at"]]
    if paused:
        app.console.print(_errors_text("Paused", paused, app.console.width, style="yellow"))
    errors = [
        (str(r["email"]), str(r["last_error"])) for r in [*report.persons, *report.rooms] if r["last_error"]
    ]
    if errors:
        last = [(email, "", error) for email, error in errors]
        app.console.print(_errors_text("Last errors", last, app.console.width))
    if report.runners or report.cycles:
        app.console.print(_running_table(report.runners, report.cycles))
    if report.problems:
        app.console.print(_errors_text("Recent problems", _grouped(report.problems), app.console.width))


def _rooms_table(rows: list[dict[str, Any]]) -> Table:
    """The rooms whose calendars are read: one line a room, as the persons' table has them."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title="Room calendars")
    table.add_column("room", no_wrap=True, overflow="fold")
    for name in ("environment", "last success (UTC)", "failures"):
        table.add_column(name)
    for r in rows:
        failures = int(r["consecutive_failures"])
        table.add_row(
            str(r["email"]),
            str(r["environment"] or "(first)"),
            _when(r["last_success"]),
            f"[red]{failures}[/red]" if failures else "0",
        )
    return table


def _when(iso: object) -> str:
    """An ISO time from the report as a terminal shows it: to the minute, in UTC."""
    if not iso:
        return "never"
    return f"{datetime.fromisoformat(str(iso)).astimezone(UTC):%Y-%m-%d %H:%M}"


def _paused(row: dict[str, Any]) -> str:
    """``paused since <when> (<reason>)`` of a status row."""
    since = f"paused since {_when(row['paused_at'])} UTC"
    return f"{since} ({row['pause_reason']})" if row["pause_reason"] else since


def _persons_view(rows: list[dict[str, Any]], width: int) -> RenderableType:
    """The persons' table, or where their addresses make it wider than the terminal, a block a
    person: the address on a line of its own, the figures on the next."""
    email = max((len(str(r["email"])) for r in rows), default=0)
    environment = max([len("environment")] + [len(str(r["environment"] or "none")) for r in rows])
    others = len("last success (UTC)") + len("failures") + len("pending")
    needed = max(email, len("person")) + environment + others + 4 * 3  # a gap of 3 between columns
    if needed <= width:
        return _status_table(rows)
    parts: list[RenderableType] = []
    for r in rows:
        parts.append(Text(str(r["email"]), style="bold"))
        failures = r["consecutive_failures"]
        figures = Text(
            f"environment {r['environment'] or 'none'}, last success {_when(r['last_success'])}, "
            f"failures {failures}, pending {r['pending']}",
            style="red" if failures else "",
        )
        parts.append(_indented(figures, width))
    return Group(*parts)


def _status_table(rows: list[dict[str, Any]]) -> Table:
    """One line a person, within 80 columns: the errors follow the table, on lines of their own."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("person", no_wrap=True, overflow="fold")  # an address is never cut in two
    table.add_column("environment")
    table.add_column("last success (UTC)", no_wrap=True)
    table.add_column("failures", justify="right")
    table.add_column("pending", justify="right")
    for r in rows:
        failures = str(r["consecutive_failures"])
        table.add_row(
            str(r["email"]),
            str(r["environment"] or "[yellow]none[/yellow]"),
            _when(r["last_success"]),
            f"[red]{failures}[/red]" if r["consecutive_failures"] else failures,
            str(r["pending"]),
        )
    return table


def _grouped(problems: list[LogEntry]) -> list[tuple[str, str, str]]:
    """The problems, one line for each person's same event and message, newest first, the count
    of a repeated one after a multiplication sign, with the time of its latest."""
    latest: dict[tuple[str | None, str, str], LogEntry] = {}
    counts: Counter[tuple[str | None, str, str]] = Counter()
    for e in problems:
        key = (e.mailbox, e.event, e.message)
        counts[key] += 1
        if key not in latest or e.at > latest[key].at:
            latest[key] = e
    lines = []
    for key, e in sorted(latest.items(), key=lambda item: item[1].at, reverse=True):
        times = f" \N{MULTIPLICATION SIGN}{counts[key]}" if counts[key] > 1 else ""
        lines.append(
            (f"{e.at.astimezone(UTC):%Y-%m-%d %H:%M}{times}", f"{e.event} {e.mailbox or '-'}", e.message)
        )
    return lines


def _indented(text: Text, width: int) -> Text:
    """``text`` wrapped between words (never in an address, nor at its hyphens), 4 spaces in."""
    lines = textwrap.wrap(text.plain, max(width - 4, 20), break_long_words=False, break_on_hyphens=False)
    return Text("\n".join("    " + line for line in lines), style=text.style)


def _errors_text(title: str, lines: list[tuple[str, str, str]], width: int, style: str = "red") -> Group:
    """``title``, then per entry a heading line and its message indented on the lines after it,
    wrapped between words."""
    parts: list[RenderableType] = [Text(f"\n{title}", style="bold")]
    for first, second, message in lines:
        heading = " ".join(part for part in (first, second) if part)
        parts.append(
            Text("\n".join(textwrap.wrap(heading, width, break_long_words=False, break_on_hyphens=False)))
        )
        parts.append(_indented(Text(message, style=style), width))
    return Group(*parts)


def _running_table(daemons: list[Registration], cycles: list[Lease]) -> Table:
    running = Table("runner", "since", "cycle in progress", title="Running")
    for daemon in daemons:
        running.add_row(daemon.holder.describe(), f"{daemon.started_at:%Y-%m-%d %H:%M:%S}", "")
    for c in cycles:
        running.add_row(c.holder.describe(), f"{c.acquired_at:%Y-%m-%d %H:%M:%S}", c.mailbox)
    return running


@click.command(name="test")
@click.argument("email", shell_complete=complete_persons)
@pass_app
def test_person(app: AppContext, email: str) -> None:
    """The sync test of one person (configuration, connection, read, write, free/busy, changes),
    or of one room given its mailbox (its calendar read, its booking policy, its recent activity)."""
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
