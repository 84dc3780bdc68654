"""Engines per process: SQLite tuned for one writer at a time, PostgreSQL with a pool."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from typing import Any
from urllib.parse import quote

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
        # Statement errors and echo would otherwise print the bound values: callers' numbers,
        # names, e-mail addresses and descriptions.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


log = logging.getLogger("hotline.db")

# SQLite moves the write-ahead log into the database file (a checkpoint) every 1000 pages by
# default, inside the COMMIT of whichever writer crossed the mark: a copy of up to 4 MB and an
# fsync while that writer, and so every writer queued behind it, waits. Here the connections
# leave that to a thread of their own, once a second (a PASSIVE checkpoint never blocks readers
# or writers).
CHECKPOINT_SECONDS = 1.0
# The size the WAL file is truncated back to when it restarts (see _on_connect).
WAL_SIZE_LIMIT_BYTES = 64 << 20


def checkpoint(path: str) -> tuple[int, int, int]:
    """Checkpoint the WAL of the database at ``path``: (busy, frames in the log, frames copied)."""
    # mode=rw: a database that is gone is an error here, never created afresh.
    uri = f"file:{quote(os.path.abspath(path))}?mode=rw"
    connection = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)
    try:
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        connection.close()
    return int(row[0]), int(row[1]), int(row[2])


class _Checkpointer:
    """Checkpoints one database file every ``CHECKPOINT_SECONDS`` while its engine lives."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()
        self.stop = threading.Event()
        threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        while not self.stop.wait(CHECKPOINT_SECONDS):
            if not os.path.exists(self.path):
                return  # the database was removed (a test's, or a reset): nothing to keep
            try:
                checkpoint(self.path)
            except sqlite3.Error as exc:  # the next round tries again
                log.warning("event=checkpoint_failed path=%s error=%s", self.path, exc)


def _start_checkpointer(engine: Engine, checkpointers: dict[str, _Checkpointer]) -> None:
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    current = checkpointers.get("current")
    # None yet, one made before a fork (threads do not survive it), or one the engine's
    # dispose() stopped (an engine may be used again after it).
    if current is None or current.pid != os.getpid() or current.stop.is_set():
        current = checkpointers["current"] = _Checkpointer(path)
        weakref.finalize(engine, current.stop.set)
        event.listen(engine, "engine_disposed", lambda _engine: current.stop.set())


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    # hide_parameters: as for PostgreSQL, no caller's data in an error message or echo.
    engine = create_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})
    checkpointers: dict[str, _Checkpointer] = {}
    guard = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit BEGIN is deferred), see
        # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Under steady load the WAL can grow to hundreds of megabytes between restarts (readers
        # keep it from restarting); without a limit the file keeps that size for good.
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cursor.close()
        with guard:
            _start_checkpointer(engine, checkpointers)

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
