"""The duty managers' ring chain: each ring of an escalation, the plan it follows, and machine
detection for outbound calls

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "escalation_rings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("escalation_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("rung_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name=op.f("fk_escalation_rings_escalation_id_escalations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_escalation_rings_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_rings")),
        sa.UniqueConstraint("escalation_id", "seq", name=op.f("uq_escalation_rings_escalation_id_seq")),
    )
    with op.batch_alter_table("escalation_rings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalation_rings_escalation_id"), ["escalation_id"], unique=False
        )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ring_plan", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("ring_seq", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("machine_detection", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.drop_column("machine_detection")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_column("ring_seq")
        batch_op.drop_column("ring_plan")
    with op.batch_alter_table("escalation_rings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_rings_escalation_id"))
    op.drop_table("escalation_rings")
