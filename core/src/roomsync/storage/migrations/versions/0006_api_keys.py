"""API keys stored as hashes, the equipment of rooms, the kind of a mailbox's last error.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.String(length=100), nullable=False),
        sa.Column("person", sa.String(length=320), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("equipment", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("mailbox_states") as batch:
        batch.add_column(sa.Column("last_fault", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailbox_states") as batch:
        batch.drop_column("last_fault")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("equipment")
    op.drop_table("api_keys")
