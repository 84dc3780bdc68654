"""Where callbacks are read and locked: the one place that knows how claims stay race-free.

A claim reads a callback and changes it in one write transaction with the row locked: on
PostgreSQL ``SELECT ... FOR UPDATE`` (a second claimer waits, then sees the first one's claim),
and for "the next callback" ``FOR UPDATE SKIP LOCKED``, so twenty agents pressing "next" at
once each lock a different row instead of queueing behind the first. SQLite has one writer at a
time (every write transaction begins IMMEDIATE, ``db.transaction``), which serialises claimers
the same way; SQLAlchemy leaves the locking clauses out there.

Claiming the next callback from the API (``claim_next_view``) is, on PostgreSQL, usually that
one statement alone, run as a transaction of its own and answering the callback as listed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    Select,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from callbacks.models import Callback, CallbackEvent, CallbackStatus
from callbacks.queries import CallbackView, callback_view
from db.base import table_of
from db.transaction import SessionFactory, statement_connection, transaction
from intake.models import Message

_CALLBACKS = table_of(Callback)
_EVENTS = table_of(CallbackEvent)
_MESSAGES = table_of(Message)
# LIMIT 1 written out, not bound: a bound limit is unknown to PostgreSQL's plan for every value
# (it then prices a generic plan for 10% of the table and plans every claim afresh).
_ONE = literal_column("1", Integer)


@dataclass(frozen=True)
class Claim:
    """A claim as the claims service decided it, for ``claim_next`` to write: the status it
    moves the callback from and to, the holder and until when, and who the event names."""

    from_status: CallbackStatus
    to_status: CallbackStatus
    action: str
    holder_id: int
    actor: str
    at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class NextCallback:
    """The callback ``claim_next`` locked, and whether it wrote the claim to it already."""

    callback: Callback
    claimed: bool


def locked(session: Session, callback_id: int) -> Callback | None:
    """The callback, locked until the transaction ends (None when there is none)."""
    return session.scalar(select(Callback).where(Callback.id == callback_id).with_for_update())


def claim_next(
    session: Session, *, region: str, now: datetime, claim: Claim
) -> NextCallback | None:
    """Lock the region's next claimable callback as ``lock_next_claimable`` does; None when
    there is none. On PostgreSQL one in ``claim.from_status`` is claimed in that same statement,
    its row moved and its event written as ``claim`` says: one round trip where locking, moving
    and recording took three.

    Any other comes back locked and unchanged, for the caller to move: an expired claim (its
    expiry is recorded first), and every callback on SQLite (no statement there writes two
    tables; nor does it make round trips).
    """
    if session.get_bind().dialect.name != "postgresql":
        callback = lock_next_claimable(session, region=region, now=now)
        return None if callback is None else NextCallback(callback, claimed=False)
    row = session.execute(
        _CLAIM_NEXT,
        _claim_parameters(region=region, now=now, claim=claim),
        # The row as the statement left it, also where the session had read it before.
        execution_options={"populate_existing": True},
    ).one_or_none()
    if row is None:
        return None
    head_id, claimed = row
    if claimed is not None:
        return NextCallback(claimed, claimed=True)
    callback = locked(session, head_id)  # ours already: read, not waited for
    assert callback is not None
    return NextCallback(callback, claimed=False)


def claim_next_view(
    factory: SessionFactory,
    *,
    region: str,
    now: datetime,
    claim: Claim,
    otherwise: Callable[[Session], Callback | None],
) -> CallbackView | None:
    """Claim the region's next claimable callback in a transaction of its own; the callback as
    listed (``callbacks.queries``) once claimed, None when there is none.

    On PostgreSQL a queued one is claimed as ``claim_next`` claims it, by one statement that
    also answers the view, run on its own (autocommit): one round trip where BEGIN, the
    statement, a read of the view and COMMIT took four. Its holder is the claimer, whom the
    claim's event names (``claim.actor``). Any other callback (an expired claim, whose expiry
    is recorded first), and every one on SQLite, is claimed by ``otherwise`` in a write
    transaction and read back in it.
    """
    with statement_connection(factory) as connection:
        if connection is not None:
            row = connection.execute(
                _CLAIM_NEXT_VIEW, _claim_parameters(region=region, now=now, claim=claim)
            ).first()
            if row is None:
                return None
            seen = row._asdict()
            del seen["head_id"]
            if seen["id"] is not None:  # claimed; else the head needs moving as below
                return CallbackView(**seen, claimed_by=claim.actor, time_left=seen["due_at"] - now)
    with transaction(factory) as session:
        callback = otherwise(session)
        if callback is None:
            return None
        session.flush()
        return callback_view(session, callback.id, now=now)


def _claim_parameters(*, region: str, now: datetime, claim: Claim) -> dict[str, Any]:
    return {
        "queue_region": region,
        "now": now,
        "claim_from": claim.from_status.value,
        "claim_to": claim.to_status.value,
        "claim_action": claim.action,
        "claim_holder": claim.holder_id,
        "claim_actor": claim.actor,
        "claim_at": claim.at,
        "claim_until": claim.expires_at,
    }


def lock_next_claimable(session: Session, *, region: str, now: datetime) -> Callback | None:
    """The region's next callback in queue order (earliest promise, then first call), locked;
    rows other claimers hold right now are skipped, not waited for.

    Claimable are the queued callbacks not held back (``not_before``) and the claims that have
    expired. One statement, each kind's head found by an index in queue order and locked
    (``ix_callbacks_claim_order``), the earlier of the two returned: a single condition over
    both kinds made PostgreSQL read and sort the region's whole table on every claim (10 ms at
    10 000 rows). When both heads exist the later one stays locked until the claimer commits
    (other claimers skip it meanwhile, as they skip any row being claimed).
    """
    return session.scalar(_NEXT_CLAIMABLE, {"queue_region": region, "now": now})


def _head(*conditions: ColumnElement[bool]) -> Select[Any]:
    """The region's first row meeting ``conditions`` in queue order, locked (SKIP LOCKED)."""
    return (
        select(_CALLBACKS.c.id, _CALLBACKS.c.status, _CALLBACKS.c.due_at, _CALLBACKS.c.requested_at)
        .where(_CALLBACKS.c.region == bindparam("queue_region"), *conditions)
        .order_by(_CALLBACKS.c.due_at, _CALLBACKS.c.requested_at, _CALLBACKS.c.id)
        .limit(_ONE)
        .with_for_update(skip_locked=True)
    )


def _next_claimable() -> CTE:
    """The id and status of the region's next claimable callback, locked: the CTE ``head`` of
    the statements below, which are built once (building one took longer than PostgreSQL takes
    to run it); ``queue_region`` and ``now`` are bound at each claim. A locked row's status is
    read as it stands now, also when a change was committed since the statement began."""
    queued = _head(
        _CALLBACKS.c.status == CallbackStatus.QUEUED.value,
        or_(_CALLBACKS.c.not_before.is_(None), _CALLBACKS.c.not_before <= bindparam("now")),
    ).cte("queued_head")
    expiring = _CALLBACKS.alias("expiring")
    expired = _head(
        _CALLBACKS.c.status == CallbackStatus.CLAIMED.value,
        _CALLBACKS.c.claim_expires_at <= bindparam("now"),
        # Asked first, once: has any claim expired? The earliest expiry is the first entry of
        # ix_callbacks_claim_expiry (an EXISTS was answered by reading the whole table when
        # none had). Usually none has, and the head is never looked for; looking for it walks
        # the region's claims (PostgreSQL's choice of index while every row was queued when it
        # last counted them: 2.2 ms a claim with 4 500 callbacks claimed).
        select(func.min(expiring.c.claim_expires_at))
        .where(expiring.c.status == CallbackStatus.CLAIMED.value)
        .scalar_subquery()
        <= bindparam("now"),
    ).cte("expired_head")
    heads = union_all(select(queued), select(expired)).subquery("heads")
    return (
        select(heads.c.id, heads.c.status)
        .order_by(heads.c.due_at, heads.c.requested_at, heads.c.id)
        .limit(_ONE)
        .cte("head")
    )


def _next_claimable_row() -> Select[Callback]:
    """The statement behind ``lock_next_claimable``: the head's whole row. Locked again (ours
    already: no wait) so that the row is read as it stands now, not as the statement's
    snapshot saw it: a change committed meanwhile is in the version locked."""
    head = _next_claimable()
    return (
        select(Callback).where(Callback.id == select(head.c.id).scalar_subquery()).with_for_update()
    )


def _claimed(head: CTE, *returning: ColumnElement[Any]) -> tuple[CTE, CTE]:
    """The head moved when it is in ``claim_from`` (answering ``returning``), and its event
    inserted: data-modifying CTEs, run once whatever reads them."""
    moved = (
        update(_CALLBACKS)
        .where(_CALLBACKS.c.id == head.c.id, head.c.status == bindparam("claim_from"))
        .values(
            status=bindparam("claim_to"),
            claimed_by_id=bindparam("claim_holder"),
            claimed_at=bindparam("claim_at"),
            claim_expires_at=bindparam("claim_until"),
            updated_at=bindparam("claim_at"),
        )
        .returning(*returning)
        .cte("moved")
    )
    recorded = insert(_EVENTS).from_select(
        ["callback_id", "at", "user_id", "actor", "action", "from_status", "to_status"],
        select(
            moved.c.id,
            bindparam("claim_at", type_=_EVENTS.c.at.type),
            bindparam("claim_holder", type_=_EVENTS.c.user_id.type),
            bindparam("claim_actor", type_=_EVENTS.c.actor.type),
            bindparam("claim_action", type_=_EVENTS.c.action.type),
            bindparam("claim_from", type_=_EVENTS.c.from_status.type),
            bindparam("claim_to", type_=_EVENTS.c.to_status.type),
        ),
    )
    return moved, recorded.cte("recorded")


def _claim_next() -> Select[int, Callback]:
    """The statement behind ``claim_next`` on PostgreSQL: lock the head, claim it when it is in
    ``claim_from``; answer the head's id and, when claimed, its row as moved (else NULLs)."""
    head = _next_claimable()
    moved, recorded = _claimed(head, *_CALLBACKS.c)
    claimed = aliased(Callback, moved)
    return (
        select(head.c.id, claimed)
        .select_from(head)
        .outerjoin(moved, moved.c.id == head.c.id)
        .add_cte(recorded)
    )


# A callback's columns and its message's that ``CallbackView`` shows, under the view's names.
_VIEWED_CALLBACK = (
    "id",
    "sr_number",
    "status",
    "region",
    "language",
    "product_line",
    "callback_number",
    "requested_at",
    "due_at",
    "created_at",
    "claim_expires_at",
    "not_before",
    "attempts",
    "disposition",
    "closed_at",
)
_VIEWED_MESSAGE = ("contact_name", "company", "description")


def _claim_next_view() -> Select[Any]:
    """The statement behind ``claim_next_view``: ``_claim_next``'s, answering the head's id
    and, when claimed, the columns of its view (no row when there is no head)."""
    head = _next_claimable()
    moved, recorded = _claimed(
        head, *(_CALLBACKS.c[name] for name in (*_VIEWED_CALLBACK, "message_id"))
    )
    return (
        select(
            head.c.id.label("head_id"),
            *(moved.c[name] for name in _VIEWED_CALLBACK),
            *(_MESSAGES.c[name] for name in _VIEWED_MESSAGE),
        )
        .select_from(head)
        .outerjoin(moved, moved.c.id == head.c.id)
        .outerjoin(_MESSAGES, _MESSAGES.c.id == moved.c.message_id)
        .add_cte(recorded)
    )


_NEXT_CLAIMABLE = _next_claimable_row()
_CLAIM_NEXT = _claim_next()
_CLAIM_NEXT_VIEW = _claim_next_view()


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
