"""Hourly limits on confirmation SMS, per number and in all, counted when one is queued.

A toll-free line that texts any number a caller leaves is an SMS pumping route (fraudsters
earn a share of what each text to their numbers costs); the limits bound what one number, or a
flood of calls, can cost. Config: ``[sms]`` in hotline.toml (``intake.catalog.SmsLimits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select
from sqlalchemy.orm import Session

from db.base import table_of
from db.work import Alert, raise_alert
from intake.catalog import SmsLimits
from intake.models import Confirmation

# The alert kind raised (once an hour) when the overall SMS limit holds confirmations back.
SMS_LIMIT_ALERT = "sms_hourly_limit"
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RecentSms:
    """The SMS queued in the hour before ``now``: to one number, and in all."""

    to_address: int
    in_all: int


def recent_sms(reader: Connection, *, address: str, now: datetime) -> RecentSms:
    """The SMS queued in the last hour, to ``address`` and in all, whatever became of them."""
    statements = _statements()
    since = {"since": now - _HOUR}
    to_address = reader.execute(statements.to_address, {**since, "address": address})
    in_all = reader.execute(statements.in_all, since)
    return RecentSms(to_address=to_address.scalar_one(), in_all=in_all.scalar_one())


def is_over_sms_limits(
    session: Session,
    *,
    key: str,
    address: str,
    limits: SmsLimits,
    now: datetime,
    recent: RecentSms | None = None,
) -> bool:
    """Whether an SMS to ``address`` now would go over the hourly limits (per number, in all).

    Counted here, when the promise is made, not when the worker sends: a held-back SMS is then
    never a row the worker claims, retries or reports as failed, the SR says at once why it has
    no written confirmation, and the e-mail still goes. Every SMS queued in the last hour
    counts, whatever became of it: each one was a send we paid for or tried to.

    ``recent`` is the count read before the write transaction (a webhook turn reads it
    without holding SQLite's writer lock), else it is counted now. Either way two calls
    settling at the same moment may both pass the last free place (on PostgreSQL, whose
    writers do not queue, even when counted now): the limits bound a fraud's cost, and one SMS
    more per call settling at that moment is within that.
    """
    connection = session.connection()
    statements = _statements()
    if connection.execute(statements.queued, {"key": key}).first() is not None:
        return False  # queued before: submitting the message again sends nothing new
    if recent is None:
        recent = recent_sms(connection, address=address, now=now)
    if recent.to_address >= limits.per_destination_per_hour:
        return True
    if recent.in_all < limits.per_hour:
        return False
    a = table_of(Alert).c
    since = now - _HOUR
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


@dataclass(frozen=True)
class _Statements:
    queued: Select[Any]  # key
    to_address: Select[Any]  # since, address
    in_all: Select[Any]  # since


@cache
def _statements() -> _Statements:
    """Built once: they run whenever a call is settled."""
    c = table_of(Confirmation).c
    recent = (c.channel == "sms") & (c.created_at >= bindparam("since", type_=c.created_at.type))
    return _Statements(
        queued=select(c.id).where(c.key == bindparam("key")),
        to_address=select(func.count()).where(recent & (c.address == bindparam("address"))),
        in_all=select(func.count()).where(recent),
    )
