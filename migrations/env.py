"""Alembic environment: migrate the database named by the caller's config."""

from __future__ import annotations

from alembic import context

import callbacks.models  # noqa: F401  (register tables)
import escalations.conference_records
import escalations.records
import escalations.roster_records  # noqa: F401
import intake.models  # noqa: F401
from db.base import Base
from db.engine import make_engine

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    """Run migrations in a transaction on a live connection."""
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
