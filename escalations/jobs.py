"""The escalations' work for the worker: e-mail notices to staff."""

from __future__ import annotations

import logging
from datetime import timedelta

from db.jobs import DomainWork, JobSpec
from db.transaction import SessionFactory, read_transaction
from db.work import ClaimedWork, PermanentFailure
from escalations.notices import NOTICE_KIND, notice_for
from intake.catalog import Catalog
from intake.log_masks import mask_email
from intake.ports import Mailer, SendRejected

log = logging.getLogger("hotline.worker")


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


def _retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempt - 1), 600))


WORK = DomainWork(
    "escalations",
    jobs=(JobSpec(NOTICE_KIND, send_notice, _retry_delay),),
)
