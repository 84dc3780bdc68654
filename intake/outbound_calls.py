"""Calls the hotline places (callbacks, manager rings): at most once, never blindly again.

Twilio's ``calls.create`` takes no idempotency key, so a create whose answer never came (timeout
after the request left, or a worker killed mid-request) may have rung the phone. Such a call is
marked uncertain and an alert raised; a person decides, the code never dials it again. Only a
create that Twilio refused (or that never left) is tried again.

``request_call`` records the intent and its work row (``WORK_KIND``) in the caller's
transaction; the worker places it (``intake.outbound_call_jobs``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.work import enqueue, raise_alert
from intake.log_masks import mask_phone, mask_text
from intake.models import OutboundCall, OutboundCallStatus

log = logging.getLogger("hotline.worker")

UNCERTAIN_ALERT = "outbound_call_uncertain"
# Calls no status callback will report on: refused for good, or uncertain (the worker died while
# asking Twilio; never placed again, an alert asks a person). A leg waiting on one moves on.
NEVER_REPORTED = (OutboundCallStatus.FAILED.value, OutboundCallStatus.UNCERTAIN.value)
WORK_KIND = "outbound_call.place"
# Someone waits for this phone to ring, seconds matter (an agent who started a callback, a
# customer on hold while the duty managers are rung): before everything else, the notices an
# escalation sends (5) and the confirmations (10, promised within the hour) included.
WORK_PRIORITY = 1
# A refused create (rate limit: 1 call/s per account by default; a Twilio 5xx) clears within
# seconds, and a call placed minutes late reaches nobody who is still waiting for it.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(seconds=15),
    timedelta(seconds=30),
    timedelta(seconds=60),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after refused attempt number ``attempt`` (1-based)."""
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]


@dataclass(frozen=True)
class CallOutcome:
    """Where a requested call stands (see ``intake.outbound_call_jobs.place_call_once``)."""

    id: int
    key: str
    status: OutboundCallStatus
    call_sid: str | None


def request_call(
    session: Session,
    *,
    key: str,
    to: str,
    from_: str,
    url: str,
    status_callback: str | None,
    timeout_seconds: int,
    now: datetime,
    machine_detection: bool = False,
) -> int:
    """Record the intent to place the call ``key`` and its work row (once per key); its id.

    ``machine_detection``: Twilio tells a person from a machine (AnsweredBy on ``url``)."""
    existing = session.scalar(select(OutboundCall.id).where(OutboundCall.key == key))
    if existing is not None:
        return existing
    call = OutboundCall(
        key=key,
        to_number=to,
        from_number=from_,
        url=url,
        status_callback=status_callback,
        timeout_seconds=timeout_seconds,
        machine_detection=machine_detection,
        status=OutboundCallStatus.PENDING.value,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(call)
    session.flush()
    enqueue(
        session,
        kind=WORK_KIND,
        key=f"{WORK_KIND}:{call.id}",
        payload={"outbound_call_id": call.id},
        due_at=now,
        now=now,
        priority=WORK_PRIORITY,
        max_attempts=MAX_ATTEMPTS,
    )
    return call.id


@dataclass(frozen=True)
class CallToPlace:
    """What the dialer needs for one attempt."""

    to: str
    from_: str
    url: str
    status_callback: str | None
    timeout_seconds: int
    machine_detection: bool = False


def begin_placing(session: Session, call_id: int, *, now: datetime) -> CallToPlace | CallOutcome:
    """Record that an attempt starts, or say why none may (already placed, or uncertain).

    A call left "placing" by an earlier attempt died between its intent and Twilio's answer:
    it may have rung, so it is marked uncertain (with an alert) instead of being placed again.
    """
    call = _locked(session, call_id)
    status = OutboundCallStatus(call.status)
    if status is OutboundCallStatus.PLACING:
        _mark_uncertain(session, call, reason="an earlier attempt stopped mid-request", now=now)
        return _outcome(call)
    if status is not OutboundCallStatus.PENDING:
        return _outcome(call)
    call.status = OutboundCallStatus.PLACING.value
    call.attempts += 1
    call.attempt_started_at = call.updated_at = now
    return CallToPlace(
        to=call.to_number,
        from_=call.from_number,
        url=call.url,
        status_callback=_with_attempt(call.status_callback, call_id=call.id, attempt=call.attempts),
        timeout_seconds=call.timeout_seconds,
        machine_detection=call.machine_detection,
    )


def record_placed(session: Session, call_id: int, *, call_sid: str, now: datetime) -> CallOutcome:
    """Twilio took the call: keep its SID."""
    call = _locked(session, call_id)
    call.status = OutboundCallStatus.PLACED.value
    call.call_sid = call_sid
    call.placed_at = call.updated_at = now
    call.last_error = None
    return _outcome(call)


def record_not_placed(
    session: Session, call_id: int, *, error: str, final: bool, now: datetime
) -> CallOutcome:
    """Twilio refused the call: pending again for a retry, or failed for good."""
    call = _locked(session, call_id)
    call.status = (OutboundCallStatus.FAILED if final else OutboundCallStatus.PENDING).value
    call.last_error = error[:2000]
    call.updated_at = now
    return _outcome(call)


def withdraw(session: Session, key: str, *, reason: str, now: datetime) -> bool:
    """The call keyed ``key`` is no longer wanted: if no attempt has begun (still pending), it
    is failed with ``reason`` and never placed; whether it was withdrawn."""
    call = session.scalar(select(OutboundCall).where(OutboundCall.key == key).with_for_update())
    if call is None or call.status != OutboundCallStatus.PENDING.value:
        return False
    call.status = OutboundCallStatus.FAILED.value
    call.last_error = reason
    call.updated_at = now
    return True


def record_uncertain(session: Session, call_id: int, *, reason: str, now: datetime) -> CallOutcome:
    """No answer came back: the phone may be ringing; never place it again, raise an alert."""
    call = _locked(session, call_id)
    _mark_uncertain(session, call, reason=reason, now=now)
    return _outcome(call)


def give_up(session: Session, call_id: int, *, error: str, now: datetime) -> CallOutcome:
    """Settle a call whose placing work failed for good, so it stays neither pending nor placing.

    A call still waiting for an attempt fails; one left mid-request may ring, so it is uncertain
    (with an alert); a call already settled stays as it is.
    """
    call = _locked(session, call_id)
    status = OutboundCallStatus(call.status)
    if status is OutboundCallStatus.PENDING:
        call.status = OutboundCallStatus.FAILED.value
        call.last_error = error[:2000]
        call.updated_at = now
    elif status is OutboundCallStatus.PLACING:
        _mark_uncertain(session, call, reason=error, now=now)
    return _outcome(call)


@dataclass(frozen=True)
class PlacedCall:
    """A call Twilio (or the log-only dialer) took, as a phone it rings would see it."""

    id: int
    key: str
    to: str
    from_: str
    url: str
    # As placed: naming the attempt.
    status_callback: str | None
    call_sid: str | None
    placed_at: datetime
    machine_detection: bool = False


def next_placed_call(
    session: Session, *, to: str, since: datetime, after_id: int = 0
) -> PlacedCall | None:
    """The first call placed to ``to`` at or after ``since`` (and after call ``after_id``).

    For the terminal phone (``hotline answer``): without Twilio the log-only dialer rings
    nobody, so the terminal takes the call the worker recorded as placed.
    """
    call = session.scalar(
        select(OutboundCall)
        .where(
            OutboundCall.to_number == to,
            OutboundCall.status == OutboundCallStatus.PLACED.value,
            OutboundCall.placed_at >= since,
            OutboundCall.id > after_id,
        )
        .order_by(OutboundCall.placed_at, OutboundCall.id)
        .limit(1)
    )
    if call is None or call.placed_at is None:
        return None
    return PlacedCall(
        id=call.id,
        key=call.key,
        to=call.to_number,
        from_=call.from_number,
        url=call.url,
        status_callback=_with_attempt(call.status_callback, call_id=call.id, attempt=call.attempts),
        call_sid=call.call_sid,
        placed_at=call.placed_at,
        machine_detection=call.machine_detection,
    )


def _locked(session: Session, call_id: int) -> OutboundCall:
    call = session.scalar(select(OutboundCall).where(OutboundCall.id == call_id).with_for_update())
    if call is None:
        raise LookupError(f"no outbound call {call_id}")
    return call


def _mark_uncertain(session: Session, call: OutboundCall, *, reason: str, now: datetime) -> None:
    call.status = OutboundCallStatus.UNCERTAIN.value
    call.last_error = reason[:2000]
    call.updated_at = now
    raise_alert(
        session,
        kind=UNCERTAIN_ALERT,
        subject=call.key,
        message=(
            f"call to {call.to_number} may have been placed ({reason}); not placed again: "
            "check Twilio's call log"
        ),
        now=now,
    )
    log.error(
        "event=outbound_call_uncertain key=%s to=%s reason=%s",
        call.key,
        mask_phone(call.to_number),
        mask_text(reason),
    )


def _with_attempt(url: str | None, *, call_id: int, attempt: int) -> str | None:
    # Status callbacks name the attempt they report on.
    if url is None:
        return None
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode({'outbound_call': call_id, 'attempt': attempt})}"


def _outcome(call: OutboundCall) -> CallOutcome:
    return CallOutcome(
        id=call.id, key=call.key, status=OutboundCallStatus(call.status), call_sid=call.call_sid
    )
