"""Where callbacks are read and locked: the one place that knows how claims stay race-free.

A claim reads a callback and changes it in one write transaction with the row locked: on
PostgreSQL ``SELECT ... FOR UPDATE`` (a second claimer waits, then sees the first one's claim),
and for "the next callback" ``FOR UPDATE SKIP LOCKED``, so twenty agents pressing "next" at
once each lock a different row instead of queueing behind the first. SQLite has one writer at a
time (every write transaction begins IMMEDIATE, ``db.transaction``), which serialises claimers
the same way; SQLAlchemy leaves the locking clauses out there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from callbacks.models import Callback, CallbackEvent, CallbackStatus


def locked(session: Session, callback_id: int) -> Callback | None:
    """The callback, locked until the transaction ends (None when there is none)."""
    return session.scalar(select(Callback).where(Callback.id == callback_id).with_for_update())


def claimable(now: datetime) -> object:
    """The condition for a callback an agent may claim now: queued and not held back, or
    claimed by someone whose claim has expired."""
    return or_(
        and_(
            Callback.status == CallbackStatus.QUEUED.value,
            or_(Callback.not_before.is_(None), Callback.not_before <= now),
        ),
        and_(
            Callback.status == CallbackStatus.CLAIMED.value,
            Callback.claim_expires_at <= now,
        ),
    )


def lock_next_claimable(session: Session, *, region: str, now: datetime) -> Callback | None:
    """The region's next callback in queue order (earliest promise, then first call), locked;
    rows other claimers hold right now are skipped, not waited for."""
    return session.scalar(
        select(Callback)
        .where(Callback.region == region, claimable(now))  # type: ignore[arg-type]
        .order_by(Callback.due_at, Callback.requested_at, Callback.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def lock_expired_claims(session: Session, *, now: datetime, limit: int = 500) -> Sequence[Callback]:
    """Claimed callbacks whose claim has expired, locked (others' locks are skipped)."""
    return session.scalars(
        select(Callback)
        .where(
            Callback.status == CallbackStatus.CLAIMED.value,
            Callback.claim_expires_at <= now,
        )
        .order_by(Callback.claim_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


def add_event(session: Session, event: CallbackEvent) -> None:
    """Record one move of a callback."""
    session.add(event)


def events_of(session: Session, callback_id: int) -> Sequence[CallbackEvent]:
    """A callback's history, oldest first."""
    return session.scalars(
        select(CallbackEvent)
        .where(CallbackEvent.callback_id == callback_id)
        .order_by(CallbackEvent.at, CallbackEvent.id)
    ).all()


def last_action(session: Session, callback_id: int) -> str | None:
    """The callback's latest move (``Move`` value), or None: moves are written with the row
    locked, so the highest id is the latest."""
    return session.scalar(
        select(CallbackEvent.action)
        .where(CallbackEvent.callback_id == callback_id)
        .order_by(CallbackEvent.id.desc())
        .limit(1)
    )
