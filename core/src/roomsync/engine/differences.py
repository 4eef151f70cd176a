"""The differences report: ROOMS against Exchange over a window, and resolving each difference.

The sync works from changes; this report reads both sides whole, so it finds drift the changes
never reported (an entry edited while its mailbox was not synchronised, a restore from backup).
A difference is resolved by hand or by policy: ``use-exchange``, ``use-rooms`` or ``ignore``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from roomsync.connector.types import CalendarEntry, EntryUpdate, ItemRef
from roomsync.domain import Person, Reservation
from roomsync.engine.apply import draft_for, read_back
from roomsync.engine.merge import Snapshot, differing_keys, snapshot
from roomsync.engine.read_phase import map_imported
from roomsync.engine.runner import SyncRunner
from roomsync.errors import InvalidInput, RoomsyncError
from roomsync.storage.protocols import Link, LinkState, LogEntry, Origin

MAX_DAYS = 90


class DifferenceKind(StrEnum):
    MISSING_IN_EXCHANGE = "missing-in-exchange"  # an active reservation has no entry
    MISSING_IN_ROOMS = "missing-in-rooms"  # a stamped entry has no active reservation
    FIELDS_DIFFER = "fields-differ"
    ANOTHER_INSTALLATION = "another-installation"  # stamped by another installation: left alone


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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rooms")
        data.pop("entry")
        data["kind"] = self.kind.value
        return data

    def values(self) -> dict[str, dict[str, Any]]:
        """Each differing field with its value in ROOMS and in Exchange (canonical forms)."""
        ours = snapshot(self.rooms.fields) if self.rooms is not None else {}
        theirs = snapshot(self.entry.fields) if self.entry is not None else {}
        return {
            key: {"rooms": _shown(ours.get(key)), "exchange": _shown(theirs.get(key))} for key in self.keys
        }

    def matches(self, mailbox: str, kind: str, reservation_id: str | None, item_id: str | None) -> bool:
        """Whether this is the difference a caller named (the report is made afresh each time)."""
        return (
            self.mailbox == mailbox
            and self.kind.value == kind
            and (reservation_id is None or self.reservation_id == reservation_id)
            and (item_id is None or self.item_id == item_id)
            and (reservation_id is not None or item_id is not None)
        )


def _shown(value: Any) -> Any:
    """A merge key's value as a person reads it: a key of one field is that field's value."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def find_differences(
    runner: SyncRunner,
    days: int = MAX_DAYS,
    persons: list[str] | None = None,
    failures: dict[str, str] | None = None,
) -> list[Difference]:
    """The differences of every person (or of ``persons``) over the next ``days`` days.

    With ``failures``, a person whose calendar cannot be read is recorded there (address: error)
    and the others are still compared; without it the first such error is raised.
    """
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"--days must be between 1 and {MAX_DAYS}, not {days}")
    start = datetime.now(UTC)
    end = start + timedelta(days=days)
    found: list[Difference] = []
    for person in runner.persons(persons):
        if not person.environment:
            continue
        try:
            found.extend(_person_differences(runner, person, start, end))
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
    days: int = MAX_DAYS,
) -> Difference | None:
    """The difference a caller named, looked up afresh in its mailbox; ``None`` when it is gone
    (resolved meanwhile, by someone or by a cycle), so a resolution never acts on a stale one."""
    found = find_differences(runner, days, [mailbox])
    return next((d for d in found if d.matches(mailbox, kind, reservation_id, item_id)), None)


def _person_differences(
    runner: SyncRunner, person: Person, start: datetime, end: datetime
) -> list[Difference]:
    """One person's calendar against their reservations over ``start`` to ``end``."""
    host = runner.host_for_person(person)
    listed = map_imported(runner.pm, host.list_entries(person.email, start, end))
    by_stamp = {e.stamp: e for e in listed if e.is_own and e.stamp}
    with runner.database.unit_of_work() as uow:
        booked = {
            str(r.id): r
            for r in uow.rooms.reservations(organizer=person.email, start=start, end=end)
            if not r.sync_disabled
        }
        known_rooms = {room.mailbox for room in uow.rooms.list_rooms()}
        others = {stamp: uow.rooms.get_reservation(stamp) for stamp in by_stamp if stamp not in booked}
    found = [
        difference
        for reservation_id, reservation in booked.items()
        if (
            difference := _compared(
                person, reservation_id, reservation, by_stamp.get(reservation_id), known_rooms
            )
        )
    ]
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
    found.extend(_missing_in_rooms(person, by_stamp, booked, others))
    return found


def _compared(
    person: Person,
    reservation_id: str,
    reservation: Reservation,
    entry: CalendarEntry | None,
    known_rooms: set[str],
) -> Difference | None:
    """How a reservation and its entry differ: missing, fields differing, or not at all."""
    if entry is None:
        return Difference(
            DifferenceKind.MISSING_IN_EXCHANGE,
            person.email,
            reservation.fields.title,
            reservation_id,
            rooms=reservation,
        )
    theirs = entry.fields.model_copy(
        update={"rooms": tuple(r for r in entry.fields.rooms if r in known_rooms)}
    )
    keys = sorted(differing_keys(reservation.fields, theirs))
    if not keys:
        return None
    return Difference(
        DifferenceKind.FIELDS_DIFFER,
        person.email,
        reservation.fields.title,
        reservation_id,
        entry.item_id,
        keys,
        reservation,
        entry,
    )


def _missing_in_rooms(
    person: Person,
    by_stamp: dict[str, CalendarEntry],
    booked: dict[str, Reservation],
    others: dict[str, Reservation | None],
) -> list[Difference]:
    """Stamped entries whose reservation this person no longer organises (none in a hand-over)."""
    found = []
    for stamp, entry in by_stamp.items():
        if stamp in booked:
            continue
        other = others.get(stamp)
        if other is not None and other.active and other.organizer != person.email:
            continue  # an organizer change in progress: the sync moves it
        found.append(
            Difference(
                DifferenceKind.MISSING_IN_ROOMS,
                person.email,
                entry.fields.title,
                stamp,
                entry.item_id,
                rooms=other,
                entry=entry,
            )
        )
    return found


def resolve(runner: SyncRunner, difference: Difference, resolution: Resolution) -> str:
    """Apply one resolution; returns what was done, in words for the report."""
    d = difference
    if resolution is Resolution.IGNORE:
        _log(runner, d, f"difference ignored ({d.kind.value})")
        return "ignored"
    if d.kind is DifferenceKind.ANOTHER_INSTALLATION:
        raise InvalidInput(
            f"entry '{d.title}' in {d.mailbox} belongs to installation {d.owner}; only that "
            "installation may change it"
        )
    host = runner.host(_environment(runner, d.mailbox))
    with runner.database.unit_of_work() as uow:
        if resolution is Resolution.USE_ROOMS:
            if d.kind is DifferenceKind.MISSING_IN_EXCHANGE and d.rooms is not None:
                draft = draft_for(runner.pm, d.rooms)
                result = host.create_entries(d.mailbox, [draft])[0]
                _require(result.ok, result.error)
                written = read_back(runner.pm, d.mailbox, draft.stamp, draft.fields)
                _link(uow, d.rooms, d.mailbox, result.item_id, result.change_key, written)
                done = "entry created from the reservation"
            elif d.kind is DifferenceKind.FIELDS_DIFFER and d.rooms is not None and d.entry is not None:
                draft = draft_for(runner.pm, d.rooms)
                result = host.update_entries(
                    d.mailbox,
                    [
                        EntryUpdate(
                            item_id=d.entry.item_id,
                            change_key=d.entry.change_key,
                            stamp=draft.stamp,
                            fields=draft.fields,
                            setup_minutes=draft.setup_minutes,
                            followup_minutes=draft.followup_minutes,
                        )
                    ],
                )[0]
                _require(result.ok, result.error)
                written = read_back(runner.pm, d.mailbox, draft.stamp, draft.fields)
                _link(uow, d.rooms, d.mailbox, d.entry.item_id, result.change_key, written)
                done = "entry rewritten from the reservation"
            else:
                assert d.entry is not None
                result = host.delete_entries(
                    d.mailbox, [ItemRef(item_id=d.entry.item_id, stamp=d.entry.stamp)]
                )[0]
                _require(result.ok, result.error)
                done = "entry without reservation deleted"
        else:
            if d.kind is DifferenceKind.MISSING_IN_EXCHANGE and d.reservation_id:
                uow.rooms.cancel_reservation(
                    d.reservation_id, origin=Origin.ADMIN, reason="missing in Exchange"
                )
                done = "reservation cancelled"
            elif d.kind is DifferenceKind.FIELDS_DIFFER and d.rooms is not None and d.entry is not None:
                known = {room.mailbox for room in uow.rooms.list_rooms()}
                fields = d.entry.fields.model_copy(
                    update={"rooms": tuple(r for r in d.entry.fields.rooms if r in known)}
                )
                assert d.reservation_id is not None
                updated = uow.rooms.update_reservation(
                    d.reservation_id, fields=fields, expected_version=d.rooms.version, origin=Origin.ADMIN
                )
                _link(uow, updated, d.mailbox, d.entry.item_id, d.entry.change_key, snapshot(d.entry.fields))
                done = "reservation updated from the entry"
            else:
                raise InvalidInput(
                    f"entry '{d.title}' in {d.mailbox} has no active reservation; ROOMS cannot take it back "
                    "(resolve with use-rooms to delete the entry, or ignore)"
                )
        uow.commit()
    _log(runner, d, f"{d.kind.value} resolved with {resolution.value}: {done}")
    return done


def _environment(runner: SyncRunner, mailbox: str) -> str:
    with runner.database.unit_of_work() as uow:
        person = uow.rooms.get_person(mailbox)
    if person is None or not person.environment:
        raise InvalidInput(f"{mailbox} is not assigned to an environment")
    return person.environment


def _require(ok: bool, error: str | None) -> None:
    if not ok:
        raise RoomsyncError(f"the connector refused: {error}")


def _link(
    uow: Any,
    reservation: Reservation,
    mailbox: str,
    item_id: str | None,
    change_key: str | None,
    exchange_snapshot: Snapshot,
) -> None:
    """Both sides now agree: store that as the link's base so the sync sees no change."""
    assert reservation.id is not None
    current = next(
        (link for link in uow.sync.links_for_reservation(reservation.id) if link.mailbox == mailbox), None
    )
    base = current or Link(reservation_id=reservation.id, mailbox=mailbox)
    uow.sync.save_link(
        replace(
            base,
            item_id=item_id,
            change_key=change_key,
            state=LinkState.SYNCED,
            rooms_version=reservation.version,
            rooms_snapshot=snapshot(reservation.fields),
            exchange_snapshot=exchange_snapshot,
            last_error=None,
        )
    )


def _log(runner: SyncRunner, d: Difference, message: str) -> None:
    with runner.database.unit_of_work() as uow:
        uow.sync.log(LogEntry(datetime.now(UTC), d.mailbox, "info", "difference", message, d.reservation_id))
        uow.commit()
