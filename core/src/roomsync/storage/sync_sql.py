"""What roomsync itself knows, in SQL: links, mailbox states, items not imported, the sync log."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from copy import deepcopy
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomsync.storage.models import IN_CHUNK, LinkRow, LogRow, MailboxStateRow, SeenEntryRow
from roomsync.storage.protocols import Link, LinkState, LogEntry, MailboxState, SeenEntry


class SqlSyncStore:
    """:class:`~roomsync.storage.protocols.SyncStore` over an SQLAlchemy session; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

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

    def link_by_item(self, mailbox: str, item_id: str) -> Link | None:
        stmt = select(LinkRow).where(LinkRow.mailbox == mailbox, LinkRow.item_id == item_id)
        row = self.session.scalars(stmt).first()
        return _link(row) if row is not None else None

    def links_in_mailbox(self, mailbox: str, states: Sequence[LinkState] | None = None) -> list[Link]:
        stmt = select(LinkRow).where(LinkRow.mailbox == mailbox).order_by(LinkRow.reservation_id)
        if states is not None:
            stmt = stmt.where(LinkRow.state.in_([state.value for state in states]))
        return [_link(row) for row in self.session.scalars(stmt)]

    def save_link(self, link: Link) -> None:
        """Insert or replace; ``updated_at`` is set to now, on the row and on ``link``."""
        row = self.session.get(LinkRow, (link.reservation_id, link.mailbox))
        if row is None:
            row = LinkRow(reservation_id=link.reservation_id, mailbox=link.mailbox)
            self.session.add(row)
        link.updated_at = datetime.now(UTC)
        row.item_id = link.item_id
        row.change_key = link.change_key
        row.state = link.state.value
        row.rooms_version = link.rooms_version
        # Copies: a snapshot changed in place would otherwise compare equal to itself and not be written.
        row.rooms_snapshot = deepcopy(link.rooms_snapshot)
        row.exchange_snapshot = deepcopy(link.exchange_snapshot)
        row.written = deepcopy(link.written)
        row.conflicts = link.conflicts
        row.attempts = link.attempts
        row.last_error = link.last_error
        row.updated_at = link.updated_at

    def delete_link(self, reservation_id: str, mailbox: str) -> None:
        self._delete(self.session.get(LinkRow, (reservation_id, mailbox)))

    # --- mailbox states --------------------------------------------------------------------

    def mailbox_state(self, mailbox: str) -> MailboxState:
        row = self.session.get(MailboxStateRow, mailbox)
        return _mailbox_state(row) if row is not None else MailboxState(mailbox=mailbox)

    def save_mailbox_state(self, state: MailboxState) -> None:
        row = self.session.get(MailboxStateRow, state.mailbox)
        if row is None:
            row = MailboxStateRow(mailbox=state.mailbox)
            self.session.add(row)
        row.environment = state.environment
        row.sync_state = state.sync_state
        row.rooms_cursor = state.rooms_cursor
        row.last_success = state.last_success
        row.last_attempt = state.last_attempt
        row.last_error = state.last_error
        row.consecutive_failures = state.consecutive_failures
        self.session.flush()

    def mailbox_states(self) -> list[MailboxState]:
        rows = self.session.scalars(select(MailboxStateRow).order_by(MailboxStateRow.mailbox))
        return [_mailbox_state(row) for row in rows]

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
        self.session.add(
            LogRow(
                at=entry.at,
                mailbox=entry.mailbox,
                level=entry.level,
                event=entry.event,
                message=entry.message,
                reservation_id=entry.reservation_id,
                data=deepcopy(dict(entry.data)),
            )
        )
        self.session.flush()

    def recent_log(
        self, *, limit: int = 50, mailbox: str | None = None, event: str | None = None
    ) -> list[LogEntry]:
        """Newest first (by time, then by order of writing)."""
        stmt = select(LogRow).order_by(LogRow.at.desc(), LogRow.id.desc()).limit(limit)
        if mailbox is not None:
            stmt = stmt.where(LogRow.mailbox == mailbox)
        if event is not None:
            stmt = stmt.where(LogRow.event == event)
        return [
            LogEntry(
                at=row.at,
                mailbox=row.mailbox,
                level=row.level,
                event=row.event,
                message=row.message,
                reservation_id=row.reservation_id,
                data=deepcopy(row.data or {}),
            )
            for row in self.session.scalars(stmt)
        ]


def _link(row: LinkRow) -> Link:
    return Link(
        reservation_id=row.reservation_id,
        mailbox=row.mailbox,
        item_id=row.item_id,
        change_key=row.change_key,
        state=LinkState(row.state),
        rooms_version=row.rooms_version,
        rooms_snapshot=deepcopy(row.rooms_snapshot),
        exchange_snapshot=deepcopy(row.exchange_snapshot),
        written=deepcopy(row.written),
        conflicts=row.conflicts,
        attempts=row.attempts,
        last_error=row.last_error,
        updated_at=row.updated_at,
    )


def _mailbox_state(row: MailboxStateRow) -> MailboxState:
    return MailboxState(
        mailbox=row.mailbox,
        environment=row.environment,
        sync_state=row.sync_state,
        rooms_cursor=row.rooms_cursor,
        last_success=row.last_success,
        last_attempt=row.last_attempt,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures,
    )
