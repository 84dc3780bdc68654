"""Messages left by callers: opened once per call, each field stored the moment it arrives."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.models import Call, Message

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


def new_message(
    call: Call,
    *,
    kind: str,
    product_line: str,
    company: str | None,
    sr_reference: str | None,
    now: datetime,
) -> Message:
    """A message for ``call``, not yet added to any session."""
    return Message(
        call_sid=call.call_sid,
        kind=kind,
        region=call.region,
        language=call.language,
        customer_number=call.customer_number,
        is_identified=call.is_identified,
        product=call.product,
        product_line=product_line,
        company=company,
        sr_reference=sr_reference,
        answer_channel="phone",
        requested_at=call.started_at,
        created_at=now,
        updated_at=now,
    )


def record_field(message: Message, *, now: datetime, **fields: str | float | bool | None) -> None:
    """Store answered fields on the message right away."""
    unknown = set(fields) - MESSAGE_FIELDS
    if unknown:
        raise ValueError(f"not message fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(message, name, value)
    message.updated_at = now
    message.is_submitted = False


def record_consent(message: Message, *, given: bool, prompt_version: str, now: datetime) -> None:
    """Store the caller's recording consent with the version of the prompt they heard."""
    message.recording_consent = given
    message.consent_prompt_version = prompt_version
    message.consent_at = now
    message.updated_at = now
    message.is_submitted = False


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
