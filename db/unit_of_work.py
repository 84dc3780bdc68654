"""One unit of work per request: read and decide without a lock, write briefly, or else locked.

A request (a webhook turn, a status callback, a job step) reads a few rows, decides in Python
and writes a few. Deciding inside the write transaction would hold the write lock (SQLite's
single writer, a PostgreSQL row lock) while Python works, so it is decided on a read and
written in a short transaction. A row changed in between makes the write refuse: the store
that wrote it raises ``Conflict`` (or the database an ``IntegrityError``, for a row inserted
meanwhile), the write rolls back, and the request is decided again inside the write
transaction, rows locked, where nothing can change under it. This is the only place that
knows about that: services are written once, as ``decide(reading) -> write``.

A write that needs no ORM (most webhook turns: a few plain statements) says so by coming as
``Statements``: it runs on a connection in its transaction, with no session made for it. A
session's begin, flush check and commit cost more than those statements, and on SQLite every
other writer waits while they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.transaction import SessionFactory, pooled, reading_on, transaction, writing_on

R = TypeVar("R")

# Locked tries after the unlocked one. A locked read cannot see its rows change; only a row
# that did not exist when read (and so could not be locked) can be inserted by another request
# first, after which the next try finds it.
LOCKED_TRIES = 2


class Conflict(Exception):
    """A row read for a decision changed before the decision was written."""


@dataclass(frozen=True)
class Reading:
    """Where a decision reads: a snapshot, or the write transaction with its rows locked."""

    connection: Connection
    is_locked: bool


@dataclass(frozen=True)
class Done(Generic[R]):
    """A decision with nothing to write."""

    value: R


@dataclass(frozen=True)
class Statements(Generic[R]):
    """A decision written with plain statements on the transaction's connection (no ORM)."""

    write: Callable[[Connection], R]


Write = Callable[[Session], R]
Decide = Callable[[Reading], "Done[R] | Write[R] | Statements[R]"]


def read_then_write(factory: SessionFactory, decide: Decide[R]) -> R:
    """Decide on a read and write briefly; decide again, locked, if the rows changed meanwhile."""
    write: Write[R] | None = None
    with pooled(factory) as connection:
        with reading_on(factory, connection):
            decided = decide(Reading(connection, is_locked=False))
        if isinstance(decided, Done):
            return decided.value
        if isinstance(decided, Statements):
            try:
                with writing_on(factory, connection):
                    return decided.write(connection)
            except (Conflict, IntegrityError):
                pass  # rolled back: decided again, locked, on what is there now
        else:
            write = decided
    if write is not None:  # the connection is back in the pool: the session takes its own
        try:
            with transaction(factory) as session:
                return write(session)
        except (Conflict, IntegrityError):
            pass  # rolled back: decided again on what is there now
    for tries_left in reversed(range(LOCKED_TRIES)):
        try:
            with transaction(factory) as session:
                return decide_locked(session, decide)
        except (Conflict, IntegrityError):
            if not tries_left:
                raise
    raise AssertionError("unreachable")


def decide_locked(session: Session, decide: Decide[R]) -> R:
    """Decide and write inside ``session``'s transaction (a job that holds one already)."""
    connection = session.connection()
    decided = decide(Reading(connection, is_locked=True))
    if isinstance(decided, Done):
        return decided.value
    if isinstance(decided, Statements):
        return decided.write(connection)
    return decided(session)
