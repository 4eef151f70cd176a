"""Planning one mailbox's cycle: a pure function from both sides' changes to actions.

Following vdirsyncer's design, everything is decided before anything is written: the plan reads
the ROOMS reservations that changed, the Exchange entries that changed, and each link's last
synchronised snapshots, and returns what to write where. Nothing here performs I/O: the read
phase (:mod:`roomsync.engine.read_phase`) loads the rooms' bookings and which organizers can be
synchronised, so a plan is decided from its view alone and can be tested without a database.

The rules (core/README.md gives the reasoning):

* A reservation lives only in its organizer's calendar. On an organizer change the entry is
  created in the new mailbox first; the old one is deleted only after that succeeded.
* An entry carrying a ROOMS stamp is linked to that reservation (the add-in case, a crash
  between the Exchange write and the database commit, a mailbox migration).
* An unstamped entry organised by the mailbox that invites a known room becomes a reservation
  when the rooms are free; otherwise the organizer is told why it was not booked.
* A reservation booked in the Outlook add-in gets its entry from Outlook when the meeting is
  sent: nothing is created meanwhile, and it is cancelled if the entry has not come in time.
* Deleting an entry cancels its reservation; a cancelled reservation deletes its entry.
* Changes are merged per field against the last synchronised snapshots; conflicts are settled by
  the person's policy.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from roomsync.config import SyncConfig
from roomsync.connector.types import Answer, CalendarEntry
from roomsync.domain import ConflictPolicy, EventFields, Reservation
from roomsync.engine.intent import adopted, recognise
from roomsync.engine.merge import room_keys, snapshot, take, three_way
from roomsync.notify.message import Fact, Notification, NotificationKind
from roomsync.recurrence import occurrences, overlaps
from roomsync.room_bookings import first_conflict, span
from roomsync.storage.protocols import Link, LinkState

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_CLAIM_SPAN = timedelta(days=3 * 366)  # as far as ROOMS looks for conflicts of an open-ended series


@dataclass(frozen=True)
class MailboxView:
    """Everything the plan may look at for one mailbox."""

    mailbox: str
    policy: ConflictPolicy
    limits: SyncConfig
    reservations: Mapping[str, Reservation]
    links: Mapping[str, Link]  # reservation id -> its link in this mailbox
    links_elsewhere: Mapping[str, Sequence[Link]]  # reservation id -> links in other mailboxes
    candidates: Sequence[str]  # reservations changed in ROOMS since the last cycle, or pending
    entries: Sequence[CalendarEntry]  # entries changed in Exchange since the last cycle
    foreign: Sequence[CalendarEntry]  # changed entries stamped by another installation
    deleted: Collection[str]  # item ids gone from the calendar
    stamped: Mapping[str, CalendarEntry]  # reservation id -> entry found by stamp (recovery)
    feed_stamps: frozenset[str]  # stamps of every entry the change feed returned, refused ones too
    known_rooms: frozenset[str]
    syncable: frozenset[str]  # organizers of these reservations assigned to a usable environment
    room_bookings: Sequence[Reservation]  # active bookings of the rooms this cycle may give
    not_before: datetime  # entries over before this are history: never booked from Outlook
    room_names: Mapping[str, str] = field(default_factory=dict)  # room mailbox -> name, for organizers
    room_windows: Mapping[str, int] = field(default_factory=dict)  # room mailbox -> booking window days
    # Busy times in Exchange of the rooms that declined a changed entry, where they could be read.
    room_busy: Mapping[str, Sequence[tuple[datetime, datetime]]] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))  # the read phase's clock


@dataclass(frozen=True)
class Create:
    reservation_id: str
    # Never attempted and absent from the feed: no entry can carry the stamp (see EntryDraft).
    known_new: bool = False


GONE_FROM_OUTLOOK = "deleted in Outlook"


@dataclass(frozen=True)
class Update:
    reservation_id: str
    fields: EventFields
    # An entry gone between the read and the write was deleted in Outlook: the reservation is
    # cancelled with this reason, as on any deletion (None: the failure is only reported).
    if_gone: str | None = GONE_FROM_OUTLOOK


@dataclass(frozen=True)
class Delete:
    reservation_id: str
    mailbox: str
    item_id: str
    change_key: str | None = None
    after_create: bool = False  # organizer change: only once the new entry exists


@dataclass(frozen=True)
class Import:
    """Take fields from Exchange into an existing reservation."""

    reservation_id: str
    fields: EventFields
    expected_version: int


@dataclass(frozen=True)
class ImportNew:
    """An entry from Outlook that books a room becomes a reservation."""

    entry: CalendarEntry


@dataclass(frozen=True)
class Cancel:
    reservation_id: str
    reason: str


@dataclass(frozen=True)
class Reject:
    entry: CalendarEntry
    reason: str


@dataclass
class Plan:
    mailbox: str
    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    new_reservations: list[ImportNew] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)
    disable: list[tuple[str, str]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    links: dict[tuple[str, str], Link] = field(default_factory=dict)  # saved before any write
    drop_links: set[tuple[str, str]] = field(default_factory=set)
    notifications: list[Notification] = field(default_factory=list)
    conflicts: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Times this plan gives rooms from Exchange (new bookings, imports), with the reservation.
    claims: list[tuple[EventFields, str | None]] = field(default_factory=list)

    def keep(self, link: Link) -> None:
        self.links[(link.reservation_id, link.mailbox)] = link


def _room_is_free(
    view: MailboxView, result: Plan, room: str, fields: EventFields, exclude: str | None
) -> bool:
    """Free in ROOMS and not given to another Exchange change of this same plan.

    Two Outlook changes of one cycle may each find a room free that only one of them can have;
    the apply step would refuse the second, failing the cycle, and every cycle after it.
    """
    if first_conflict(view.room_bookings, room, fields, exclude) is not None:
        return False
    for claimed, owner in result.claims:
        if (owner is not None and owner == exclude) or room not in claimed.rooms:
            continue
        since = min(fields.start, claimed.start)
        if overlaps(fields, claimed, since, since + _CLAIM_SPAN):
            return False
    return True


def plan(view: MailboxView) -> Plan:
    result = Plan(view.mailbox)
    handled: set[str] = set()
    by_item = {link.item_id: link for link in view.links.values() if link.item_id}

    for entry in view.entries:
        if not entry.is_own:
            continue  # an invitation: the organizer's mailbox drives it
        link = by_item.get(entry.item_id)
        if link is None and entry.stamp is not None:
            link = _link_by_stamp(view, entry, result)
            if link is None:
                continue
        if link is None:
            _consider_new(view, entry, result)
            continue
        handled.add(link.reservation_id)
        _reconcile(view, link, entry, result)

    for entry in view.foreign:
        link = by_item.get(entry.item_id)
        if link is not None:  # restamped by another installation since: theirs now, kept as it is
            handled.add(link.reservation_id)
            result.notes.append(
                f"entry {entry.item_id} of reservation {link.reservation_id} now carries the stamp of "
                f"installation {entry.stamped_by}; left alone"
            )

    for item_id in view.deleted:
        link = by_item.get(item_id)
        if link is None or link.reservation_id in handled:
            continue
        handled.add(link.reservation_id)
        _deleted_in_exchange(view, link, result)

    for reservation_id in view.candidates:
        if reservation_id not in handled:
            handled.add(reservation_id)
            _export(view, reservation_id, result)
    _remove_elsewhere(view, result)
    return result


# --- Exchange-side decisions ---------------------------------------------------------------


def _link_by_stamp(view: MailboxView, entry: CalendarEntry, result: Plan) -> Link | None:
    """A stamped entry without a link by item id: adopt it if its reservation belongs here."""
    assert entry.stamp is not None
    existing = view.links.get(entry.stamp)
    if existing is not None and existing.item_id is None and existing.exchange_snapshot is not None:
        # Written and in step before, now under a new id (the mailbox moved to another server):
        # the same entry. Merged against the snapshots as usual, so no change on either side is lost.
        state = LinkState.SYNCED if existing.state is LinkState.CREATING else existing.state
        return replace(existing, item_id=entry.item_id, change_key=entry.change_key, state=state)
    reservation = view.reservations.get(entry.stamp)
    if reservation is None:
        result.notes.append(f"entry {entry.item_id} carries unknown ROOMS id {entry.stamp}; left alone")
        return None
    if reservation.organizer != view.mailbox:
        # Ours, in a calendar it no longer belongs to, and unknown to any link: a create whose
        # outcome was lost before the organizer changed. The new organizer gets its own entry.
        result.deletes.append(Delete(entry.stamp, view.mailbox, entry.item_id, entry.change_key))
        return None
    existing = view.links.get(reservation.id or "")
    if not reservation.active and existing is None:
        # Cancelled, and no entry of ours is left to remove (removing one keeps its link until
        # done): a meeting Outlook sent after the add-in's booking was released, or cancelled in
        # ROOMS meanwhile. The organizer sent it with the room, so it is their Outlook booking
        # now, booked anew if the room is free; deleting it would cancel a meeting they just sent.
        _consider_new(view, entry, result)
        return None
    if existing is not None and existing.item_id and existing.item_id != entry.item_id:
        # A second entry with the same stamp: a duplicate that must not survive.
        result.deletes.append(Delete(entry.stamp, view.mailbox, entry.item_id, entry.change_key))
        result.notes.append(f"duplicate entry {entry.item_id} of reservation {entry.stamp} removed")
        return None
    base = existing or Link(reservation_id=entry.stamp, mailbox=view.mailbox)
    if base.written is not None:
        # Our create whose outcome was lost: merged against what it wrote, so an Outlook edit
        # made since is imported (or settled as a conflict), never written over unseen.
        return replace(
            adopted(base), item_id=entry.item_id, change_key=entry.change_key, state=LinkState.SYNCED
        )
    booked = snapshot(reservation.fields)
    if base.state is LinkState.AWAITING:
        # Booked in our add-in, then sent from Outlook: what differs from the reservation was
        # edited in Outlook since (a moved meeting, the attendees), so it is Exchange's change.
        # Outlook names the zone in Windows terms, which map back to IANA ambiguously
        # (Europe/Zurich reads back as Europe/Berlin): the same times are no Outlook edit.
        seen = dict(booked)
        if (entry.fields.start, entry.fields.end) == (reservation.fields.start, reservation.fields.end):
            seen["time"] = snapshot(entry.fields)["time"]
    else:
        # An add-in that wrote both sides: the entry is the one we wanted. Both sides count as
        # unchanged from here, so the reservation is written over any difference.
        seen = snapshot(entry.fields)
    return replace(
        base,
        item_id=entry.item_id,
        change_key=entry.change_key,
        state=LinkState.SYNCED,
        rooms_version=reservation.version,
        rooms_snapshot=booked,
        exchange_snapshot=seen,
        expected_by=None,
    )


def _consider_new(view: MailboxView, entry: CalendarEntry, result: Plan) -> None:
    rooms = [room for room in entry.fields.rooms if room in view.known_rooms]
    if not rooms:
        return  # a private appointment: not ours
    if next(occurrences(entry.fields, view.not_before, _FAR_FUTURE), None) is None:
        return  # over: a past meeting is not booked afterwards
    taken = [room for room in rooms if not _room_is_free(view, result, room, entry.fields, None)]
    if taken:
        reason = f"room {', '.join(taken)} is not free at that time"
        result.rejects.append(Reject(entry, reason))
        result.notifications.append(
            Notification(
                kind=NotificationKind.REJECTED,
                recipient=view.mailbox,
                facts={
                    "title": entry.fields.title,
                    "start": entry.fields.start.isoformat(),
                    "rooms": ", ".join(view.room_names.get(room, room) for room in rooms),
                    "taken": ", ".join(view.room_names.get(room, room) for room in taken),
                },
            )
        )
        return
    result.new_reservations.append(ImportNew(entry))
    result.claims.append((entry.fields, None))


def _deleted_in_exchange(view: MailboxView, link: Link, result: Plan) -> None:
    reservation = view.reservations.get(link.reservation_id)
    key = (link.reservation_id, view.mailbox)
    if (
        link.state is LinkState.DELETING
        and reservation is not None
        and reservation.active
        and reservation.organizer == view.mailbox
        and not reservation.sync_disabled
    ):
        # Removed as asked when the reservation left this mailbox, but handed back meanwhile:
        # it gets an entry anew (looked up by stamp first, as after any unsettled write).
        _export_unwritten(
            view, link.reservation_id, reservation, replace(link, item_id=None, change_key=None), result
        )
        return
    if reservation is None or not reservation.active or link.state is LinkState.DELETING:
        result.drop_links.add(key)
        return
    if reservation.organizer != view.mailbox:
        result.drop_links.add(key)  # the old organizer removed the old copy: nothing to cancel
        return
    if reservation.sync_disabled:
        result.drop_links.add(key)
        return
    result.cancels.append(Cancel(link.reservation_id, "deleted in Outlook"))
    result.drop_links.add(key)
    if link.item_id and (reservation.setup_minutes or reservation.followup_minutes):
        # The buffers a connector wrote beside the entry are still there: let it remove them.
        result.deletes.append(Delete(link.reservation_id, view.mailbox, link.item_id))


def _reconcile(view: MailboxView, link: Link, entry: CalendarEntry, result: Plan) -> None:
    reservation = view.reservations.get(link.reservation_id)
    if reservation is None:
        result.drop_links.add((link.reservation_id, view.mailbox))
        return
    if link != view.links.get(link.reservation_id):
        result.keep(link)  # adopted by its stamp: where the entry is now, whatever follows
    if _entry_goes(view, reservation, link):
        result.deletes.append(Delete(reservation.id or "", view.mailbox, entry.item_id, entry.change_key))
        return
    if reservation.organizer != view.mailbox or reservation.sync_disabled:
        return  # the new organizer's cycle moves it; a disabled reservation is left as it is
    link = recognise(
        replace(link, item_id=entry.item_id, change_key=entry.change_key), snapshot(entry.fields)
    )
    declined = _declined_rooms(view, reservation, entry)
    if declined:
        link = replace(link, conflicts=link.conflicts + 1)
        if _room_declined(view, reservation, link, entry, declined, result):
            return
    exchange_fields = _rooms_only(entry.fields, view.known_rooms)
    merged, from_exchange, conflicts = _merged(view, reservation, link, entry, exchange_fields, result)
    if conflicts:
        link = replace(link, conflicts=link.conflicts + 1)
        result.conflicts.append((link.reservation_id, frozenset(conflicts)))
        if _settle_conflict(view, reservation, link, entry, conflicts, result):
            return
    _take_merged(view, reservation, link, entry, exchange_fields, merged, from_exchange, result)


def _declined_rooms(view: MailboxView, reservation: Reservation, entry: CalendarEntry) -> list[str]:
    """The reservation's rooms whose answer on the organizer's entry is a decline."""
    rooms = set(reservation.fields.rooms) & view.known_rooms
    return sorted({a.mailbox for a in entry.answers if a.answer is Answer.DECLINED and a.mailbox in rooms})


def _room_declined(
    view: MailboxView,
    reservation: Reservation,
    link: Link,
    entry: CalendarEntry,
    declined: list[str],
    result: Plan,
) -> bool:
    """A room turned down the meeting of a reservation: a conflict under the person's policy.

    ``cancel`` cancels the reservation and the meeting; ``exchange-wins`` takes the room's answer
    (the room leaves the reservation and the meeting); ``rollback`` keeps the reservation as it
    is, up to its attempts, then stops syncing it. The organizer is told the room's reason, once
    per answer: the entry comes again only when it changes. True when nothing more is to be done.
    """
    rid = link.reservation_id
    reason = _decline_reason(view, reservation, declined)
    rooms = ", ".join(view.room_names.get(room, room) for room in declined)

    def tell(outcome: str) -> None:
        notice = _notice(view, NotificationKind.ROOM_DECLINED, reservation, "rooms")
        facts = {**notice.facts, "rooms": rooms, "reason": reason, "occurrences": "", "outcome": outcome}
        result.notifications.append(notice.model_copy(update={"facts": facts}))

    result.notes.append(f"room {', '.join(declined)} declined reservation {rid} ({reason})")
    if view.policy is ConflictPolicy.CANCEL:
        result.cancels.append(Cancel(rid, f"room {', '.join(declined)} declined the meeting"))
        result.deletes.append(Delete(rid, view.mailbox, entry.item_id, entry.change_key))
        result.keep(replace(link, state=LinkState.DELETING))
        tell("cancelled")
        return True
    if view.policy is ConflictPolicy.EXCHANGE_WINS:
        fields = reservation.fields.model_copy(
            update={"rooms": tuple(r for r in reservation.fields.rooms if r not in declined)}
        )
        result.imports.append(Import(rid, fields, reservation.version))
        result.updates.append(Update(rid, fields))  # the room leaves the meeting too
        result.keep(
            replace(
                link,
                state=LinkState.FAILED,
                last_error="not yet written",
                rooms_snapshot=snapshot(fields),
                exchange_snapshot=snapshot(entry.fields),
                rooms_version=reservation.version,
            )
        )
        tell("room-removed")
        return True
    if link.conflicts >= view.limits.rollback_attempts:
        result.disable.append((rid, f"room {', '.join(declined)} declined {link.conflicts} times"))
        result.keep(replace(link, state=LinkState.SYNCED, last_error="sync disabled: the room declines"))
        tell("sync-disabled")
        return True
    tell("kept")
    return False


def beyond_window(
    fields: EventFields, rooms: Iterable[str], windows: Mapping[str, int], now: datetime
) -> bool:
    """The last occurrence lies beyond the booking window (days ahead of ``now``) of one of ``rooms``."""
    last = span(fields)[1]
    return any(
        (days := windows.get(room)) is not None and last > now + timedelta(days=days) for room in rooms
    )


def _decline_reason(view: MailboxView, reservation: Reservation, declined: list[str]) -> str:
    """What roomsync can tell of why (Exchange keeps the room's own words in its answer mail):
    beyond a room's booking window; busy in Exchange at one of the times; else its policy
    (too long, no series, not for this organizer)."""
    if beyond_window(reservation.fields, declined, view.room_windows, view.now):
        return "booking-window"
    for room in declined:
        busy = view.room_busy.get(room, ())
        if not busy:
            continue
        held = list(occurrences(reservation.fields, min(s for s, _ in busy), max(e for _, e in busy)))
        if any(start < o.end and o.start < end for start, end in busy for o in held):
            return "conflict"
    return "policy"


def _entry_goes(view: MailboxView, reservation: Reservation, link: Link) -> bool:
    """The entry is deleted here: its reservation was cancelled, is being removed from this
    mailbox, or moved to an organizer who is not synchronised."""
    if not reservation.active or link.state is LinkState.DELETING:
        return True
    return reservation.organizer != view.mailbox and reservation.organizer not in view.syncable


def _merged(
    view: MailboxView,
    reservation: Reservation,
    link: Link,
    entry: CalendarEntry,
    exchange_fields: EventFields,
    result: Plan,
) -> tuple[EventFields, set[str], set[str]]:
    """The three-way merge under the person's policy: the fields, those taken from Exchange,
    those in conflict. A room that cannot follow an Outlook change is a conflict whatever the
    policy."""
    merge = three_way(reservation.fields, entry.fields, link.rooms_snapshot, link.exchange_snapshot)
    from_exchange = set(merge.from_exchange)
    conflicts = set(merge.conflicts)
    if view.policy is ConflictPolicy.EXCHANGE_WINS:
        from_exchange |= conflicts
        conflicts = set()
    merged = take(reservation.fields, exchange_fields, from_exchange)
    if not room_keys(from_exchange):
        return merged, from_exchange, conflicts
    taken = [room for room in merged.rooms if not _room_is_free(view, result, room, merged, reservation.id)]
    if taken:
        blocked = room_keys(from_exchange)
        from_exchange -= blocked
        conflicts |= blocked
        merged = take(reservation.fields, exchange_fields, from_exchange)
        result.notes.append(f"room {', '.join(taken)} taken for reservation {reservation.id}")
    return merged, from_exchange, conflicts


def _take_merged(
    view: MailboxView,
    reservation: Reservation,
    link: Link,
    entry: CalendarEntry,
    exchange_fields: EventFields,
    merged: EventFields,
    from_exchange: set[str],
    result: Plan,
) -> None:
    """Import what Exchange contributed, update the entry where it lacks the merge, keep the link."""
    if from_exchange:
        result.imports.append(Import(link.reservation_id, merged, reservation.version))
        if room_keys(from_exchange):
            result.claims.append((merged, reservation.id))
    entry_needs = snapshot(merged) != snapshot(exchange_fields) or link.state is LinkState.FAILED
    if entry_needs:
        result.updates.append(Update(link.reservation_id, merged))
    settled = replace(
        link,
        state=LinkState.FAILED if entry_needs else LinkState.SYNCED,
        last_error="not yet written" if entry_needs else None,
        rooms_snapshot=snapshot(merged),
        exchange_snapshot=snapshot(entry.fields),
        rooms_version=reservation.version,  # the apply step raises it when it imports
    )
    if settled != view.links.get(link.reservation_id):  # an echo of our own write changes nothing
        result.keep(settled)


def _settle_conflict(
    view: MailboxView,
    reservation: Reservation,
    link: Link,
    entry: CalendarEntry,
    conflicts: set[str],
    result: Plan,
) -> bool:
    """Apply the policy's escalation; True when the reservation needs nothing more this cycle."""
    limits = view.limits
    fields = ", ".join(sorted(conflicts))
    if view.policy is ConflictPolicy.CANCEL and link.conflicts >= limits.cancel_attempts:
        result.cancels.append(Cancel(link.reservation_id, f"conflict in {fields}"))
        result.deletes.append(Delete(link.reservation_id, view.mailbox, entry.item_id, entry.change_key))
        result.keep(replace(link, state=LinkState.DELETING))
        result.notifications.append(
            _notice(view, NotificationKind.CANCELLED, reservation, fields, attempts=link.conflicts)
        )
        return True
    if view.policy is ConflictPolicy.ROLLBACK and link.conflicts >= limits.rollback_attempts:
        result.disable.append((link.reservation_id, f"{link.conflicts} conflicts in {fields}"))
        result.keep(
            replace(link, state=LinkState.SYNCED, last_error=f"sync disabled after conflicts in {fields}")
        )
        result.notifications.append(
            _notice(view, NotificationKind.SYNC_DISABLED, reservation, fields, attempts=link.conflicts)
        )
        return True
    result.notifications.append(_notice(view, NotificationKind.CONFLICT, reservation, fields))
    return False


def _notice(
    view: MailboxView, kind: NotificationKind, reservation: Reservation, fields: str, **facts: Fact
) -> Notification:
    """A notice to the organizer naming the reservation: its title, start (in its own zone) and rooms."""
    start = reservation.fields.start.astimezone(ZoneInfo(reservation.fields.timezone)).isoformat()
    rooms = ", ".join(view.room_names.get(room, room) for room in reservation.fields.rooms)
    return Notification(
        kind=kind,
        recipient=reservation.organizer,
        facts={"title": reservation.fields.title, "fields": fields, "start": start, "rooms": rooms, **facts},
        reservation_id=reservation.id,
    )


def _rooms_only(fields: EventFields, known_rooms: frozenset[str]) -> EventFields:
    """Only room mailboxes ROOMS knows are rooms of a reservation; other resources are not."""
    rooms = tuple(room for room in fields.rooms if room in known_rooms)
    return fields if rooms == fields.rooms else fields.model_copy(update={"rooms": rooms})


# --- ROOMS-side decisions ------------------------------------------------------------------


def _export(view: MailboxView, reservation_id: str, result: Plan) -> None:
    reservation = view.reservations.get(reservation_id)
    link = view.links.get(reservation_id)
    if reservation is None:
        if link is not None and link.item_id:
            result.deletes.append(Delete(reservation_id, view.mailbox, link.item_id, link.change_key))
    elif reservation.organizer != view.mailbox:
        _left_this_mailbox(view, reservation, link, result)
    elif not reservation.active:
        _export_cancelled(view, reservation_id, link, result)
    elif reservation.sync_disabled:
        return
    elif link is not None and link.state is LinkState.REFUSED:
        _export_refused(reservation, link, result)
    elif link is not None and link.state is LinkState.AWAITING:
        _await_outlook(view, reservation, link, result)
    elif link is None or link.item_id is None:
        _export_unwritten(view, reservation_id, reservation, link, result)
    elif link.state is LinkState.DELETING:
        result.deletes.append(Delete(reservation_id, view.mailbox, link.item_id, link.change_key))
    elif reservation.version != link.rooms_version or link.state is LinkState.FAILED:
        result.updates.append(Update(reservation_id, reservation.fields))
        result.keep(replace(link, state=LinkState.FAILED, last_error="not yet written"))


def _export_cancelled(view: MailboxView, reservation_id: str, link: Link | None, result: Plan) -> None:
    """Cancelled in ROOMS: the entry goes; a link that never got an entry is forgotten."""
    if link is not None and link.item_id:
        result.deletes.append(Delete(reservation_id, view.mailbox, link.item_id, link.change_key))
    elif link is not None:
        result.drop_links.add((reservation_id, view.mailbox))


NOT_SENT = "booked in the Outlook add-in, but the meeting was never sent"


def _await_outlook(view: MailboxView, reservation: Reservation, link: Link, result: Plan) -> None:
    """Booked in the add-in: Outlook writes the entry, roomsync never does. Past the wait the
    meeting was closed unsent, so the room is released and the organizer told."""
    if link.expected_by is None or view.now < link.expected_by:
        return
    result.cancels.append(Cancel(link.reservation_id, NOT_SENT))
    result.drop_links.add((link.reservation_id, view.mailbox))
    result.notifications.append(
        _notice(
            view,
            NotificationKind.NOT_SENT,
            reservation,
            "",
            start=reservation.fields.start.isoformat(),
            until=link.expected_by.isoformat(),
        )
    )


def _export_refused(reservation: Reservation, link: Link, result: Plan) -> None:
    """Refused by the server as it was: sent again only once it changed."""
    if reservation.version == link.rooms_version:
        return
    if link.item_id is None:
        result.creates.append(Create(link.reservation_id))
        result.keep(replace(link, state=LinkState.CREATING))
    else:
        result.updates.append(Update(link.reservation_id, reservation.fields))
        result.keep(replace(link, state=LinkState.FAILED, last_error="not yet written"))


def _export_unwritten(
    view: MailboxView, reservation_id: str, reservation: Reservation, link: Link | None, result: Plan
) -> None:
    """No entry known yet: adopt one an interrupted create left, else create it."""
    found = view.stamped.get(reservation_id)
    if found is not None and link is not None and link.written is not None:
        # The create happened but its outcome was lost: merge against what it wrote.
        base = replace(adopted(link), item_id=found.item_id, change_key=found.change_key)
        _reconcile(view, replace(base, state=LinkState.SYNCED), found, result)
        return
    if found is not None:
        # Created, outcome lost, nothing recorded of it: adopt it, then bring it up to date.
        adopted_link = Link(
            reservation_id=reservation_id,
            mailbox=view.mailbox,
            item_id=found.item_id,
            change_key=found.change_key,
            state=LinkState.SYNCED,
            rooms_version=reservation.version,
            rooms_snapshot=snapshot(reservation.fields),
            exchange_snapshot=snapshot(found.fields),
            conflicts=link.conflicts if link else 0,
        )
        _update_if_needed(reservation, found.fields, adopted_link, result)
        return
    # Every entry written after the stored sync state is in the feed just read, and a link
    # is only dropped once its entry is gone: without a link no older entry can exist.
    known_new = link is None and reservation_id not in view.feed_stamps
    result.creates.append(Create(reservation_id, known_new))
    if link is not None:
        result.keep(replace(link, state=LinkState.CREATING))
    # A new one's CREATING link is recorded with its page, just before it is written (apply).


def _update_if_needed(reservation: Reservation, current: EventFields, link: Link, result: Plan) -> None:
    if snapshot(current) != snapshot(reservation.fields):
        result.updates.append(Update(link.reservation_id, reservation.fields))
        link = replace(link, state=LinkState.FAILED, last_error="not yet written")
    result.keep(link)


def _remove_elsewhere(view: MailboxView, result: Plan) -> None:
    """Old organizers' entries go once the entry in this mailbox exists (or is created now)."""
    creating = {create.reservation_id for create in result.creates}
    scheduled = {(d.reservation_id, d.mailbox) for d in result.deletes}
    for reservation_id, others in view.links_elsewhere.items():
        reservation = view.reservations.get(reservation_id)
        if reservation is None or reservation.organizer != view.mailbox or not reservation.active:
            continue
        here = result.links.get((reservation_id, view.mailbox)) or view.links.get(reservation_id)
        exists = here is not None and here.item_id is not None
        if not exists and reservation_id not in creating:
            continue
        for other in others:
            if (reservation_id, other.mailbox) in scheduled:
                continue
            if other.item_id is None:
                result.drop_links.add((reservation_id, other.mailbox))
                continue
            result.deletes.append(
                Delete(reservation_id, other.mailbox, other.item_id, None, after_create=not exists)
            )


def _left_this_mailbox(view: MailboxView, reservation: Reservation, link: Link | None, result: Plan) -> None:
    """The organizer changed away from this mailbox."""
    if link is None:
        return
    if link.item_id is None:
        found = view.stamped.get(link.reservation_id)
        if found is None:
            result.drop_links.add((link.reservation_id, view.mailbox))
            return
        # An interrupted create did reach the server: know the entry, so it is removed only
        # once the new organizer's entry exists.
        link = replace(link, item_id=found.item_id, change_key=found.change_key, state=LinkState.SYNCED)
        result.keep(link)
    if reservation.active and reservation.organizer in view.syncable and link.state is not LinkState.DELETING:
        return  # the new organizer's cycle creates the new entry first, then removes this one
    assert link.item_id is not None
    result.deletes.append(Delete(link.reservation_id, view.mailbox, link.item_id, link.change_key))
