"""The callback queue as agents and managers see it: in order, with the time left to each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from callbacks.models import Callback, CallbackEvent, CallbackStatus
from intake.models import Message, User

# Callbacks still owed to a customer.
OPEN = (CallbackStatus.QUEUED, CallbackStatus.CLAIMED, CallbackStatus.CALLING)


@dataclass(frozen=True)
class CallbackView:
    """A callback as the API and the terminal show it."""

    id: int
    sr_number: str
    status: str
    region: str
    language: str
    product_line: str
    callback_number: str
    contact_name: str | None
    company: str | None
    description: str | None
    requested_at: datetime
    due_at: datetime
    created_at: datetime
    claimed_by: str | None
    claim_expires_at: datetime | None
    not_before: datetime | None
    attempts: int
    disposition: str | None
    closed_at: datetime | None
    # Negative once the promise is broken; measured from the ``now`` the list was made at.
    time_left: timedelta


@dataclass(frozen=True)
class EventView:
    """One move in a callback's history."""

    at: datetime
    actor: str
    action: str
    from_status: str
    to_status: str
    reason: str | None


def _with_details(stmt: Select[Callback]) -> Select[Callback, str, str, str, str | None]:
    """``stmt`` with what a view shows beside the callback: the caller's message, the holder."""
    holder = aliased(User)
    return (
        stmt.add_columns(Message.contact_name, Message.company, Message.description, holder.name)
        .join(Message, Message.id == Callback.message_id)
        .outerjoin(holder, holder.id == Callback.claimed_by_id)
    )


def _views(session: Session, stmt: Select[Callback], now: datetime) -> list[CallbackView]:
    return _as_views(session.execute(_with_details(stmt)).all(), now)


def _as_views(
    rows: Sequence[Row[Callback, str, str, str, str | None]], now: datetime
) -> list[CallbackView]:
    return [
        CallbackView(
            id=c.id,
            sr_number=c.sr_number,
            status=c.status,
            region=c.region,
            language=c.language,
            product_line=c.product_line,
            callback_number=c.callback_number,
            contact_name=name,
            company=company,
            description=description,
            requested_at=c.requested_at,
            due_at=c.due_at,
            created_at=c.created_at,
            claimed_by=holder_name,
            claim_expires_at=c.claim_expires_at,
            not_before=c.not_before,
            attempts=c.attempts,
            disposition=c.disposition,
            closed_at=c.closed_at,
            time_left=c.due_at - now,
        )
        for c, name, company, description, holder_name in rows
    ]


def list_callbacks(
    session: Session,
    *,
    now: datetime,
    status: str | None = None,
    region: str | None = None,
    limit: int = 500,
) -> list[CallbackView]:
    """Callbacks in queue order: earliest promise first, then by when the caller first called.

    Without a status, the open ones (queued, claimed, calling).
    """
    stmt = select(Callback).order_by(Callback.due_at, Callback.requested_at, Callback.id)
    if status is None:
        stmt = stmt.where(Callback.status.in_([s.value for s in OPEN]))
    else:
        stmt = stmt.where(Callback.status == status)
    if region is not None:
        stmt = stmt.where(Callback.region == region)
    return _views(session, stmt.limit(limit), now)


def callback_view(session: Session, callback_id: int, *, now: datetime) -> CallbackView | None:
    """One callback as listed, or None."""
    rows = session.execute(_ONE_VIEW, {"view_callback_id": callback_id}).all()
    found = _as_views(rows, now)
    return found[0] if found else None


# Built once: every API move answers with this view, and building the statement cost more of
# the request than running it.
_ONE_VIEW = _with_details(select(Callback).where(Callback.id == bindparam("view_callback_id")))


def callback_history(session: Session, callback_id: int) -> list[EventView]:
    """Every move of the callback, oldest first."""
    rows = session.scalars(
        select(CallbackEvent)
        .where(CallbackEvent.callback_id == callback_id)
        .order_by(CallbackEvent.at, CallbackEvent.id)
    )
    return [EventView(e.at, e.actor, e.action, e.from_status, e.to_status, e.reason) for e in rows]


@dataclass(frozen=True)
class QueueFigures:
    """One region's queue at a glance (``/metrics``)."""

    region: str
    waiting: int
    at_risk: int
    breached: int
    oldest_wait: timedelta


def queue_figures(session: Session, *, now: datetime) -> list[QueueFigures]:
    """Per region: callbacks open, at risk (past their warning, unclaimed), promises broken
    (past due with no call started), and how long the longest-waiting caller has waited."""
    open_ = Callback.status.in_([s.value for s in OPEN])
    unstarted = and_(
        Callback.first_call_at.is_(None),
        or_(
            Callback.status == CallbackStatus.QUEUED.value,
            Callback.status == CallbackStatus.CLAIMED.value,
        ),
    )
    rows = session.execute(
        select(
            Callback.region,
            func.count(),
            func.sum(
                _flag(and_(Callback.status == CallbackStatus.QUEUED.value, Callback.warn_at <= now))
            ),
            func.sum(_flag(and_(unstarted, Callback.due_at <= now))),
            func.min(Callback.requested_at),
        )
        .where(open_)
        .group_by(Callback.region)
    ).all()
    return [
        QueueFigures(
            region=region,
            waiting=int(count),
            at_risk=int(at_risk or 0),
            breached=int(breached or 0),
            oldest_wait=max(now - oldest, timedelta(0)) if oldest is not None else timedelta(0),
        )
        for region, count, at_risk, breached, oldest in rows
    ]


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)
