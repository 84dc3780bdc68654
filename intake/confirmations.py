"""Confirmations of a taken request: queued with the SR, sent by the worker, settled once.

Seed: "Sie erhalten innerhalb einer Stunde eine automatisch erstellte Nachricht, in der der Eingang
der Support-Anfrage bestätigt wird." Each confirmation is a row with a unique key; the worker
records the attempt before sending and the provider's id after, so a crash between the two is
detected and settled (for SMS by asking the provider) instead of being sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Executable, Select, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from db.base import insert_if_absent, table_of
from db.work import enqueue
from intake.catalog import Catalog
from intake.confirmation_targets import ConfirmationFacts
from intake.models import Confirmation, ConfirmationStatus, Message
from intake.sms_limits import is_over_sms_limits

WORK_KIND = "confirmation.send"
# Confirmations go before other work that is due (only the calls someone waits for ring first):
# the one-hour promise is the tightest.
WORK_PRIORITY = 10
# Backoff that keeps every retry well inside the one-hour promise (sum ≈ 31 minutes).
RETRY_DELAYS = (
    timedelta(seconds=15),
    timedelta(seconds=45),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=8),
    timedelta(minutes=15),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1

_FINAL = {
    ConfirmationStatus.SENT,
    ConfirmationStatus.DELIVERED,
    ConfirmationStatus.UNDELIVERED,
    ConfirmationStatus.FAILED,
}
# Twilio message statuses in the order they happen; a late callback never moves one backwards.
_SMS_STATUS_ORDER = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1-based)."""
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]


# Shown on an SR none of whose messages could be confirmed, so staff know the customer holds only
# the number read back on the phone. Stable wording: staff and reports may match on it.
NO_CONFIRMATION_CHANNEL = (
    "no confirmation possible: no mobile number to text and no e-mail address on file"
)


# Shown on an SR whose only way to confirm was an SMS over the hourly limits.
SMS_LIMITED = "no confirmation sent: the hourly SMS limit for this number or for all was reached"


@dataclass(frozen=True)
class Queued:
    """The confirmations queued now, and whether the SMS limits held one back."""

    ids: tuple[int, ...]
    sms_limited: bool = False


def queue_confirmations(
    session: Session,
    *,
    message: Message,
    facts: ConfirmationFacts,
    catalog: Catalog,
    now: datetime,
) -> Queued:
    """Queue an SMS (see ``sms_target``, within the hourly limits) and an e-mail (on file).

    One confirmation per message and channel, whatever the address: the key holds no address,
    so a later submission that finds a better number (the caller typed a mobile after the SMS
    to their caller ID was queued) keeps the first SMS and queues no second one. Both numbers
    are the caller's, and changing a queued row's address could race the worker's send.
    Texts are rendered at send time, in the caller's language.
    """
    assert message.sr_number is not None
    ids = []
    limited = False
    for channel, address in facts.targets:
        key = f"confirmation:{message.sr_number}:{message.id}:{channel}"
        if channel == "sms" and is_over_sms_limits(
            session,
            key=key,
            address=address,
            limits=catalog.sms_limits,
            now=now,
            recent=facts.recent_sms,
        ):
            limited = True
            continue
        confirmation_id = insert_if_absent(
            session,
            table_of(Confirmation),
            {
                "key": key,
                "sr_number": message.sr_number,
                "message_id": message.id,
                "channel": channel,
                "address": address,
                "language": message.language,
                "status": ConfirmationStatus.QUEUED.value,
                "created_at": now,
            },
            unique="key",
        )
        if confirmation_id is None:
            continue  # queued by an earlier submission of this message
        enqueue(
            session,
            kind=WORK_KIND,
            key=key,
            payload={"confirmation_id": confirmation_id},
            due_at=now,
            now=now,
            priority=WORK_PRIORITY,
            max_attempts=MAX_ATTEMPTS,
        )
        ids.append(confirmation_id)
    return Queued(tuple(ids), sms_limited=limited)


def has_confirmation(session: Session, sr_number: str) -> bool:
    """Whether any message of SR ``sr_number`` has a confirmation, whatever became of it."""
    query = _has_confirmation_query()
    return session.connection().execute(query, {"sr_number": sr_number}).first() is not None


@cache
def _has_confirmation_query() -> Select[Any]:
    c = table_of(Confirmation).c
    return select(c.id).where(c.sr_number == bindparam("sr_number")).limit(1)


@dataclass(frozen=True)
class OutgoingConfirmation:
    """Everything a sender needs, with the time of an earlier attempt whose fate is unknown."""

    id: int
    key: str
    sr_number: str
    channel: str
    address: str
    language: str
    region: str
    subject: str
    body: str
    unsettled_attempt_at: datetime | None


def begin_attempt(
    session: Session, confirmation_id: int, *, catalog: Catalog, now: datetime
) -> OutgoingConfirmation | None:
    """Record that a send is about to start; None when it was already settled."""
    # Plain statements built once, not ORM loads: this runs once per confirmation on the
    # worker's hot path.
    statements = _statements()
    connection = session.connection()
    row = connection.execute(statements.attempt_row, {"id": confirmation_id}).one_or_none()
    if row is None or ConfirmationStatus(row.status) in _FINAL:
        return None
    unsettled = (
        row.attempt_started_at
        if row.status in (ConfirmationStatus.SENDING, ConfirmationStatus.UNCERTAIN)
        else None
    )
    connection.execute(
        statements.begin_attempt,
        {
            "b_id": confirmation_id,
            "status": ConfirmationStatus.SENDING.value,
            "attempt_started_at": unsettled or now,
        },
    )
    subject, body = _texts(
        catalog,
        language=row.language,
        region=row.region,
        kind=row.kind,
        callback_due_at=row.callback_due_at,
        channel=row.channel,
        sr_number=row.sr_number,
    )
    return OutgoingConfirmation(
        id=confirmation_id,
        key=row.key,
        sr_number=row.sr_number,
        channel=row.channel,
        address=row.address,
        language=row.language,
        region=row.region,
        subject=subject,
        body=body,
        unsettled_attempt_at=unsettled,
    )


def restart_attempt(session: Session, confirmation_id: int, *, now: datetime) -> None:
    """After reconciling an unsettled attempt and finding nothing sent, start a fresh one."""
    session.execute(
        update(Confirmation)
        .where(Confirmation.id == confirmation_id)
        .values(attempt_started_at=now)
        .execution_options(synchronize_session=False)
    )


def _texts(
    catalog: Catalog,
    *,
    language: str,
    region: str,
    kind: str,
    callback_due_at: datetime | None,
    channel: str,
    sr_number: str,
) -> tuple[str, str]:
    prompts = catalog.prompts_for(language)
    if callback_due_at is not None:
        local_due = callback_due_at.astimezone(catalog.region(region).zone)
        next_step = prompts.text(
            "confirmation_callback", due=local_due.strftime(prompts.texts["datetime_format"])
        )
    elif kind == "update":
        next_step = prompts.text("confirmation_no_callback")
    else:
        # A new request with no number to call back: the address on file is the way back.
        next_step = prompts.text("confirmation_email_answer")
    values = {"sr_number": sr_number, "next_step": next_step}
    if channel == "sms":
        return "", prompts.text("confirmation_sms", **values)
    return (
        prompts.text("confirmation_email_subject", **values),
        prompts.text("confirmation_email_body", **values),
    )


def record_sent(
    session: Session, confirmation_id: int, *, provider_id: str | None, status: str, now: datetime
) -> None:
    """Store the provider's id and mark the confirmation sent (a later status never regresses)."""
    params: dict[str, Any] = {
        "b_id": confirmation_id,
        "b_rank": _sms_rank(status),
        "b_status": status,
        "b_now": now,
    }
    if provider_id is not None:
        params["provider_id"] = provider_id  # a column named in the parameters is set too
    session.connection().execute(_statements().record_sent, params)


@dataclass(frozen=True)
class _Statements:
    attempt_row: Select[Any]  # id
    begin_attempt: Executable  # b_id; status, attempt_started_at
    record_sent: Executable  # b_id, b_rank, b_status, b_now; provider_id when known


@cache
def _statements() -> _Statements:
    """The worker's per-confirmation statements, built once (their cache keys with them)."""
    confirmations, messages = table_of(Confirmation), table_of(Message)
    c = confirmations.c
    by_id = c.id == bindparam("b_id")
    current_rank = case(_SMS_STATUS_ORDER, value=c.provider_status, else_=-1)
    sent = {
        "provider_status": case(
            (current_rank < bindparam("b_rank"), bindparam("b_status")), else_=c.provider_status
        ),
        "status": case(
            (
                c.status.in_(
                    [ConfirmationStatus.DELIVERED.value, ConfirmationStatus.UNDELIVERED.value]
                ),
                c.status,
            ),
            else_=ConfirmationStatus.SENT.value,
        ),
        "sent_at": func.coalesce(c.sent_at, bindparam("b_now", type_=c.sent_at.type)),
        "last_error": None,
    }
    return _Statements(
        attempt_row=select(
            c.key,
            c.sr_number,
            c.channel,
            c.address,
            c.language,
            c.status,
            c.attempt_started_at,
            messages.c.region,
            messages.c.kind,
            messages.c.callback_due_at,
        )
        .join(messages, messages.c.id == c.message_id)
        .where(c.id == bindparam("id")),
        begin_attempt=update(confirmations).where(by_id),
        record_sent=update(confirmations).where(by_id).values(sent),
    )


def record_failure(
    session: Session, confirmation_id: int, *, error: str, final: bool, uncertain: bool = False
) -> None:
    """Note a failed or uncertain attempt; ``final`` gives up on this confirmation."""
    confirmation = session.get(Confirmation, confirmation_id)
    assert confirmation is not None
    confirmation.last_error = error[:2000]
    if final:
        confirmation.status = ConfirmationStatus.FAILED.value
    elif uncertain:
        confirmation.status = ConfirmationStatus.UNCERTAIN.value
    else:
        confirmation.status = ConfirmationStatus.QUEUED.value
        confirmation.attempt_started_at = None


def give_up(session: Session, confirmation_id: int, *, error: str) -> None:
    """The confirmation's work failed for good: leave it failed or uncertain, never "sending".

    An attempt that began ("sending") and never recorded its end may have reached the customer,
    so it is uncertain; one that never began is failed. A settled one is left as it is.
    """
    confirmation = session.get(Confirmation, confirmation_id)
    if confirmation is None:
        return
    status = ConfirmationStatus(confirmation.status)
    if status in (ConfirmationStatus.SENDING, ConfirmationStatus.UNCERTAIN):
        confirmation.status = ConfirmationStatus.UNCERTAIN.value
        if status is ConfirmationStatus.SENDING or confirmation.last_error is None:
            confirmation.last_error = error[:2000]
    elif status is ConfirmationStatus.QUEUED:
        confirmation.status = ConfirmationStatus.FAILED.value
        confirmation.last_error = error[:2000]


def _sms_rank(status: str) -> int:
    return _SMS_STATUS_ORDER.get(status, -1)


def record_sms_status(
    session: Session,
    *,
    message_sid: str,
    status: str,
    error_code: str | None,
    now: datetime,
    confirmation_id: int | None = None,
) -> bool:
    """Apply a delivery status callback; duplicates and late arrivals never move it backwards.

    The callback URL names the confirmation, so a callback that overtakes the worker (it comes
    before the worker stored Twilio's id) still finds its row and records the id itself.
    """
    confirmation = session.scalar(
        select(Confirmation).where(Confirmation.provider_id == message_sid)
    )
    if confirmation is None and confirmation_id is not None:
        candidate = session.get(Confirmation, confirmation_id, with_for_update=True)
        if candidate is not None and candidate.channel == "sms" and candidate.provider_id is None:
            candidate.provider_id = message_sid
            candidate.sent_at = candidate.sent_at or now
            confirmation = candidate
    if confirmation is None:
        return False
    if confirmation.provider_status is not None and _sms_rank(status) <= _sms_rank(
        confirmation.provider_status
    ):
        return True
    confirmation.provider_status = status
    if status == "delivered":
        confirmation.status = ConfirmationStatus.DELIVERED.value
        confirmation.delivered_at = now
    elif status in ("undelivered", "failed"):
        confirmation.status = ConfirmationStatus.UNDELIVERED.value
        confirmation.last_error = f"provider reported {status} (error {error_code or 'none'})"
    return True


@dataclass(frozen=True)
class ConfirmationView:
    """How and when the customer was confirmed."""

    channel: str
    address: str
    status: str
    provider_status: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


def confirmations_for(session: Session, sr_number: str) -> tuple[ConfirmationView, ...]:
    """The confirmations of SR ``sr_number``, oldest first."""
    rows = session.scalars(
        select(Confirmation).where(Confirmation.sr_number == sr_number).order_by(Confirmation.id)
    ).all()
    return tuple(
        ConfirmationView(
            channel=r.channel,
            address=r.address,
            status=r.status,
            provider_status=r.provider_status,
            sent_at=r.sent_at,
            delivered_at=r.delivered_at,
            last_error=r.last_error,
        )
        for r in rows
    )
