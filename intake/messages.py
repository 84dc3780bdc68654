"""Messages left by callers: opened once per call, each field stored the moment it arrives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.call_store import CallRecord
from intake.models import Message

# The fields a caller fills in, by name, so a step can store exactly one of them.
MESSAGE_FIELDS = frozenset(
    {
        "contact_name",
        "company",
        "callback_number",
        "callback_number_source",
        "sr_reference",
        "description",
        "description_confidence",
        "answer_channel",
    }
)


def message_for_call(session: Session, call_sid: str) -> Message | None:
    """The message left on this call, if the caller got that far."""
    return session.scalar(select(Message).where(Message.call_sid == call_sid))


def new_message_values(
    call: CallRecord,
    *,
    kind: str,
    product_line: str,
    company: str | None,
    sr_reference: str | None,
    callback_asked_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The row of a new message on ``call``, which keeps the caller's place in line."""
    return {
        "call_sid": call.call_sid,
        "kind": kind,
        "region": call.region,
        "language": call.language,
        "customer_number": call.customer_number,
        "is_identified": call.is_identified,
        "product": call.product,
        "product_line": product_line,
        "company": company,
        "sr_reference": sr_reference,
        "answer_channel": "phone",
        "requested_at": call.started_at,
        "callback_asked_at": callback_asked_at,
        "created_at": now,
        "updated_at": now,
        "is_complete": False,
        "is_submitted": False,
    }


def field_changes(*, now: datetime, **fields: Any) -> dict[str, Any]:
    """The columns that store answered fields; the SR no longer has everything after them."""
    unknown = set(fields) - MESSAGE_FIELDS
    if unknown:
        raise ValueError(f"not message fields: {sorted(unknown)}")
    return {**fields, "updated_at": now, "is_submitted": False}


def consent_changes(*, given: bool, prompt_version: str, now: datetime) -> dict[str, Any]:
    """The caller's recording consent with the version of the prompt they heard."""
    return {
        "recording_consent": given,
        "consent_prompt_version": prompt_version,
        "consent_at": now,
        "updated_at": now,
        "is_submitted": False,
    }


def record_field(message: Message, *, now: datetime, **fields: Any) -> None:
    """Store answered fields on a message loaded in a session."""
    for name, value in field_changes(now=now, **fields).items():
        setattr(message, name, value)


def attach_recording(
    session: Session, *, call_sid: str, recording_sid: str, recording_url: str, now: datetime
) -> bool:
    """Link a finished recording to the call's message; only with consent, once per SID."""
    message = message_for_call(session, call_sid)
    if message is None or message.recording_consent is not True:
        return False
    if message.recording_sid is not None:
        return message.recording_sid == recording_sid
    message.recording_sid = recording_sid
    message.recording_url = recording_url
    message.updated_at = now
    return True
