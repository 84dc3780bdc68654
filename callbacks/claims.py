"""Agents working the callback queue: claim, release, record how a call went, reschedule.

Each service runs in the caller's write transaction with the callback locked (``store``), moves
it as ``lifecycle`` allows and writes one event row per move (who, when, why). A move the
callback's status forbids, or one by an agent who does not hold the claim, raises
``CallbackConflict`` naming the status and the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from callbacks import store
from callbacks.lifecycle import Disposition, Forbidden, Move, Outcome, decide_move
from callbacks.models import Callback, CallbackEvent, CallbackStatus
from callbacks.notices import enqueue_unreachable_notice
from callbacks.promises import retry_at, warn_at
from callbacks.queries import CallbackView
from db.transaction import SessionFactory
from intake.catalog import Catalog
from intake.staff import Role, StaffMember, staff_by_ids


@dataclass(frozen=True)
class Actor:
    """Who moves a callback: a staff member, or the system (worker, a call's outcome)."""

    user_id: int | None
    name: str
    may_override: bool = False  # managers may release or settle a claim someone else holds

    @classmethod
    def of(cls, member: StaffMember) -> Actor:
        """The staff member as an actor."""
        return cls(member.id, member.name, may_override=member.role is Role.MANAGER)


SYSTEM = Actor(None, "system", may_override=True)
CALL_OUTCOME = Actor(None, "twilio", may_override=True)


class UnknownCallback(Exception):
    """No callback has that id."""


class CallbackConflict(Exception):
    """The callback cannot make that move now: its status, and who holds it, say why."""

    def __init__(
        self, callback_id: int, detail: str, *, status: CallbackStatus, holder: str | None
    ) -> None:
        super().__init__(detail)
        self.callback_id = callback_id
        self.detail = detail
        self.status = status
        self.holder = holder


def claim_callback(
    session: Session, callback_id: int, *, by: StaffMember, now: datetime, catalog: Catalog
) -> Callback:
    """``by`` takes the callback, first come first served; a claim that expired is taken over.

    The holder claiming again (a double click, a retried request) keeps the claim as it is.
    """
    callback = _locked(session, callback_id)
    _expire_if_due(session, callback, now=now)
    if (
        CallbackStatus(callback.status) is CallbackStatus.CLAIMED
        and callback.claimed_by_id == by.id
    ):
        return callback
    _move(session, callback, Move.CLAIM, actor=Actor.of(by), now=now)
    _hold(callback, by, now=now, catalog=catalog)
    return callback


def claim_next_callback(
    session: Session, *, by: StaffMember, region: str, now: datetime, catalog: Catalog
) -> Callback | None:
    """``by`` takes the region's next callback in queue order; None when none is waiting."""
    claim = _claim_of_queued(by, now=now, catalog=catalog)
    taken = store.claim_next(session, region=region, now=now, claim=claim)
    if taken is None:
        return None
    callback = taken.callback
    if not taken.claimed:  # an expired claim (or SQLite): moved here, as claim_callback does
        _expire_if_due(session, callback, now=now)
        _move(session, callback, Move.CLAIM, actor=Actor.of(by), now=now)
        _hold(callback, by, now=now, catalog=catalog)
    return callback


def take_next_callback(
    factory: SessionFactory, *, by: StaffMember, region: str, now: datetime, catalog: Catalog
) -> CallbackView | None:
    """``by`` takes the region's next callback as ``claim_next_callback`` says, in a transaction
    of its own; the callback as listed, None when none is waiting."""
    return store.claim_next_view(
        factory,
        region=region,
        now=now,
        claim=_claim_of_queued(by, now=now, catalog=catalog),
        otherwise=lambda session: claim_next_callback(
            session, by=by, region=region, now=now, catalog=catalog
        ),
    )


def release_callback(
    session: Session, callback_id: int, *, by: Actor, now: datetime, reason: str | None = None
) -> Callback:
    """Give the callback back to the queue, in its place (the promise is unchanged)."""
    callback = _locked(session, callback_id)
    _require_holder(session, callback, by, Move.RELEASE)
    _move(session, callback, Move.RELEASE, actor=by, now=now, reason=reason)
    _unhold(callback)
    return callback


def expire_claims(session: Session, *, now: datetime) -> list[int]:
    """Return claims nobody worked on within the claim time to the queue; their ids."""
    expired = []
    for callback in store.lock_expired_claims(session, now=now):
        _expire_if_due(session, callback, now=now)
        expired.append(callback.id)
    return expired


def record_disposition(
    session: Session,
    callback_id: int,
    *,
    by: Actor,
    disposition: Disposition,
    now: datetime,
    catalog: Catalog,
    note: str | None = None,
    call_again_at: datetime | None = None,
) -> Callback:
    """Record how the call went: close the callback, queue a retry, or close it unreachable.

    "Another time" needs ``call_again_at``: the callback is due then, a new promise.
    """
    callback = _locked(session, callback_id)
    _require_holder(session, callback, by, Move.DISPOSITION)
    if disposition is Disposition.ANOTHER_TIME and call_again_at is None:
        raise ValueError("another_time needs the time the customer asked for")
    outcome = _move(
        session,
        callback,
        Move.DISPOSITION,
        actor=by,
        now=now,
        reason=_joined(disposition.value, note),
        disposition=disposition,
        catalog=catalog,
    )
    callback.disposition = disposition.value
    _after(session, callback, outcome, now=now, catalog=catalog, call_again_at=call_again_at)
    return callback


def reschedule_callback(
    session: Session,
    callback_id: int,
    *,
    by: Actor,
    at: datetime,
    now: datetime,
    catalog: Catalog,
    reason: str | None = None,
) -> Callback:
    """Move the callback to ``at`` (the customer asked for another time): due then, queued."""
    if at <= now:
        raise ValueError("the new time must lie in the future")
    callback = _locked(session, callback_id)
    if CallbackStatus(callback.status) is CallbackStatus.CLAIMED:
        _require_holder(session, callback, by, Move.RESCHEDULE)
    was_due = callback.due_at
    outcome = _move(
        session,
        callback,
        Move.RESCHEDULE,
        actor=by,
        now=now,
        reason=_joined(f"was due {was_due.isoformat()}", reason),
    )
    _after(session, callback, outcome, now=now, catalog=catalog, call_again_at=at)
    return callback


# -- shared by the call legs (``callbacks.calls``) ---------------------------------------------


def apply_move(
    session: Session,
    callback: Callback,
    move: Move,
    *,
    actor: Actor,
    now: datetime,
    catalog: Catalog,
    reason: str | None = None,
    disposition: Disposition | None = None,
) -> Outcome:
    """Move a locked callback and settle what follows (retry time, unreachable, claim)."""
    outcome = _move(
        session,
        callback,
        move,
        actor=actor,
        now=now,
        reason=reason,
        disposition=disposition,
        catalog=catalog,
    )
    if disposition is not None:
        callback.disposition = disposition.value
    _after(session, callback, outcome, now=now, catalog=catalog)
    if outcome.status is CallbackStatus.CLAIMED and callback.claimed_by_id is not None:
        # Reached: the agent has the claim time again to record how the call went.
        callback.claim_expires_at = now + catalog.callback_claim_expiry
    return outcome


def release_lost_call(session: Session, callback: Callback, *, now: datetime, reason: str) -> None:
    """Give a locked callback whose agent's call was never placed back to the queue."""
    _move(session, callback, Move.CALL_LOST, actor=SYSTEM, now=now, reason=reason)
    _unhold(callback)


def locked_callback(session: Session, callback_id: int) -> Callback:
    """The callback, locked; raises ``UnknownCallback``."""
    return _locked(session, callback_id)


def holder_name(session: Session, callback: Callback) -> str | None:
    """The name of the agent holding the callback, if anyone does."""
    if callback.claimed_by_id is None:
        return None
    holder = staff_by_ids(session, {callback.claimed_by_id}).get(callback.claimed_by_id)
    return holder.name if holder is not None else None


def require_holder(session: Session, callback: Callback, by: Actor, move: Move) -> None:
    """Refuse ``move`` by anyone but the claim's holder (a manager or the system may)."""
    _require_holder(session, callback, by, move)


# -- moves -------------------------------------------------------------------------------------


def _locked(session: Session, callback_id: int) -> Callback:
    callback = store.locked(session, callback_id)
    if callback is None:
        raise UnknownCallback(f"no callback {callback_id}")
    return callback


def _move(
    session: Session,
    callback: Callback,
    move: Move,
    *,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
    disposition: Disposition | None = None,
    catalog: Catalog | None = None,
) -> Outcome:
    status = CallbackStatus(callback.status)
    attempts_allowed = 1
    if catalog is not None:
        attempts_allowed = catalog.product_line(callback.product_line).callback_attempts
    try:
        outcome = decide_move(
            move,
            status,
            disposition=disposition,
            attempts_made=callback.attempts,
            attempts_allowed=attempts_allowed,
        )
    except Forbidden as exc:
        holder = holder_name(session, callback)
        detail = str(exc) if holder is None else f"{exc}; held by {holder}"
        raise CallbackConflict(callback.id, detail, status=status, holder=holder) from None
    store.add_event(
        session,
        CallbackEvent(
            callback_id=callback.id,
            at=now,
            user_id=actor.user_id,
            actor=actor.name,
            action=move.value,
            from_status=status.value,
            to_status=outcome.status.value,
            reason=None if reason is None else reason[:500],
        ),
    )
    callback.status = outcome.status.value
    callback.updated_at = now
    if outcome.counts_attempt:
        callback.attempts += 1
    return outcome


def _after(
    session: Session,
    callback: Callback,
    outcome: Outcome,
    *,
    now: datetime,
    catalog: Catalog,
    call_again_at: datetime | None = None,
) -> None:
    """What a move's outcome means beyond the status: the claim, the next call, the close."""
    status = outcome.status
    if status in (CallbackStatus.QUEUED, CallbackStatus.DONE, CallbackStatus.UNREACHABLE):
        _unhold(callback)
    if status in (CallbackStatus.DONE, CallbackStatus.UNREACHABLE):
        callback.closed_at = now
    if status is CallbackStatus.UNREACHABLE:
        # Every way a callback runs out of attempts (an agent's disposition, a call leg's
        # outcome) passes here: the customer's notice is promised in the closing transaction.
        enqueue_unreachable_notice(session, callback.id, now=now)
    if status is CallbackStatus.QUEUED and outcome.is_retry:
        if call_again_at is not None:
            # The customer's own time is a new promise, warned of and breached like the first.
            line = catalog.product_line(callback.product_line)
            callback.not_before = callback.due_at = call_again_at
            callback.warn_at = warn_at(
                call_again_at, created_at=now, lead=line.callback_warn_before
            )
            callback.warned_at = callback.breached_at = None
        else:
            callback.not_before = retry_at(now, catalog.product_line(callback.product_line))


def _expire_if_due(session: Session, callback: Callback, *, now: datetime) -> None:
    if (
        CallbackStatus(callback.status) is CallbackStatus.CLAIMED
        and callback.claim_expires_at is not None
        and callback.claim_expires_at <= now
    ):
        holder = holder_name(session, callback)
        _move(
            session,
            callback,
            Move.EXPIRE,
            actor=SYSTEM,
            now=now,
            reason=f"claim by {holder or 'unknown'} expired unworked",
        )
        _unhold(callback)


def _require_holder(session: Session, callback: Callback, by: Actor, move: Move) -> None:
    if by.may_override or callback.claimed_by_id in (None, by.user_id):
        return
    holder = holder_name(session, callback)
    raise CallbackConflict(
        callback.id,
        f"cannot {move.value}: callback {callback.id} is held by {holder}",
        status=CallbackStatus(callback.status),
        holder=holder,
    )


def _claim_of_queued(by: StaffMember, *, now: datetime, catalog: Catalog) -> store.Claim:
    """``by``'s claim of a queued callback, as ``_move`` and ``_hold`` would write it: for the
    store to write in the statement that finds the callback (one round trip for the claim)."""
    queued = CallbackStatus.QUEUED
    return store.Claim(
        from_status=queued,
        to_status=decide_move(Move.CLAIM, queued).status,
        action=Move.CLAIM.value,
        holder_id=by.id,
        actor=Actor.of(by).name,
        at=now,
        expires_at=_claim_expires_at(now, catalog),
    )


def _hold(callback: Callback, by: StaffMember, *, now: datetime, catalog: Catalog) -> None:
    callback.claimed_by_id = by.id
    callback.claimed_at = now
    callback.claim_expires_at = _claim_expires_at(now, catalog)


def _claim_expires_at(now: datetime, catalog: Catalog) -> datetime:
    return now + catalog.callback_claim_expiry


def _unhold(callback: Callback) -> None:
    callback.claimed_by_id = None
    callback.claimed_at = None
    callback.claim_expires_at = None


def _joined(first: str, second: str | None) -> str:
    return first if not second else f"{first}: {second}"
