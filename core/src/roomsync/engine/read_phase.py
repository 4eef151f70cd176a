"""Reading both sides of one mailbox into the view the plan decides on."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pluggy

from roomsync.config import SyncConfig
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import Answer, CalendarEntry
from roomsync.contract import chained
from roomsync.domain import Person, Reservation, Room, ShowAs
from roomsync.engine.echoes import read_stale_echoes
from roomsync.engine.groups import CycleGroups
from roomsync.engine.plan import MailboxView, beyond_window
from roomsync.errors import MassDeletionRefused, RoomsyncError
from roomsync.room_bookings import span
from roomsync.storage.protocols import Link, LinkState, UnitOfWork

PENDING = (LinkState.CREATING, LinkState.FAILED, LinkState.DELETING, LinkState.AWAITING)

ROOMS_PAGE = 1000
"""Reservations changed in ROOMS one pass of a cycle plans at most. A cycle with more goes on
page by page, each planned, written and committed with the cursor after it, so what it holds
follows the page, not the mailbox, and a crash costs the page it hit."""


@dataclass
class ExchangeChanges:
    entries: list[CalendarEntry]
    deleted: set[str]
    sync_state: str
    reset: bool
    pages: int
    unchanged: dict[str, str] = field(default_factory=dict)
    """Item id → change key of items still as our own write left them: known from the links."""
    echo_stamps: dict[str, str] = field(default_factory=dict)
    """Item id → reservation id of those echoes, where the connector kept the stamp it wrote."""

    @property
    def quiet(self) -> bool:
        """Nothing changed since a stored sync state, not even by our own writes (their echoes
        are checked against the links): the idle cycle's answer."""
        return not (self.entries or self.deleted or self.unchanged or self.reset)


def read_exchange_changes(host: ConnectorHost, mailbox: str, sync_state: str | None) -> ExchangeChanges:
    """Drain every page; the last version of an item wins, a later deletion removes it."""
    entries: dict[str, CalendarEntry] = {}
    deleted: set[str] = set()
    unchanged: dict[str, str] = {}
    echo_stamps: dict[str, str] = {}  # item id -> reservation id, where the connector knows it
    reset = False
    pages = 0
    state = sync_state
    while True:
        page = host.changes(mailbox, state)
        pages += 1
        if page.reset:
            reset = True
            entries.clear()
            deleted.clear()
            unchanged.clear()
        for entry in page.entries:
            entries[entry.item_id] = entry
            deleted.discard(entry.item_id)
            unchanged.pop(entry.item_id, None)
        for item_id in page.deleted:
            entries.pop(item_id, None)
            deleted.add(item_id)
            unchanged.pop(item_id, None)
        for ref in page.unchanged:
            entries.pop(ref.item_id, None)
            deleted.discard(ref.item_id)
            unchanged[ref.item_id] = ref.change_key or ""
            if ref.stamp:
                echo_stamps[ref.item_id] = ref.stamp
        state = page.sync_state
        if not page.more:
            break
    if sync_state is None:
        reset = True  # a first read is a full listing too
    stamps = {item_id: echo_stamps[item_id] for item_id in unchanged if item_id in echo_stamps}
    return ExchangeChanges(list(entries.values()), deleted, state or "", reset, pages, unchanged, stamps)


def quiet_rooms(uow: UnitOfWork, mailbox: str, rooms_cursor: int | None) -> int | None:
    """The ROOMS cursor when nothing changed in ROOMS for the mailbox since ``rooms_cursor`` and
    none of its links waits for a write; ``None`` when the cycle has something to plan.

    Two indexed queries: the journal after the cursor (``ix_journal_organizer_seq``) and the
    mailbox's pending links (``ix_links_mailbox_item_id``), both empty for an idle person.
    """
    if rooms_cursor is None:
        return None  # a first cycle exports what is current
    changed, cursor = uow.rooms.changes_since(rooms_cursor, mailbox)
    if changed or uow.sync.links_in_mailbox(mailbox, PENDING):
        return None
    return cursor


def relocate_links(uow: UnitOfWork, mailbox: str) -> list[str]:
    """Forget the item ids of a mailbox that now lives on another server; answers their reservations.

    A mailbox migration gives every item a new id and keeps its properties, the ROOMS stamp among
    them. Each link keeps its snapshots (both sides as they were when last in step) and becomes
    pending, so the cycle adopts the entry carrying its stamp and merges against them as usual;
    an entry the new calendar lacks is looked up by its stamp and written anew only if absent.
    """
    moved = []
    for link in uow.sync.links_in_mailbox(mailbox):
        if link.item_id is None:
            continue
        state = LinkState.CREATING if link.state is LinkState.SYNCED else link.state
        uow.sync.save_link(replace(link, item_id=None, change_key=None, state=state))
        moved.append(link.reservation_id)
    return moved


def require_relocated(
    mailbox: str, moved_from: str, changes: ExchangeChanges, moved: Collection[str], allowed: bool
) -> None:
    """A moved mailbox whose calendar holds none of its synced entries has not arrived yet."""
    found = {entry.stamp for entry in changes.entries if entry.is_own and entry.stamp}
    if moved and not found & set(moved) and not allowed:
        raise MassDeletionRefused(
            f"mailbox {mailbox} moved from environment {moved_from}, but none of its {len(moved)} "
            "synced entries is in its calendar here; nothing was written. Once the mailbox's move is "
            "complete the next cycle finds them by their stamps. To write them anew instead "
            f"(invitations are sent again), run 'roomsync sync --person {mailbox} --allow-mass-delete'"
        )


def map_imported(pm: pluggy.PluginManager, entries: list[CalendarEntry]) -> list[CalendarEntry]:
    """Entries as the ``roomsync_map_import`` chain leaves them."""
    return [chained(pm, "roomsync_map_import", "entry", entry) for entry in entries]


def build_view(
    uow: UnitOfWork,
    host: ConnectorHost,
    person: Person,
    changes: ExchangeChanges,
    rooms_cursor: int | None,
    limits: SyncConfig,
    syncable: Callable[[str], bool],
    allow_mass_delete: bool,
    groups: CycleGroups | None = None,
    rooms: Sequence[Room] | None = None,
    first: bool | None = None,
    page: int | None = None,
) -> tuple[MailboxView, int, bool]:
    """Everything the plan needs of one mailbox, read in named steps; the new ROOMS cursor, and
    whether more reservations changed in ROOMS than this view holds.

    With ``groups``, entries and reservations are seen with the persons of their distribution
    groups, as ROOMS holds them (:mod:`roomsync.engine.groups`). ``rooms`` are ROOMS' rooms as
    the cycle read them once for all its passes (read here without). ``first``: the person's
    first cycle, which exports what is current, not history (by default: no cursor yet).
    ``page``: the most reservations changed in ROOMS the view takes (:data:`ROOMS_PAGE`); the
    cursor returned is the one after them.

    Only the links the plan may look at are read (those of the changed items, the pending
    ones, those of the reservations in view), so a page costs the same in the ten-thousandth
    export as in the first; a full listing and a mass deletion, which need them all, read all.
    """
    mailbox = person.email
    first = rooms_cursor is None if first is None else first
    whole = changes.reset or len(changes.deleted) >= limits.mass_delete_minimum
    if whole:
        links = {link.reservation_id: link for link in uow.sync.links_in_mailbox(mailbox)}
    else:
        items = {entry.item_id for entry in changes.entries} | changes.deleted | set(changes.unchanged)
        links = {link.reservation_id: link for link in uow.sync.links_by_items(mailbox, items).values()}
        links.update((link.reservation_id, link) for link in uow.sync.links_in_mailbox(mailbox, PENDING))
    by_item = {link.item_id: link for link in links.values() if link.item_id}
    changed = [
        *changes.entries,
        *read_stale_echoes(host, mailbox, changes.unchanged, by_item, changes.echo_stamps),
    ]
    entries, foreign = fresh_entries(uow, mailbox, changed)
    entries = groups.entries(entries) if groups else entries
    deleted = deleted_items(changes, by_item)
    _guard_mass_deletion(mailbox, deleted, by_item, links, limits, allow_mass_delete)
    _guard_empty_listing(mailbox, changes, deleted, allow_mass_delete)
    now = datetime.now(UTC)
    not_before = now - timedelta(days=limits.past_days)
    candidates, cursor, more, current = _candidates(
        uow, mailbox, rooms_cursor, links, not_before, first, ROOMS_PAGE if page is None else page
    )
    wanted = _wanted(candidates, entries, deleted, by_item)
    if not whole:
        for rid, all_links in uow.sync.links_for_reservations(wanted - links.keys()).items():
            links.update((rid, link) for link in all_links if link.mailbox == mailbox)
    reservations = {rid: current[rid] for rid in wanted if rid in current}
    reservations.update(uow.rooms.get_reservations(wanted - current.keys()))
    reservations = groups.fill_in(uow, mailbox, reservations) if groups else reservations
    stamped = _recovered_by_stamp(host, mailbox, candidates, links, entries)
    if groups:
        stamped = dict(zip(stamped, groups.entries(list(stamped.values())), strict=True))
    if rooms is None:
        rooms = uow.rooms.list_rooms()
    known_rooms = frozenset(room.mailbox for room in rooms)
    windows = {room.mailbox: room.booking_window_days for room in rooms if room.booking_window_days}
    view = MailboxView(
        mailbox=mailbox,
        policy=person.conflict_policy,
        limits=limits,
        reservations=reservations,
        links=links,
        links_elsewhere=_links_elsewhere(uow, mailbox, reservations),
        candidates=candidates,
        entries=entries,
        foreign=foreign,
        deleted=deleted,
        stamped=stamped,
        feed_stamps=frozenset(e.stamp for e in changes.entries if e.stamp),
        known_rooms=known_rooms,
        room_names={room.mailbox: room.name for room in rooms},
        room_windows=windows,
        room_busy=_busy_declining_rooms(host, entries, known_rooms, windows, now),
        syncable=frozenset(o for o in {r.organizer for r in reservations.values()} if syncable(o)),
        room_bookings=_room_bookings(uow, reservations.values(), [*entries, *stamped.values()]),
        not_before=not_before,
        now=now,
    )
    return view, cursor, more


def fresh_entries(
    uow: UnitOfWork, mailbox: str, changed: Sequence[CalendarEntry]
) -> tuple[list[CalendarEntry], list[CalendarEntry]]:
    """The changed entries to plan on, and those another installation stamped (never touched)."""
    entries, foreign = [], []
    for entry in changed:
        if entry.stamped_by is not None:
            foreign.append(entry)  # another installation's: never adopted, imported or changed
            continue
        seen = uow.sync.seen_entry(mailbox, entry.item_id)
        if seen is not None and seen.change_key == entry.change_key:
            continue  # already refused in this version; the organizer was told
        entries.append(entry)
    return entries, foreign


def deleted_items(changes: ExchangeChanges, by_item: Mapping[str, Link]) -> set[str]:
    deleted = set(changes.deleted)
    if changes.reset:
        # A full listing reports no deletions: whatever linked item it lacks is gone.
        listed = {entry.item_id for entry in changes.entries} | set(changes.unchanged)
        deleted |= {item for item in by_item if item not in listed}
        deleted = {item for item in deleted if item in by_item}
    return deleted


def _candidates(
    uow: UnitOfWork,
    mailbox: str,
    rooms_cursor: int | None,
    links: Mapping[str, Link],
    not_before: datetime,
    first: bool,
    page: int,
) -> tuple[list[str], int, bool, dict[str, Reservation]]:
    """Reservations changed in ROOMS since the cursor (a page of them), then those whose write
    is pending; the cursor after the page, whether more changed, and on a first cycle the
    current reservations it read to tell them from history (the view takes them as read)."""
    changed, cursor, more = uow.rooms.changes_page(rooms_cursor, mailbox, page)
    current: dict[str, Reservation] = {}
    if first and changed:
        # A person's first cycle exports what is current, not years of history.
        found = uow.rooms.reservations(organizer=mailbox, start=not_before, ids=changed)
        current = {r.id: r for r in found if r.id is not None}
        changed = [rid for rid in changed if rid in current]
    if changed:
        # A reservation following a room's Outlook booking is the room cycle's, never exported.
        followed = {
            rid
            for rid, all_links in uow.sync.links_for_reservations(changed).items()
            if any(link.state is LinkState.FOLLOWED for link in all_links)
        }
        changed = [rid for rid in changed if rid not in followed]
    pending = [link.reservation_id for link in links.values() if link.state in PENDING]
    return list(dict.fromkeys([*changed, *pending])), cursor, more, current


def _wanted(
    candidates: Sequence[str],
    entries: Sequence[CalendarEntry],
    deleted: Collection[str],
    by_item: Mapping[str, Link],
) -> set[str]:
    """Every reservation the plan may look at: candidates, and those changed entries concern."""
    wanted = set(candidates)
    wanted |= {by_item[e.item_id].reservation_id for e in entries if e.item_id in by_item}
    wanted |= {e.stamp for e in entries if e.stamp}
    wanted |= {by_item[item].reservation_id for item in deleted if item in by_item}
    return wanted


def _links_elsewhere(
    uow: UnitOfWork, mailbox: str, reservations: Mapping[str, Reservation]
) -> dict[str, list[Link]]:
    return {
        rid: others
        for rid, all_links in uow.sync.links_for_reservations(list(reservations)).items()
        if (
            others := [
                link for link in all_links if link.mailbox != mailbox and link.state is not LinkState.FOLLOWED
            ]
        )
    }


def _recovered_by_stamp(
    host: ConnectorHost,
    mailbox: str,
    candidates: Sequence[str],
    links: Mapping[str, Link],
    entries: Sequence[CalendarEntry],
) -> dict[str, CalendarEntry]:
    """Own entries of interrupted creates, looked up by stamp.

    Only an interrupted create needs the lookup: a new reservation has never been written, and
    an entry the feed just returned is adopted by its stamp anyway.
    """
    listed = {entry.stamp for entry in entries if entry.is_own and entry.stamp}
    recovering = [
        rid
        for rid in candidates
        if rid in links
        and links[rid].state is LinkState.CREATING
        and links[rid].item_id is None
        and rid not in listed
    ]
    stamped: dict[str, CalendarEntry] = {}
    if recovering:
        for stamp, found_entries in host.find_by_stamp(mailbox, recovering).items():
            own = [entry for entry in found_entries if entry.is_own]
            if own:
                stamped[stamp] = own[0]
    return stamped


def _room_bookings(
    uow: UnitOfWork, reservations: Iterable[Reservation], entries: Iterable[CalendarEntry]
) -> list[Reservation]:
    """The bookings of every room this cycle may give, within the times it may ask about.

    What the plan merges takes each value from the reservation or the entry, so their rooms, their
    earliest start and their latest end bound every question the plan asks of a room.
    """
    fields = [r.fields for r in reservations] + [e.fields for e in entries]
    rooms = {room for f in fields for room in f.rooms}
    if not rooms:
        return []
    spans = [span(f) for f in fields]
    return uow.rooms.room_bookings(rooms, min(s for s, _ in spans), max(e for _, e in spans))


DECLINE_LOOK_DAYS = 60
"""How far from a declined meeting's start its rooms' busy times are read."""


def _busy_declining_rooms(
    host: ConnectorHost,
    entries: Sequence[CalendarEntry],
    rooms: frozenset[str],
    windows: Mapping[str, int],
    now: datetime,
) -> dict[str, list[tuple[datetime, datetime]]]:
    """The busy times of the rooms that declined a changed entry, to tell the organizer whether
    the room was taken: one free/busy request, only in a cycle that saw a decline the rooms'
    booking windows do not explain already (that reason comes first)."""
    declined: list[tuple[str, CalendarEntry]] = []
    for e in entries:
        declining = [a.mailbox for a in e.answers if a.answer is Answer.DECLINED and a.mailbox in rooms]
        if not beyond_window(e.fields, declining, windows, now):
            declined.extend((room, e) for room in declining)
    if not declined:
        return {}
    start = min(e.fields.start for _, e in declined)
    end = start + timedelta(days=DECLINE_LOOK_DAYS)
    try:
        answers = host.free_busy(sorted({room for room, _ in declined}), start, end)
    except RoomsyncError:
        return {}  # the reason stays the room's policy
    return {
        fb.mailbox: [(i.start, i.end) for i in fb.intervals if i.status is not ShowAs.FREE]
        for fb in answers
        if fb.error is None
    }


def _guard_empty_listing(mailbox: str, changes: ExchangeChanges, deleted: set[str], allowed: bool) -> None:
    """A full listing that comes back empty while entries are linked: more likely a lost
    mailbox, a permission or a migration than a person who deleted everything."""
    if changes.reset and not (changes.entries or changes.unchanged) and deleted and not allowed:
        raise MassDeletionRefused(
            f"mailbox {mailbox} reads empty although {len(deleted)} synced entries should be there; "
            "nothing was cancelled. If they really were deleted, run "
            f"'roomsync sync --person {mailbox} --allow-mass-delete'"
        )


def _guard_mass_deletion(
    mailbox: str,
    deleted: set[str],
    by_item: dict[str, Link],
    links: dict[str, Link],
    limits: SyncConfig,
    allowed: bool,
) -> None:
    """A calendar that suddenly lost most of its entries is more likely broken than emptied."""
    synced = [link for link in links.values() if link.item_id and link.state is LinkState.SYNCED]
    vanishing = [item for item in deleted if item in by_item and by_item[item].state is LinkState.SYNCED]
    if allowed or len(vanishing) < limits.mass_delete_minimum:
        return
    if len(vanishing) >= limits.mass_delete_ratio * len(synced):
        raise MassDeletionRefused(
            f"mailbox {mailbox} reports {len(vanishing)} of its {len(synced)} synced entries deleted; "
            "nothing was cancelled. If the deletions are real, run "
            f"'roomsync sync --person {mailbox} --allow-mass-delete'"
        )
