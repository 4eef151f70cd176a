"""Every installation has an identity, so its stamps are told from another installation's.

A database that already holds links was written by a roomsync that stamped entries with the bare
reservation id: it keeps recognising those stamps as its own (``bare_stamps``) and re-stamps each
entry on its next write. A new database starts without, so a bare stamp there is never taken for
one of its own reservations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 18:30:00
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "installation",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bare_stamps", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    linked = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM links")).scalar_one()
    created = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    op.bulk_insert(table, [{"id": str(uuid.uuid4()), "created_at": created, "bare_stamps": linked > 0}])


def downgrade() -> None:
    op.drop_table("installation")
