"""Indexes for the hourly SMS limits: confirmations by (address, created_at), (channel, created_at)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_confirmations_address_created", "confirmations", ["address", "created_at"]
    )
    op.create_index(
        "ix_confirmations_channel_created", "confirmations", ["channel", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_confirmations_channel_created", table_name="confirmations")
    op.drop_index("ix_confirmations_address_created", table_name="confirmations")
