"""Escalation conference calls: each conference with its PIN, and who was on it for how long

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "escalation_conferences",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("escalation_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("pin", sa.String(length=6), nullable=False),
        sa.Column("open_pin", sa.String(length=6), nullable=True),
        sa.Column("dial_in_number", sa.String(length=32), nullable=True),
        sa.Column("conference_sid", sa.String(length=64), nullable=True),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("started_by_user_id", ID, nullable=True),
        sa.Column("started_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name=op.f("fk_escalation_conferences_escalation_id_escalations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["started_by_user_id"],
            ["users.id"],
            name=op.f("fk_escalation_conferences_started_by_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_conferences")),
        sa.UniqueConstraint(
            "escalation_id", "seq", name=op.f("uq_escalation_conferences_escalation_id_seq")
        ),
        sa.UniqueConstraint("name", name=op.f("uq_escalation_conferences_name")),
        sa.UniqueConstraint("open_pin", name=op.f("uq_escalation_conferences_open_pin")),
    )
    with op.batch_alter_table("escalation_conferences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalation_conferences_escalation_id"), ["escalation_id"], unique=False
        )
    op.create_table(
        "conference_participants",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("conference_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("call_key", sa.String(length=64), nullable=True),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("call_status", sa.String(length=16), nullable=True),
        sa.Column("added_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("joined_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("left_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["escalation_conferences.id"],
            name=op.f("fk_conference_participants_conference_id_escalation_conferences"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conference_participants_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conference_participants")),
        sa.UniqueConstraint(
            "call_key", name=op.f("uq_conference_participants_call_key")
        ),
        sa.UniqueConstraint(
            "call_sid", name=op.f("uq_conference_participants_call_sid")
        ),
    )
    with op.batch_alter_table("conference_participants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conference_participants_conference_id"),
            ["conference_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("conference_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conference_participants_conference_id"))
    op.drop_table("conference_participants")
    with op.batch_alter_table("escalation_conferences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_conferences_escalation_id"))
    op.drop_table("escalation_conferences")
