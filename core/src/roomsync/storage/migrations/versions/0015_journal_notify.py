"""The journal notifies: every row added NOTIFYs ``roomsync_journal`` with its organizer, so a
listening runner learns of ROOMS changes at once (PostgreSQL only; SQLite's journal is polled).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel is roomsync.engine.rooms_changes.CHANNEL; a migration keeps its own copy of what
# it writes, so a later rename in the code cannot change what this revision did.
FUNCTION = """
CREATE OR REPLACE FUNCTION roomsync_journal_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roomsync_journal', NEW.organizer);
    RETURN NULL;
END
$$
"""
TRIGGER = (
    "CREATE TRIGGER journal_notify AFTER INSERT ON journal "
    "FOR EACH ROW EXECUTE FUNCTION roomsync_journal_notify()"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS journal_notify ON journal")
    op.execute("DROP FUNCTION IF EXISTS roomsync_journal_notify()")
