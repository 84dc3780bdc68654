"""calls.version (the guard of turns decided on a read) and messages.is_submitted

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("is_submitted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("is_submitted")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("version")
