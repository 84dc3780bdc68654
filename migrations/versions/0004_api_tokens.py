"""api_tokens: several API tokens per user, each revocable (users.token_hash moves there)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.base import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    # Each user's one token keeps working; its last characters are unknown (only the hash was
    # kept), so it is listed with the hint "?".
    op.execute(
        "INSERT INTO api_tokens (user_id, token_hash, hint, created_at)"
        " SELECT id, token_hash, '?', created_at FROM users"
    )
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_token_hash", type_="unique")
        batch.drop_column("token_hash")
    # The foreign key only now: SQLite's batch mode drops and recreates "users", and with
    # foreign keys on that DROP would cascade to the token rows just copied.
    with op.batch_alter_table("api_tokens") as batch:
        batch.create_foreign_key(
            "fk_api_tokens_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
    # The oldest token still valid stays usable; a user with none gets a value no token hashes
    # to (a SHA-256 digest is 64 hex digits, this is not).
    op.execute(
        "UPDATE users SET token_hash = (SELECT t.token_hash FROM api_tokens t"
        " WHERE t.user_id = users.id AND t.revoked_at IS NULL ORDER BY t.id LIMIT 1)"
    )
    op.execute(
        "UPDATE users SET token_hash = 'revoked-' || CAST(id AS VARCHAR(20))"
        " WHERE token_hash IS NULL"
    )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("token_hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_users_token_hash", ["token_hash"])
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
