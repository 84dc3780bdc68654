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

from sqlalchemy import ColumnElement, Select, bindparam, or_, select, union_all
from sqlalchemy.orm import Session

from callbacks.models import Callback, CallbackEvent, CallbackStatus


def locked(session: Session, callback_id: int) -> Callback | None:
    """The callback, locked until the transaction ends (None when there is none)."""
    return session.scalar(select(Callback).where(Callback.id == callback_id).with_for_update())


def lock_next_claimable(session: Session, *, region: str, now: datetime) -> Callback | None:
    """The region's next callback in queue order (earliest promise, then first call), locked;
    rows other claimers hold right now are skipped, not waited for.

    Claimable are the queued callbacks not held back (``not_before``) and the claims that have
    expired. One statement, each kind's head found by an index in queue order and locked
    (``ix_callbacks_claim_order`` for the queue, ``ix_callbacks_claim_expiry`` for expired
    claims), the earlier of the two returned: a single condition over both kinds made
    PostgreSQL read and sort the region's whole table on every claim (10 ms at 10 000 rows).
    When both heads exist the later one stays locked until the claimer commits (other claimers
    skip it meanwhile, as they skip any row being claimed).
    """
    return session.scalar(_NEXT_CLAIMABLE, {"region": region, "now": now})


def _head(*conditions: ColumnElement[bool]) -> Select[int, datetime, datetime]:
    """The region's first row meeting ``conditions`` in queue order, locked (SKIP LOCKED)."""
    return (
        select(Callback.id, Callback.due_at, Callback.requested_at)
        .where(Callback.region == bindparam("region"), *conditions)
        .order_by(Callback.due_at, Callback.requested_at, Callback.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _next_claimable() -> Select[Callback]:
    """The statement behind ``lock_next_claimable``, built once (building it took longer than
    PostgreSQL takes to run it); ``region`` and ``now`` are bound at each claim."""
    queued = _head(
        Callback.status == CallbackStatus.QUEUED.value,
        or_(Callback.not_before.is_(None), Callback.not_before <= bindparam("now")),
    ).cte("queued_head")
    expired = _head(
        Callback.status == CallbackStatus.CLAIMED.value,
        Callback.claim_expires_at <= bindparam("now"),
    ).cte("expired_head")
    heads = union_all(select(queued), select(expired)).subquery("heads")
    first = (
        select(heads.c.id)
        .order_by(heads.c.due_at, heads.c.requested_at, heads.c.id)
        .limit(1)
        .scalar_subquery()
    )
    # Locked again (ours already: no wait) so that the row is read as it stands now, not as the
    # statement's snapshot saw it: a change committed meanwhile is in the version locked.
    return select(Callback).where(Callback.id == first).with_for_update()


_NEXT_CLAIMABLE = _next_claimable()


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


def add_note(
    session: Session,
    callback: Callback,
    *,
    action: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Record something that happened to a callback without moving it (a warning, a breach,
    a notice sent): an event whose status stays what it was."""
    status = str(callback.status)
    add_event(
        session,
        CallbackEvent(
            callback_id=callback.id,
            at=now,
            user_id=None,
            actor=actor,
            action=action,
            from_status=status,
            to_status=status,
            reason=None if reason is None else reason[:500],
        ),
    )


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
