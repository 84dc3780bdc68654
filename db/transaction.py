"""Session factory and the one-transaction-per-step context manager."""

from __future__ import annotations

import fcntl
import os
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.engine import SNAPSHOT_OPTION

SessionFactory = sessionmaker[Session]

# SQLite has one writer at a time and every transaction here takes the write lock up front.
# Writers queue on a lock of their own instead: threads of a process on a Python lock, and
# processes on an OS file lock beside the database, which wakes a waiter the moment it is
# released. Left to SQLite, waiters poll with sleeps of up to 100 ms (its busy handler), which
# leaves the database idle while requests wait. PostgreSQL needs none of this.
#
# A writer waits at most this long for both locks together, then gets "database is locked":
# Twilio gives a webhook 15 s and ours answer within 10 s, so a webhook that gives up (after a
# read, and before the fallback TwiML) still answers in time.
WRITER_WAIT_SECONDS = 6.0


def _locked(waited: float) -> OperationalError:
    return OperationalError(
        "BEGIN IMMEDIATE",
        None,
        TimeoutError(f"database is locked: another writer held it for {waited:.1f} s"),
    )


class _SqliteWriters:
    """The queue of writers to one SQLite database file."""

    def __init__(self, path: str | None) -> None:
        self._threads = threading.Lock()
        self._path = f"{path}.writers" if path else None
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        """Take the thread lock, then the file lock; ``OperationalError`` after the deadline."""
        wait = WRITER_WAIT_SECONDS
        started = time.monotonic()
        deadline = started + wait
        if not self._threads.acquire(timeout=wait):
            raise _locked(time.monotonic() - started)
        if self._path is None:
            return
        try:
            # Opened for each transaction (microseconds): never shared across a fork, never
            # left open when the engine goes away.
            file = open(self._path, "ab")  # noqa: SIM115  (closed in release)
        except OSError as exc:
            # The database's folder is missing or unwritable: the database is unreachable.
            self._threads.release()
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        try:
            taken = _take_file_lock(file, timeout=deadline - time.monotonic())
        except BaseException as exc:
            file.close()
            self._threads.release()
            if isinstance(exc, OSError):
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            raise
        if not taken:  # the waiting thread owns the file now, and closes it
            self._threads.release()
            raise _locked(time.monotonic() - started)
        self._file = file

    def release(self) -> None:
        try:
            self._close()  # closing the file releases its lock
        finally:
            self._threads.release()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _take_file_lock(file: IO[bytes], *, timeout: float) -> bool:
    """Lock ``file`` exclusively within ``timeout``; False when another process kept it."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass  # another process writes; OSErrors other than "would block" propagate
    request = _LockRequest(file)
    _lock_waiter().put(request)
    return request.wait(timeout)


class _LockRequest:
    """One writer's wait for the file lock, served by the process's lock waiter.

    A writer that gave up leaves the file to the waiter, which closes it (releasing the lock
    at once) when its ``flock`` returns.
    """

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self._done = threading.Event()
        self._guard = threading.Lock()
        self._taken = False
        self._abandoned = False
        self._error: OSError | None = None

    def serve(self) -> None:
        """Block until the lock is ours (in the waiter's thread)."""
        error: OSError | None = None
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX)
        except OSError as exc:
            error = exc
        except ValueError as exc:  # the writer closed the file while interrupted (see acquire)
            error = OSError(str(exc))
        with self._guard:
            abandoned = self._abandoned
            self._taken = error is None and not abandoned
            self._error = error
        if abandoned:
            self.file.close()
        self._done.set()

    def wait(self, timeout: float) -> bool:
        self._done.wait(max(timeout, 0.0))
        with self._guard:
            if self._taken:
                return True
            if self._error is not None:
                raise self._error  # the writer closes the file
            self._abandoned = True
            return False


class _LockWaiter:
    """A thread per process that waits for file locks in a blocking ``flock``.

    A blocking ``flock`` wakes the moment the lock is released, where a poll would sleep
    through it (and burn CPU on every try), but it takes no timeout; writers wait for this
    thread with one. One long-lived thread, because starting a thread per wait costs more
    than the wait. Writers of one process queue on their thread lock first, so it serves one
    request at a time.
    """

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[_LockRequest] = queue.SimpleQueue()
        self.pid = os.getpid()
        threading.Thread(target=self._run, name="sqlite-writer-wait", daemon=True).start()

    def put(self, request: _LockRequest) -> None:
        self._requests.put(request)

    def _run(self) -> None:
        while True:
            self._requests.get().serve()


_WAITER: _LockWaiter | None = None


def _lock_waiter() -> _LockWaiter:
    global _WAITER
    with _GUARD:
        if _WAITER is None or _WAITER.pid != os.getpid():
            _WAITER = _LockWaiter()
        return _WAITER


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, _SqliteWriters] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def make_session_factory(engine: Engine) -> SessionFactory:
    """A factory whose sessions keep loaded values usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def _writer_lock(factory: SessionFactory) -> _SqliteWriters | None:
    engine = _engine(factory)
    if engine.dialect.name != "sqlite":
        return None
    with _GUARD:
        writers = _SQLITE_WRITERS.get(engine)
        if writers is None:
            database = engine.url.database
            on_disk = database not in (None, "", ":memory:") and not database.startswith("file:")
            writers = _SQLITE_WRITERS[engine] = _SqliteWriters(database if on_disk else None)
        return writers


def _engine(factory: SessionFactory) -> Engine:
    engine = factory.kw.get("bind")
    if not isinstance(engine, Engine):
        raise TypeError("the session factory must be bound to an Engine")
    return engine


_SNAPSHOT_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _snapshot_engine(factory: SessionFactory) -> Engine:
    """The engine (SQLite) whose transactions read a snapshot without the writer locks."""
    engine = _engine(factory)
    snapshot = _SNAPSHOT_ENGINES.get(engine)
    if snapshot is None:
        snapshot = _SNAPSHOT_ENGINES[engine] = engine.execution_options(**{SNAPSHOT_OPTION: True})
    return snapshot


@contextmanager
def _writer(factory: SessionFactory) -> Iterator[None]:
    lock = _writer_lock(factory)
    if lock is None:
        yield
        return
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """Open a session, commit when the block succeeds, roll back when it raises."""
    if _writer_lock(factory) is None:
        session = factory()
        try:
            with session.begin():
                yield session
        finally:
            session.close()
        return
    # SQLite: the writer lock covers the transaction alone (BEGIN IMMEDIATE to COMMIT). The
    # connection is checked out and the session made before it, and both are given back after
    # it: every writer queues behind the one holding it, so its every microsecond counts.
    with _engine(factory).connect() as connection:
        session = factory(bind=connection)
        try:
            with _writer(factory), session.begin():
                yield session
        finally:
            session.close()


@contextmanager
def read_transaction(factory: SessionFactory) -> Iterator[Session]:
    """Open a session for reading only; it never waits for (or holds up) a writer.

    On SQLite the session reads a snapshot (plain ``BEGIN`` in WAL mode) without the writer
    locks, and any statement that would write raises ``WriteInSnapshot``. On PostgreSQL, whose
    readers never wait for writers, it is an ordinary transaction.
    """
    if _writer_lock(factory) is None:
        with transaction(factory) as session:
            yield session
        return
    session = factory(bind=_snapshot_engine(factory))
    try:
        with session.begin():
            yield session
    finally:
        session.close()


_AUTOCOMMIT_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _autocommit_engine(factory: SessionFactory) -> Engine:
    """The engine (PostgreSQL) whose connections run each statement in a transaction of its own."""
    engine = _engine(factory)
    autocommit = _AUTOCOMMIT_ENGINES.get(engine)
    if autocommit is None:
        autocommit = _AUTOCOMMIT_ENGINES[engine] = engine.execution_options(
            isolation_level="AUTOCOMMIT"
        )
    return autocommit


@contextmanager
def read_statement_connection(factory: SessionFactory) -> Iterator[Connection]:
    """A connection for one statement that reads: one round trip on PostgreSQL.

    There the statement runs without BEGIN and COMMIT around it (its own transaction, one
    consistent moment, as any statement); a second statement would see a later moment, so
    reads of more than one statement take :func:`read_connection`. On SQLite, which makes
    no round trips, it is :func:`read_connection` (a read snapshot)."""
    if _writer_lock(factory) is not None:
        with read_connection(factory) as connection:
            yield connection
        return
    with _autocommit_engine(factory).connect() as connection:
        yield connection


@contextmanager
def statement_connection(factory: SessionFactory) -> Iterator[Connection | None]:
    """A connection on which each statement is a transaction of its own, for a write that one
    statement makes whole: on PostgreSQL one round trip, with no BEGIN or COMMIT (its locks
    are held until it ends, and it is atomic as any statement is).

    None on SQLite: a writer there queues for the writer lock in a :func:`transaction`.
    """
    if _writer_lock(factory) is not None:
        yield None
        return
    with _autocommit_engine(factory).connect() as connection:
        yield connection


# The same two kinds of transaction for plain statements on a Connection, without the ORM's
# session (``db.unit_of_work`` reads on one, then writes in a session).


@contextmanager
def write_connection(factory: SessionFactory) -> Iterator[Connection]:
    """A connection in a transaction like :func:`transaction`'s (commit, or roll back)."""
    # Checked out before the writer lock and returned after it: the lock covers only the
    # transaction itself.
    with _engine(factory).connect() as connection, _writer(factory), connection.begin():
        yield connection


@contextmanager
def read_connection(factory: SessionFactory) -> Iterator[Connection]:
    """A connection in a read-only transaction like :func:`read_transaction`'s."""
    if _writer_lock(factory) is None:
        with write_connection(factory) as connection:
            yield connection
        return
    with _snapshot_engine(factory).begin() as connection:
        yield connection


# One checked-out connection for a read transaction and then a write one, as a webhook turn
# reads its call and then writes it: the pool's checkout and return (its events, its reset)
# are paid once, not twice.


@contextmanager
def pooled(factory: SessionFactory) -> Iterator[Connection]:
    """A connection from the pool, for :func:`reading_on` and :func:`writing_on` in turn."""
    with _engine(factory).connect() as connection:
        yield connection


@contextmanager
def reading_on(factory: SessionFactory, connection: Connection) -> Iterator[Connection]:
    """``connection`` in a read-only transaction like :func:`read_connection`'s."""
    if _writer_lock(factory) is None:
        with connection.begin():
            yield connection
        return
    connection.execution_options(**{SNAPSHOT_OPTION: True})  # changed in place
    try:
        with connection.begin():
            yield connection
    finally:
        connection.execution_options(**{SNAPSHOT_OPTION: False})


@contextmanager
def writing_on(factory: SessionFactory, connection: Connection) -> Iterator[Connection]:
    """``connection`` in a write transaction like :func:`write_connection`'s."""
    with _writer(factory), connection.begin():
        yield connection
