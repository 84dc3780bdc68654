"""Placing the calls the hotline requested (``intake.outbound_calls``), at most once in effect.

Kept apart from intake's call flow (``intake.jobs`` imports the sweep, and with it the turns), so
callbacks and escalations can use it without importing the flow; an import-linter contract in
pyproject.toml keeps it that way.
"""

from __future__ import annotations

import logging

from db.transaction import SessionFactory, transaction
from intake.outbound_calls import (
    CallOutcome,
    begin_placing,
    record_not_placed,
    record_placed,
    record_uncertain,
)
from intake.ports import Clock, Dialer, SendError, SendRejected, SendUncertain

log = logging.getLogger("hotline.worker")


def place_call_once(
    call_id: int, *, session_factory: SessionFactory, clock: Clock, dialer: Dialer
) -> CallOutcome:
    """Place a requested call unless an earlier attempt may have placed it.

    Raises ``SendError`` when Twilio did not take the call (the caller's job retries) and
    ``SendRejected`` when it never will; an uncertain outcome returns with an alert raised.
    """
    with transaction(session_factory) as session:
        begun = begin_placing(session, call_id, now=clock.now())
    if isinstance(begun, CallOutcome):
        return begun
    try:
        # No transaction open while Twilio is asked: an open SQLite write blocks every webhook.
        sid = dialer.place_call(
            to=begun.to,
            from_=begun.from_,
            url=begun.url,
            status_callback=begun.status_callback,
            timeout_seconds=begun.timeout_seconds,
        )
    except SendUncertain as exc:
        with transaction(session_factory) as session:
            return record_uncertain(session, call_id, reason=str(exc), now=clock.now())
    except SendError as exc:
        final = isinstance(exc, SendRejected)
        with transaction(session_factory) as session:
            outcome = record_not_placed(
                session, call_id, error=str(exc), final=final, now=clock.now()
            )
        log.warning(
            "event=outbound_call_not_placed key=%s final=%s error=%s", outcome.key, final, exc
        )
        raise
    with transaction(session_factory) as session:
        outcome = record_placed(session, call_id, call_sid=sid, now=clock.now())
    log.info("event=outbound_call_placed key=%s call_sid=%s", outcome.key, sid)
    return outcome
