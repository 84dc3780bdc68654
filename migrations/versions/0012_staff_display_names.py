"""Staff display names: how callers and customers hear and read a staff member's name

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite has ADD and DROP COLUMN since 3.35): a batch
# operation would copy and drop ``users`` on SQLite, and dropping it cascades to the rows that
# refer to it (its API tokens).


def upgrade() -> None:
    op.add_column("users", sa.Column("display_name", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "display_name")
