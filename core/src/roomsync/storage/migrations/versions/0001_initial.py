"""The initial schema: the ROOMS side (persons, rooms, reservations, journal) and the sync side
(links, mailbox states, items not imported, sync log).

Revision ID: 0001
Revises:
Create Date: 2026-11-26 04:36:36
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Instants are stored as UTC; roomsync.storage.models.UtcDateTime maps them to aware datetimes.
INSTANT = sa.DateTime(timezone=True)
EMAIL = sa.String(length=320)
ITEM_ID = sa.String(length=512)


def upgrade() -> None:
    # --- the ROOMS side
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=True),
        sa.Column("conflict_policy", sa.String(length=20), nullable=False),
        sa.Column("sync_enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("email", name=op.f("uq_persons_email")),
    )
    op.create_table(
        "rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mailbox", EMAIL, nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("sync_master", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("mailbox", name=op.f("uq_rooms_mailbox")),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("start_at", INSTANT, nullable=False),
        sa.Column("end_at", INSTANT, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("reminder_minutes", sa.Integer(), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("show_as", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("organizer", EMAIL, nullable=False),
        sa.Column("creator", EMAIL, nullable=True),
        sa.Column("person_in_charge", EMAIL, nullable=True),
        sa.Column("setup_minutes", sa.Integer(), nullable=False),
        sa.Column("followup_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sync_disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("modified_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["organizer"], ["persons.email"], name=op.f("fk_reservations_organizer_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index(op.f("ix_reservations_organizer"), "reservations", ["organizer"], unique=False)
    op.create_index(op.f("ix_reservations_start_at"), "reservations", ["start_at"], unique=False)
    op.create_table(
        "reservation_rooms",
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("mailbox", EMAIL, nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox"], ["rooms.mailbox"], name=op.f("fk_reservation_rooms_mailbox_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_reservation_rooms_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", "mailbox", name=op.f("pk_reservation_rooms")),
    )
    op.create_index(op.f("ix_reservation_rooms_mailbox"), "reservation_rooms", ["mailbox"], unique=False)
    op.create_table(
        "participants",
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_participants_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", "email", name=op.f("pk_participants")),
    )
    op.create_table(
        "series",
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.String(length=20), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("weekdays", sa.String(length=30), nullable=False),
        sa.Column("month_day", sa.Integer(), nullable=True),
        sa.Column("week_of_month", sa.Integer(), nullable=True),
        sa.Column("month", sa.Integer(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_series_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", name=op.f("pk_series")),
    )
    op.create_table(
        "occurrence_changes",
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("original_start", INSTANT, nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("start_at", INSTANT, nullable=True),
        sa.Column("end_at", INSTANT, nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_occurrence_changes_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", "original_start", name=op.f("pk_occurrence_changes")),
    )
    op.create_table(
        "journal",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("organizer", EMAIL, nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", EMAIL, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reservation_id"], ["reservations.id"], name=op.f("fk_journal_reservation_id_reservations")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal")),
        # Never reuse a sequence number: it is a cursor that mailboxes keep.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_journal_organizer_seq", "journal", ["organizer", "seq"], unique=False)
    op.create_index(op.f("ix_journal_reservation_id"), "journal", ["reservation_id"], unique=False)

    # --- the sync side
    op.create_table(
        "links",
        sa.Column("reservation_id", sa.String(length=64), nullable=False),
        sa.Column("mailbox", EMAIL, nullable=False),
        sa.Column("item_id", ITEM_ID, nullable=True),
        sa.Column("change_key", ITEM_ID, nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("rooms_version", sa.Integer(), nullable=False),
        sa.Column("rooms_snapshot", sa.JSON(), nullable=True),
        sa.Column("exchange_snapshot", sa.JSON(), nullable=True),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("reservation_id", "mailbox", name=op.f("pk_links")),
    )
    op.create_index("ix_links_mailbox_item_id", "links", ["mailbox", "item_id"], unique=False)
    op.create_table(
        "mailbox_states",
        sa.Column("mailbox", EMAIL, nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=True),
        sa.Column("sync_state", sa.Text(), nullable=True),
        sa.Column("rooms_cursor", sa.Integer(), nullable=True),
        sa.Column("last_success", INSTANT, nullable=True),
        sa.Column("last_attempt", INSTANT, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_mailbox_states")),
    )
    op.create_table(
        "seen_entries",
        sa.Column("mailbox", EMAIL, nullable=False),
        sa.Column("item_id", ITEM_ID, nullable=False),
        sa.Column("change_key", ITEM_ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "item_id", name=op.f("pk_seen_entries")),
    )
    op.create_table(
        "sync_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("mailbox", EMAIL, nullable=True),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reservation_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_log")),
    )
    op.create_index(op.f("ix_sync_log_at"), "sync_log", ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("sync_log")
    op.drop_table("seen_entries")
    op.drop_table("mailbox_states")
    op.drop_table("links")
    op.drop_table("journal")
    op.drop_table("occurrence_changes")
    op.drop_table("series")
    op.drop_table("participants")
    op.drop_table("reservation_rooms")
    op.drop_table("reservations")
    op.drop_table("rooms")
    op.drop_table("persons")
