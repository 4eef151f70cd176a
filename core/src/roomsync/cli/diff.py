"""``roomsync diff``: differences between ROOMS and Exchange, their records, resolution and repair.

Exit codes, for monitoring: 0 when no open difference remains in what was looked at, 1 when one
does (or a calendar could not be compared, or a resolution failed), 2 for bad usage.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from roomsync.cli.completion import complete_environments, complete_persons
from roomsync.cli.context import AppContext, pass_app
from roomsync.engine.difference_scans import (
    Outcome,
    ScanRequest,
    repair_scope,
    resolve_each,
    resolve_records,
    scan,
)
from roomsync.engine.differences import DEFAULT_DAYS, MAX_DAYS, Resolution
from roomsync.storage.differences import DifferenceRecord, DifferenceState

STATES = [s.value for s in DifferenceState]


@click.command()
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=DEFAULT_DAYS, show_default=True)
@click.option(
    "--from", "since", type=click.DateTime(["%Y-%m-%d"]), help="First day of the window (default: now)."
)
@click.option(
    "--person",
    "persons",
    multiple=True,
    help="Only this person (repeatable).",
    shell_complete=complete_persons,
)
@click.option(
    "--environment", help="Only the persons of this environment.", shell_complete=complete_environments
)
@click.option(
    "--reservation", "reservation_ids", multiple=True, help="Only this reservation or series (repeatable)."
)
@click.option(
    "--occurrence", type=click.DateTime(["%Y-%m-%d"]), help="Only this day's occurrences of a series."
)
@click.option(
    "--resolve", "resolution", type=click.Choice([r.value for r in Resolution]), help="Resolve what is found."
)
@click.option(
    "--id", "ids", multiple=True, type=int, help="Resolve only these differences (numbers as listed)."
)
@click.option("--repair", "repairing", is_flag=True, help="Apply the configured repair policy ([repair]).")
@click.option("--dry-run", is_flag=True, help="With --repair: only say what the policy would do.")
@click.option("--stored", is_flag=True, help="List the stored differences; read nothing from Exchange.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([*STATES, "all"]),
    help="With --stored (default: open).",
)
@click.option("--all", "show_all", is_flag=True, help="Show ignored differences too.")
@pass_app
def diff(
    app: AppContext,
    days: int,
    since: datetime | None,
    persons: tuple[str, ...],
    environment: str | None,
    reservation_ids: tuple[str, ...],
    occurrence: datetime | None,
    resolution: str | None,
    ids: tuple[int, ...],
    repairing: bool,
    dry_run: bool,
    stored: bool,
    states: tuple[str, ...],
    show_all: bool,
) -> None:
    """Compare ROOMS and Exchange over the next DAYS days and store what differs.

    Each difference is shown with both values side by side, which side changed last and what to
    do; "ignore" lasts until either side changes again. Exit code 1 while open differences remain.
    """
    if dry_run and not repairing:
        raise click.UsageError("--dry-run goes with --repair")
    if sum(map(bool, (resolution, repairing, stored))) > 1:
        raise click.UsageError("choose one of --resolve, --repair and --stored")
    if ids and not resolution:
        raise click.UsageError("--id goes with --resolve")
    if states and not stored:
        raise click.UsageError("--state goes with --stored")
    if stored:
        _stored(app, persons, environment, reservation_ids, states)
        return
    by = _who()
    if resolution and ids:
        outcomes = resolve_records(app.runner, list(ids), Resolution(resolution), by)
        _show_outcomes(app, outcomes, {})
        return
    request = ScanRequest(
        days=days,
        start=since.replace(tzinfo=UTC) if since else None,
        persons=list(persons) or None,
        environment=environment,
        reservation_ids=list(reservation_ids) or None,
        occurrence=occurrence.date() if occurrence else None,
    )
    if repairing:
        repaired, outcomes = repair_scope(app.runner, request, dry_run)
        _show_outcomes(app, outcomes, repaired.not_compared, dry_run)
        return
    result = scan(app.runner, request)
    if resolution:
        chosen = Resolution(resolution)
        _show_outcomes(
            app, resolve_each(app.runner, result.open, lambda _: (chosen, None), by), result.not_compared
        )
        return
    shown = result.differences if show_all else result.open
    rows = [d.as_dict() for d in shown]
    _emit(app, rows, [_difference_view(d.as_dict()) for d in shown], result.not_compared)
    if result.open or result.not_compared:
        raise click.exceptions.Exit(1)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "command line"


def _stored(
    app: AppContext,
    persons: tuple[str, ...],
    environment: str | None,
    reservation_ids: tuple[str, ...],
    states: tuple[str, ...],
) -> None:
    wanted = None if "all" in states else [DifferenceState(s) for s in states or ("open",)]
    records = app.database().differences.list(
        states=wanted,
        mailboxes=list(persons) or None,
        environment=environment,
        reservation_ids=list(reservation_ids) or None,
    )
    rows = [r.as_dict() for r in records]
    _emit(app, rows, [_record_view(r) for r in records], {})
    if any(r.state is DifferenceState.OPEN for r in records):
        raise click.exceptions.Exit(1)


def _show_outcomes(
    app: AppContext, outcomes: list[Outcome], not_compared: dict[str, str], dry_run: bool = False
) -> None:
    rows, views = [], []
    for outcome in outcomes:
        row = outcome.difference.as_dict()
        if outcome.decision is not None:
            decision = outcome.decision
            row["repair"] = {
                "policy": decision.policy.value,
                "resolution": decision.resolution.value if decision.resolution else None,
                "why": decision.why,
                "done": outcome.done,
                "error": outcome.error,
                "dry_run": dry_run,
            }
        else:
            row["resolved"] = outcome.done
            if outcome.error:
                row["error"] = outcome.error
        rows.append(row)
        views.append(Group(_difference_view(row), Text(f"    → {_outcome_text(outcome, dry_run)}")))
    _emit(app, rows, views, not_compared)
    failed = any(o.error for o in outcomes)
    remaining = any(o.done is None or o.error for o in outcomes)
    if failed or not_compared or remaining:
        raise click.exceptions.Exit(1)


def _outcome_text(outcome: Outcome, dry_run: bool) -> str:
    decision = outcome.decision
    if outcome.error:
        return f"failed: {outcome.error}"
    if decision is not None and decision.resolution is None:
        return f"left open ({decision.policy.value}: {decision.why})"
    if dry_run and decision is not None and decision.resolution is not None:
        return f"would {decision.resolution.value} ({decision.policy.value}: {decision.why})"
    return outcome.done or "left open"


def _emit(
    app: AppContext, rows: list[dict[str, Any]], views: Sequence[RenderableType], not_compared: dict[str, str]
) -> None:
    if app.as_json:
        app.emit({"differences": rows, "not_compared": not_compared} if not_compared else rows)
        return
    app.emit(rows, Group(*views) if views else "no open differences" if not not_compared else None)
    for email, error in not_compared.items():
        app.console.print(f"[red]{email}: not compared: {error}[/red]")


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return f"{datetime.fromisoformat(value).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


SIDES = {"rooms": "ROOMS", "exchange": "Exchange", "both": "both", "unknown": "unknown"}


def _heading(row: dict[str, Any], settled: str | None = None) -> RenderableType:
    """The difference's first line, and below it, indented also where they wrap, what it is
    about, which side changed last and what to do (and how it was settled)."""
    number = f"#{row['id']}" if row.get("id") is not None else "#-"
    what = row["kind"] + (" (occurrence)" if row.get("occurrence") else "")
    first = Text.assemble((number, "bold"), "  ", (what, "yellow"), "  ", row["mailbox"])
    about = Text(repr(row["title"]))
    if row.get("reservation_id"):
        about.append(f", reservation {row['reservation_id']}")
    if row.get("occurrence"):
        about.append(f", occurrence of {_when(row['occurrence'])}")
    if row.get("state") and row["state"] != "open":
        about.append(f"  [{row['state']}]", style="dim")
    advice = Text(
        f"changed last: {SIDES.get(row['changed_last'], row['changed_last'])}; "
        f"recommended: {row['recommendation']} ({row['reason']})"
    )
    lines = [about, advice, *([Text(settled)] if settled else [])]
    return Group(first, *(Padding(line, (0, 0, 0, 4), expand=False) for line in lines))


def _values_table(values: dict[str, dict[str, Any]]) -> Table | None:
    if not values:
        return None
    table = Table("field", "ROOMS", "Exchange", "changed", box=None, padding=(0, 1), pad_edge=False)
    for key, value in values.items():
        table.add_row(
            key,
            _value(value.get("rooms")),
            _value(value.get("exchange")),
            SIDES.get(value.get("changed") or "", ""),
        )
    return table


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items() if v not in (None, False))
    return str(value)


def _difference_view(row: dict[str, Any]) -> RenderableType:
    table = _values_table(row.get("values") or {})
    return Group(_heading(row), *([Padding(table, (0, 0, 0, 4), expand=False)] if table else []))


def _record_view(record: DifferenceRecord) -> RenderableType:
    row = record.as_dict()
    settled = None
    if record.state is not DifferenceState.OPEN:
        settled = (
            f"{record.state.value} by {record.state_by} on {_when(row['state_at'])}: {record.resolution}"
        )
    heading = _heading(row | {"values": record.fields}, settled)
    table = _values_table(record.fields)
    return Group(heading, *([Padding(table, (0, 0, 0, 4), expand=False)] if table else []))


def register(cli: click.Group) -> None:
    cli.add_command(diff)
