"""Index for expired claims: callbacks by (status, claim_expires_at)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_callbacks_claim_expiry", "callbacks", ["status", "claim_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_claim_expiry", table_name="callbacks")
