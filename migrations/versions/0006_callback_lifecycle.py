"""The callback's life: claims, calls, attempts, dispositions, warnings, and its event history;
agents' region and presence

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.base import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.add_column(sa.Column("claimed_by_id", Id, nullable=True))
        batch.add_column(sa.Column("claimed_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claim_expires_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("not_before", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("call_seq", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("answered_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("first_call_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("disposition", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("closed_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("warned_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("breached_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("updated_at", UtcDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_callbacks_claimed_by_id_users", "users", ["claimed_by_id"], ["id"]
        )
    op.create_index(
        "ix_callbacks_claim_order", "callbacks", ["region", "status", "due_at", "requested_at"]
    )
    op.create_table(
        "callback_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("callback_id", Id, nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("user_id", Id, nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_callback_events_callback_id_callbacks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_callback_events_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_events")),
    )
    op.create_index(
        op.f("ix_callback_events_callback_id"), "callback_events", ["callback_id"], unique=False
    )
    # Plain ALTER TABLE, never batch mode: SQLite's batch mode recreates "users", and that
    # DROP would cascade to every API token.
    op.add_column("users", sa.Column("region", sa.String(length=40), nullable=True))
    op.add_column(
        "users",
        sa.Column("presence", sa.String(length=16), server_default="away", nullable=False),
    )
    op.add_column("users", sa.Column("presence_at", UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place (see upgrade for why not batch mode).
    for column in ("presence_at", "presence", "region"):
        op.drop_column("users", column)
    op.drop_index(op.f("ix_callback_events_callback_id"), table_name="callback_events")
    op.drop_table("callback_events")
    op.drop_index("ix_callbacks_claim_order", table_name="callbacks")
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_constraint("fk_callbacks_claimed_by_id_users", type_="foreignkey")
        for column in (
            "updated_at",
            "breached_at",
            "warned_at",
            "closed_at",
            "disposition",
            "first_call_at",
            "answered_by",
            "call_seq",
            "attempts",
            "not_before",
            "claim_expires_at",
            "claimed_at",
            "claimed_by_id",
        ):
            batch.drop_column(column)
