"""Resolving one difference: ``use-rooms`` (Exchange takes ROOMS' values), ``use-exchange`` (the
reservation takes Exchange's) or ``ignore``.

A difference of some keys only (one occurrence of a series, say) changes those keys only; the
others stay as they are on both sides. Afterwards the link records both sides as in step, so the
next cycle sees nothing to do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from roomsync.connector.types import EntryUpdate, ItemRef
from roomsync.domain import EventFields, Reservation
from roomsync.engine.apply import draft_for, read_back
from roomsync.engine.differences import Difference, DifferenceKind, Resolution
from roomsync.engine.merge import Snapshot, differing_keys, snapshot, take
from roomsync.engine.runner import SyncRunner
from roomsync.errors import InvalidInput, RoomsyncError
from roomsync.storage.protocols import Link, LinkState, LogEntry, Origin

Kind = DifferenceKind


def resolve(runner: SyncRunner, difference: Difference, resolution: Resolution, by: str | None = None) -> str:
    """Apply one resolution; returns what was done, in words for the report."""
    d = difference
    if resolution is Resolution.IGNORE:
        _log(runner, d, f"difference ignored ({d.kind.value})", by)
        return "ignored"
    if d.kind is Kind.ANOTHER_INSTALLATION:
        raise InvalidInput(
            f"entry '{d.title}' in {d.mailbox} belongs to installation {d.owner}; only that "
            "installation may change it"
        )
    if d.kind is Kind.ROOM_COLLISION:
        raise InvalidInput(
            f"'{d.title}' in {d.mailbox} is the organizer's own Outlook booking; roomsync neither "
            "deletes it nor takes the room from reservation "
            f"{d.holder}: settle it with the organizer, then ignore it or let the next scan find it gone"
        )
    done = _use_rooms(runner, d) if resolution is Resolution.USE_ROOMS else _use_exchange(runner, d)
    _log(runner, d, f"{d.kind.value} resolved with {resolution.value}: {done}", by)
    return done


def _use_rooms(runner: SyncRunner, d: Difference) -> str:
    host = runner.host(_environment(runner, d.mailbox))
    with runner.database.unit_of_work() as uow:
        if d.kind is Kind.MISSING_IN_EXCHANGE and d.rooms is not None:
            draft = draft_for(runner.pm, d.rooms)
            draft = draft.model_copy(update={"fields": _as_written(d, draft.fields)})
            result = host.create_entries(d.mailbox, [draft])[0]
            _require(result.ok, result.error)
            written = read_back(runner.pm, d.mailbox, draft.stamp, draft.fields, d.groups)
            _link(uow, d.rooms, d.mailbox, result.item_id, result.change_key, written)
            done = "entry created from the reservation"
        elif d.kind is Kind.FIELDS_DIFFER and d.rooms is not None and d.entry is not None:
            draft = draft_for(runner.pm, d.rooms)
            fields = _as_written(d, _written_fields(d, draft.fields))
            result = host.update_entries(
                d.mailbox,
                [
                    EntryUpdate(
                        item_id=d.entry.item_id,
                        change_key=d.entry.change_key,
                        stamp=draft.stamp,
                        fields=fields,
                        setup_minutes=draft.setup_minutes,
                        followup_minutes=draft.followup_minutes,
                    )
                ],
            )[0]
            _require(result.ok, result.error)
            written = read_back(runner.pm, d.mailbox, draft.stamp, fields, d.groups)
            _link(uow, d.rooms, d.mailbox, d.entry.item_id, result.change_key, written)
            done = "entry rewritten from the reservation" + _part(d, fields is not draft.fields)
        else:
            assert d.entry is not None
            result = host.delete_entries(d.mailbox, [ItemRef(item_id=d.entry.item_id, stamp=d.entry.stamp)])[
                0
            ]
            _require(result.ok, result.error)
            done = "entry without reservation deleted"
        uow.commit()
    return done


def _as_written(d: Difference, fields: EventFields) -> EventFields:
    """The fields as Exchange gets them: the groups or their persons, by ``[sync] groups``."""
    return d.groups.written(fields, d.mailbox) if d.groups is not None else fields


def _written_fields(d: Difference, ours: EventFields) -> EventFields:
    """What the entry becomes: the reservation's values of the difference's keys; where the
    difference covers every key that differs, the reservation whole."""
    assert d.entry is not None
    if set(d.keys) >= differing_keys(ours, d.entry.fields):
        return ours
    return take(d.entry.fields, ours, set(d.keys))


def _use_exchange(runner: SyncRunner, d: Difference) -> str:
    with runner.database.unit_of_work() as uow:
        if d.kind is Kind.MISSING_IN_EXCHANGE and d.reservation_id:
            uow.rooms.cancel_reservation(d.reservation_id, origin=Origin.ADMIN, reason="missing in Exchange")
            done = "reservation cancelled"
        elif d.kind is Kind.FIELDS_DIFFER and d.rooms is not None and d.entry is not None:
            known = {room.mailbox for room in uow.rooms.list_rooms()}
            theirs = d.entry.fields.model_copy(
                update={"rooms": tuple(r for r in d.entry.fields.rooms if r in known)}
            )
            assert d.reservation_id is not None
            updated = uow.rooms.update_reservation(
                d.reservation_id,
                fields=take(d.rooms.fields, theirs, set(d.keys)),
                expected_version=d.rooms.version,
                origin=Origin.ADMIN,
            )
            _link(uow, updated, d.mailbox, d.entry.item_id, d.entry.change_key, snapshot(d.entry.fields))
            done = "reservation updated from the entry" + _part(d, d.occurrence is not None)
        else:
            raise InvalidInput(
                f"entry '{d.title}' in {d.mailbox} has no active reservation; ROOMS cannot take it back "
                "(resolve with use-rooms to delete the entry, or ignore)"
            )
        uow.commit()
    return done


def _part(d: Difference, partial: bool) -> str:
    """What of the entry a resolution of some keys only changed, in words."""
    if not partial:
        return ""
    if d.occurrence is not None:
        return f" (the occurrence of {d.occurrence:%Y-%m-%d %H:%M} UTC)"
    return f" ({', '.join(d.keys)})"


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


def _log(runner: SyncRunner, d: Difference, message: str, by: str | None) -> None:
    data = {"by": by} if by else {}
    with runner.database.unit_of_work() as uow:
        uow.sync.log(
            LogEntry(datetime.now(UTC), d.mailbox, "info", "difference", message, d.reservation_id, data)
        )
        uow.commit()
