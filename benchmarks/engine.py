"""Engine benchmark on the reference connector: requests, wall time and memory per workload.

    python benchmarks/engine.py [--reservations 1000] [--persons 200] [--postgresql-url URL]

It measures the engine and the SQL store, not a server: the reference connector answers in
microseconds, so wall time here is roomsync's own cost, and the request counts are what any
connector would be asked for. Workloads: the first export of N reservations of one person, an
idle cycle over P persons, a cycle after one change per person, and free/busy for 100 mailboxes.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_database import database_for

from roomsync.config import settings_from_mapping
from roomsync.connectors.reference_directory import MailboxDirectory
from roomsync.domain import EventFields, Person, Reservation, Room
from roomsync.engine.freebusy import free_busy
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin

START = (datetime.now(UTC) + timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)


def measure(label: str, directory: MailboxDirectory, work: Callable[[], object]) -> None:
    """Requests and wall time of the workload; memory as the process's peak resident size so far
    (tracing allocations instead would slow the code it measures)."""
    directory.calls.clear()
    began = time.perf_counter()
    work()
    seconds = time.perf_counter() - began
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    calls = ", ".join(f"{name} {count}" for name, count in sorted(directory.calls.items()))
    total = sum(directory.calls.values())
    print(f"{label:<40} {total:>5} requests {seconds:6.2f} s  peak RSS {peak_mib:5.0f} MiB  ({calls})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reservations", type=int, default=1000)
    parser.add_argument("--persons", type=int, default=200)
    parser.add_argument(
        "--postgresql-url",
        help="run on this PostgreSQL database, in a fresh schema made and dropped (default: SQLite)",
    )
    args = parser.parse_args()
    kind = "postgresql" if args.postgresql_url else "sqlite"
    with database_for(kind, args.postgresql_url or "", Path(tempfile.mkdtemp())) as database:
        run(args, database)


def run(args: argparse.Namespace, database: Database) -> None:
    name = f"bench-{uuid.uuid4().hex}"
    settings = settings_from_mapping(
        {"environments": {"ref": {"plugin": "reference", "options": {"directory": name}}}}
    )
    directory = MailboxDirectory.named(name)
    persons = [f"person{i:04d}@bench.example" for i in range(args.persons)]
    with database.unit_of_work() as uow:
        for email in persons:
            uow.rooms.upsert_person(Person(email=email, environment="ref"))
        uow.rooms.add_room(Room(name="Hall", mailbox="hall@bench.example"))
        for i in range(args.reservations):
            start = START + timedelta(hours=i)
            uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=f"Booking {i}",
                        start=start,
                        end=start + timedelta(minutes=30),
                        timezone="Europe/Berlin",
                    ),
                    organizer=persons[0],
                ),
                origin=Origin.ROOMS,
            )
        uow.commit()
    runner = SyncRunner(settings, database)
    print(f"database: {database.display_url}; {args.reservations} reservations, {args.persons} persons\n")
    measure(
        f"first export of {args.reservations} reservations", directory, lambda: runner.sync_once([persons[0]])
    )
    runner.sync_once()  # every person's first cycle
    measure(f"idle cycle over {args.persons} persons", directory, runner.sync_once)
    with database.unit_of_work() as uow:
        for reservation in uow.rooms.reservations(organizer=persons[0])[:100]:
            fields = reservation.fields.model_copy(update={"title": reservation.fields.title + " (moved)"})
            uow.rooms.update_reservation(reservation.id or "", fields=fields)
        uow.commit()
    measure("cycle after 100 ROOMS changes", directory, runner.sync_once)
    mailboxes = [*persons[:99], "hall@bench.example"]
    measure(
        "free/busy of 100 mailboxes over 7 days",
        directory,
        lambda: free_busy(runner, mailboxes, START, START + timedelta(days=7)),
    )
    runner.close()


if __name__ == "__main__":
    main()
