"""What roomsync itself knows, in SQL: links, mailbox states, items not imported, the sync log."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from roomsync.storage.models import IN_CHUNK, LinkRow, LogRow, MailboxStateRow, SeenEntryRow
from roomsync.storage.protocols import AT_REST, Link, LinkState, LogEntry, MailboxState, SeenEntry

# The attributes that are the same on a record and its row, copied as they are.
_LINK_FIELDS = (
    "item_id",
    "change_key",
    "rooms_version",
    "conflicts",
    "attempts",
    "last_error",
    "updated_at",
    "expected_by",
    "companions",
)
_LINK_SNAPSHOTS = ("rooms_snapshot", "exchange_snapshot", "written")
_MAILBOX_STATE_FIELDS = (
    "environment",
    "sync_state",
    "rooms_cursor",
    "last_success",
    "last_attempt",
    "last_error",
    "last_fault",
    "consecutive_failures",
)
# Mailbox states are read and written as plain rows (no ORM identity map): the statement reading
# one is built once, and a save compares with what was read.
_STATES = cast(Table, MailboxStateRow.__table__)
_STATE_COLUMNS = [_STATES.c[name] for name in ("mailbox", *_MAILBOX_STATE_FIELDS)]
_READ_STATE = select(*_STATE_COLUMNS).where(_STATES.c.mailbox == bindparam("mailbox"))
# A mailbox's links, and those in some states (an idle cycle's probe for pending ones).
_MAILBOX_LINKS = (
    select(LinkRow).where(LinkRow.mailbox == bindparam("mailbox")).order_by(LinkRow.reservation_id)
)
_MAILBOX_LINKS_IN = _MAILBOX_LINKS.where(LinkRow.state.in_(bindparam("states", expanding=True)))
_UNREAD = object()
_LOG_FIELDS = ("at", "mailbox", "level", "event", "message", "reservation_id")


def _values(source: object, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(source, name) for name in names}


def _copies(source: object, names: Sequence[str]) -> dict[str, Any]:
    """Copies of the snapshots, so that a link and its row never share one: a snapshot replaced
    on the link is then always a change of the row. The engine replaces snapshots and never
    changes one in place, so the top level is all that is copied (a deep copy of every link's
    snapshots cost more than the rest of saving it)."""
    return {name: _shallow(getattr(source, name)) for name in names}


def _shallow(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _assign(row: object, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


class SqlSyncStore:
    """:class:`~roomsync.storage.protocols.SyncStore` over an SQLAlchemy session; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # Each mailbox state as read in this session (None: no row), so a save writes only what
        # changed; dropped once saved, so a save after a rollback writes every field again.
        self._states_read: dict[str, dict[str, Any] | None] = {}

    # --- links -----------------------------------------------------------------------------

    def links_for_reservation(self, reservation_id: str) -> list[Link]:
        stmt = select(LinkRow).where(LinkRow.reservation_id == reservation_id).order_by(LinkRow.mailbox)
        return [_link(row) for row in self.session.scalars(stmt)]

    def links_for_reservations(self, reservation_ids: Collection[str]) -> dict[str, list[Link]]:
        ids = sorted(set(reservation_ids))
        found: dict[str, list[Link]] = {}
        for offset in range(0, len(ids), IN_CHUNK):
            stmt = (
                select(LinkRow)
                .where(LinkRow.reservation_id.in_(ids[offset : offset + IN_CHUNK]))
                .order_by(LinkRow.reservation_id, LinkRow.mailbox)
            )
            for row in self.session.scalars(stmt):
                found.setdefault(row.reservation_id, []).append(_link(row))
        return found

    def links_by_items(self, mailbox: str, item_ids: Collection[str]) -> dict[str, Link]:
        ids = sorted(set(item_ids))
        found: dict[str, Link] = {}
        for offset in range(0, len(ids), IN_CHUNK):
            stmt = select(LinkRow).where(
                LinkRow.mailbox == mailbox, LinkRow.item_id.in_(ids[offset : offset + IN_CHUNK])
            )
            for row in self.session.scalars(stmt):
                if row.item_id is not None:
                    found[row.item_id] = _link(row)
        return found

    def link_by_item(self, mailbox: str, item_id: str) -> Link | None:
        stmt = select(LinkRow).where(LinkRow.mailbox == mailbox, LinkRow.item_id == item_id)
        row = self.session.scalars(stmt).first()
        return _link(row) if row is not None else None

    def links_in_mailbox(self, mailbox: str, states: Sequence[LinkState] | None = None) -> list[Link]:
        if states is None:
            rows = self.session.scalars(_MAILBOX_LINKS, {"mailbox": mailbox})
        else:
            rows = self.session.scalars(
                _MAILBOX_LINKS_IN, {"mailbox": mailbox, "states": [state.value for state in states]}
            )
        return [_link(row) for row in rows]

    def pending_by_mailbox(self) -> dict[str, int]:
        stmt = (
            select(LinkRow.mailbox, func.count())
            .where(LinkRow.state.not_in(AT_REST))
            .group_by(LinkRow.mailbox)
        )
        return {mailbox: count for mailbox, count in self.session.execute(stmt)}

    def save_link(self, link: Link) -> None:
        """Insert or replace; ``updated_at`` is set to now, on the row and on ``link``."""
        self.save_links([link])

    def save_links(self, links: Iterable[Link]) -> None:
        """Insert or replace many links; ``updated_at`` is set to now, on each row and link.

        Rows the session holds already are changed in place; the others are read in one query
        per mailbox and chunk, and new ones are inserted together at the next flush, so a page
        of a first export costs a few statements, not two per link.
        """
        links = list(links)
        rows = self._link_rows([(link.reservation_id, link.mailbox) for link in links])
        when = datetime.now(UTC)
        for link in links:
            key = (link.reservation_id, link.mailbox)
            row = rows.get(key)
            if row is None:
                row = rows[key] = LinkRow(reservation_id=link.reservation_id, mailbox=link.mailbox)
                self.session.add(row)
            link.updated_at = when
            _assign(row, _values(link, _LINK_FIELDS))
            row.state = link.state.value
            _assign(row, _copies(link, _LINK_SNAPSHOTS))

    def _link_rows(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LinkRow]:
        """The stored rows of these (reservation id, mailbox) keys: from the session where it
        holds them, the rest in bulk; keys without a row are absent."""
        found: dict[tuple[str, str], LinkRow] = {}
        missing: dict[str, list[str]] = {}
        for key in dict.fromkeys(keys):
            row = self.session.identity_map.get(identity_key(LinkRow, key))
            if isinstance(row, LinkRow):
                found[key] = row
            else:
                missing.setdefault(key[1], []).append(key[0])
        for mailbox, ids in missing.items():
            for offset in range(0, len(ids), IN_CHUNK):
                stmt = select(LinkRow).where(
                    LinkRow.mailbox == mailbox, LinkRow.reservation_id.in_(ids[offset : offset + IN_CHUNK])
                )
                for row in self.session.scalars(stmt):
                    found[(row.reservation_id, row.mailbox)] = row
        return found

    def delete_link(self, reservation_id: str, mailbox: str) -> None:
        self._delete(self.session.get(LinkRow, (reservation_id, mailbox)))

    # --- mailbox states --------------------------------------------------------------------

    def mailbox_state(self, mailbox: str) -> MailboxState:
        row = self.session.execute(_READ_STATE, {"mailbox": mailbox}).first()
        values = dict(row._mapping) if row is not None else None
        self._states_read[mailbox] = values
        return MailboxState(**values) if values is not None else MailboxState(mailbox=mailbox)

    def save_mailbox_state(self, state: MailboxState) -> None:
        """Writes only the fields that differ from what :meth:`mailbox_state` read in this
        session (nothing when none does): an idle cycle's state costs one small UPDATE or none."""
        values = _values(state, _MAILBOX_STATE_FIELDS)
        read = self._states_read.pop(state.mailbox, _UNREAD)
        if read is None:
            self.session.execute(insert(_STATES).values(mailbox=state.mailbox, **values))
            return
        if read is not _UNREAD:
            assert isinstance(read, dict)
            values = {name: value for name, value in values.items() if read[name] != value}
            if not values:
                return
        written = self.session.execute(
            update(_STATES).where(_STATES.c.mailbox == state.mailbox).values(values)
        )
        if read is _UNREAD and getattr(written, "rowcount", 0) == 0:
            self.session.execute(insert(_STATES).values(mailbox=state.mailbox, **values))

    def mailbox_states(self) -> list[MailboxState]:
        rows = self.session.execute(select(*_STATE_COLUMNS).order_by(_STATES.c.mailbox))
        return [MailboxState(**row._mapping) for row in rows]

    def forget_mailbox(self, mailbox: str) -> list[str]:
        """Forget what the sync read of the mailbox: its sync state and journal cursor, the entries
        it refused, and the item id and change key of every link, whose snapshots stay; a synced
        link becomes ``CREATING``, so the next cycle reads everything and adopts entries by stamp.
        Answers the reservations whose links named an item."""
        state = self.mailbox_state(mailbox)
        state.sync_state = None
        state.rooms_cursor = None
        self.save_mailbox_state(state)
        self.session.execute(delete(SeenEntryRow).where(SeenEntryRow.mailbox == mailbox))
        forgotten = []
        for row in self.session.scalars(select(LinkRow).where(LinkRow.mailbox == mailbox)):
            if row.item_id is None:
                continue
            forgotten.append(row.reservation_id)
            row.item_id = row.change_key = None
            row.updated_at = datetime.now(UTC)
            if row.state == LinkState.SYNCED.value:
                row.state = LinkState.CREATING.value
        self.session.flush()
        return sorted(forgotten)

    # --- items not imported ----------------------------------------------------------------

    def seen_entry(self, mailbox: str, item_id: str) -> SeenEntry | None:
        row = self.session.get(SeenEntryRow, (mailbox, item_id))
        if row is None:
            return None
        return SeenEntry(
            mailbox=row.mailbox, item_id=row.item_id, change_key=row.change_key, reason=row.reason
        )

    def save_seen_entry(self, entry: SeenEntry) -> None:
        row = self.session.get(SeenEntryRow, (entry.mailbox, entry.item_id))
        if row is None:
            row = SeenEntryRow(mailbox=entry.mailbox, item_id=entry.item_id)
            self.session.add(row)
        row.change_key = entry.change_key
        row.reason = entry.reason
        self.session.flush()

    def forget_seen_entry(self, mailbox: str, item_id: str) -> None:
        self._delete(self.session.get(SeenEntryRow, (mailbox, item_id)))

    def _delete(self, row: LinkRow | SeenEntryRow | None) -> None:
        if row is not None:
            self.session.delete(row)
            self.session.flush()

    # --- log -------------------------------------------------------------------------------

    def log(self, entry: LogEntry) -> None:
        self.session.add(LogRow(**_values(entry, _LOG_FIELDS), data=deepcopy(dict(entry.data))))
        self.session.flush()

    def recent_log(
        self,
        *,
        limit: int = 50,
        mailbox: str | None = None,
        event: str | None = None,
        levels: Collection[str] | None = None,
    ) -> list[LogEntry]:
        """Newest first (by time, then by order of writing)."""
        stmt = select(LogRow).order_by(LogRow.at.desc(), LogRow.id.desc()).limit(limit)
        if mailbox is not None:
            stmt = stmt.where(LogRow.mailbox == mailbox)
        if event is not None:
            stmt = stmt.where(LogRow.event == event)
        if levels is not None:
            stmt = stmt.where(LogRow.level.in_(sorted(levels)))
        return [
            LogEntry(**_values(row, _LOG_FIELDS), data=deepcopy(row.data or {}))
            for row in self.session.scalars(stmt)
        ]


def _link(row: LinkRow) -> Link:
    return Link(
        reservation_id=row.reservation_id,
        mailbox=row.mailbox,
        state=LinkState(row.state),
        **_values(row, _LINK_FIELDS),
        **_copies(row, _LINK_SNAPSHOTS),
    )
