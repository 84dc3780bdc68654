"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import callbacks.models  # noqa: F401  (register tables)
import escalations.conference_records
import escalations.records
import escalations.roster_records  # noqa: F401
import intake.models  # noqa: F401
from config.migrate import alembic_config
from db.base import Base
from db.engine import make_engine

POSTGRES_URL = os.environ.get("HOTLINE_TEST_POSTGRES_URL")


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: a SQLite file, or a new PostgreSQL database."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    server = make_url(POSTGRES_URL)
    name = f"hotline_migrate_{os.getpid()}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrading_an_empty_database_gives_the_models_schema(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "head")
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert differences == []
    assert version == "0012"


def test_calls_of_an_earlier_schema_get_a_version_and_the_change_reverts(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0001")
    engine = make_engine(empty_database)
    call = (
        "INSERT INTO calls (call_sid, region, language, to_number, started_at, last_activity_at,"
        " settle_after, status, status_sequence, flow, turn, is_identified, is_settled)"
        " VALUES ('CA1', 'de', 'de-DE', '+498001006711', '2026-11-25 10:00:00',"
        " '2026-11-25 10:00:00', '2026-11-25 10:01:30', 'in-progress', -1, '{}', 1, false, false)"
    )
    try:
        with engine.begin() as connection:
            connection.execute(text(call))
        command.upgrade(config, "head")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version FROM calls")).scalar() == 1
        command.downgrade(config, "0001")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM calls")).scalar() == 1
            columns = connection.execute(text("SELECT * FROM calls")).keys()
    finally:
        engine.dispose()
    assert "version" not in columns


def test_a_users_token_keeps_working_across_the_move_to_api_tokens_and_back(
    empty_database: str,
) -> None:
    from intake.staff import _token_hash, user_for_token

    config = alembic_config(empty_database)
    command.upgrade(config, "0003")
    engine = make_engine(empty_database)
    user = (
        "INSERT INTO users (name, role, token_hash, is_active, created_at)"
        f" VALUES ('anna', 'agent', '{_token_hash('hl_old')}', true, '2026-11-25 10:00:00')"
    )
    try:
        with engine.begin() as connection:
            connection.execute(text(user))
        command.upgrade(config, "head")
        with Session(engine) as session:
            member = user_for_token(session, "hl_old")
            assert member is not None
            assert member.name == "anna"
        command.downgrade(config, "0003")
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT token_hash FROM users")).scalar()
    finally:
        engine.dispose()
    assert stored == _token_hash("hl_old")
