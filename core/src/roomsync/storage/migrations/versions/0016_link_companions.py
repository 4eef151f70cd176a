"""Links say whether their entry has buffer entries beside it, so updates look them up only then.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 02:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing links may have companions: true until their next write says otherwise.
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("companions", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("companions")
