"""Session factory and the one-transaction-per-step context manager."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SessionFactory = sessionmaker[Session]

# SQLite has one writer at a time and every transaction here takes the write lock up front.
# Threads of one process queue on a Python lock instead: SQLite's busy handler polls with
# sleeps of up to 100 ms and so leaves the database idle while callers wait. Processes still
# meet at SQLite's own lock (busy timeout). PostgreSQL needs none of this.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()
WRITER_WAIT_SECONDS = 30.0


def make_session_factory(engine: Engine) -> SessionFactory:
    """A factory whose sessions keep loaded values usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def _writer_lock(factory: SessionFactory) -> threading.Lock | None:
    engine = factory.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return None
    with _GUARD:
        lock = _SQLITE_WRITERS.get(engine)
        if lock is None:
            lock = _SQLITE_WRITERS[engine] = threading.Lock()
        return lock


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """Open a session, commit when the block succeeds, roll back when it raises."""
    lock = _writer_lock(factory)
    if lock is not None and not lock.acquire(timeout=WRITER_WAIT_SECONDS):
        raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("database is locked"))
    session = factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()
        if lock is not None:
            lock.release()
