"""Watching the promises: warn of callbacks nobody has claimed, record the ones that broke.

Each is a conditional UPDATE (``warned_at IS NULL``, ``breached_at IS NULL``) whose RETURNING
names the callbacks this transaction took: two watchers running at once (several workers) each
get a different set, so every callback is warned once and breached once. The managers' notices
are queued in the same transaction, keyed per callback, promise, manager and channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from callbacks import store
from callbacks.models import Callback, CallbackStatus
from callbacks.notices import SYSTEM, Notice, enqueue_manager_notices
from intake.catalog import Catalog

# Callbacks taken per transaction: short transactions, however many fall due at once.
BATCH = 100


def at_risk(now: datetime) -> ColumnElement[bool]:
    """Unclaimed past the warning time, not yet warned, and not yet due (a callback already
    due is breached instead: a warning then would only repeat the breach)."""
    return and_(
        Callback.status == CallbackStatus.QUEUED.value,
        Callback.warn_at <= now,
        Callback.due_at > now,
        Callback.warned_at.is_(None),
    )


def breaking(now: datetime) -> ColumnElement[bool]:
    """Due, no call to the customer started, still waiting for one, breach not yet recorded."""
    return and_(
        Callback.first_call_at.is_(None),
        Callback.status.in_([CallbackStatus.QUEUED.value, CallbackStatus.CLAIMED.value]),
        Callback.due_at <= now,
        Callback.breached_at.is_(None),
    )


def warn_unclaimed_callbacks(
    session: Session, *, now: datetime, catalog: Catalog, limit: int = BATCH
) -> list[int]:
    """Mark up to ``limit`` callbacks at risk as warned and queue their managers' warnings;
    the ids this call warned (none that another watcher warned)."""
    warned = _take(session, at_risk(now), Callback.warned_at, now=now, limit=limit)
    for callback in _loaded(session, warned):
        left = max(round((callback.due_at - now).total_seconds() / 60), 0)
        told = enqueue_manager_notices(
            session, callback, notice=Notice.WARNING, catalog=catalog, now=now
        )
        store.add_note(
            session,
            callback,
            action="warn",
            actor=SYSTEM,
            now=now,
            reason=f"unclaimed {left} min before due; {told} notice(s) to managers",
        )
    return warned


def record_breaches(
    session: Session, *, now: datetime, catalog: Catalog, limit: int = BATCH
) -> list[int]:
    """Record the breach of up to ``limit`` broken promises and queue their managers' notices;
    the ids this call recorded."""
    breached = _take(session, breaking(now), Callback.breached_at, now=now, limit=limit)
    for callback in _loaded(session, breached):
        record_breach(session, callback, now=now)
        enqueue_manager_notices(session, callback, notice=Notice.BREACH, catalog=catalog, now=now)
    return breached


def record_breach(session: Session, callback: Callback, *, now: datetime) -> None:
    """The callback's promise broke: its history says when, and how late nobody had called."""
    store.add_note(
        session,
        callback,
        action="breach",
        actor=SYSTEM,
        now=now,
        reason=f"due {callback.due_at.isoformat()}, no call started",
    )


def _take(
    session: Session,
    condition: ColumnElement[bool],
    column: object,
    *,
    now: datetime,
    limit: int,
) -> list[int]:
    """Set ``column`` to ``now`` on up to ``limit`` callbacks meeting ``condition``; their ids.

    The UPDATE repeats the condition: on PostgreSQL a row another watcher changed meanwhile
    is re-checked after its lock is released and left out; SQLite has one writer at a time.
    """
    candidates = session.scalars(
        select(Callback.id).where(condition).order_by(Callback.due_at, Callback.id).limit(limit)
    ).all()
    if not candidates:
        return []
    taken = session.scalars(
        update(Callback)
        .where(Callback.id.in_(candidates), condition)
        .values({column: now})
        .returning(Callback.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(taken)


def _loaded(session: Session, ids: Sequence[int]) -> Sequence[Callback]:
    if not ids:
        return []
    return session.scalars(
        select(Callback)
        .where(Callback.id.in_(ids))
        .order_by(Callback.due_at, Callback.id)
        .execution_options(populate_existing=True)
    ).all()
