"""messages.callback_asked_at (the callback promise's anchor) and
service_requests.unconfirmed_reason (why no confirmation could be sent)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.base import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("callback_asked_at", UtcDateTime(timezone=True), nullable=True))
    # Messages left before: the caller asked when the message was opened.
    op.execute("UPDATE messages SET callback_asked_at = created_at")
    with op.batch_alter_table("service_requests") as batch:
        batch.add_column(sa.Column("unconfirmed_reason", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_requests") as batch:
        batch.drop_column("unconfirmed_reason")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("callback_asked_at")
