"""Service requests: created from a message (or the message attached to the quoted one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Executable, Select, bindparam, insert, select, update
from sqlalchemy.orm import Session

from db.base import table_of
from intake.call_steps import MessageKind
from intake.catalog import Catalog
from intake.confirmation_targets import ConfirmationFacts, confirmation_facts
from intake.confirmations import (
    NO_CONFIRMATION_CHANNEL,
    SMS_LIMITED,
    ConfirmationView,
    confirmations_for,
    has_confirmation,
    queue_confirmations,
)
from intake.models import Message, ServiceRequest
from intake.ports import CallbackRequest, CallbackScheduler
from intake.sr_numbers import sr_number_for


@dataclass(frozen=True)
class SubmittedRequest:
    """The outcome of submitting a message: its SR and whether a callback was promised."""

    sr_number: str
    is_new_sr: bool
    callback_due_at: datetime | None


def find_service_request(
    session: Session, number: str, *, lock: bool = False
) -> ServiceRequest | None:
    """The SR with caller-facing ``number``; with ``lock``, its row locked until the
    transaction ends (PostgreSQL; SQLite's writer lock serialises writers anyway)."""
    query = select(ServiceRequest).where(ServiceRequest.number == number)
    return session.scalar(query.with_for_update() if lock else query)


def submit_message(
    session: Session,
    message: Message,
    *,
    catalog: Catalog,
    scheduler: CallbackScheduler,
    now: datetime,
    caller_id: str | None = None,
    facts: ConfirmationFacts | None = None,
) -> SubmittedRequest:
    """Create the SR (or attach to the quoted one), queue confirmations and the callback.

    ``caller_id`` is the caller's own number (E.164; None when withheld): the confirmation SMS
    goes there when the callback number is no mobile. An SR none of whose messages can be
    confirmed says why in ``unconfirmed_reason`` until a confirmation is queued for it.
    ``facts``, when read before the write transaction, spare reading them here if they are
    still for the message as it stands (``ConfirmationFacts.are_for``).

    Idempotent, and safe to repeat as the message grows: a call settled early (the caller went
    quiet, or hung up without a status callback) keeps its SR, and what the caller says after
    that is copied onto the SR, the callback and the confirmations when it is submitted again.
    """
    if message.id is None:
        session.flush()  # the message was opened in this transaction: give it its id
    if facts is None or not facts.are_for(message, caller_id=caller_id):
        facts = confirmation_facts(
            session,
            customer_number=message.customer_number,
            callback_number=message.callback_number,
            caller_id=caller_id,
            policy=catalog.number_policy(catalog.region(message.region)),
            now=now,
            count_sms=False,  # counted only if an SMS is due (``queue_confirmations``)
        )
    email = facts.email
    can_confirm = bool(facts.targets)
    sr: ServiceRequest | None
    if message.sr_number is not None:
        sr = find_service_request(session, message.sr_number)
        assert sr is not None
        if sr.origin_message_id == message.id:
            _copy_message(sr, message)
    else:
        sr = find_service_request(session, message.sr_reference) if message.sr_reference else None
    if sr is None:  # a new request, or one quoting an SR that does not exist
        reason = None if can_confirm else NO_CONFIRMATION_CHANNEL
        number, is_new = _create_sr(session, message, email=email, reason=reason, now=now), True
    else:
        assert sr.number is not None
        number, is_new = sr.number, False
        sr.unconfirmed_reason = _unconfirmed_reason(session, number, can_confirm=can_confirm)
    if message.sr_number is None:
        message.sr_number = number
        message.updated_at = now
    # An update to an existing SR is attached for the engineer; every other message is owed a call.
    if message.callback_number and message.kind != MessageKind.UPDATE:
        message.callback_due_at = scheduler.schedule_callback(
            session,
            CallbackRequest(
                sr_number=number,
                message_id=message.id,
                region=message.region,
                language=message.language,
                product_line=message.product_line,
                callback_number=message.callback_number,
                requested_at=message.requested_at,
                asked_at=message.callback_asked_at or message.created_at,
                # An escalation's call back is the duty manager's, promised within minutes.
                promise=(
                    catalog.escalation_callback_promise
                    if message.kind == MessageKind.ESCALATION
                    else None
                ),
            ),
            now=now,
        )
    queued = queue_confirmations(session, message=message, facts=facts, catalog=catalog, now=now)
    if queued.sms_limited and not queued.ids and not has_confirmation(session, number):
        # The SMS was its only way, and the hourly limits held it back: say so on the SR.
        limited = find_service_request(session, number)
        assert limited is not None
        limited.unconfirmed_reason = SMS_LIMITED
    message.is_submitted = True
    return SubmittedRequest(number, is_new, message.callback_due_at)


def _unconfirmed_reason(session: Session, number: str, *, can_confirm: bool) -> str | None:
    """Why SR ``number`` is unconfirmed; None once any of its messages has a confirmation."""
    # The SR speaks for all its messages: a caller confirmed once holds the SR number in writing.
    if can_confirm or has_confirmation(session, number):
        return None
    return NO_CONFIRMATION_CHANNEL


def _create_sr(
    session: Session,
    message: Message,
    *,
    email: str | None,
    reason: str | None,
    now: datetime,
) -> str:
    """A new SR from ``message``; its number is derived from the row's identity value."""
    values = {
        "region": message.region,
        "language": message.language,
        "customer_number": message.customer_number,
        "is_identified": message.is_identified,
        "email": email,
        "product": message.product,
        "product_line": message.product_line,
        "origin_message_id": message.id,
        "unconfirmed_reason": reason,
        "created_at": now,
        **_message_fields(message),
    }
    connection = session.connection()
    create, number_it = _create_statements()
    sr_id = connection.execute(create, values).scalar_one()
    number = sr_number_for(sr_id)
    connection.execute(number_it, {"b_id": sr_id, "number": number})
    return number


@cache
def _create_statements() -> tuple[Executable, Executable]:
    """The SR's insert (its id returned) and the update that numbers it, built once."""
    table = table_of(ServiceRequest)
    return (
        insert(table).returning(table.c.id),
        update(table).where(table.c.id == bindparam("b_id")),
    )


def _message_fields(message: Message) -> dict[str, str | None]:
    """What an SR takes over from the message it was made from."""
    return {
        "company": message.company,
        "contact_name": message.contact_name,
        "callback_number": message.callback_number,
        "sr_reference": message.sr_reference,
        "description": message.description,
        "answer_channel": message.answer_channel,
    }


def _copy_message(sr: ServiceRequest, message: Message) -> None:
    for name, value in _message_fields(message).items():
        setattr(sr, name, value)


@dataclass(frozen=True)
class MessageView:
    """A message as staff see it."""

    id: int
    kind: str
    contact_name: str | None
    company: str | None
    callback_number: str | None
    sr_reference: str | None
    description: str | None
    recording_consent: bool | None
    consent_prompt_version: str | None
    recording_url: str | None
    answer_channel: str
    requested_at: datetime
    created_at: datetime
    is_complete: bool
    callback_due_at: datetime | None


@dataclass(frozen=True)
class ServiceRequestDetail:
    """An SR with every message left for it and how the customer was confirmed."""

    number: str
    region: str
    language: str
    customer_number: str | None
    is_identified: bool
    company: str | None
    contact_name: str | None
    callback_number: str | None
    email: str | None
    product: str | None
    product_line: str
    sr_reference: str | None
    description: str | None
    recording_url: str | None
    answer_channel: str
    status: str
    created_at: datetime
    messages: tuple[MessageView, ...]
    confirmations: tuple[ConfirmationView, ...]
    # NO_CONFIRMATION_CHANNEL while no message of the SR could be confirmed; None otherwise.
    unconfirmed_reason: str | None


def service_request_detail(session: Session, number: str) -> ServiceRequestDetail | None:
    """Everything known about SR ``number``, or None."""
    sr = find_service_request(session, number)
    if sr is None or sr.number is None:
        return None
    messages = session.scalars(
        select(Message).where(Message.sr_number == sr.number).order_by(Message.id)
    ).all()
    first = messages[0] if messages else None
    return ServiceRequestDetail(
        number=sr.number,
        region=sr.region,
        language=sr.language,
        customer_number=sr.customer_number,
        is_identified=sr.is_identified,
        company=sr.company,
        contact_name=sr.contact_name,
        callback_number=sr.callback_number,
        email=sr.email,
        product=sr.product,
        product_line=sr.product_line,
        sr_reference=sr.sr_reference,
        description=sr.description,
        recording_url=first.recording_url if first is not None else None,
        answer_channel=sr.answer_channel,
        status=sr.status,
        created_at=sr.created_at,
        messages=tuple(_message_view(m) for m in messages),
        confirmations=confirmations_for(session, sr.number),
        unconfirmed_reason=sr.unconfirmed_reason,
    )


def _message_view(message: Message) -> MessageView:
    return MessageView(
        id=message.id,
        kind=message.kind,
        contact_name=message.contact_name,
        company=message.company,
        callback_number=message.callback_number,
        sr_reference=message.sr_reference,
        description=message.description,
        recording_consent=message.recording_consent,
        consent_prompt_version=message.consent_prompt_version,
        recording_url=message.recording_url,
        answer_channel=message.answer_channel,
        requested_at=message.requested_at,
        created_at=message.created_at,
        is_complete=message.is_complete,
        callback_due_at=message.callback_due_at,
    )


def existing_sr_number(reader: Connection, number: str) -> str | None:
    """``number`` if an SR has it (the caller's quoted SR), else None."""
    found: str | None = reader.execute(_number_query(), {"number": number}).scalar()
    return found


@cache
def _number_query() -> Select[Any]:
    requests = table_of(ServiceRequest)
    return select(requests.c.number).where(requests.c.number == bindparam("number"))
