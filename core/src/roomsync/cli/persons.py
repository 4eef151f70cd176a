"""Persons and rooms: who is synchronised with which environment, which rooms ROOMS has."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from roomsync.cli.completion import complete_environments, complete_persons
from roomsync.cli.context import AppContext, pass_app
from roomsync.cli.sync import report_table, with_progress
from roomsync.domain import ConflictPolicy, Language, OutlookBookings, Person, Room
from roomsync.errors import InvalidInput, NotFound, PersonNotAssigned, UnknownEnvironment
from roomsync.persons_csv import address_problem, decode_persons_csv, parse_persons_csv
from roomsync.status import last_success, paused_text, persons_with_states
from roomsync.storage.protocols import UnitOfWork

REASON_LENGTH = 500  # the persons.pause_reason column


def checked_address(value: str, what: str) -> str:
    """``value`` as a mailbox address, checked as a persons file's email column is."""
    problem = address_problem(value)
    if problem is not None:
        raise InvalidInput(f"{what} {value!r} {problem}")
    return value.strip().lower()


def checked_name(value: str, what: str, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(f"{what} contains a line break or another control character")
    return value


def stored_person(uow: UnitOfWork, email: str) -> Person:
    person = uow.rooms.get_person(email)
    if person is None:
        raise NotFound(f"unknown person {email}; add it with 'roomsync persons add' or 'persons import'")
    return person


@click.group()
def persons() -> None:
    """Persons and their environments."""


@persons.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--on-error",
    type=click.Choice(["skip", "abort"]),
    default="abort",
    show_default=True,
    help="With broken rows: import the good rows (skip) or nothing (abort).",
)
@pass_app
def import_persons(app: AppContext, file: Path, on_error: str) -> None:
    """Create or update persons from a CSV file (columns: email, name, environment,
    conflict_policy, sync_enabled, bookers)."""
    settings = app.settings
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{file}: cannot be read: {exc.strerror or type(exc).__name__}") from None
    result = parse_persons_csv(
        decode_persons_csv(data, str(file)),
        file.name,
        default_conflict_policy=settings.sync.default_conflict_policy,
        environments=list(settings.environments),
    )
    errors = [str(error) for error in result.errors]
    if errors and on_error == "abort":
        for error in errors:
            click.echo(error, err=True)
        raise InvalidInput(f"{len(errors)} problems in {file}; nothing imported (use --on-error skip)")
    given = [column for column in result.columns if column != "email"]
    with app.database().unit_of_work() as uow:
        for person in result.persons:
            existing = uow.rooms.get_person(person.email)
            if existing is not None:
                # Columns the file does not have keep their stored values.
                person = existing.model_copy(update={c: getattr(person, c) for c in given})
            uow.rooms.upsert_person(person)
        uow.commit()
    for error in errors:
        click.echo(f"skipped: {error}", err=True)
    app.emit(
        {"imported": len(result.persons), "skipped": errors},
        f"imported {len(result.persons)} persons, skipped {len(errors)} problems",
    )


@persons.command(name="list")
@pass_app
def list_persons(app: AppContext) -> None:
    """Persons with their environment and last sync."""
    with app.database().unit_of_work() as uow:
        people = persons_with_states(uow)
    rows = [
        {
            "email": p.email,
            "name": p.name,
            "environment": p.environment,
            "conflict_policy": p.conflict_policy.value,
            "sync_enabled": p.sync_enabled,
            "bookers": list(p.bookers),
            "language": p.language.value if p.language else None,
            "paused_at": p.paused_at.isoformat() if p.paused_at else None,
            "pause_reason": p.pause_reason,
            "last_success": last_success(state),
            "last_error": state.last_error if state else None,
        }
        for p, state in people
    ]
    table = Table(
        "email", "name", "environment", "policy", "sync", "bookers", "language", "last success", "last error"
    )
    for (person, _), r in zip(people, rows, strict=True):
        table.add_row(
            str(r["email"]),
            str(r["name"]),
            str(r["environment"] or "[yellow]none[/yellow]"),
            str(r["conflict_policy"]),
            _sync_shown(person),
            ", ".join(person.bookers) or "-",
            str(r["language"] or "(default)"),
            str(r["last_success"] or "-"),
            str(r["last_error"] or ""),
        )
    app.emit(rows, table)


@persons.command(name="set")
@click.argument("email", shell_complete=complete_persons)
@click.option(
    "--environment",
    "environment",
    help="Environment this person's mailbox lives in.",
    shell_complete=complete_environments,
)
@click.option("--no-environment", is_flag=True, help="Stop synchronising this person.")
@click.option("--policy", type=click.Choice([p.value for p in ConflictPolicy]), help="Conflict policy.")
@click.option("--sync/--no-sync", "sync_enabled", default=None, help="Switch this person's sync on or off.")
@click.option(
    "--booker",
    "add_bookers",
    multiple=True,
    metavar="ADDRESS",
    help="Someone who may book, change and cancel this person's reservations (repeatable).",
)
@click.option(
    "--no-booker",
    "remove_bookers",
    multiple=True,
    metavar="ADDRESS",
    help="Someone who may no longer book for this person (repeatable).",
)
@click.option(
    "--language",
    type=click.Choice([*(language.value for language in Language), "default"]),
    help="The language of this person's mails; 'default': the configuration's [notify] language.",
)
@pass_app
def set_person(
    app: AppContext,
    email: str,
    environment: str | None,
    no_environment: bool,
    policy: str | None,
    sync_enabled: bool | None,
    add_bookers: tuple[str, ...],
    remove_bookers: tuple[str, ...],
    language: str | None,
) -> None:
    """Assign a person to an environment, change their policy or who may book for them."""
    if environment and environment not in app.settings.environments:
        raise UnknownEnvironment(environment, list(app.settings.environments))
    added = {checked_address(address, "--booker") for address in add_bookers}
    removed = {checked_address(address, "--no-booker") for address in remove_bookers}
    if added & removed:
        raise click.UsageError(f"--booker and --no-booker both name {', '.join(sorted(added & removed))}")
    changes: dict[str, object] = {}
    if environment or no_environment:
        changes["environment"] = None if no_environment else environment
    if policy:
        changes["conflict_policy"] = ConflictPolicy(policy)
    if sync_enabled is not None:
        changes["sync_enabled"] = sync_enabled
    if language is not None:
        changes["language"] = None if language == "default" else Language(language)
    if not changes and not added and not removed:
        raise click.UsageError(
            "nothing to set: give --environment, --no-environment, --policy, --sync, --booker, "
            "--no-booker or --language"
        )
    with app.database().unit_of_work() as uow:
        person = stored_person(uow, email)
        if added or removed:
            changes["bookers"] = tuple(sorted((set(person.bookers) | added) - removed))
        person = uow.rooms.upsert_person(person.model_copy(update=changes))
        uow.commit()
    app.emit(
        person.model_dump(mode="json"),
        f"{person.email}: environment {person.environment or 'none'}, "
        f"policy {person.conflict_policy.value}, sync {'on' if person.sync_enabled else 'off'}, "
        f"bookers {', '.join(person.bookers) or 'none'}, "
        f"language {person.language.value if person.language else 'default'}",
    )


def _sync_shown(person: Person) -> str:
    """The sync column of ``persons list``: on, off, or the pause (with whether it is on beneath)."""
    paused = paused_text(person)
    if paused is None:
        return "on" if person.sync_enabled else "off"
    return f"[yellow]{paused}[/yellow]" if person.sync_enabled else f"off, [yellow]{paused}[/yellow]"


def _pause_data(person: Person, changed: bool) -> dict[str, object]:
    return {
        "email": person.email,
        "paused_at": person.paused_at.isoformat() if person.paused_at else None,
        "pause_reason": person.pause_reason,
        "changed": changed,
    }


@persons.command(name="pause")
@click.argument("email", shell_complete=complete_persons)
@click.option("--reason", default="", help="Why, shown by 'status' and 'persons list'.")
@pass_app
def pause_person(app: AppContext, email: str, reason: str) -> None:
    """Pause a person's sync until 'persons resume': no cycle runs for them meanwhile.

    Unlike 'persons set --no-sync' everything synchronised so far is kept (links, the mailbox's
    sync state), so the first cycle after 'resume' catches up on what changed meanwhile on both
    sides; a pause also survives 'persons import'. 'roomsync sync --person' skips a paused
    person and says so.
    """
    reason = checked_name(reason, "--reason")
    if len(reason) > REASON_LENGTH:
        raise InvalidInput(f"--reason is {len(reason)} characters long; at most {REASON_LENGTH} are kept")
    with app.database().unit_of_work() as uow:
        person = stored_person(uow, email)
        if person.paused_at is not None:
            app.emit(
                _pause_data(person, changed=False),
                f"{person.email} is already {paused_text(person)}; unchanged",
            )
            return
        paused = person.model_copy(update={"paused_at": datetime.now(UTC), "pause_reason": reason or None})
        person = uow.rooms.upsert_person(paused)
        uow.commit()
    app.emit(_pause_data(person, changed=True), f"{person.email}: {paused_text(person)}")


@persons.command(name="resume")
@click.argument("email", shell_complete=complete_persons)
@pass_app
def resume_person(app: AppContext, email: str) -> None:
    """End a person's pause: their next cycle catches up on what changed meanwhile."""
    with app.database().unit_of_work() as uow:
        person = stored_person(uow, email)
        if person.paused_at is None:
            app.emit(_pause_data(person, changed=False), f"{person.email} is not paused; unchanged")
            return
        was = paused_text(person)
        person = uow.rooms.upsert_person(person.model_copy(update={"paused_at": None, "pause_reason": None}))
        uow.commit()
    app.emit(_pause_data(person, changed=True), f"{person.email}: resumed (was {was})")


@persons.command(name="resync")
@click.argument("email", shell_complete=complete_persons)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Go on although none of the person's synced entries is found in their calendar.",
)
@pass_app
def resync_person(app: AppContext, email: str, yes: bool, allow_mass_delete: bool) -> None:
    """Forget what the sync knows of a person's mailbox and read their calendar again.

    The mailbox's sync state, the entries refused so far and the links' Exchange item ids are
    forgotten; one cycle then reads everything and finds each synchronised entry again by its
    ROOMS stamp, so nothing is created twice and nothing is deleted. It holds the mailbox's lease:
    it never runs beside a cycle of the person elsewhere. Prints the cycle's report (exit code 1
    if it failed or another runner was synchronising the person).
    """
    with app.database().unit_of_work() as uow:
        person = stored_person(uow, email)
    if person.paused_at is not None:
        raise InvalidInput(
            f"{person.email} is {paused_text(person)}; "
            f"resume it first: 'roomsync persons resume {person.email}'"
        )
    if not person.environment:
        raise PersonNotAssigned(person.email)
    if not yes:
        click.confirm(
            f"Forget the sync state of {person.email} and read their calendar in environment "
            f"{person.environment} again?",
            abort=True,
            err=True,
        )
    [report] = with_progress(
        app,
        [person],
        lambda p, on_batch: app.runner.resync_person(p, allow_mass_delete, on_batch),
    )
    app.emit(report.as_dict(), report_table([report]))
    if not report.ok or report.skipped:
        raise click.exceptions.Exit(1)


@persons.command(name="add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option(
    "--environment", help="Environment this person's mailbox lives in.", shell_complete=complete_environments
)
@pass_app
def add_person(app: AppContext, email: str, name: str, environment: str | None) -> None:
    """Add one person (or update their name and environment, keeping the rest)."""
    email = checked_address(email, "email")
    name = checked_name(name, "--name")
    if environment and environment not in app.settings.environments:
        raise UnknownEnvironment(environment, list(app.settings.environments))
    with app.database().unit_of_work() as uow:
        existing = uow.rooms.get_person(email)
        if existing is None:
            wanted = Person(email=email, name=name, environment=environment)
        else:
            wanted = existing.model_copy(update={"name": name, "environment": environment})
        person = uow.rooms.upsert_person(wanted)
        uow.commit()
    app.emit(person.model_dump(mode="json"), f"{person.email}: environment {person.environment or 'none'}")


@click.group()
def rooms() -> None:
    """Rooms and their room mailboxes."""


@rooms.command(name="add")
@click.argument("name")
@click.argument("mailbox")
@click.option("--capacity", type=click.IntRange(min=1))
@click.option("--equipment", multiple=True, help="What the room offers, e.g. projector (repeatable).")
@click.option("--no-sync-master", is_flag=True, help="Report conflicting Exchange bookings only.")
@click.option(
    "--outlook-bookings",
    type=click.Choice([o.value for o in OutlookBookings]),
    default=OutlookBookings.RESERVATION.value,
    show_default=True,
    help="What a booking of the room made in Outlook, by someone roomsync does not synchronise, becomes.",
)
@click.option(
    "--environment",
    help="Environment whose server holds the room mailbox (default: the first).",
    shell_complete=complete_environments,
)
@click.option(
    "--booking-window-days",
    type=click.IntRange(min=1, max=3650),
    help="How many days ahead the room may be booked (as its mailbox's BookingWindowInDays).",
)
@pass_app
def add_room(
    app: AppContext,
    name: str,
    mailbox: str,
    capacity: int | None,
    equipment: tuple[str, ...],
    no_sync_master: bool,
    outlook_bookings: str,
    environment: str | None,
    booking_window_days: int | None,
) -> None:
    """Add a room with its Exchange room mailbox.

    Its calendar is read at every cycle: what people book in Outlook by inviting the room comes
    into ROOMS. A sync master room declines an Outlook booking that collides with a ROOMS
    reservation; with --no-sync-master both stay and the administrators are told.
    """
    name = checked_name(name, "the room's name", required=True)
    mailbox = checked_address(mailbox, "mailbox")
    equipment = tuple(checked_name(item, "--equipment", required=True) for item in equipment)
    if environment is not None and environment not in app.settings.environments:
        raise UnknownEnvironment(environment, list(app.settings.environments))
    with app.database().unit_of_work() as uow:
        room = uow.rooms.add_room(
            Room(
                name=name,
                mailbox=mailbox,
                capacity=capacity,
                equipment=equipment,
                sync_master=not no_sync_master,
                outlook_bookings=OutlookBookings(outlook_bookings),
                environment=environment,
                booking_window_days=booking_window_days,
            )
        )
        uow.commit()
    app.emit(room.model_dump(mode="json"), f"room {room.name} <{room.mailbox}>")


@rooms.command(name="set")
@click.argument("mailbox")
@click.option(
    "--booking-window-days",
    type=click.IntRange(min=1, max=3650),
    help="How many days ahead the room may be booked.",
)
@click.option("--no-booking-window", is_flag=True, help="The room may be booked any time ahead.")
@click.option(
    "--sync-master/--no-sync-master",
    "sync_master",
    default=None,
    help="Decline Outlook bookings that collide with ROOMS reservations, or only report them.",
)
@click.option(
    "--outlook-bookings",
    type=click.Choice([o.value for o in OutlookBookings]),
    help="What the room's Outlook bookings by people roomsync does not synchronise become.",
)
@click.option(
    "--active/--inactive",
    "active",
    default=None,
    help="Make the room bookable, or not (its future reservations are then detached from sync).",
)
@pass_app
def set_room(
    app: AppContext,
    mailbox: str,
    booking_window_days: int | None,
    no_booking_window: bool,
    sync_master: bool | None,
    outlook_bookings: str | None,
    active: bool | None,
) -> None:
    """Change a room's booking window, whether it is sync master, what its Outlook bookings
    become, or whether it can be booked; bookings already made stay."""
    mailbox = checked_address(mailbox, "mailbox")
    if booking_window_days is not None and no_booking_window:
        raise click.UsageError("give either --booking-window-days N or --no-booking-window")
    window_given = booking_window_days is not None or no_booking_window
    if active is not None:
        from roomsync.cli.rooms_import import activity_text, set_activity

        if window_given or sync_master is not None or outlook_bookings is not None:
            raise click.UsageError("give --active or --inactive without other options")
        room, reservations = set_activity(app, mailbox, active)
        app.emit(
            {**room.model_dump(mode="json"), "reservations": reservations}, activity_text(room, reservations)
        )
        return
    if not window_given and sync_master is None and outlook_bookings is None:
        raise click.UsageError(
            "give --booking-window-days N, --no-booking-window, --sync-master, --no-sync-master, "
            "--outlook-bookings, --active or --inactive"
        )
    with app.database().unit_of_work() as uow:
        if window_given:
            uow.rooms.set_booking_window(mailbox, booking_window_days)
        room = uow.rooms.update_room(
            mailbox,
            sync_master=sync_master,
            outlook_bookings=OutlookBookings(outlook_bookings) if outlook_bookings else None,
        )
        uow.commit()
    window = f"{room.booking_window_days} days ahead" if room.booking_window_days else "any time ahead"
    master = "sync master" if room.sync_master else "not sync master"
    app.emit(
        room.model_dump(mode="json"),
        f"room {room.name} <{room.mailbox}>: bookable {window}, {master}, "
        f"Outlook bookings become {room.outlook_bookings.value}s",
    )


@rooms.command(name="list")
@pass_app
def list_rooms(app: AppContext) -> None:
    """Rooms ROOMS knows."""
    with app.database().unit_of_work() as uow:
        all_rooms = uow.rooms.list_rooms()
    table = Table(
        "name",
        "mailbox",
        "capacity",
        "equipment",
        "sync master",
        "environment",
        "booking window",
        "active",
    )
    for room in all_rooms:
        table.add_row(
            room.name,
            room.mailbox,
            str(room.capacity or "-"),
            ", ".join(room.equipment),
            # An Outlook booking of the room becomes a blocker, not a reservation: said beside it.
            ("yes" if room.sync_master else "no")
            + (", blockers" if room.outlook_bookings is OutlookBookings.BLOCKER else ""),
            room.environment or "(first)",
            f"{room.booking_window_days} days" if room.booking_window_days else "-",
            "yes" if room.active else "[yellow]no[/yellow]",
        )
    app.emit([r.model_dump(mode="json") for r in all_rooms], table)


def register(cli: click.Group) -> None:
    from roomsync.cli.rooms_import import import_rooms_command  # it uses this module's checks

    rooms.add_command(import_rooms_command)
    cli.add_command(persons)
    cli.add_command(rooms)
