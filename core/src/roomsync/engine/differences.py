"""Finding differences: ROOMS against Exchange over a window, read whole on both sides.

The sync works from changes; this report reads both sides whole, so it finds drift the changes
never reported (an entry edited while its mailbox was not synchronised, a restore from backup).
A series is compared as a series (its pattern, title, rooms ...) and per occurrence: each
modified or cancelled occurrence that differs is a difference of its own, resolved on its own.
:mod:`roomsync.engine.difference_scans` stores what is found; :mod:`roomsync.engine.difference_advice`
says which side changed last and what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from roomsync.connector.types import CalendarEntry
from roomsync.domain import Person, Reservation
from roomsync.engine.difference_advice import Advice, advise
from roomsync.engine.groups import CycleGroups
from roomsync.engine.merge import OCCURRENCE, changed_keys, differing_keys, snapshot
from roomsync.engine.read_phase import map_imported
from roomsync.engine.runner import SyncRunner
from roomsync.errors import InvalidInput, RoomsyncError
from roomsync.room_bookings import first_conflict
from roomsync.storage.differences import DifferenceRecord
from roomsync.storage.protocols import Link, UnitOfWork

DEFAULT_DAYS = 90
MAX_DAYS = 3660
"""A scan may cover any window up to ten years; it is read in parts of :data:`READ_DAYS`."""
READ_DAYS = 90


class DifferenceKind(StrEnum):
    MISSING_IN_EXCHANGE = "missing-in-exchange"  # an active reservation has no entry
    MISSING_IN_ROOMS = "missing-in-rooms"  # a stamped entry has no active reservation
    FIELDS_DIFFER = "fields-differ"
    ANOTHER_INSTALLATION = "another-installation"  # stamped by another installation: left alone
    ROOM_COLLISION = "room-collision"  # an Outlook booking of a room ROOMS has given to another


class Resolution(StrEnum):
    USE_EXCHANGE = "use-exchange"
    USE_ROOMS = "use-rooms"
    IGNORE = "ignore"


@dataclass
class Difference:
    kind: DifferenceKind
    mailbox: str
    title: str
    reservation_id: str | None = None
    item_id: str | None = None
    keys: list[str] = field(default_factory=list)
    rooms: Reservation | None = None
    entry: CalendarEntry | None = None
    owner: str | None = None  # the installation whose entry it is, for ANOTHER_INSTALLATION
    environment: str | None = None
    occurrence: datetime | None = None  # the original start, for one occurrence of a series
    link: Link | None = None
    rooms_changed_at: datetime | None = None  # the journal's last change of the reservation
    holder: str | None = None  # the reservation holding the room, for ROOM_COLLISION
    advice: Advice = field(default_factory=Advice)
    record: DifferenceRecord | None = None  # once stored by a scan
    groups: CycleGroups | None = None  # the distribution groups as the scan saw them

    @property
    def starts_at(self) -> datetime:
        if self.occurrence is not None:
            return self.occurrence
        fields = self.rooms.fields if self.rooms is not None else self.entry.fields if self.entry else None
        return fields.start.astimezone(UTC) if fields is not None else datetime.now(UTC)

    @property
    def ident(self) -> str:
        """The same difference in every scan: what it is about, never its values."""
        about = [self.kind.value, self.mailbox.lower(), self.reservation_id or "", self.holder or ""]
        if self.kind is not DifferenceKind.FIELDS_DIFFER or self.reservation_id is None:
            about.append(self.item_id or "")
        about.append(self.occurrence.isoformat() if self.occurrence else "")
        return hashlib.sha256("\n".join(about).encode()).hexdigest()

    @property
    def sides(self) -> str:
        """Both sides' values: a change on either side changes it."""
        rooms = self.rooms
        seen = {
            "rooms": [snapshot(rooms.fields), rooms.status.value] if rooms is not None else None,
            "exchange": snapshot(self.entry.fields) if self.entry is not None else None,
        }
        return hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode()).hexdigest()

    @property
    def pending(self) -> bool:
        """A side changed after the sync last read it: the next cycle handles this change (by
        the person's conflict policy), unless its change feed missed it."""
        link = self.link
        if link is None or link.item_id is None:
            return False
        if self.rooms is not None and self.rooms.version != link.rooms_version:
            return True
        return self.entry is not None and bool(link.change_key) and self.entry.change_key != link.change_key

    def changed(self) -> dict[str, str]:
        """Which side changed each differing key since the two were last in step."""
        if self.link is None or self.link.rooms_snapshot is None or self.link.exchange_snapshot is None:
            return {}
        ours = changed_keys(snapshot(self.rooms.fields), self.link.rooms_snapshot) if self.rooms else set()
        theirs = (
            changed_keys(snapshot(self.entry.fields), self.link.exchange_snapshot) if self.entry else set()
        )
        sides = {key: _side(key in ours, key in theirs) for key in self.keys}
        return {key: side for key, side in sides.items() if side}

    def values(self) -> dict[str, dict[str, Any]]:
        """Each differing field with its value in ROOMS and in Exchange (canonical forms)."""
        ours = snapshot(self.rooms.fields) if self.rooms is not None else {}
        theirs = snapshot(self.entry.fields) if self.entry is not None else {}
        changed = self.changed()
        return {
            key: {
                "rooms": _shown(ours.get(key)),
                "exchange": _shown(theirs.get(key)),
                "changed": changed.get(key),
            }
            for key in self.keys
        }

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "mailbox": self.mailbox,
            "title": self.title,
            "reservation_id": self.reservation_id,
            "item_id": self.item_id,
            "keys": list(self.keys),
            "owner": self.owner,
            "occurrence": self.occurrence.isoformat() if self.occurrence else None,
            "changed_last": self.advice.changed_last,
            "recommendation": self.advice.recommendation,
            "reason": self.advice.reason,
            "pending": self.pending,
            "values": self.values(),
        }
        if self.record is not None:
            data |= {
                "id": self.record.id,
                "state": self.record.state.value,
                "state_by": self.record.state_by,
                "first_seen": self.record.as_dict()["first_seen"],
            }
        return data

    def to_record(self) -> DifferenceRecord:
        return DifferenceRecord(
            ident=self.ident,
            kind=self.kind.value,
            mailbox=self.mailbox,
            title=self.title,
            starts_at=self.starts_at,
            environment=self.environment,
            reservation_id=self.reservation_id,
            item_id=self.item_id,
            occurrence=self.occurrence,
            fields=self.values(),
            changed_last=self.advice.changed_last,
            rooms_changed_at=self.rooms_changed_at,
            exchange_changed_at=self.entry.modified if self.entry is not None else None,
            recommendation=self.advice.recommendation,
            reason=self.advice.reason,
            sides=self.sides,
        )

    def matches(self, mailbox: str, kind: str, reservation_id: str | None, item_id: str | None) -> bool:
        """Whether this is the difference a caller named (the report is made afresh each time)."""
        return (
            self.mailbox == mailbox
            and self.kind.value == kind
            and (reservation_id is None or self.reservation_id == reservation_id)
            and (item_id is None or self.item_id == item_id)
            and (reservation_id is not None or item_id is not None)
        )


def _side(rooms: bool, exchange: bool) -> str | None:
    return "both" if rooms and exchange else "rooms" if rooms else "exchange" if exchange else None


def _shown(value: Any) -> Any:
    """A merge key's value as a person reads it: a key of one field is that field's value."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def window(days: int = DEFAULT_DAYS, start: datetime | None = None) -> tuple[datetime, datetime]:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"--days must be between 1 and {MAX_DAYS}, not {days}")
    begin = start or datetime.now(UTC)
    return begin, begin + timedelta(days=days)


def find_differences(
    runner: SyncRunner,
    days: int = DEFAULT_DAYS,
    persons: list[str] | None = None,
    failures: dict[str, str] | None = None,
) -> list[Difference]:
    """The differences of every person (or of ``persons``) over the next ``days`` days.

    With ``failures``, a person whose calendar cannot be read is recorded there (address: error)
    and the others are still compared; without it the first such error is raised.
    """
    start, end = window(days)
    found: list[Difference] = []
    for person in runner.persons(persons):
        if not person.environment:
            continue
        try:
            found.extend(person_differences(runner, person, start, end).differences)
        except RoomsyncError as exc:
            if failures is None:
                raise
            failures[person.email] = str(exc)
    return found


def find_difference(
    runner: SyncRunner,
    mailbox: str,
    kind: str,
    reservation_id: str | None,
    item_id: str | None,
    days: int = DEFAULT_DAYS,
) -> Difference | None:
    """The difference a caller named, looked up afresh in its mailbox; ``None`` when it is gone
    (resolved meanwhile, by someone or by a cycle), so a resolution never acts on a stale one."""
    found = find_differences(runner, days, [mailbox])
    return next((d for d in found if d.matches(mailbox, kind, reservation_id, item_id)), None)


@dataclass
class Compared:
    """One person's differences, and what was compared (so a scan knows what is settled)."""

    differences: list[Difference]
    reservation_ids: set[str]
    item_ids: set[str]


def person_differences(runner: SyncRunner, person: Person, start: datetime, end: datetime) -> Compared:
    """One person's calendar against their reservations over ``start`` to ``end``."""
    host = runner.host_for_person(person)
    with runner.database.unit_of_work() as uow:
        known_rooms = {room.mailbox for room in uow.rooms.list_rooms()}
    # Both sides as ROOMS holds them, distribution groups with their persons, as a cycle compares
    groups = CycleGroups(host, runner.settings.sync, known_rooms)
    listed = groups.entries(map_imported(runner.pm, listed_entries(host, person.email, start, end)))
    by_stamp = {e.stamp: e for e in listed if e.is_own and e.stamp}
    with runner.database.unit_of_work() as uow:
        booked = {
            str(r.id): _held(r, groups)
            for r in uow.rooms.reservations(organizer=person.email, start=start, end=end)
            if not r.sync_disabled
        }
        others = {stamp: uow.rooms.get_reservation(stamp) for stamp in by_stamp if stamp not in booked}
        links = {
            rid: next((link for link in found if link.mailbox == person.email), None)
            for rid, found in uow.sync.links_for_reservations([*booked, *others]).items()
        }
        found: list[Difference] = []
        for reservation_id, reservation in booked.items():
            found.extend(
                _compared(
                    person.email,
                    reservation_id,
                    reservation,
                    by_stamp.get(reservation_id),
                    known_rooms,
                    links.get(reservation_id),
                )
            )
        found.extend(
            Difference(
                DifferenceKind.ANOTHER_INSTALLATION,
                person.email,
                entry.fields.title,
                item_id=entry.item_id,
                owner=entry.stamped_by,
                entry=entry,
            )
            for entry in listed
            if entry.is_own and entry.stamped_by is not None
        )
        found.extend(_missing_in_rooms(person.email, by_stamp, booked, others, links))
        found.extend(_collisions(uow, person.email, listed, known_rooms))
        for difference in found:
            difference.environment = person.environment
            difference.groups = groups
            if difference.reservation_id and difference.rooms is not None:
                journal = uow.rooms.journal(difference.reservation_id, limit=1)
                difference.rooms_changed_at = journal[0].at if journal else None
            difference.advice = advise(difference)
    return Compared(found, set(booked) | set(others), {e.item_id for e in listed})


def _held(reservation: Reservation, groups: CycleGroups) -> Reservation:
    """The reservation with its groups' persons, as a cycle would write them into ROOMS."""
    held = groups.held(reservation.fields, reservation.organizer)
    return reservation if held == reservation.fields else reservation.model_copy(update={"fields": held})


def listed_entries(host: Any, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
    """The entries of the window, read in parts a server answers (a series comes in each part)."""
    entries: dict[str, CalendarEntry] = {}
    begin = start
    while begin < end:
        part_end = min(end, begin + timedelta(days=READ_DAYS))
        for entry in host.list_entries(mailbox, begin, part_end):
            entries.setdefault(entry.item_id, entry)
        begin = part_end
    return list(entries.values())


def _compared(
    mailbox: str,
    reservation_id: str,
    reservation: Reservation,
    entry: CalendarEntry | None,
    known_rooms: set[str],
    link: Link | None,
) -> list[Difference]:
    """How a reservation and its entry differ: missing, fields differing, or not at all.

    A series' occurrence changes are differences of their own, unless the pattern itself differs
    (a new pattern takes its occurrence changes along, as Exchange does).
    """
    if entry is None:
        return [
            Difference(
                DifferenceKind.MISSING_IN_EXCHANGE,
                mailbox,
                reservation.fields.title,
                reservation_id,
                rooms=reservation,
                link=link,
            )
        ]
    theirs = entry.fields.model_copy(
        update={"rooms": tuple(r for r in entry.fields.rooms if r in known_rooms)}
    )
    keys = sorted(differing_keys(reservation.fields, theirs))
    seen = entry.model_copy(update={"fields": theirs})

    def one(these: list[str], occurrence: datetime | None = None) -> Difference:
        return Difference(
            DifferenceKind.FIELDS_DIFFER,
            mailbox,
            reservation.fields.title,
            reservation_id,
            entry.item_id,
            these,
            reservation,
            seen,
            occurrence=occurrence,
            link=link,
        )

    if not keys:
        return []
    per_occurrence = [key for key in keys if key.startswith(OCCURRENCE)]
    if "recurrence" in keys or not per_occurrence:
        return [one(keys)]
    series = [key for key in keys if not key.startswith(OCCURRENCE)]
    found = [one(series)] if series else []
    found.extend(one([key], datetime.fromisoformat(key.removeprefix(OCCURRENCE))) for key in per_occurrence)
    return found


def _missing_in_rooms(
    mailbox: str,
    by_stamp: dict[str, CalendarEntry],
    booked: dict[str, Reservation],
    others: dict[str, Reservation | None],
    links: dict[str, Link | None],
) -> list[Difference]:
    """Stamped entries whose reservation this person no longer organises (none in a hand-over)."""
    found = []
    for stamp, entry in by_stamp.items():
        if stamp in booked:
            continue
        other = others.get(stamp)
        if other is not None and other.active and other.organizer != mailbox:
            continue  # an organizer change in progress: the sync moves it
        found.append(
            Difference(
                DifferenceKind.MISSING_IN_ROOMS,
                mailbox,
                entry.fields.title,
                stamp,
                entry.item_id,
                rooms=other,
                entry=entry,
                link=links.get(stamp),
            )
        )
    return found


def _collisions(
    uow: UnitOfWork, mailbox: str, listed: list[CalendarEntry], known_rooms: set[str]
) -> list[Difference]:
    """The person's own Outlook bookings, unknown to ROOMS, of rooms ROOMS gave to another
    reservation at that time (a booking the sync refused stays in Outlook until someone acts)."""
    candidates = [
        entry
        for entry in listed
        if entry.is_own
        and not (entry.stamp or entry.stamped_by)
        and any(room in known_rooms for room in entry.fields.rooms)
    ]
    if not candidates:
        return []
    linked = {link.item_id for link in uow.sync.links_in_mailbox(mailbox)}
    candidates = [entry for entry in candidates if entry.item_id not in linked]
    rooms = sorted({room for entry in candidates for room in entry.fields.rooms if room in known_rooms})
    since = min((entry.fields.start for entry in candidates), default=datetime.now(UTC)) - timedelta(days=1)
    bookings = {b.id: b for b in uow.rooms.room_bookings(rooms, since)}  # one read for them all
    found = []
    for entry in candidates:
        for room in (room for room in entry.fields.rooms if room in known_rooms):
            holder = first_conflict(bookings.values(), room, entry.fields)
            if holder is not None:
                found.append(
                    Difference(
                        DifferenceKind.ROOM_COLLISION,
                        mailbox,
                        entry.fields.title,
                        item_id=entry.item_id,
                        keys=["rooms"],
                        entry=entry,
                        rooms=bookings[holder],
                        holder=holder,
                    )
                )
    return found
