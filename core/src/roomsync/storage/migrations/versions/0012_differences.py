"""Differences between ROOMS and Exchange are stored records with a state.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "differences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ident", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=True),
        sa.Column("reservation_id", sa.String(length=64), nullable=True),
        sa.Column("item_id", sa.String(length=512), nullable=True),
        sa.Column("occurrence", sa.DateTime(timezone=True), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("changed_last", sa.String(length=20), nullable=False),
        sa.Column("rooms_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exchange_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recommendation", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("state_by", sa.String(length=320), nullable=True),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("sides", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_differences")),
        sa.UniqueConstraint("ident", name=op.f("uq_differences_ident")),
    )
    op.create_index(op.f("ix_differences_mailbox"), "differences", ["mailbox"])
    op.create_index(op.f("ix_differences_reservation_id"), "differences", ["reservation_id"])
    op.create_index(op.f("ix_differences_state"), "differences", ["state"])


def downgrade() -> None:
    op.drop_table("differences")
