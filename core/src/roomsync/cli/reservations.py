"""``roomsync reservations``: enough of a ROOMS stand-in to book from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from pydantic import ValidationError
from rich.table import Table

from roomsync import booking
from roomsync.booking import Booking, book, change, existing, validation_message
from roomsync.cli.completion import complete_persons
from roomsync.cli.context import AppContext, pass_app
from roomsync.cli.persons import checked_address
from roomsync.domain import Frequency, Recurrence, Reservation, ShowAs, Weekday
from roomsync.errors import InvalidInput, NotFound
from roomsync.zones import iana_zone


def parse_time(value: str, zone: str, option: str) -> datetime:
    """ISO 8601, with or without offset; without one the time is read in ``zone``."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time like 2026-12-01T09:30", param_hint=option
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))


def option(name: str) -> str:
    """A field's name as the command line's option."""
    return f"--{name.replace('_', '-')}"


def reservation_row(r: Reservation) -> dict[str, Any]:
    """A reservation as every command shows it (``list``, ``show``, ``create`` ...)."""
    return {
        "id": r.id,
        "title": r.fields.title,
        "start": r.fields.start.astimezone(UTC).isoformat(),  # as stored, whoever booked it
        "end": r.fields.end.astimezone(UTC).isoformat(),
        "timezone": r.fields.timezone,
        "organizer": r.organizer,
        "creator": r.creator,
        "person_in_charge": r.person_in_charge,
        "rooms": list(r.fields.rooms),
        "participants": [p.email for p in r.fields.participants],
        "reminder_minutes": r.fields.reminder_minutes,
        "private": r.fields.private,
        "show_as": r.fields.show_as.value,
        "setup_minutes": r.setup_minutes,
        "followup_minutes": r.followup_minutes,
        "series": r.fields.recurrence.model_dump(mode="json") if r.fields.recurrence else None,
        "status": r.status.value,
        "version": r.version,
        "sync_disabled": r.sync_disabled,
    }


@click.group()
def reservations() -> None:
    """Reservations (bookings) on the ROOMS side."""


@reservations.command(name="list")
@click.option("--organizer", help="Only this organizer's reservations.", shell_complete=complete_persons)
@click.option("--all", "include_cancelled", is_flag=True, help="Include cancelled reservations.")
@pass_app
def list_reservations(app: AppContext, organizer: str | None, include_cancelled: bool) -> None:
    """Reservations, ordered by start."""
    with app.database().unit_of_work() as uow:
        if organizer is not None and uow.rooms.get_person(organizer) is None:
            raise NotFound(f"unknown person {organizer}")
        found = uow.rooms.reservations(organizer=organizer, include_cancelled=include_cancelled)
    rows = [reservation_row(r) for r in found]
    table = Table("id", "title", "start", "end", "organizer", "rooms", "status")
    for r in found:
        table.add_row(
            r.id or "",
            r.fields.title,
            r.fields.start.astimezone(ZoneInfo(r.fields.timezone)).strftime("%Y-%m-%d %H:%M"),
            r.fields.end.astimezone(ZoneInfo(r.fields.timezone)).strftime("%H:%M"),
            r.organizer,
            ", ".join(r.fields.rooms),
            r.status.value + (" (series)" if r.fields.recurrence else ""),
        )
    app.emit(rows, table)


@reservations.command()
@click.argument("reservation_id")
@pass_app
def show(app: AppContext, reservation_id: str) -> None:
    """One reservation (the fields of ``list``) with its sync links and journal."""
    with app.database().unit_of_work() as uow:
        found = existing(uow, reservation_id)
        links = uow.sync.links_for_reservation(reservation_id)
        journal = uow.rooms.journal(reservation_id)
    row = reservation_row(found)
    data: dict[str, Any] = {
        **row,
        "links": [
            {
                "mailbox": link.mailbox,
                "item_id": link.item_id,
                "state": link.state.value,
                "conflicts": link.conflicts,
                "last_error": link.last_error,
            }
            for link in links
        ],
        "journal": [
            {"seq": j.seq, "at": j.at.isoformat(), "action": j.action, "origin": j.origin.value}
            for j in journal
        ],
    }
    if app.as_json:
        app.emit(data)
        return
    for key, value in row.items():
        app.console.print(f"[bold]{key:>14}[/bold]  {value}")
    for link in data["links"]:
        app.console.print(
            f"[bold]{'linked':>14}[/bold]  {link['mailbox']} {link['state']} {link['item_id'] or ''}"
        )


def _recurrence(
    repeat: str | None,
    interval: int,
    weekdays: tuple[str, ...],
    count: int | None,
    until: datetime | None,
    start: datetime,
    zone: str,
) -> Recurrence | None:
    if repeat is None:
        return None
    local = start.astimezone(ZoneInfo(zone))
    frequency = Frequency(repeat)
    days = tuple(Weekday(d.upper()) for d in weekdays)
    if frequency is Frequency.WEEKLY and not days:
        days = (list(Weekday)[local.weekday()],)
    return Recurrence(
        frequency=frequency,
        interval=interval,
        weekdays=days,
        month_day=local.day if frequency in (Frequency.MONTHLY, Frequency.YEARLY) else None,
        month=local.month if frequency is Frequency.YEARLY else None,
        count=count,
        until=until.date() if until else None,
    )


@reservations.command()
@click.option("--title", required=True)
@click.option("--start", "start_text", required=True, help="Start, e.g. 2026-12-01T09:30.")
@click.option("--end", "end_text", required=True, help="End, e.g. 2026-12-01T10:30.")
@click.option("--timezone", "zone", default="UTC", show_default=True, help="IANA time zone of the booking.")
@click.option(
    "--organizer", required=True, help="Organizer's e-mail (a known person).", shell_complete=complete_persons
)
@click.option("--booked-by", help="Who books, when not the organizer.", shell_complete=complete_persons)
@click.option("--room", "rooms", multiple=True, help="Room mailbox (repeatable).")
@click.option(
    "--participant",
    "participants",
    multiple=True,
    help="Participant e-mail (repeatable).",
    shell_complete=complete_persons,
)
@click.option("--reminder", type=click.IntRange(0, 40320), default=15, show_default=True)
@click.option("--private", is_flag=True)
@click.option("--show-as", type=click.Choice([s.value for s in ShowAs]), default="busy", show_default=True)
@click.option("--comment", default="")
@click.option("--setup", type=click.IntRange(0, 1440), default=0, help="Setup minutes before.")
@click.option("--followup", type=click.IntRange(0, 1440), default=0, help="Follow-up minutes after.")
@click.option("--repeat", type=click.Choice([f.value for f in Frequency]), help="Make it a series.")
@click.option("--interval", type=click.IntRange(1, 999), default=1)
@click.option(
    "--weekday",
    "weekdays",
    multiple=True,
    type=click.Choice([d.value for d in Weekday], case_sensitive=False),
)
@click.option("--count", type=click.IntRange(1, 999), help="Number of occurrences.")
@click.option("--until", "until_text", help="Last day of the series.")
@pass_app
def create(
    app: AppContext,
    title: str,
    start_text: str,
    end_text: str,
    zone: str,
    organizer: str,
    booked_by: str | None,
    rooms: tuple[str, ...],
    participants: tuple[str, ...],
    reminder: int,
    private: bool,
    show_as: str,
    comment: str,
    setup: int,
    followup: int,
    repeat: str | None,
    interval: int,
    weekdays: tuple[str, ...],
    count: int | None,
    until_text: str | None,
) -> None:
    """Book a reservation."""
    try:
        iana_zone(zone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timezone") from None
    start = parse_time(start_text, zone, "--start")
    end = parse_time(end_text, zone, "--end")
    until = parse_time(until_text, zone, "--until") if until_text else None
    if until is not None and repeat is None:
        raise click.UsageError("--until belongs to a series: give --repeat too")
    try:
        recurrence = _recurrence(repeat, interval, weekdays, count, until, start, zone)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from None
    request = Booking(
        title=title,
        start=start,
        end=end,
        timezone=zone,
        organizer=checked_address(organizer, "--organizer"),
        booked_by=checked_address(booked_by, "--booked-by") if booked_by is not None else None,
        rooms=tuple(checked_address(room, "--room") for room in rooms),
        participants=tuple(checked_address(person, "--participant") for person in participants),
        reminder_minutes=reminder,
        private=private,
        show_as=ShowAs(show_as),
        comment=comment,
        setup_minutes=setup,
        followup_minutes=followup,
        recurrence=recurrence,
    )
    with app.database().unit_of_work() as uow:
        stored = book(uow, request, option)
        uow.commit()
    app.emit(reservation_row(stored), f"reservation {stored.id} booked: {title}")


@reservations.command()
@click.argument("reservation_id")
@click.option("--title")
@click.option("--start", "start_text")
@click.option("--end", "end_text")
@click.option(
    "--organizer", help="Move the reservation to another organizer.", shell_complete=complete_persons
)
@click.option("--room", "rooms", multiple=True, help="Replace the rooms (repeatable).")
@click.option("--reminder", type=click.IntRange(0, 40320))
@pass_app
def update(
    app: AppContext,
    reservation_id: str,
    title: str | None,
    start_text: str | None,
    end_text: str | None,
    organizer: str | None,
    rooms: tuple[str, ...],
    reminder: int | None,
) -> None:
    """Change a reservation (title, times, rooms, organizer)."""
    organizer = checked_address(organizer, "--organizer") if organizer is not None else None
    rooms = tuple(checked_address(room, "--room") for room in rooms)
    with app.database().unit_of_work() as uow:
        zone = existing(uow, reservation_id).fields.timezone
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if start_text:
            changes["start"] = parse_time(start_text, zone, "--start")
        if end_text:
            changes["end"] = parse_time(end_text, zone, "--end")
        if rooms:
            changes["rooms"] = rooms
        if reminder is not None:
            changes["reminder_minutes"] = reminder
        stored = change(uow, reservation_id, changes, organizer=organizer, name=option)
        uow.commit()
    app.emit(reservation_row(stored), f"reservation {stored.id} updated (version {stored.version})")


@reservations.command()
@click.argument("reservation_id")
@click.option("--reason", default="", help="Why, for the journal.")
@pass_app
def cancel(app: AppContext, reservation_id: str, reason: str) -> None:
    """Cancel a reservation; its calendar entry is removed at the next sync."""
    with app.database().unit_of_work() as uow:
        stored = booking.cancel(uow, reservation_id, reason)
        uow.commit()
    app.emit(reservation_row(stored), f"reservation {stored.id} cancelled")


def register(cli: click.Group) -> None:
    cli.add_command(reservations)
