"""Outlook bookings of rooms: what each room's become in ROOMS, and reservations that are blockers.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(
            sa.Column("outlook_bookings", sa.String(20), server_default="reservation", nullable=False)
        )
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("blocker", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("blocker")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("outlook_bookings")
