"""``roomsync freebusy``: busy times of persons and rooms, from Exchange and ROOMS."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click
from rich.table import Table

from roomsync.cli.completion import complete_mailboxes
from roomsync.cli.context import AppContext, pass_app
from roomsync.cli.persons import checked_address
from roomsync.cli.reservations import parse_time
from roomsync.engine.freebusy import free_busy


@click.command(name="freebusy")
@click.argument("emails", nargs=-1, required=True, shell_complete=complete_mailboxes)
@click.option("--start", "start_text", required=True, help="Window start, e.g. 2026-12-01T08:00.")
@click.option("--end", "end_text", required=True, help="Window end.")
@click.option("--timezone", "zone", default="UTC", show_default=True, help="Zone of times without offset.")
@pass_app
def freebusy(app: AppContext, emails: tuple[str, ...], start_text: str, end_text: str, zone: str) -> None:
    """Merged free/busy of EMAILS (persons or room mailboxes)."""
    emails = tuple(checked_address(email, "mailbox") for email in emails)
    start = parse_time(start_text, zone, "--start")
    end = parse_time(end_text, zone, "--end")
    answers = free_busy(app.runner, list(emails), start, end)
    data = [
        {
            "mailbox": a.mailbox,
            "busy": [
                {
                    "start": b.start.isoformat(),
                    "end": b.end.isoformat(),
                    "status": b.status.value,
                    "source": b.source,
                }
                for b in a.busy
            ],
            "errors": a.errors,
        }
        for a in answers
    ]
    tz = ZoneInfo(zone)
    table = Table("mailbox", "busy", "status", "from")
    for a in answers:
        if not a.busy:
            table.add_row(a.mailbox, "free" if not a.errors else f"[red]{'; '.join(a.errors)}[/red]", "", "")
        for i, b in enumerate(a.busy):
            table.add_row(
                a.mailbox if i == 0 else "",
                f"{b.start.astimezone(tz):%Y-%m-%d %H:%M}-{b.end.astimezone(tz):%H:%M}",
                b.status.value,
                b.source,
            )
    app.emit(data, table)


def register(cli: click.Group) -> None:
    cli.add_command(freebusy)
