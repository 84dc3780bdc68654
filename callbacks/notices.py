"""What the callback queue tells people, and whom: the region's managers before a promise breaks
and when it has broken, the customer once every call to them failed.

Each notice is a work row with a unique key, enqueued in the transaction that decided it (the
watch that set ``warned_at`` or ``breached_at``, the move that closed a callback unreachable);
the worker sends it with no transaction open and records the outcome as a callback event. Texts
are rendered from stored values only (the promise, the instant of the warning), so every attempt
renders the same body and an SMS whose fate is unknown can be recognised among those sent.
Managers are told what they need to act, never the caller's name, number or problem.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callbacks import store
from callbacks.models import Callback, CallbackStatus
from db.work import enqueue, raise_alert
from intake.catalog import Catalog, Region
from intake.models import Message, Role, ServiceRequest
from intake.number_policy import can_text
from intake.phone_numbers import written_number
from intake.staff import region_staff, staff_by_ids

MANAGER_NOTICE_KIND = "callbacks.notify_manager"
CUSTOMER_NOTICE_KIND = "callbacks.notify_unreachable"
# After confirmations (10), before the sweeps (50): a warning is worth nothing once late.
NOTICE_PRIORITY = 20
RETRY_DELAYS = (
    timedelta(seconds=15),
    timedelta(seconds=45),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# The alert raised when a notice has nobody to go to, or cannot go out.
UNSENT_ALERT = "callback_notice_unsent"
# Stable wording: staff and reports may match on it.
NO_CUSTOMER_CHANNEL = "customer not told: no mobile number to text and no e-mail address on file"
SYSTEM = "system"


class Notice(enum.StrEnum):
    """What a notice is about."""

    WARNING = "warning"  # still unclaimed shortly before the due time
    BREACH = "breach"  # due, and no call to the customer started
    UNREACHABLE = "unreachable"  # every call failed: the customer is told how to reach us


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1-based)."""
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]


def manager_notice_key(
    callback_id: int, *, notice: Notice, due_at: datetime, user_id: int, channel: str
) -> str:
    """One row per callback, promise, manager and channel.

    The promise (its due time) is part of the key: a time the customer asked for is a new
    promise, warned of and breached like the first.
    """
    return f"callback.{notice.value}:{callback_id}:{int(due_at.timestamp())}:{user_id}:{channel}"


def unreachable_notice_key(callback_id: int) -> str:
    """A callback closes unreachable once (it is final), so it is told once."""
    return f"callback.{Notice.UNREACHABLE.value}:{callback_id}"


def enqueue_manager_notices(
    session: Session, callback: Callback, *, notice: Notice, catalog: Catalog, now: datetime
) -> int:
    """Queue ``notice`` of ``callback`` for each manager of its region: an e-mail to each with an
    address, an SMS to each whose phone is a mobile the region may text. Returns how many.

    Nobody to tell raises an alert instead: a broken promise must reach someone.
    """
    region = catalog.region(callback.region)
    policy = catalog.number_policy(region)
    queued = 0
    for manager in region_staff(session, region=callback.region, role=Role.MANAGER):
        channels = []
        if manager.email:
            channels.append("email")
        if can_text(manager.phone, policy):
            channels.append("sms")
        for channel in channels:
            enqueue(
                session,
                kind=MANAGER_NOTICE_KIND,
                key=manager_notice_key(
                    callback.id,
                    notice=notice,
                    due_at=callback.due_at,
                    user_id=manager.id,
                    channel=channel,
                ),
                payload={
                    "callback_id": callback.id,
                    "user_id": manager.id,
                    "channel": channel,
                    "notice": notice.value,
                    "due_at": callback.due_at.isoformat(),
                    "at": now.isoformat(),
                },
                due_at=now,
                now=now,
                priority=NOTICE_PRIORITY,
                max_attempts=MAX_ATTEMPTS,
            )
            queued += 1
    if not queued:
        raise_alert(
            session,
            kind=UNSENT_ALERT,
            subject=f"callback {callback.id}",
            message=(
                f"{notice.value} of SR {callback.sr_number}: region {callback.region} has no"
                " active manager with an e-mail address or a mobile number to text"
            ),
            now=now,
        )
    return queued


def enqueue_unreachable_notice(session: Session, callback_id: int, *, now: datetime) -> None:
    """Queue the customer's notice that every call failed (in the closing transaction)."""
    enqueue(
        session,
        kind=CUSTOMER_NOTICE_KIND,
        key=unreachable_notice_key(callback_id),
        payload={"callback_id": callback_id},
        due_at=now,
        now=now,
        priority=NOTICE_PRIORITY,
        max_attempts=MAX_ATTEMPTS,
    )


@dataclass(frozen=True)
class OutgoingNotice:
    """One notice ready to send, and the earliest instant any attempt at it could have gone."""

    callback_id: int
    notice: Notice
    sr_number: str
    channel: str  # "sms" or "email"
    address: str
    sms_from: str
    subject: str
    body: str
    sent_since: datetime
    # Who is told, for the event and the log: a manager's name, or "customer".
    recipient: str


@dataclass(frozen=True)
class NoWayToTell:
    """The customer cannot be told; why."""

    reason: str


def manager_notice(
    session: Session, payload: dict[str, Any], *, catalog: Catalog
) -> OutgoingNotice | None:
    """The notice a manager's work row stands for; None when it no longer applies (a warning
    for a callback claimed since, a promise replaced, a manager gone or without that address)."""
    callback = session.get(Callback, int(payload["callback_id"]))
    if callback is None:
        return None
    notice = Notice(payload["notice"])
    due_at = datetime.fromisoformat(payload["due_at"])
    at = datetime.fromisoformat(payload["at"])
    if callback.due_at != due_at:
        return None
    if notice is Notice.WARNING and callback.status != CallbackStatus.QUEUED:
        return None
    user_id = int(payload["user_id"])
    manager = staff_by_ids(session, {user_id}).get(user_id)
    if manager is None or not manager.is_active:
        return None
    region = catalog.region(callback.region)
    channel = str(payload["channel"])
    address = manager.email if channel == "email" else manager.phone
    if not address or (channel == "sms" and not can_text(address, catalog.number_policy(region))):
        return None
    company = session.scalar(select(Message.company).where(Message.id == callback.message_id))
    prompts = catalog.prompts_for(region.language)
    late = at - due_at if notice is Notice.BREACH else due_at - at
    values = {
        "sr_number": callback.sr_number,
        "company": company or prompts.text("callback_company_unknown"),
        "region": region.name,
        "due": _local(due_at, region, prompts.texts["datetime_format"]),
        "minutes": str(max(round(late.total_seconds() / 60), 0)),
    }
    subject, body = _texts(catalog, region.language, f"callback_{notice.value}", channel, values)
    return OutgoingNotice(
        callback_id=callback.id,
        notice=notice,
        sr_number=callback.sr_number,
        channel=channel,
        address=address,
        sms_from=region.sms_from or region.numbers[0],
        subject=subject,
        body=body,
        sent_since=at,
        recipient=manager.name,
    )


def unreachable_notice(
    session: Session, callback_id: int, *, catalog: Catalog
) -> OutgoingNotice | NoWayToTell | None:
    """The customer's notice: an SMS to the callback number when it is a mobile the region may
    text, else an e-mail to the SR's address; ``NoWayToTell`` when neither; None when the
    callback is gone."""
    callback = session.get(Callback, callback_id)
    if callback is None:
        return None
    region = catalog.region(callback.region)
    if can_text(callback.callback_number, catalog.number_policy(region)):
        channel, address = "sms", callback.callback_number
    else:
        email = session.scalar(
            select(ServiceRequest.email).where(ServiceRequest.number == callback.sr_number)
        )
        if not email:
            return NoWayToTell(NO_CUSTOMER_CHANNEL)
        channel, address = "email", email
    values = {"sr_number": callback.sr_number, "number": written_number(region.numbers[0])}
    subject, body = _texts(catalog, callback.language, "callback_unreachable", channel, values)
    return OutgoingNotice(
        callback_id=callback.id,
        notice=Notice.UNREACHABLE,
        sr_number=callback.sr_number,
        channel=channel,
        address=address,
        sms_from=region.sms_from or region.numbers[0],
        subject=subject,
        body=body,
        sent_since=callback.closed_at or callback.updated_at or callback.created_at,
        recipient="customer",
    )


def record_notice_sent(
    session: Session, notice: OutgoingNotice, *, provider_id: str | None, now: datetime
) -> None:
    """Note on the callback's history who was told, how, and the provider's id."""
    callback = session.get(Callback, notice.callback_id)
    if callback is None:
        return
    sent = f" ({provider_id})" if provider_id else ""
    store.add_note(
        session,
        callback,
        action="notify",
        actor=SYSTEM,
        now=now,
        reason=f"{notice.notice.value} to {notice.recipient} by {notice.channel}{sent}",
    )


def record_not_told(
    session: Session,
    callback_id: int,
    *,
    notice: Notice,
    reason: str,
    now: datetime,
    alert: bool = True,
) -> None:
    """Note on the callback's history, and as an alert, that a notice could not go out."""
    callback = session.get(Callback, callback_id)
    if callback is None:
        return
    store.add_note(
        session,
        callback,
        action="not_notified",
        actor=SYSTEM,
        now=now,
        reason=f"{notice.value}: {reason}",
    )
    if not alert:
        return
    raise_alert(
        session,
        kind=UNSENT_ALERT,
        subject=f"callback {callback_id}",
        message=f"{notice.value} of SR {callback.sr_number}: {reason}",
        now=now,
    )


def _local(instant: datetime, region: Region, fmt: str) -> str:
    return instant.astimezone(region.zone).strftime(fmt)


def _texts(
    catalog: Catalog, language: str, prefix: str, channel: str, values: dict[str, str]
) -> tuple[str, str]:
    prompts = catalog.prompts_for(language)
    if channel == "sms":
        return "", prompts.text(f"{prefix}_sms", **values)
    return (
        prompts.text(f"{prefix}_email_subject", **values),
        prompts.text(f"{prefix}_email_body", **values),
    )
