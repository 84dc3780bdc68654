"""Durable due-at work: enqueued in the caller's transaction, claimed with a lease, done once.

Every promise the hotline makes after a call (confirmation, callback, sweep of abandoned calls) is a
row here, written in the transaction that made the promise. Workers claim due rows atomically: on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``; on SQLite the transaction already holds the single write
lock (``BEGIN IMMEDIATE``, see ``db.engine``). A claim is a lease: a worker that dies stops renewing
it, and once it has expired the row is due again for anyone.

Leases are judged by one clock for all workers: on PostgreSQL the database's own
(``clock_timestamp()``), so two hosts whose clocks differ by minutes cannot both hold a row: the
one ahead would otherwise see the other's fresh lease as long expired and send the same SMS
again. Due times and the record of when things happened stay on the injected clock. SQLite is
one host, so its leases use the injected clock too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Executable,
    Index,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.base import Base, UtcDateTime, insert_if_absent, table_of

Id = BigInteger().with_variant(Integer(), "sqlite")

DEFAULT_LEASE = timedelta(seconds=10)


class WorkState(enum.StrEnum):
    """Where a unit of work stands."""

    DUE = "due"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class WorkItem(Base):
    """One unit of due-at work with its lease and attempt history."""

    __tablename__ = "work_items"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=WorkState.DUE)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_work_items_claim", "state", "priority", "due_at"),
        Index("ix_work_items_lease", "state", "lease_until"),
    )


class Alert(Base):
    """Something an operator must look at: failed work, an uncertain send, a broken promise."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WorkerHeartbeat(Base):
    """The last tick of each worker process, for health checks."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_tick_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class PermanentFailure(Exception):
    """The work can never succeed (bad address, bad data): fail it now, do not retry."""


@dataclass(frozen=True)
class ClaimedWork:
    """A unit of work leased to one worker."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    due_at: datetime
    claimed_by: str


@dataclass(frozen=True)
class GivenUp:
    """Work that failed for good, as told to its kind's give-up hook."""

    kind: str
    key: str
    payload: dict[str, Any]
    error: str
    now: datetime


# Called in the transaction that fails the row, so what the work was about (a confirmation, a
# call) is settled together with it; db stays ignorant of the kinds (the worker dispatches).
GiveUpHook = Callable[[Session, GivenUp], None]


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
    priority: int = 100,
    max_attempts: int = 8,
) -> bool:
    """Add work unless a row with the same key exists; True when a row was added."""
    values = {
        "kind": kind,
        "key": key,
        "payload": payload or {},
        "state": WorkState.DUE.value,
        "priority": priority,
        "due_at": due_at,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
        "updated_at": now,
    }
    return insert_if_absent(session, table_of(WorkItem), values, unique="key") is not None


def claim(
    session: Session,
    *,
    worker_id: str,
    now: datetime,
    limit: int = 20,
    lease: timedelta = DEFAULT_LEASE,
    kinds: Sequence[str] | None = None,
    on_give_up: GiveUpHook | None = None,
) -> list[ClaimedWork]:
    """Lease up to ``limit`` due rows (including rows whose lease expired) to ``worker_id``.

    ``on_give_up`` is told of each row whose lease expired on its final attempt.
    """
    release_expired_leases(session, now=now, on_give_up=on_give_up)
    lease_now = _lease_clock(session, now)
    candidates = (
        select(WorkItem.id)
        .where(WorkItem.state == WorkState.DUE.value, WorkItem.due_at <= now)
        .order_by(WorkItem.priority, WorkItem.due_at)
        .limit(limit)
    )
    if kinds is not None:
        candidates = candidates.where(WorkItem.kind.in_(list(kinds)))
    stmt = update(WorkItem)
    if _is_postgresql(session):
        # A materialized CTE runs the locking SELECT exactly once: as an ``IN (subquery)`` the
        # planner may re-run it per row and lease more than ``limit`` rows. Rows another worker
        # is claiming right now are skipped, not waited for.
        chosen = candidates.with_for_update(skip_locked=True).cte("claimable")
        chosen = chosen.prefix_with("MATERIALIZED")
        stmt = stmt.where(WorkItem.id == chosen.c.id)
    else:
        # SQLite: the transaction began IMMEDIATE (db.engine), so this worker is the only writer.
        stmt = stmt.where(WorkItem.id.in_(candidates.scalar_subquery()))
    stmt = (
        stmt.values(
            state=WorkState.RUNNING.value,
            claimed_by=worker_id,
            lease_until=lease_now + lease,
            attempts=WorkItem.attempts + 1,
            updated_at=now,
        )
        .returning(
            WorkItem.id,
            WorkItem.kind,
            WorkItem.key,
            WorkItem.payload,
            WorkItem.attempts,
            WorkItem.max_attempts,
            WorkItem.due_at,
            WorkItem.priority,
        )
        .execution_options(synchronize_session=False)
    )
    rows = sorted(session.execute(stmt).all(), key=lambda row: (row.priority, as_utc(row.due_at)))
    return [
        ClaimedWork(
            id=row.id,
            kind=row.kind,
            key=row.key,
            payload=dict(row.payload or {}),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            due_at=as_utc(row.due_at),
            claimed_by=worker_id,
        )
        for row in rows
    ]


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lease_clock(session: Session, now: datetime) -> Any:
    """The instant leases are set from and judged against (see the module's docstring).

    ``clock_timestamp()``, not ``now()``: the time of the statement, not of the transaction's
    start, so a claim that waited for a lock does not hand out a lease already shortened.
    """
    if _is_postgresql(session):
        return func.clock_timestamp(type_=DateTime(timezone=True))
    return now


def as_utc(value: datetime) -> datetime:
    """``value`` as a UTC-aware instant (a naive one is taken as UTC)."""
    # RETURNING bypasses the ORM type on some dialect versions; normalise here as well.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def release_expired_leases(
    session: Session, *, now: datetime, on_give_up: GiveUpHook | None = None
) -> int:
    """Free rows whose worker stopped renewing its lease; returns how many were freed.

    A row whose last attempt was its final one is failed with an alert instead of run again
    (and ``on_give_up`` is told): work that kills its worker every time must not loop for ever.
    """
    expired = and_(
        WorkItem.state == WorkState.RUNNING.value,
        WorkItem.lease_until < _lease_clock(session, now),
    )
    exhausted = session.execute(
        _expired_update(session, and_(expired, WorkItem.attempts >= WorkItem.max_attempts))
        .values(
            state=WorkState.FAILED.value,
            last_error=_LEASE_EXPIRED,
            claimed_by=None,
            lease_until=None,
            finished_at=now,
            updated_at=now,
        )
        .returning(WorkItem.kind, WorkItem.key, WorkItem.attempts, WorkItem.payload)
    ).all()
    for row in exhausted:
        message = f"{_LEASE_EXPIRED} on attempt {row.attempts}, the last one"
        raise_alert(
            session, kind=f"work_failed:{row.kind}", subject=row.key, message=message, now=now
        )
        if on_give_up is not None:
            given_up = GivenUp(row.kind, row.key, dict(row.payload or {}), message, now)
            on_give_up(session, given_up)
    freed = session.execute(
        _expired_update(session, expired).values(
            state=WorkState.DUE.value,
            last_error=_LEASE_EXPIRED,
            claimed_by=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return len(exhausted) + int(getattr(freed, "rowcount", 0) or 0)


_LEASE_EXPIRED = "lease expired: the worker stopped (killed or stuck) before finishing"


def _expired_update(session: Session, condition: Any) -> Any:
    if _is_postgresql(session):
        # Two workers freeing the same rows must not queue behind each other's row locks.
        locked = select(WorkItem.id).where(condition).with_for_update(skip_locked=True)
        where = WorkItem.id.in_(locked.scalar_subquery())
    else:
        where = condition
    return update(WorkItem).where(where).execution_options(synchronize_session=False)


def _owned(item_id: int, worker_id: str) -> Any:
    return and_(
        WorkItem.id == item_id,
        WorkItem.claimed_by == worker_id,
        WorkItem.state == WorkState.RUNNING.value,
    )


def renew(
    session: Session,
    *,
    item_ids: Sequence[int],
    worker_id: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """Extend the leases this worker still holds; returns how many were extended."""
    if not item_ids:
        return 0
    stmt = (
        update(WorkItem)
        .where(
            WorkItem.id.in_(list(item_ids)),
            WorkItem.claimed_by == worker_id,
            WorkItem.state == WorkState.RUNNING.value,
        )
        .values(lease_until=_lease_clock(session, now) + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(session.execute(stmt), "rowcount", 0) or 0)


def complete(session: Session, *, item_id: int, worker_id: str, now: datetime) -> bool:
    """Mark work done if this worker still holds it (or already finished it); True if so.

    ``claimed_by`` stays on a done row: who did the work, and a handler may complete its row in
    the transaction that records the effect, before the worker's own (then idempotent) call.
    """
    connection = session.connection()
    params = {"b_id": item_id, "b_worker": worker_id, "b_now": now}
    if connection.execute(_complete_statements()[0], params).rowcount:
        return True
    return connection.execute(_complete_statements()[1], params).first() is not None


@cache
def _complete_statements() -> tuple[Executable, Executable]:
    """``complete``'s update and its done-by-me check, built once (it runs once per job)."""
    work = table_of(WorkItem)
    mine = and_(work.c.id == bindparam("b_id"), work.c.claimed_by == bindparam("b_worker"))
    now = bindparam("b_now", type_=work.c.finished_at.type)
    done = (
        update(work)
        .where(mine, work.c.state == WorkState.RUNNING.value)
        .values(
            state=WorkState.DONE.value,
            lease_until=None,
            finished_at=now,
            updated_at=now,
        )
    )
    done_by_me = select(work.c.id).where(mine, work.c.state == WorkState.DONE.value)
    return done, done_by_me


def retry(
    session: Session,
    *,
    item_id: int,
    worker_id: str,
    now: datetime,
    error: str,
    next_try_at: datetime,
) -> bool:
    """Put held work back as due at ``next_try_at`` with the error recorded."""
    stmt = (
        update(WorkItem)
        .where(_owned(item_id, worker_id))
        .values(
            state=WorkState.DUE.value,
            due_at=next_try_at,
            claimed_by=None,
            lease_until=None,
            last_error=error[:2000],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(session.execute(stmt), "rowcount", 0))


def fail(
    session: Session,
    *,
    item_id: int,
    worker_id: str,
    now: datetime,
    error: str,
    on_give_up: GiveUpHook | None = None,
) -> bool:
    """Mark held work failed and raise an alert so it is never silently dropped.

    ``on_give_up`` is told, in this transaction, when the row was still this worker's.
    """
    row = session.execute(
        select(WorkItem.kind, WorkItem.key, WorkItem.payload).where(_owned(item_id, worker_id))
    ).first()
    if row is None:
        return False
    session.execute(
        update(WorkItem)
        .where(_owned(item_id, worker_id))
        .values(
            state=WorkState.FAILED.value,
            claimed_by=None,
            lease_until=None,
            last_error=error[:2000],
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    raise_alert(session, kind=f"work_failed:{row.kind}", subject=row.key, message=error, now=now)
    if on_give_up is not None:
        on_give_up(session, GivenUp(row.kind, row.key, dict(row.payload or {}), error, now))
    return True


def raise_alert(session: Session, *, kind: str, subject: str, message: str, now: datetime) -> None:
    """Record something an operator must look at."""
    session.add(Alert(kind=kind, subject=subject, message=message[:4000], created_at=now))
