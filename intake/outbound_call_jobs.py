"""Placing the calls the hotline requested (``intake.outbound_calls``), at most once in effect.

Kept apart from intake's call flow (``intake.jobs`` imports the sweep, and with it the turns), so
callbacks and escalations can use it without importing the flow; an import-linter contract in
pyproject.toml keeps it that way.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from db.jobs import JobSpec
from db.transaction import SessionFactory, transaction
from db.work import ClaimedWork, GivenUp, PermanentFailure
from intake.log_masks import mask_text
from intake.outbound_calls import (
    WORK_KIND,
    CallOutcome,
    begin_placing,
    give_up,
    record_not_placed,
    record_placed,
    record_uncertain,
    retry_delay,
)
from intake.ports import Clock, Dialer, SendError, SendRejected, SendUncertain

log = logging.getLogger("hotline.worker")


def place_call_once(
    call_id: int,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    dialer: Dialer,
    public_base_url: str | None = None,
) -> CallOutcome:
    """Place a requested call unless an earlier attempt may have placed it.

    A relative webhook URL (``/ivr/...``) is made absolute with ``public_base_url``.
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
            url=absolute_url(begun.url, public_base_url),
            status_callback=(
                None
                if begun.status_callback is None
                else absolute_url(begun.status_callback, public_base_url)
            ),
            timeout_seconds=begun.timeout_seconds,
            machine_detection=begun.machine_detection,
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
            "event=outbound_call_not_placed key=%s final=%s error=%s",
            outcome.key,
            final,
            mask_text(exc),
        )
        raise
    with transaction(session_factory) as session:
        outcome = record_placed(session, call_id, call_sid=sid, now=clock.now())
    log.info("event=outbound_call_placed key=%s call_sid=%s", outcome.key, sid)
    return outcome


def absolute_url(url: str, public_base_url: str | None) -> str:
    """``url`` as Twilio must get it: a path is put after the public base URL.

    Without a base URL (local mode, log-only dialer) the path stays as it is; production
    always has one (``Settings.startup_problems``), and Twilio would reject a path (21205).
    """
    if public_base_url is None or not url.startswith("/"):
        return url
    # Concatenated, not urljoin'ed: the base may carry a path prefix (https://host/hotline).
    return public_base_url.rstrip("/") + url


def place_requested_call(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    dialer: Dialer,
    public_base_url: str | None,
) -> None:
    """The worker's handler for ``WORK_KIND``: a refusal retries, a rejection stops for good."""
    try:
        place_call_once(
            int(item.payload["outbound_call_id"]),
            session_factory=session_factory,
            clock=clock,
            dialer=dialer,
            public_base_url=public_base_url,
        )
    except SendRejected as exc:
        raise PermanentFailure(str(exc)) from exc


def call_given_up(session: Session, work: GivenUp) -> None:
    """The placing work failed for good: the call must not stay "pending" or "placing"."""
    give_up(session, int(work.payload["outbound_call_id"]), error=work.error, now=work.now)


PLACE_CALL = JobSpec(WORK_KIND, place_requested_call, retry_delay, on_give_up=call_given_up)
