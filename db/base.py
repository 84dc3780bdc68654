"""Declarative base with stable constraint names and a UTC-only datetime type."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import DateTime, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from db.prepared import Prepared

# Stable names let Alembic drop and alter constraints the same way on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that only accepts aware datetimes and always comes back in UTC.

    SQLite returns naive values even for ``DateTime(timezone=True)``; UTC is re-attached on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused: {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """The table a model maps, typed for Core statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def insert_if_absent(session: Session, table: Table, values: dict[str, Any], *, unique: str) -> Any:
    """Insert ``values`` unless a row with the same ``unique`` column exists.

    Returns the new row's primary key, or None when the row existed (nothing was written).
    """
    statement = _insert_if_absent(session.get_bind().dialect.name, table, unique)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT that SQLAlchemy gave RETURNING.
    return statement.scalar(session.connection(), values)


@cache
def _insert_if_absent(dialect: str, table: Table, unique: str) -> Prepared:
    (key,) = table.primary_key.columns
    if dialect == "postgresql":
        return Prepared(
            postgresql.insert(table).on_conflict_do_nothing(index_elements=[unique]).returning(key)
        )
    if dialect == "sqlite":
        # Also run while SQLite's writer lock is held (confirmations, work rows): prepared.
        return Prepared(
            sqlite.insert(table).on_conflict_do_nothing(index_elements=[unique]).returning(key)
        )
    raise ValueError(f"only SQLite and PostgreSQL are supported, not {dialect}")
