"""Intake's work handlers: send confirmations, settle calls that went quiet."""

from __future__ import annotations

import logging
from datetime import timedelta

from db.transaction import SessionFactory, transaction
from db.work import ClaimedWork, PermanentFailure
from intake.calls import calls_to_settle, settle_quiet_call
from intake.catalog import Catalog
from intake.confirmations import (
    OutgoingConfirmation,
    begin_attempt,
    record_failure,
    record_sent,
    restart_attempt,
)
from intake.ports import (
    CallbackScheduler,
    Clock,
    Mailer,
    Messenger,
    SendError,
    SendRejected,
    SendUncertain,
)

log = logging.getLogger("hotline.worker")

# Twilio stamps messages with its own clock: look a little before our attempt began.
RECONCILE_MARGIN = timedelta(minutes=2)


def send_confirmation(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    catalog: Catalog,
    messenger: Messenger,
    mailer: Mailer,
    public_base_url: str | None,
) -> None:
    """Send one confirmation at most once in effect; raises to retry, PermanentFailure to stop."""
    confirmation_id = int(item.payload["confirmation_id"])
    with transaction(session_factory) as session:
        out = begin_attempt(session, confirmation_id, catalog=catalog, now=clock.now())
    if out is None:
        return  # settled by an earlier attempt
    if out.unsettled_attempt_at is not None and out.channel == "sms":
        if _already_delivered_sms(out, messenger, session_factory, clock):
            return
        with transaction(session_factory) as session:
            restart_attempt(session, confirmation_id, now=clock.now())
    # E-mail has no provider to ask; a resend carries the same Message-ID, which mail systems
    # use to drop duplicates, so an uncertain e-mail is simply sent again.
    is_last = item.attempts >= item.max_attempts
    try:
        provider_id, status = _send(out, catalog, messenger, mailer, public_base_url)
    except SendRejected as exc:
        _note_failure(session_factory, confirmation_id, exc, final=True)
        log.warning(
            "event=confirmation_rejected sr=%s channel=%s error=%s", out.sr_number, out.channel, exc
        )
        raise PermanentFailure(str(exc)) from exc
    except SendUncertain as exc:
        _note_failure(session_factory, confirmation_id, exc, final=is_last, uncertain=True)
        log.warning(
            "event=confirmation_uncertain sr=%s channel=%s error=%s",
            out.sr_number,
            out.channel,
            exc,
        )
        raise
    except SendError as exc:
        _note_failure(session_factory, confirmation_id, exc, final=is_last)
        log.warning(
            "event=confirmation_failed sr=%s channel=%s error=%s", out.sr_number, out.channel, exc
        )
        raise
    with transaction(session_factory) as session:
        record_sent(
            session, confirmation_id, provider_id=provider_id, status=status, now=clock.now()
        )
    log.info(
        "event=confirmation_sent sr=%s channel=%s provider_id=%s",
        out.sr_number,
        out.channel,
        provider_id or "-",
    )


def _send(
    out: OutgoingConfirmation,
    catalog: Catalog,
    messenger: Messenger,
    mailer: Mailer,
    public_base_url: str | None,
) -> tuple[str | None, str]:
    if out.channel == "sms":
        region = catalog.region(out.region)
        callback = f"{public_base_url}/ivr/status/sms" if public_base_url else None
        sent = messenger.send_sms(
            to=out.address,
            from_=region.sms_from or region.numbers[0],
            body=out.body,
            status_callback=callback,
        )
        return sent.sid, sent.status
    mailer.send_mail(to=out.address, subject=out.subject, body=out.body, message_id=out.key)
    return None, "sent"


def _already_delivered_sms(
    out: OutgoingConfirmation,
    messenger: Messenger,
    session_factory: SessionFactory,
    clock: Clock,
) -> bool:
    """An earlier attempt's fate is unknown: ask Twilio before sending again."""
    assert out.unsettled_attempt_at is not None
    since = out.unsettled_attempt_at - RECONCILE_MARGIN
    matches = [
        m
        for m in messenger.messages_sent_to(to=out.address, since=since)
        if out.sr_number in m.body
    ]
    if not matches:
        log.info("event=confirmation_reconciled sr=%s found=no", out.sr_number)
        return False
    with transaction(session_factory) as session:
        record_sent(
            session, out.id, provider_id=matches[0].sid, status=matches[0].status, now=clock.now()
        )
    log.info("event=confirmation_reconciled sr=%s found=%s", out.sr_number, matches[0].sid)
    return True


def _note_failure(
    session_factory: SessionFactory,
    confirmation_id: int,
    exc: Exception,
    *,
    final: bool,
    uncertain: bool = False,
) -> None:
    with transaction(session_factory) as session:
        record_failure(session, confirmation_id, error=str(exc), final=final, uncertain=uncertain)


def settle_quiet_calls(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    catalog: Catalog,
    scheduler: CallbackScheduler,
) -> None:
    """Calls whose status callback never came: settle each into an SR and callback."""
    del item
    with transaction(session_factory) as session:
        call_sids = calls_to_settle(session, now=clock.now())
    for call_sid in call_sids:
        with transaction(session_factory) as session:
            sr_number = settle_quiet_call(
                session, call_sid, catalog=catalog, scheduler=scheduler, now=clock.now()
            )
        log.info("event=call_settled_by_sweep call_sid=%s sr=%s", call_sid, sr_number or "-")
