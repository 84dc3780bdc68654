"""Engines per process: SQLite tuned for one writer at a time, PostgreSQL with a pool."""

from __future__ import annotations

import logging
import math
import os
import select
import socket
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError


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


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long a process waits for PostgreSQL before it gives up (and a webhook falls back).

    Twilio waits 15 s for a webhook; ours must answer within 10 s whatever the database does.
    A connection is checked out within ``connect_seconds`` (waiting for a free one), pinged
    within ``PING_SECONDS`` and, if the ping fails, connected afresh within ``connect_seconds``
    again; then each statement is cut off by the server after ``statement_seconds``
    (``lock_seconds`` of them waiting for a row lock). A server that stops answering altogether
    (a black-holed network, a frozen host) cancels nothing, so a connection that hears nothing
    for ``silence_seconds`` is shut down from this side. A connection the server answered on
    within ``ping_idle_seconds`` is not pinged (see ``_watch_for_silence``).
    """

    connect_seconds: float = 2.0
    statement_seconds: float = 3.0
    lock_seconds: float = 2.0
    ping_idle_seconds: float = 2.0

    @property
    def silence_seconds(self) -> float:
        """A statement gets its full server-side time, then a second for the reply to come."""
        return self.statement_seconds + 1.0

    @property
    def libpq_connect_timeout(self) -> int:
        """libpq counts whole seconds and takes anything below 2 as 2
        (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-CONNECT-TIMEOUT)."""
        return max(2, math.ceil(self.connect_seconds))

    @property
    def longest_wait_seconds(self) -> float:
        """The longest one checkout and one statement can take, whatever the database does."""
        return (
            self.connect_seconds + PING_SECONDS + self.libpq_connect_timeout + self.silence_seconds
        )


# A pooled connection answers a ping in well under a millisecond on a healthy network.
PING_SECONDS = 1.0


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    echo: bool = False,
    timeouts: DatabaseTimeouts | None = None,
) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, a busy timeout and IMMEDIATE transactions.

    With ``timeouts`` a PostgreSQL engine never waits longer than they say (see
    ``DatabaseTimeouts``); without, it waits as long as the server and the network take (the
    command line's long imports and migrations).
    """
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    if timeouts is None:
        return create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
    options = (
        f"-c statement_timeout={_milliseconds(timeouts.statement_seconds)}"
        f" -c lock_timeout={_milliseconds(timeouts.lock_seconds)}"
    )
    engine = create_engine(
        url,
        echo=echo,
        # Statement errors and echo would otherwise print the bound values: callers' numbers,
        # names, e-mail addresses and descriptions.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Pinged in the checkout hook below instead, under the watchdog: SQLAlchemy's own ping
        # runs before any hook could arm one and would wait for a silent server for ever.
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=timeouts.connect_seconds,
        connect_args={
            "connect_timeout": timeouts.libpq_connect_timeout,
            "options": options,
        },
    )
    _watch_for_silence(engine, timeouts)
    return engine


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class _SilenceWatchdog:
    """Shuts down the socket of a connection that has waited too long for the server.

    psycopg waits for a reply in ``poll``; a shut-down socket reads as the end of the stream,
    so the wait ends at once with "server closed the connection unexpectedly", which
    SQLAlchemy takes as a disconnect (the connection is dropped, the pool tries afresh). One
    thread per engine and process, sleeping until the nearest deadline.
    """

    def __init__(self) -> None:
        self._deadlines: dict[int, tuple[float, int]] = {}  # id(connection) -> (deadline, fd)
        self._changed = threading.Condition()
        self._pid = -1
        self._wake_at = 0.0  # when the thread wakes next (0: not started, wake at once)

    def arm(self, dbapi_connection: Any, seconds: float) -> None:
        """Cut ``dbapi_connection`` off unless it is disarmed or armed again within ``seconds``."""
        fd = dbapi_connection.fileno()
        with self._changed:
            if self._pid != os.getpid():  # first use, or the first since a fork
                self._pid = os.getpid()
                self._deadlines.clear()
                self._wake_at = 0.0
                threading.Thread(target=self._run, name="db-silence", daemon=True).start()
            deadline = time.monotonic() + seconds
            self._deadlines[id(dbapi_connection)] = (deadline, fd)
            # Re-arming after every statement only moves deadlines later: the thread is woken
            # only for one earlier than it sleeps until (a context switch per statement would
            # cost more than the statement).
            if deadline < self._wake_at:
                self._wake_at = deadline
                self._changed.notify()

    def disarm(self, dbapi_connection: Any) -> None:
        with self._changed:
            self._deadlines.pop(id(dbapi_connection), None)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for key, (deadline, fd) in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[key]
                        _shut_down(fd)
                self._wake_at = min((d for d, _ in self._deadlines.values()), default=now + 60)
                self._changed.wait(max(0.0, self._wake_at - now))


def _shut_down(fd: int) -> None:
    log.error("event=database_silent action=disconnect")
    try:
        # fromfd works on a duplicate; shutdown acts on the socket both descriptors share.
        with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError as exc:  # already closed: nothing left to cut off
        log.debug("event=database_silent_shutdown_failed error=%s", exc)


_FRESH = "hotline_fresh"
# When the server last answered on a pooled connection (time.monotonic()), in its record's info.
_HEARD_AT = "hotline_heard_at"


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the server sent something unasked (on an idle connection: its notice that it
    closes the connection, a restart or a terminated backend, or the end of the stream), or
    the connection is closed on this side already."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except Exception:  # closed: fileno() refuses; the ping below says so in SQLAlchemy's terms
        return True
    return bool(readable)


def _ping_outside_transaction(dbapi_connection: Any) -> None:
    """``SELECT 1`` in autocommit: one round trip, and no transaction left open. (SQLAlchemy's
    own ping leaves one open, saving a rollback; a connection then checked out for
    ``db.transaction.read_statement_connection`` could not be switched to autocommit.)"""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # no round trip on an idle connection
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    dbapi_connection.autocommit = autocommit


def _watch_for_silence(engine: Engine, timeouts: DatabaseTimeouts) -> None:
    watchdog = _SilenceWatchdog()

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A pooled connection may have died (or gone silent) while it waited in the pool; a
        # DisconnectionError here makes the pool connect afresh (SQLAlchemy's pessimistic
        # disconnect handling, done by hand so that the ping has a deadline). A connection
        # made just now needs none.
        #
        # Nor does one the server answered on within ping_idle_seconds (under load: every
        # checkout; the ping was one round trip in six of a claim). A server that closed it
        # since has said so (the socket is readable): that one is pinged as before. One that
        # went silent since is cut off by the watchdog at its first statement after
        # silence_seconds, which longest_wait_seconds covers (it counts a ping, a new
        # connection and that silence), so every webhook still answers in time. What the
        # skipped ping gives up is replacing such a connection unseen: that one request fails
        # (as it would had the connection gone silent just after its ping), and SQLAlchemy,
        # seeing a disconnect, replaces the pool's other connections at their next checkout.
        if record.info.pop(_FRESH, False) or (
            time.monotonic() - record.info.get(_HEARD_AT, -math.inf) < timeouts.ping_idle_seconds
            and not _has_input(dbapi_connection)
        ):
            watchdog.arm(dbapi_connection, timeouts.silence_seconds)
            return
        watchdog.arm(dbapi_connection, PING_SECONDS)
        try:
            _ping_outside_transaction(dbapi_connection)
        except Exception as exc:
            watchdog.disarm(dbapi_connection)
            raise DisconnectionError(f"ping failed: {type(exc).__name__}") from exc
        record.info[_HEARD_AT] = time.monotonic()
        watchdog.arm(dbapi_connection, timeouts.silence_seconds)

    @event.listens_for(engine, "after_cursor_execute")
    def _heard(connection: Any, *_args: Any) -> None:
        # The server answered: the next statement gets its full time.
        pooled = connection.connection
        pooled.info[_HEARD_AT] = time.monotonic()
        watchdog.arm(pooled.dbapi_connection, timeouts.silence_seconds)

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            watchdog.disarm(dbapi_connection)

    @event.listens_for(engine, "close")
    def _closed(dbapi_connection: Any, _record: Any) -> None:
        watchdog.disarm(dbapi_connection)


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
