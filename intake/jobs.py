"""Intake's work: send confirmations, settle calls that went quiet, place requested calls.

``WORK`` declares all three; placing calls lives in ``intake.outbound_call_jobs``, apart from
the call flow this module imports.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from db.jobs import DomainWork, JobSpec, LocalSpec, PeriodicSpec
from db.spool import ReplayReport, Spool, SpooledRecord
from db.transaction import SessionFactory, transaction
from db.unit_of_work import read_then_write
from db.work import ClaimedWork, GivenUp, PermanentFailure, complete
from intake import confirmations
from intake.call_input import CallContext
from intake.catalog import Catalog
from intake.confirmations import (
    OutgoingConfirmation,
    begin_attempt,
    give_up,
    record_failure,
    record_sent,
    restart_attempt,
)
from intake.fallback import SpooledNumber, replay_spooled_number
from intake.log_masks import mask_address, mask_text
from intake.outbound_call_jobs import PLACE_CALL
from intake.ports import (
    CallbackScheduler,
    Clock,
    EscalationDesk,
    Mailer,
    Messenger,
    SendError,
    SendRejected,
    SendUncertain,
    SentMessage,
)
from intake.sweep import calls_to_settle, settle_quiet_call

log = logging.getLogger("hotline.worker")

# Twilio stamps messages with its own clock: look a little before our attempt began.
RECONCILE_MARGIN = timedelta(minutes=2)
SWEEP_KIND = "calls.settle_quiet"
# A call that went quiet is settled within this long of its ``settle_after``.
SWEEP_EVERY = timedelta(seconds=15)
# A number kept while the database was away becomes an SR within this long of its return.
SPOOL_EVERY = timedelta(seconds=5)


def send_confirmation(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    catalog: Catalog,
    messenger: Messenger,
    mailer: Mailer,
    public_base_url: str | None,
) -> bool:
    """Send one confirmation at most once in effect; raises to retry, PermanentFailure to stop.

    Returns True when the work row was completed with the outcome (see ``db.jobs.Job``).
    """
    confirmation_id = int(item.payload["confirmation_id"])
    with transaction(session_factory) as session:
        out = begin_attempt(session, confirmation_id, catalog=catalog, now=clock.now())
    if out is None:
        return False  # settled by an earlier attempt; the worker completes the row
    if out.unsettled_attempt_at is not None and out.channel == "sms":
        found = _delivered_sms(out, messenger)
        if found is not None:
            return _record_sent(item, out, found.sid, found.status, session_factory, clock)
        with transaction(session_factory) as session:
            restart_attempt(session, confirmation_id, now=clock.now())
    # E-mail has no provider to ask: an uncertain e-mail is sent again with the same Message-ID.
    # Some mail clients use it to fold the two into one; others do not, so a customer may
    # rarely see the confirmation twice.
    is_last = item.attempts >= item.max_attempts
    try:
        provider_id, status = _send(out, item, catalog, messenger, mailer, public_base_url)
    except SendRejected as exc:
        _note_failure(session_factory, confirmation_id, exc, final=True)
        log.warning(
            "event=confirmation_rejected sr=%s channel=%s error=%s",
            out.sr_number,
            out.channel,
            mask_text(exc),
        )
        raise PermanentFailure(str(exc)) from exc
    except SendUncertain as exc:
        # Stays uncertain even after the last attempt: the alert raised for the failed work
        # tells an operator to look, and the next attempt (if any) asks the provider first.
        _note_failure(session_factory, confirmation_id, exc, final=False, uncertain=True)
        log.warning(
            "event=confirmation_uncertain sr=%s channel=%s attempt=%s/%s error=%s",
            out.sr_number,
            out.channel,
            item.attempts,
            item.max_attempts,
            mask_text(exc),
        )
        raise
    except SendError as exc:
        _note_failure(session_factory, confirmation_id, exc, final=is_last)
        log.warning(
            "event=confirmation_failed sr=%s channel=%s attempt=%s/%s error=%s",
            out.sr_number,
            out.channel,
            item.attempts,
            item.max_attempts,
            mask_text(exc),
        )
        raise
    completed = _record_sent(item, out, provider_id, status, session_factory, clock)
    log.info(
        "event=confirmation_sent sr=%s channel=%s to=%s provider_id=%s attempt=%s",
        out.sr_number,
        out.channel,
        mask_address(out.address),
        provider_id or "-",
        item.attempts,
    )
    return completed


def _record_sent(
    item: ClaimedWork,
    out: OutgoingConfirmation,
    provider_id: str | None,
    status: str,
    session_factory: SessionFactory,
    clock: Clock,
) -> bool:
    # The provider's id and the work row's end in one transaction: a crash leaves neither.
    with transaction(session_factory) as session:
        now = clock.now()
        record_sent(session, out.id, provider_id=provider_id, status=status, now=now)
        return complete(session, item_id=item.id, worker_id=item.claimed_by, now=now)


def confirmation_given_up(session: Session, work: GivenUp) -> None:
    """The send's work row failed for good: the confirmation must not stay "sending"."""
    give_up(session, int(work.payload["confirmation_id"]), error=work.error)


def status_callback_url(public_base_url: str, *, confirmation_id: int, attempt: int) -> str:
    """Where Twilio reports this attempt's delivery; the query names the attempt."""
    query = urlencode({"confirmation": confirmation_id, "attempt": attempt})
    return f"{public_base_url}/ivr/status/sms?{query}"


def _send(
    out: OutgoingConfirmation,
    item: ClaimedWork,
    catalog: Catalog,
    messenger: Messenger,
    mailer: Mailer,
    public_base_url: str | None,
) -> tuple[str | None, str]:
    if out.channel == "sms":
        region = catalog.region(out.region)
        callback = (
            status_callback_url(public_base_url, confirmation_id=out.id, attempt=item.attempts)
            if public_base_url
            else None
        )
        sent = messenger.send_sms(
            to=out.address,
            from_=region.sms_from or region.numbers[0],
            body=out.body,
            status_callback=callback,
        )
        return sent.sid, sent.status
    mailer.send_mail(to=out.address, subject=out.subject, body=out.body, message_id=out.key)
    return None, "sent"


def _delivered_sms(out: OutgoingConfirmation, messenger: Messenger) -> SentMessage | None:
    """An earlier attempt's fate is unknown: ask Twilio whether it went out before resending."""
    assert out.unsettled_attempt_at is not None
    since = out.unsettled_attempt_at - RECONCILE_MARGIN
    matches = [
        m
        for m in messenger.messages_sent_to(to=out.address, since=since)
        if mentions_sr_number(m, out.sr_number)
    ]
    if not matches:
        log.info("event=confirmation_reconciled sr=%s found=no action=send", out.sr_number)
        return None
    # Oldest first: if two ever went out, the status callbacks of the first one count.
    found = min(matches, key=lambda m: (m.created_at is None, m.created_at, m.sid))
    log.info("event=confirmation_reconciled sr=%s found=%s action=none", out.sr_number, found.sid)
    return found


def mentions_sr_number(message: SentMessage, sr_number: str) -> bool:
    """Whether the SMS body names ``sr_number`` as a whole number, not inside a longer one."""
    return re.search(rf"(?<!\d){re.escape(sr_number)}(?!\d)", message.body) is not None


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
    escalations: EscalationDesk,
) -> None:
    """Calls whose status callback never came: settle each into an SR and callback (and an
    escalation, for a caller who escalated)."""
    del item
    with transaction(session_factory) as session:
        call_sids = calls_to_settle(session, now=clock.now())
    for call_sid in call_sids:
        with transaction(session_factory) as session:
            sr_number = settle_quiet_call(
                session,
                call_sid,
                catalog=catalog,
                scheduler=scheduler,
                escalations=escalations,
                now=clock.now(),
            )
        log.info("event=call_settled_by_sweep call_sid=%s sr=%s", call_sid, sr_number or "-")


def replay_spooled_numbers(
    *,
    session_factory: SessionFactory,
    catalog: Catalog,
    scheduler: CallbackScheduler,
    escalations: EscalationDesk,
    spool: Spool,
) -> ReplayReport:
    """Numbers this host kept while the database was away: each becomes its call's SR, once."""

    def apply(record: SpooledRecord) -> None:
        try:
            spooled = SpooledNumber.from_record(record.values)
        except (KeyError, TypeError, ValueError) as exc:
            # Can never become an SR, and must not hold up the records after it: left to the
            # operator, who finds everything it holds in this line.
            log.error(
                "event=spooled_number_unreadable key=%s values=%s error=%s",
                record.key,
                record.values,
                f"{type(exc).__name__}: {exc}",
            )
            return
        context = CallContext(
            catalog=catalog,
            scheduler=scheduler,
            escalations=escalations,
            now=spooled.received_at,
        )
        outcome = read_then_write(
            session_factory,
            lambda reading: replay_spooled_number(reading, spooled, context=context),
        )
        log.info(
            "event=spooled_number_replayed call_sid=%s sr=%s",
            spooled.caller.call_sid,
            outcome.sr_number or "-",
        )

    report = spool.replay(apply)
    if report.replayed or report.failed:
        log.info(
            "event=spool_replayed replayed=%s failed=%s files_left=%s",
            report.replayed,
            report.failed,
            report.pending_files,
        )
    return report


def sweep_retry_delay(_attempt: int) -> timedelta:
    """A sweep is never retried (one attempt); the next period's sweep takes its place."""
    return SWEEP_EVERY


WORK = DomainWork(
    "intake",
    jobs=(
        JobSpec(
            confirmations.WORK_KIND,
            send_confirmation,
            confirmations.retry_delay,
            on_give_up=confirmation_given_up,
        ),
        JobSpec(SWEEP_KIND, settle_quiet_calls, sweep_retry_delay, routine=True),
        PLACE_CALL,
    ),
    # Claimed after confirmations (priority 10), before work of the default priority (100).
    periodic=(PeriodicSpec(SWEEP_KIND, every=SWEEP_EVERY, priority=50, max_attempts=1),),
    # Every worker replays its own host's spool: the numbers are in files on that host only.
    local=(LocalSpec("fallback.replay_spool", replay_spooled_numbers, every=SPOOL_EVERY),),
)
