"""The callback queue's work: watch the promises, and send the notices that follow, once each.

``callbacks.watch`` runs every 15 s (one row per period, whichever worker inserts it): it returns
claims nobody worked to the queue, records broken promises, warns of callbacks still unclaimed
near their due time and releases callbacks whose agent's call was lost, each step in its own
short transaction. The notices it queues, and the customer's notice when a callback closes
unreachable, are sent with no transaction open; the outcome is recorded on the callback's
history together with the work row's end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from callbacks.calls import settle_lost_calls
from callbacks.claims import expire_claims
from callbacks.notices import (
    CUSTOMER_NOTICE_KIND,
    MANAGER_NOTICE_KIND,
    Notice,
    NoWayToTell,
    OutgoingNotice,
    manager_notice,
    record_not_told,
    record_notice_sent,
    retry_delay,
    unreachable_notice,
)
from callbacks.promise_watch import BATCH, record_breaches, warn_unclaimed_callbacks
from db.jobs import DomainWork, JobSpec, PeriodicSpec
from db.transaction import SessionFactory, transaction
from db.work import ClaimedWork, GivenUp, PermanentFailure, complete
from intake.catalog import Catalog
from intake.log_masks import mask_address, mask_text
from intake.notice_sending import Outgoing, send_once
from intake.ports import (
    Clock,
    Mailer,
    Messenger,
    SendError,
    SendRejected,
    SendUncertain,
)

log = logging.getLogger("hotline.worker")

WATCH_KIND = "callbacks.watch"
# A warning or a breach is noticed within this long; claims expire at most this late.
WATCH_EVERY = timedelta(seconds=15)


def watch_promises(
    item: ClaimedWork, *, session_factory: SessionFactory, clock: Clock, catalog: Catalog
) -> None:
    """Expire unworked claims, record broken promises, warn of callbacks at risk, and return
    callbacks whose agent's call was lost to the queue."""
    del item
    with transaction(session_factory) as session:
        expired = expire_claims(session, now=clock.now())
    breached = _in_batches(
        session_factory, clock, lambda s, now: record_breaches(s, now=now, catalog=catalog)
    )
    warned = _in_batches(
        session_factory, clock, lambda s, now: warn_unclaimed_callbacks(s, now=now, catalog=catalog)
    )
    # Agent calls that were never placed, or may not have been: back to the queue.
    with transaction(session_factory) as session:
        lost = settle_lost_calls(session, now=clock.now())
    if expired or breached or warned or lost:
        log.info(
            "event=callback_promises_watched expired=%s breached=%s warned=%s lost_calls=%s",
            len(expired),
            len(breached),
            len(warned),
            len(lost),
        )


def _in_batches(
    session_factory: SessionFactory,
    clock: Clock,
    step: Callable[[Session, datetime], list[int]],
) -> list[int]:
    done: list[int] = []
    while True:
        with transaction(session_factory) as session:
            taken = step(session, clock.now())
        done.extend(taken)
        if len(taken) < BATCH:
            return done


def send_manager_notice(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    catalog: Catalog,
    messenger: Messenger,
    mailer: Mailer,
) -> bool:
    """Tell one manager, on one channel, of a callback at risk or a broken promise."""
    with transaction(session_factory) as session:
        notice = manager_notice(session, item.payload, catalog=catalog)
    if notice is None:
        log.info("event=callback_notice_skipped key=%s reason=no_longer_applies", item.key)
        return False
    return _deliver(item, notice, session_factory, clock, messenger, mailer)


def send_unreachable_notice(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    catalog: Catalog,
    messenger: Messenger,
    mailer: Mailer,
) -> bool:
    """Tell a customer every call failed, with the SR number and the region's number; when
    there is no way to, say why on the callback and raise an alert."""
    callback_id = int(item.payload["callback_id"])
    with transaction(session_factory) as session:
        notice = unreachable_notice(session, callback_id, catalog=catalog)
    if notice is None:
        return False
    if isinstance(notice, NoWayToTell):
        log.warning(
            "event=callback_notice_impossible callback=%s notice=unreachable reason=%r",
            callback_id,
            notice.reason,
        )
        with transaction(session_factory) as session:
            now = clock.now()
            record_not_told(
                session, callback_id, notice=Notice.UNREACHABLE, reason=notice.reason, now=now
            )
            return complete(session, item_id=item.id, worker_id=item.claimed_by, now=now)
    return _deliver(item, notice, session_factory, clock, messenger, mailer)


def _deliver(
    item: ClaimedWork,
    notice: OutgoingNotice,
    session_factory: SessionFactory,
    clock: Clock,
    messenger: Messenger,
    mailer: Mailer,
) -> bool:
    """Send once in effect (``intake.notice_sending``), and record it on the callback."""
    try:
        provider_id = send_once(
            Outgoing(
                channel=notice.channel,
                address=notice.address,
                sms_from=notice.sms_from,
                subject=notice.subject,
                body=notice.body,
                sent_since=notice.sent_since,
                message_id=item.key,
            ),
            attempt=item.attempts,
            messenger=messenger,
            mailer=mailer,
        )
    except SendError as exc:
        outcome = (
            "rejected"
            if isinstance(exc, SendRejected)
            else "uncertain"
            if isinstance(exc, SendUncertain)
            else "failed"
        )
        log.warning(
            "event=callback_notice_%s notice=%s sr=%s channel=%s to=%s attempt=%s/%s error=%s",
            outcome,
            notice.notice.value,
            notice.sr_number,
            notice.channel,
            mask_address(notice.address),
            item.attempts,
            item.max_attempts,
            mask_text(exc),
        )
        if isinstance(exc, SendRejected):
            raise PermanentFailure(str(exc)) from exc
        raise
    completed = _record_sent(item, notice, provider_id, session_factory, clock)
    log.info(
        "event=callback_notice_sent notice=%s sr=%s to=%s channel=%s provider_id=%s attempt=%s",
        notice.notice.value,
        notice.sr_number,
        mask_address(notice.address),
        notice.channel,
        provider_id or "-",
        item.attempts,
    )
    return completed


def _record_sent(
    item: ClaimedWork,
    notice: OutgoingNotice,
    provider_id: str | None,
    session_factory: SessionFactory,
    clock: Clock,
) -> bool:
    # The note and the work row's end in one transaction: a crash leaves neither.
    with transaction(session_factory) as session:
        now = clock.now()
        record_notice_sent(session, notice, provider_id=provider_id, now=now)
        return complete(session, item_id=item.id, worker_id=item.claimed_by, now=now)


def notice_given_up(session: Session, work: GivenUp) -> None:
    """A notice's work failed for good: the callback's history says who was not told, and why
    (the failed work already raised an alert)."""
    payload = work.payload
    notice = Notice(payload.get("notice", Notice.UNREACHABLE.value))
    who = (
        f"user {payload['user_id']} by {payload['channel']}" if "user_id" in payload else "customer"
    )
    record_not_told(
        session,
        int(payload["callback_id"]),
        notice=notice,
        reason=f"{who} not told: {mask_text(work.error)}",
        now=work.now,
        alert=False,
    )


def watch_retry_delay(_attempt: int) -> timedelta:
    """A watch is never retried (one attempt); the next period's watch takes its place."""
    return WATCH_EVERY


WORK = DomainWork(
    "callbacks",
    jobs=(
        JobSpec(WATCH_KIND, watch_promises, watch_retry_delay, routine=True),
        JobSpec(MANAGER_NOTICE_KIND, send_manager_notice, retry_delay, on_give_up=notice_given_up),
        JobSpec(
            CUSTOMER_NOTICE_KIND, send_unreachable_notice, retry_delay, on_give_up=notice_given_up
        ),
    ),
    # Claimed after confirmations (10) and notices (20), with intake's sweep (50).
    periodic=(PeriodicSpec(WATCH_KIND, every=WATCH_EVERY, priority=50, max_attempts=1),),
)
