"""Distribution groups among a reservation's participants, as ROOMS and Exchange each hold them.

ROOMS always holds the persons: a group invited in ROOMS or in Outlook is expanded into its
members (nested groups too, each person once, never a room, never the organizer). What Exchange
gets depends on ``[sync] groups``:

* ``"group"`` (the default): the group itself and only the participants it does not cover, so
  Exchange's own distribution-list handling sends the invitation and Outlook shows the group.
  ROOMS holds the group beside its persons, which is how it knows what to write back.
* ``"members"``: the persons, each invited in their own name; ROOMS then holds no group.

The merge compares what ROOMS holds on both sides (:meth:`CycleGroups.held`): an entry read from
Exchange is expanded the same way before it is compared and snapshotted, and the snapshot of a
write is taken of what the next read will see (:func:`roomsync.engine.apply.read_back`), so "the
group" in Outlook and "its members" in ROOMS are never a difference.

A group that cannot be expanded (deeper than ``group_depth``, larger than ``group_size``, or the
directory unreadable) stays the group, a plain participant, with a note in the cycle's log; the
other participants and groups are synchronised as usual. Answers are cached for one cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from roomsync.config import SyncConfig
from roomsync.connector.groups import Expansion, GroupMember
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CalendarEntry
from roomsync.domain import EventFields, Participant, Reservation
from roomsync.engine.report import CycleReport
from roomsync.errors import InvalidInput, TransientConnectorError
from roomsync.storage.protocols import LogEntry, Origin, UnitOfWork

log = logging.getLogger("roomsync.engine")


class CycleGroups:
    """The groups of one person's cycle: expansions asked once, notes for the cycle's log."""

    def __init__(self, host: ConnectorHost, limits: SyncConfig, known_rooms: Collection[str]) -> None:
        self.host = host
        self.mode = limits.groups
        self.depth = limits.group_depth
        self.size = limits.group_size
        self.known_rooms = frozenset(known_rooms)
        self._cache: dict[str, list[GroupMember] | None] = {}
        self._expansions: dict[str, Expansion | None] = {}
        self._unreadable: str | None = None
        self.notes: dict[str, None] = {}  # in order, each once

    # --- expansions ---------------------------------------------------------------------------

    def expansion(self, address: str) -> Expansion | None:
        """The group at ``address`` expanded, or ``None``: no group, or groups unreadable now."""
        if address in self._expansions:
            return self._expansions[address]
        if self._unreadable is not None:
            return None
        try:
            found = self.host.expand_group(address, depth=self.depth, size=self.size, cache=self._cache)
        except TransientConnectorError:
            raise  # the cycle is retried, as for any other call that timed out
        except Exception as exc:
            # Unreadable groups must not stop the sync: they stay as they are for this cycle.
            self._unreadable = str(exc) or type(exc).__name__
            self._note(
                f"distribution groups of environment {self.host.environment!r} are not expanded "
                f"in this cycle: {self._unreadable}"
            )
            return None
        if found is not None:
            for loop in found.loops:
                self._note(f"distribution group loop {loop}: each group expanded once")
            if found.problem is not None:
                self._note(f"{found.problem}; it stays the group, not expanded into persons")
        self._expansions[address] = found
        return found

    def _expanded(self, participants: Sequence[Participant]) -> dict[str, Expansion]:
        return {
            p.email: found
            for p in participants
            if (found := self.expansion(p.email)) is not None and found.expanded
        }

    # --- the forms of a participant list ------------------------------------------------------

    def held(self, fields: EventFields, organizer: str) -> EventFields:
        """The fields as ROOMS holds them: every group's persons present (and, in ``"group"``
        mode, the group beside them); what the merge compares on both sides."""
        groups = self._expanded(fields.participants)
        if not groups:
            return fields
        left_out = self.known_rooms | set(fields.rooms) | {organizer}
        kept = {p.email: p for p in fields.participants if p.email not in groups or self.mode == "group"}
        for address, expansion in groups.items():
            for person in expansion.persons:
                if person.address in left_out or person.address in kept:
                    continue
                try:
                    kept[person.address] = Participant(email=person.address, name=person.name)
                except ValueError:
                    self._note(
                        f"group {address} has a member {person.address!r} that is no address; left out"
                    )
        participants = tuple(sorted(kept.values(), key=lambda p: p.email))  # as EventFields sorts them
        return fields.model_copy(update={"participants": participants})

    def written(self, fields: EventFields, organizer: str) -> EventFields:
        """The fields as Exchange gets them: the groups themselves in ``"group"`` mode (without
        the persons they cover), the persons alone in ``"members"`` mode."""
        held = self.held(fields, organizer)
        if self.mode == "members":
            return held
        groups = self._expanded(held.participants)
        covered = {person.address for expansion in groups.values() for person in expansion.persons}
        participants = tuple(p for p in held.participants if p.email in groups or p.email not in covered)
        if participants == held.participants:
            return held
        return held.model_copy(update={"participants": participants})

    def entries(self, entries: Sequence[CalendarEntry]) -> list[CalendarEntry]:
        """The mailbox's own entries as ROOMS would hold them; invitations are not ours to expand."""
        return [
            entry.model_copy(update={"fields": self.held(entry.fields, entry.organizer)})
            if entry.is_own
            else entry
            for entry in entries
        ]

    # --- ROOMS learns the persons -------------------------------------------------------------

    def fill_in(
        self, uow: UnitOfWork, mailbox: str, reservations: Mapping[str, Reservation]
    ) -> dict[str, Reservation]:
        """The reservations of this mailbox with the persons of their groups written into ROOMS.

        Done before the plan, so the plan decides on the reservation as ROOMS holds it; only
        reservations this cycle looks at anyway, so nothing is written that would not be synced.
        """
        filled = dict(reservations)
        for reservation_id, reservation in reservations.items():
            if not reservation.active or reservation.sync_disabled or reservation.organizer != mailbox:
                continue
            held = self.held(reservation.fields, reservation.organizer)
            if held.participants == reservation.fields.participants:
                continue
            try:
                filled[reservation_id] = uow.rooms.update_reservation(
                    reservation_id,
                    fields=held,
                    expected_version=reservation.version,
                    origin=Origin.EXCHANGE,
                    actor=mailbox,
                )
            except InvalidInput as exc:
                self._note(f"the persons of the groups of reservation {reservation_id} not stored: {exc}")
        return filled

    # --- the cycle's log ----------------------------------------------------------------------

    def _note(self, message: str) -> None:
        if message not in self.notes:
            log.warning("%s", message)
            self.notes[message] = None

    def record(self, uow: UnitOfWork, mailbox: str, report: CycleReport) -> None:
        """The cycle's notes about groups, in its log and its report."""
        for message in self.notes:
            uow.sync.log(LogEntry(datetime.now(UTC), mailbox, "warning", "groups", message))
            report.notes.append(message)
