"""``roomsync demo``: the main job on the embedded defaults, for a first look.

It builds a throw-away installation (SQLite in a temporary data directory, the in-memory
reference connector as the Exchange side), then walks through the four functions: export,
import of an Outlook booking, changes both ways with a three-way merge, a conflict, a deletion,
an organizer change, free/busy and the differences report.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from roomsync.cli.context import AppContext, pass_app
from roomsync.config import settings_from_mapping
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.engine.differences import find_differences
from roomsync.engine.freebusy import free_busy
from roomsync.engine.report import CycleReport
from roomsync.model import EventFields, Participant, Person, Recurrence, Reservation, Room, ShowAs
from roomsync.store import Origin

ZONE = "Europe/Berlin"
ALICE, BOB, CAROL = "alice@contoso.example", "bob@contoso.example", "carol@contoso.example"
ATLAS, BOREAS = "room.atlas@contoso.example", "room.boreas@contoso.example"


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's database here (default: a temporary directory).",
)
@pass_app
def demo(app: AppContext, data_dir: Path | None) -> None:
    """Run a complete sync scenario on SQLite and the reference connector."""
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="roomsync-demo-") as tmp:
            _run(app, Path(tmp))
    else:
        _run(app, data_dir)


def _run(app: AppContext, data_dir: Path) -> None:
    out = app.console
    directory_name = f"demo-{datetime.now(UTC).timestamp()}"
    settings = settings_from_mapping(
        {
            "data_dir": str(data_dir.resolve()),
            "environments": {
                "contoso": {
                    "plugin": "reference",
                    "description": "in-memory Exchange",
                    "options": {"directory": directory_name},
                }
            },
        }
    )
    app.use_settings(settings)
    database = app.database(check=False)
    revision = database.upgrade()
    exchange = MailboxDirectory.named(directory_name)
    runner = app.runner
    tz = ZoneInfo(ZONE)
    monday = (datetime.now(tz) + timedelta(days=7 - datetime.now(tz).weekday())).replace(
        hour=9, minute=0, second=0, microsecond=0
    )

    def step(title: str) -> None:
        out.rule(f"[bold]{title}")

    def cycle() -> list[CycleReport]:
        reports = runner.sync_once()
        for r in reports:
            out.print(f"  sync {r.mailbox}: {r.summary()}")
        return reports

    def calendar(mailbox: str) -> None:
        table = Table("entry", "title", "when", "rooms", "stamp", title=f"Exchange calendar of {mailbox}")
        for e in sorted(exchange.entries(mailbox), key=lambda e: e.fields.start):
            series = " (weekly)" if e.fields.recurrence else ""
            table.add_row(
                e.item_id[-8:],
                e.fields.title,
                f"{e.fields.start.astimezone(tz):%a %d %b %H:%M}-{e.fields.end.astimezone(tz):%H:%M}{series}",
                ", ".join(e.fields.rooms),
                e.stamp or "-",
            )
        out.print(table)

    step(f"Setup: SQLite at {data_dir} (schema {revision}), environment 'contoso' (reference connector)")
    with database.unit_of_work() as uow:
        for email, name in ((ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol")):
            uow.rooms.upsert_person(Person(email=email, name=name, environment="contoso"))
        for name, mailbox in (("Atlas", ATLAS), ("Boreas", BOREAS)):
            uow.rooms.add_room(Room(name=name, mailbox=mailbox, capacity=8))
            exchange.add_room(mailbox)
        uow.commit()
    out.print("  3 persons (Alice, Bob, Carol), 2 rooms (Atlas, Boreas)")

    step("1. Export: reservations booked in ROOMS appear in the organizer's calendar")
    with database.unit_of_work() as uow:
        planning = uow.rooms.create_reservation(
            Reservation(
                fields=EventFields(
                    title="Sprint planning",
                    start=monday,
                    end=monday + timedelta(hours=1),
                    timezone=ZONE,
                    rooms=(ATLAS,),
                    participants=(Participant(email=BOB),),
                    body="Agenda in the wiki",
                ),
                organizer=ALICE,
                setup_minutes=15,
            ),
            origin=Origin.ROOMS,
            actor=ALICE,
        )
        standup = uow.rooms.create_reservation(
            Reservation(
                fields=EventFields(
                    title="Stand-up",
                    start=monday + timedelta(hours=1),
                    end=monday + timedelta(hours=1, minutes=15),
                    timezone=ZONE,
                    rooms=(BOREAS,),
                    recurrence=Recurrence(frequency="weekly", weekdays=("MO", "WE", "FR"), count=12),
                ),
                organizer=ALICE,
            ),
            origin=Origin.ROOMS,
            actor=ALICE,
        )
        for_bob = uow.rooms.create_reservation(
            Reservation(
                fields=EventFields(
                    title="Customer visit",
                    start=monday + timedelta(days=1, hours=5),
                    end=monday + timedelta(days=1, hours=7),
                    timezone=ZONE,
                    rooms=(ATLAS,),
                ),
                organizer=BOB,
                creator=CAROL,
            ),
            origin=Origin.ROOMS,
            actor=CAROL,
        )
        uow.commit()
    out.print(
        f"  booked {planning.id} 'Sprint planning', {standup.id} 'Stand-up' (series), "
        f"{for_bob.id} 'Customer visit' (Carol books for Bob)"
    )
    cycle()
    calendar(ALICE)
    calendar(BOB)

    step("2. Import: Bob books room Boreas from Outlook")
    lunch = exchange.user_create(
        BOB,
        EventFields(
            title="Lunch & learn",
            start=monday + timedelta(days=2, hours=3),
            end=monday + timedelta(days=2, hours=4),
            timezone=ZONE,
            rooms=(BOREAS,),
        ),
    )
    cycle()
    with database.unit_of_work() as uow:
        booked = [r for r in uow.rooms.reservations(organizer=BOB) if r.fields.title == "Lunch & learn"]
    out.print(
        f"  ROOMS now has reservation {booked[0].id} for it; the entry carries stamp "
        f"{exchange.entries(BOB)[[e.item_id for e in exchange.entries(BOB)].index(lunch.item_id)].stamp}"
    )

    step("3. Both ways: Alice renames in Outlook while ROOMS moves the time: both survive")
    entry = next(e for e in exchange.entries(ALICE) if e.stamp == planning.id)
    exchange.user_update(ALICE, entry.item_id, title="Sprint planning #42")
    with database.unit_of_work() as uow:
        current = uow.rooms.get_reservation(planning.id or "")
        assert current is not None
        moved = current.fields.model_copy(
            update={"start": monday + timedelta(hours=2), "end": monday + timedelta(hours=3)}
        )
        uow.rooms.update_reservation(current.id or "", fields=moved, origin=Origin.ROOMS)
        uow.commit()
    cycle()
    with database.unit_of_work() as uow:
        merged = uow.rooms.get_reservation(planning.id or "")
    assert merged is not None
    entry = next(e for e in exchange.entries(ALICE) if e.stamp == planning.id)
    out.print(f"  ROOMS:    '{merged.fields.title}' at {merged.fields.start.astimezone(tz):%H:%M}")
    out.print(f"  Exchange: '{entry.fields.title}' at {entry.fields.start.astimezone(tz):%H:%M}")

    step("4. Conflict: Bob moves his visit in Outlook into a slot where Atlas is taken")
    visit = next(e for e in exchange.entries(BOB) if e.stamp == for_bob.id)
    exchange.user_update(
        BOB, visit.item_id, start=monday + timedelta(hours=2), end=monday + timedelta(hours=3)
    )
    cycle()
    visit = next(e for e in exchange.entries(BOB) if e.stamp == for_bob.id)
    out.print(
        f"  policy 'rollback': the entry is back at {visit.fields.start.astimezone(tz):%a %H:%M}; "
        "Bob gets an e-mail explaining why"
    )

    step("5. Organizer change: the visit moves from Bob to Carol")
    with database.unit_of_work() as uow:
        uow.rooms.update_reservation(for_bob.id or "", organizer=CAROL, origin=Origin.ROOMS)
        uow.commit()
    cycle()
    out.print(
        f"  Bob's calendar: {len(exchange.entries(BOB))} entries, Carol's: {len(exchange.entries(CAROL))}"
    )

    step("6. Deletion in Outlook cancels the reservation")
    exchange.user_delete(BOB, lunch.item_id, to_deleted_items=True)
    cycle()
    with database.unit_of_work() as uow:
        gone = next(
            r
            for r in uow.rooms.reservations(organizer=BOB, include_cancelled=True)
            if r.fields.title == "Lunch & learn"
        )
    out.print(f"  reservation {gone.id} is now {gone.status.value}")

    step("7. Free/busy of persons and rooms (ROOMS bookings include setup time)")
    answers = free_busy(runner, [ALICE, CAROL, ATLAS], monday, monday + timedelta(days=1))
    table = Table("mailbox", "busy", "status", "from")
    for answer in answers:
        if not answer.busy:
            table.add_row(answer.mailbox, "free all day", "", "")
        for i, busy in enumerate(answer.busy):
            table.add_row(
                answer.mailbox if i == 0 else "",
                f"{busy.start.astimezone(tz):%H:%M}-{busy.end.astimezone(tz):%H:%M}",
                ShowAs(busy.status).value,
                busy.source,
            )
    out.print(table)

    step("8. Differences report: none after the sync")
    differences = find_differences(runner, days=30)
    out.print(f"  {len(differences)} differences between ROOMS and Exchange over the next 30 days")
    app.emit({"data_dir": str(data_dir), "differences": len(differences)})


def register(cli: click.Group) -> None:
    cli.add_command(demo)
