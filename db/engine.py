"""Engines per process: SQLite tuned for one writer at a time, PostgreSQL with a pool."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalize_url(url: str) -> str:
    """Map plain ``postgresql://`` URLs to the psycopg 3 driver; leave explicit drivers alone."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# Execution option of a SQLite connection that only reads, from a snapshot, without the lock.
SNAPSHOT_OPTION = "hotline_snapshot"


class WriteInSnapshot(Exception):
    """A statement tried to write inside a read snapshot; redo the work with the write lock."""


def _is_read(statement: str) -> bool:
    head = statement.lstrip()[:8].upper()
    return head.startswith(("SELECT", "WITH", "PRAGMA", "BEGIN", "ROLLBACK"))


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, a busy timeout and IMMEDIATE transactions."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit BEGIN is deferred), see
        # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read snapshot (WAL) takes no write lock and is never upgraded (see
        # before_cursor_execute). Every other transaction takes the write lock up front: a
        # deferred read that later upgrades to a write fails with SQLITE_BUSY instead of
        # waiting for the busy timeout. Sent on the driver's connection: these run twice per
        # webhook, and the statement machinery would cost more than the BEGIN itself.
        snapshot = connection.get_execution_options().get(SNAPSHOT_OPTION)
        connection.connection.driver_connection.execute("BEGIN" if snapshot else "BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def _read_only_snapshot(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if connection.get_execution_options().get(SNAPSHOT_OPTION) and not _is_read(statement):
            raise WriteInSnapshot(statement.split(None, 1)[0])

    return engine
