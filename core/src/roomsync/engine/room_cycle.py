"""One sync cycle of one room's mailbox: read its calendar, plan, record, decline, commit.

The room's calendar is read through the environment of its mailbox, incrementally as a person's
is (:func:`~roomsync.engine.read_phase.read_exchange_changes`), and :mod:`roomsync.engine.room_plan`
decides. Reservations are recorded first; declines are sent before the commit, so a crash between
the two reads the same changes again and finds the declined booking gone. A failing room cycle
records its failure on the room's mailbox state and never affects another room or person.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pluggy

from roomsync.config import SyncConfig
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CalendarEntry, ItemRef, WriteErrorKind
from roomsync.domain import ConflictPolicy, Language, OccurrenceChange, Person, Reservation, Room
from roomsync.engine.apply import now, readable
from roomsync.engine.cycle import deliver
from roomsync.engine.merge import snapshot
from roomsync.engine.read_phase import (
    ExchangeChanges,
    deleted_items,
    fresh_entries,
    map_imported,
    read_exchange_changes,
)
from roomsync.engine.report import CycleReport
from roomsync.engine.room_plan import (
    Book,
    Collision,
    Follow,
    PartDeclined,
    Release,
    RoomPlan,
    RoomView,
    plan_room,
)
from roomsync.errors import InvalidInput, MassDeletionRefused
from roomsync.notify.message import Notification, NotificationKind
from roomsync.storage.protocols import Link, LinkState, LogEntry, Origin, SeenEntry, UnitOfWork

log = logging.getLogger("roomsync.engine")

DECLINE_COMMENTS = {
    Language.DE: "Dieser Raum ist zu dieser Zeit in ROOMS reserviert. Bitte wählen Sie eine andere Zeit "
    "oder einen anderen Raum.",
    Language.FR: "Cette salle est réservée dans ROOMS à cette heure-là. Veuillez choisir une autre heure "
    "ou une autre salle.",
    Language.IT: "Questa sala è prenotata in ROOMS a quest'ora. Scegliete un altro orario o un'altra sala.",
    Language.EN: "This room is reserved in ROOMS at that time. Please choose another time or room.",
}
"""What the organizer of a declined booking reads in the room's answer."""


@dataclass
class RoomCycleContext:
    limits: SyncConfig
    pm: pluggy.PluginManager
    language: Language = Language.DE  # of the room's declines
    allow_mass_delete: bool = False


def sync_room(uow: UnitOfWork, host: ConnectorHost, room: Room, ctx: RoomCycleContext) -> CycleReport:
    """Run one cycle of ``room``; raises on failure after rolling back what was not committed."""
    report = CycleReport(mailbox=room.mailbox, environment=host.environment, started=now(), kind="room")
    state = uow.sync.mailbox_state(room.mailbox)
    sync_state = state.sync_state if state.environment in (None, host.environment) else None
    changes = read_exchange_changes(host, room.mailbox, sync_state)
    changes.entries = map_imported(ctx.pm, changes.entries)
    report.exchange_changes = len(changes.entries) + len(changes.deleted)
    view = _view(uow, room, changes, ctx)
    plan = plan_room(view)
    notifications = RoomApplier(uow, host, room, ctx, report).apply(plan)

    state = uow.sync.mailbox_state(room.mailbox)
    state.environment = host.environment
    state.sync_state = changes.sync_state
    state.last_attempt = state.last_success = now()
    state.last_error = state.last_fault = None
    state.consecutive_failures = 0
    uow.sync.save_mailbox_state(state)
    uow.commit()
    for notification in notifications:
        deliver(ctx.pm, notification)
    report.finished = now()
    return report


def _view(uow: UnitOfWork, room: Room, changes: ExchangeChanges, ctx: RoomCycleContext) -> RoomView:
    links = {
        link.item_id: link
        for link in uow.sync.links_in_mailbox(room.mailbox, [LinkState.FOLLOWED])
        if link.item_id
    }
    # Another installation's bookings are the room's no more than ROOMS's own: both are left.
    entries, _ = fresh_entries(uow, room.mailbox, changes.entries)
    deleted = deleted_items(changes, links) & set(links)
    _guard(room, changes, deleted, links, ctx)
    not_before = datetime.now(UTC) - timedelta(days=ctx.limits.past_days)
    return RoomView(
        room=room,
        entries=entries,
        deleted=deleted,
        links=links,
        reservations=uow.rooms.get_reservations([link.reservation_id for link in links.values()]),
        bookings=uow.rooms.room_bookings([room.mailbox], not_before),
        synced=synced_organizers(uow, entries),
        not_before=not_before,
        exported=uow.rooms.get_reservations({e.stamp for e in entries if e.stamp}),
    )


def synced_organizers(uow: UnitOfWork, entries: Sequence[CalendarEntry]) -> frozenset[str]:
    """The organizers of unstamped ``entries`` whose own cycles book their Outlook meetings:
    persons assigned to an environment and synchronised. Only those organizers are looked up, so
    an idle room costs no read of the persons."""
    organizers = {e.organizer.strip().lower() for e in entries if not (e.stamp or e.stamped_by)}
    return frozenset(
        address
        for address in organizers
        if (person := uow.rooms.get_person(address)) is not None
        and person.environment
        and person.sync_enabled
    )


def _guard(
    room: Room, changes: ExchangeChanges, deleted: set[str], links: dict[str, Link], ctx: RoomCycleContext
) -> None:
    """A room calendar that suddenly lost most of its bookings is more likely unreadable than empty."""
    limits = ctx.limits
    if ctx.allow_mass_delete or len(deleted) < limits.mass_delete_minimum:
        return
    if len(deleted) >= limits.mass_delete_ratio * len(links) or (changes.reset and not changes.entries):
        raise MassDeletionRefused(
            f"room mailbox {room.mailbox} reports {len(deleted)} of its {len(links)} followed bookings "
            "gone; no reservation was cancelled. If they really are, run "
            f"'roomsync sync --room {room.mailbox} --allow-mass-delete'"
        )


class RoomApplier:
    """Carries out a room's plan in the unit of work; answers the notifications to send."""

    def __init__(
        self, uow: UnitOfWork, host: ConnectorHost, room: Room, ctx: RoomCycleContext, report: CycleReport
    ) -> None:
        self.uow, self.host, self.room, self.ctx, self.report = uow, host, room, ctx, report
        self.notifications: list[Notification] = []

    def apply(self, plan: RoomPlan) -> list[Notification]:
        for release in plan.releases:
            self._release(release)
        for follow in plan.follows:
            self._follow(follow)
        for book in plan.books:
            self._book(book)
        declines = [c for c in plan.collisions if c.decline]
        for collision in plan.collisions:
            if not collision.decline:
                self._keep(collision)
        self._decline(declines)
        for part in plan.part_declined:
            self._part_declined(part)
        return self.notifications

    def _part_declined(self, part: PartDeclined) -> None:
        """The room declined occurrences of a series ROOMS wrote: a conflict under its organizer's
        policy. ``rollback`` keeps them and tells the organizer; ``cancel`` and ``exchange-wins``
        take the room's answer: those occurrences are cancelled in ROOMS (and so in the meeting)."""
        reservation = part.reservation
        assert reservation.id is not None
        organizer = self.uow.rooms.get_person(reservation.organizer)
        policy = organizer.conflict_policy if organizer is not None else ConflictPolicy.ROLLBACK
        zone = ZoneInfo(reservation.fields.timezone)
        when = ", ".join(start.astimezone(zone).isoformat() for start in part.occurrences)
        outcome = "kept"
        if policy is not ConflictPolicy.ROLLBACK:
            changes = {c.original_start: c for c in reservation.fields.occurrences}
            for start in part.occurrences:
                changes[start] = OccurrenceChange(original_start=start, cancelled=True)
            fields = reservation.fields.model_copy(update={"occurrences": tuple(changes.values())})
            self.uow.rooms.update_reservation(
                reservation.id, fields=fields, origin=Origin.EXCHANGE, actor=self.room.mailbox
            )
            self.report.imported += 1
            outcome = "room-removed"
        self.report.conflicts += 1
        self._log(
            "warning",
            "room-declined",
            f"room declined {len(part.occurrences)} occurrences of '{readable(reservation.fields.title)}' "
            f"({when}): {outcome}",
            reservation.id,
        )
        self.notifications.append(
            Notification(
                kind=NotificationKind.ROOM_DECLINED,
                recipient=reservation.organizer,
                facts={
                    "title": reservation.fields.title,
                    "start": reservation.fields.start.astimezone(zone).isoformat(),
                    "rooms": self.room.name,
                    "reason": "conflict",
                    "occurrences": when,
                    "outcome": outcome,
                },
                reservation_id=reservation.id,
                language=organizer.language if organizer is not None else None,
            )
        )

    def _release(self, release: Release) -> None:
        rid = release.link.reservation_id
        self.uow.rooms.cancel_reservation(
            rid, origin=Origin.EXCHANGE, actor=self.room.mailbox, reason="gone from the room's calendar"
        )
        self.uow.sync.delete_link(rid, self.room.mailbox)
        self.report.cancelled += 1
        self._log("info", "cancelled", "booking gone from the room's calendar: reservation cancelled", rid)

    def _follow(self, follow: Follow) -> None:
        rid = follow.link.reservation_id
        try:
            reservation = self.uow.rooms.update_reservation(
                rid, fields=follow.fields, origin=Origin.EXCHANGE, actor=self.room.mailbox
            )
        except InvalidInput as exc:  # taken meanwhile: the next change of the booking tries again
            self._log("warning", "conflict", f"'{readable(follow.fields.title)}' not followed: {exc}", rid)
            self.report.conflicts += 1
            return
        self._save_link(reservation, follow.entry)
        self.report.imported += 1
        self._log(
            "info", "imported", f"'{readable(follow.fields.title)}' changed in the room's calendar", rid
        )

    def _book(self, book: Book) -> None:
        entry = book.entry
        organizer = self._organizer(entry.organizer)
        try:
            reservation = self.uow.rooms.create_reservation(
                Reservation(fields=book.fields, organizer=organizer, creator=organizer, blocker=book.blocker),
                origin=Origin.EXCHANGE,
                actor=self.room.mailbox,
            )
        except InvalidInput as exc:
            self.uow.sync.save_seen_entry(
                SeenEntry(self.room.mailbox, entry.item_id, entry.change_key, str(exc))
            )
            self.report.rejected += 1
            self._log("warning", "rejected", f"'{readable(book.fields.title)}' of {organizer}: {exc}")
            return
        self._save_link(reservation, entry)
        self.report.booked += 1
        what = "blocker" if book.blocker else "reservation"
        self._log(
            "info",
            "booked",
            f"{what} of {organizer} from the room's booking '{readable(book.fields.title)}'",
            reservation.id,
        )

    def _organizer(self, address: str) -> str:
        """The organizer as a ROOMS person: someone roomsync does not synchronise is added as one."""
        address = address.strip().lower() or self.room.mailbox
        if self.uow.rooms.get_person(address) is None:
            self.uow.rooms.upsert_person(Person(email=address, sync_enabled=False))
        return address

    def _save_link(self, reservation: Reservation, entry: CalendarEntry) -> None:
        assert reservation.id is not None
        self.uow.sync.save_link(
            Link(
                reservation_id=reservation.id,
                mailbox=self.room.mailbox,
                item_id=entry.item_id,
                change_key=entry.change_key,
                state=LinkState.FOLLOWED,
                rooms_version=reservation.version,
                rooms_snapshot=snapshot(reservation.fields),
                exchange_snapshot=snapshot(entry.fields),
                updated_at=now(),
            )
        )

    def _keep(self, collision: Collision) -> None:
        entry = collision.entry
        reason = f"collides with reservation {collision.holder.id} in ROOMS (the room is not sync master)"
        self.uow.sync.save_seen_entry(SeenEntry(self.room.mailbox, entry.item_id, entry.change_key, reason))
        self.report.conflicts += 1
        self._log(
            "warning", "room-collision", f"'{readable(entry.fields.title)}' of {entry.organizer} {reason}"
        )
        self._tell(collision, "kept", reason)

    def _decline(self, collisions: Sequence[Collision]) -> None:
        if not collisions:
            return
        refs = [ItemRef(item_id=c.entry.item_id, change_key=c.entry.change_key) for c in collisions]
        comment = DECLINE_COMMENTS[self.ctx.language]
        results = self.host.decline_entries(self.room.mailbox, refs, comment)
        for collision, result in zip(collisions, results, strict=True):
            entry = collision.entry
            title = readable(entry.fields.title)
            if result.ok or result.error_kind is WriteErrorKind.NOT_FOUND:
                self.report.rejected += 1
                if collision.link is not None:  # a followed booking moved onto a ROOMS reservation
                    self._release(Release(collision.link))
                why = (
                    f"declined: it collides with reservation {collision.holder.id} (the room is sync master)"
                )
                self._log("warning", "room-declined", f"'{title}' of {entry.organizer} {why}")
                self._tell(collision, "declined", why)
                continue
            self.report.failed_writes += 1
            detail = f"declining it failed: {result.error}"
            self.uow.sync.save_seen_entry(
                SeenEntry(self.room.mailbox, entry.item_id, entry.change_key, detail)
            )
            self._log("error", "room-collision", f"'{title}' of {entry.organizer} collides; {detail}")
            self._tell(collision, "decline-failed", detail)

    def _tell(self, collision: Collision, outcome: str, why: str) -> None:
        entry, holder = collision.entry, collision.holder
        self.notifications.append(
            Notification(
                kind=NotificationKind.ROOM_COLLISION,
                facts={
                    "room": self.room.name,
                    "title": entry.fields.title,
                    "start": entry.fields.start.astimezone(ZoneInfo(entry.fields.timezone)).isoformat(),
                    "person": entry.organizer,
                    "environment": self.host.environment,
                    "holder": holder.fields.title,
                    "outcome": outcome,
                    "detail": f"room {self.room.mailbox}, item {entry.item_id}: {why}",
                },
                reservation_id=holder.id,
            )
        )

    def _log(self, level: str, event: str, message: str, reservation_id: str | None = None) -> None:
        self.uow.sync.log(LogEntry(now(), self.room.mailbox, level, event, message, reservation_id))
        if level != "info":
            self.report.notes.append(message)
