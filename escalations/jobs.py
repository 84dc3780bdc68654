"""The escalations' work for the worker: notices to staff and customers, promised updates,
daily reports, backing up the duty managers' ring chain and watching the rosters."""

from __future__ import annotations

import logging
from datetime import timedelta

from db.jobs import DomainWork, JobSpec, PeriodicSpec
from db.transaction import SessionFactory, read_transaction, transaction
from db.work import ClaimedWork, PermanentFailure, complete
from escalations.notices import NOTICE_KIND, notice_for
from escalations.reports import daily_report
from escalations.ring_notices import (
    RING_NOTICE_KIND,
    NoWayToTell,
    record_not_told,
    record_told,
    ring_notice,
)
from escalations.ringing import settle_stalled_rings
from escalations.roster_watch import RosterCover, note_gaps
from escalations.watch import REPORT_KIND, watch_escalations
from intake.catalog import Catalog
from intake.log_masks import mask_address, mask_email
from intake.notice_sending import send_once
from intake.ports import Clock, Mailer, Messenger, SendRejected
from intake.staff import staff_by_ids

log = logging.getLogger("hotline.worker")

WATCH_KIND = "escalations.watch"
WATCH_EVERY = timedelta(minutes=1)

ROSTER_GAPS_KIND = "escalations.roster_gaps"
# A gap in a roster is in the log within this long of its start.
ROSTER_GAPS_EVERY = timedelta(minutes=1)


def send_notice(
    item: ClaimedWork, *, session_factory: SessionFactory, catalog: Catalog, mailer: Mailer
) -> None:
    """Send one staff notice; a refused address stops, anything else is retried."""
    with read_transaction(session_factory) as session:
        notice = notice_for(session, item.payload, key=item.key, catalog=catalog)
    if notice is None:
        log.warning("event=escalation_notice_skipped key=%s reason=no_address", item.key)
        return
    try:
        mailer.send_mail(
            to=notice.to, subject=notice.subject, body=notice.body, message_id=notice.message_id
        )
    except SendRejected as exc:
        raise PermanentFailure(str(exc)) from exc
    log.info("event=escalation_notice_sent key=%s to=%s", item.key, mask_email(notice.to))


def watch(
    item: ClaimedWork, *, session_factory: SessionFactory, clock: Clock, catalog: Catalog
) -> None:
    """Remind of promised updates, flag missed ones, queue the daily reports due by now, and
    move on ring chains whose latest call was never placed or never reported on."""
    del item
    # The rings first, people wait on them; and a failure of either never stops the other.
    try:
        with transaction(session_factory) as session:
            moved = settle_stalled_rings(session, now=clock.now(), catalog=catalog)
    finally:
        with transaction(session_factory) as session:
            seen = watch_escalations(session, now=clock.now(), catalog=catalog)
    if moved:
        log.warning("event=escalation_rings_stalled escalations=%s", moved)
    if seen.reminded or seen.missed or seen.reports:
        log.info(
            "event=escalations_watched reminded=%s missed=%s reports=%s",
            seen.reminded,
            seen.missed,
            seen.reports,
        )


def send_ring_notice(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    catalog: Catalog,
    messenger: Messenger,
    mailer: Mailer,
) -> bool:
    """Tell the customer who accepted their escalation, or a roster member that nobody did;
    noted on the escalation's history together with the work row's end."""
    with read_transaction(session_factory) as session:
        notice = ring_notice(session, item.payload, key=item.key, catalog=catalog)
    if notice is None:
        log.info("event=escalation_notice_skipped key=%s reason=no_longer_applies", item.key)
        return False
    if isinstance(notice, NoWayToTell):
        log.warning("event=escalation_notice_impossible key=%s reason=%r", item.key, notice.reason)
        with transaction(session_factory) as session:
            now = clock.now()
            record_not_told(session, notice, what=str(item.payload["what"]), now=now)
            return complete(session, item_id=item.id, worker_id=item.claimed_by, now=now)
    try:
        provider_id = send_once(
            notice.outgoing, attempt=item.attempts, messenger=messenger, mailer=mailer
        )
    except SendRejected as exc:
        raise PermanentFailure(str(exc)) from exc
    with transaction(session_factory) as session:
        now = clock.now()
        record_told(session, notice, provider_id=provider_id, now=now)
        completed = complete(session, item_id=item.id, worker_id=item.claimed_by, now=now)
    log.info(
        "event=escalation_notice_sent key=%s to=%s channel=%s provider_id=%s",
        item.key,
        mask_address(notice.outgoing.address),
        notice.outgoing.channel,
        provider_id or "-",
    )
    return completed


def send_daily_report(
    item: ClaimedWork,
    *,
    session_factory: SessionFactory,
    clock: Clock,
    catalog: Catalog,
    mailer: Mailer,
) -> None:
    """E-mail one manager the region's report of the day (the row's key is its Message-ID)."""
    payload = item.payload
    with read_transaction(session_factory) as session:
        user_id = int(payload["user_id"])
        manager = staff_by_ids(session, {user_id}).get(user_id)
        report = daily_report(
            session,
            region=str(payload["region"]),
            day=str(payload["date"]),
            now=clock.now(),
            catalog=catalog,
        )
    if manager is None or not manager.email:
        log.warning("event=daily_report_skipped key=%s reason=no_address", item.key)
        return
    try:
        mailer.send_mail(
            to=manager.email,
            subject=report.subject,
            body=report.body,
            message_id=f"<{item.key}@hotline>",
        )
    except SendRejected as exc:
        raise PermanentFailure(str(exc)) from exc
    log.info("event=daily_report_sent key=%s to=%s", item.key, mask_email(manager.email))


def check_roster_gaps(
    item: ClaimedWork, *, session_factory: SessionFactory, clock: Clock, catalog: Catalog
) -> None:
    """Warn once of each roster gap that opened since the last check; note those closed."""
    del item
    with transaction(session_factory) as session:
        report = note_gaps(session, catalog=catalog, now=clock.now())
    for cover in report.opened:
        log.warning(
            "event=roster_gap region=%s kind=%s gap=%s fallback=%s",
            cover.region,
            cover.kind.value,
            _gap_text(cover),
            _fallback_name(cover),
        )
    for cover in report.closed:
        log.info("event=roster_gap_closed region=%s kind=%s", cover.region, cover.kind.value)


def _gap_text(cover: RosterCover) -> str:
    if cover.plan is None:
        return "no_roster"
    if cover.gap is None:
        return "now"
    return f'"{cover.gap.describe()}"'


def _fallback_name(cover: RosterCover) -> str:
    if cover.plan is None or cover.plan.fallback is None:
        return "none"
    return cover.plan.fallback.name


def _check_retry_delay(_attempt: int) -> timedelta:
    """Never retried (one attempt): the next period's check takes its place."""
    return ROSTER_GAPS_EVERY


def _retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempt - 1), 600))


WORK = DomainWork(
    "escalations",
    jobs=(
        JobSpec(NOTICE_KIND, send_notice, _retry_delay),
        JobSpec(RING_NOTICE_KIND, send_ring_notice, _retry_delay),
        JobSpec(REPORT_KIND, send_daily_report, _retry_delay),
        JobSpec(WATCH_KIND, watch, _retry_delay, routine=True),
        JobSpec(ROSTER_GAPS_KIND, check_roster_gaps, _check_retry_delay, routine=True),
    ),
    periodic=(
        PeriodicSpec(WATCH_KIND, every=WATCH_EVERY, priority=60, max_attempts=1),
        PeriodicSpec(ROSTER_GAPS_KIND, every=ROSTER_GAPS_EVERY, max_attempts=1),
    ),
)
