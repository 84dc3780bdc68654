"""Hourly limits on confirmation SMS, per number and in all, counted when one is queued.

A toll-free line that texts any number a caller leaves is an SMS pumping route (fraudsters
earn a share of what each text to their numbers costs); the limits bound what one number, or a
flood of calls, can cost. Config: ``[sms]`` in hotline.toml (``intake.catalog.SmsLimits``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import table_of
from db.work import Alert, raise_alert
from intake.catalog import SmsLimits
from intake.models import Confirmation

# The alert kind raised (once an hour) when the overall SMS limit holds confirmations back.
SMS_LIMIT_ALERT = "sms_hourly_limit"
_HOUR = timedelta(hours=1)


def is_over_sms_limits(
    session: Session, *, key: str, address: str, limits: SmsLimits, now: datetime
) -> bool:
    """Whether an SMS to ``address`` now would go over the hourly limits (per number, in all).

    Counted here, when the promise is made, not when the worker sends: a held-back SMS is then
    never a row the worker claims, retries or reports as failed, the SR says at once why it has
    no written confirmation, and the e-mail still goes. Every SMS queued in the last hour
    counts, whatever became of it: each one was a send we paid for or tried to. Two calls
    settling at the same instant on PostgreSQL may both pass the last free place; the limits
    bound a fraud's cost, and one SMS more is within that.
    """
    connection = session.connection()
    c = table_of(Confirmation).c
    if connection.execute(select(c.id).where(c.key == key)).first() is not None:
        return False  # queued before: submitting the message again sends nothing new
    since = now - _HOUR
    recent = (c.channel == "sms") & (c.created_at >= since)
    to_address = select(func.count()).where(recent & (c.address == address))
    if connection.execute(to_address).scalar_one() >= limits.per_destination_per_hour:
        return True
    in_all = select(func.count()).where(recent)
    if connection.execute(in_all).scalar_one() < limits.per_hour:
        return False
    a = table_of(Alert).c
    alerted = select(a.id).where((a.kind == SMS_LIMIT_ALERT) & (a.created_at >= since)).limit(1)
    # Through the session, which flushes an alert raised earlier in this transaction first.
    if session.execute(alerted).first() is None:
        raise_alert(
            session,
            kind=SMS_LIMIT_ALERT,
            subject="confirmation SMS",
            message=(
                f"{limits.per_hour} confirmation SMS were queued in the last hour, the limit"
                " ([sms] per_hour in hotline.toml): further confirmations go by e-mail only"
                " until the hour has passed. Many calls leaving mobiles at once may be SMS"
                " pumping fraud."
            ),
            now=now,
        )
    return True
