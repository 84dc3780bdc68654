"""The JSON API's bodies as pydantic models: views answer with them and the OpenAPI document is
made from them, so a body and its description cannot drift apart.

Response models list every field without a default: each is always sent (``null`` when empty),
and the document marks each as required.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from intake.confirmations import ConfirmationView
from intake.service_requests import MessageView, ServiceRequestDetail

_DIGITS = re.compile(r"[0-9]+")


class Problem(BaseModel):
    """An error as RFC 9457 problem details; extension members (``field``, ``holder``,
    ``current_status``, ...) may follow the four standard ones."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description='a URI naming the kind of problem; "about:blank" for none')
    title: str = Field(description="short and the same for every problem of this type")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong this time, for a person to read")


# Requests


def _sr_digits(value: str) -> str:
    if not _DIGITS.fullmatch(value):
        raise ValueError("an SR number has digits only")
    return value


class ServiceRequestPath(BaseModel):
    """Which SR."""

    sr_number: Annotated[
        str,
        AfterValidator(_sr_digits),
        Field(
            description="the SR number read to the caller",
            json_schema_extra={"pattern": "^[0-9]+$"},
        ),
    ]


# Responses


class ServiceRequestMessage(BaseModel):
    """One message left by a caller for the SR."""

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
    complete: bool
    requested_at: AwareDatetime = Field(description="when the caller was asked for the message")
    created_at: AwareDatetime
    callback_due_at: AwareDatetime | None

    @classmethod
    def of(cls, message: MessageView) -> ServiceRequestMessage:
        return cls(
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
            complete=message.is_complete,
            requested_at=message.requested_at,
            created_at=message.created_at,
            callback_due_at=message.callback_due_at,
        )


class Confirmation(BaseModel):
    """A written confirmation to the customer (SMS or e-mail) and how far it got."""

    channel: str
    address: str
    status: str
    provider_status: str | None
    sent_at: AwareDatetime | None
    delivered_at: AwareDatetime | None
    last_error: str | None

    @classmethod
    def of(cls, confirmation: ConfirmationView) -> Confirmation:
        return cls(
            channel=confirmation.channel,
            address=confirmation.address,
            status=confirmation.status,
            provider_status=confirmation.provider_status,
            sent_at=confirmation.sent_at,
            delivered_at=confirmation.delivered_at,
            last_error=confirmation.last_error,
        )


class ServiceRequest(BaseModel):
    """One SR with its messages and confirmations."""

    sr_number: str
    region: str
    language: str
    customer_number: str | None
    identified: bool = Field(description="the caller gave a customer number on file")
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
    created_at: AwareDatetime
    unconfirmed_reason: str | None = Field(
        description="why the customer got no written confirmation; null once one is queued"
    )
    messages: list[ServiceRequestMessage]
    confirmations: list[Confirmation]

    @classmethod
    def of(cls, sr: ServiceRequestDetail) -> ServiceRequest:
        return cls(
            sr_number=sr.number,
            region=sr.region,
            language=sr.language,
            customer_number=sr.customer_number,
            identified=sr.is_identified,
            company=sr.company,
            contact_name=sr.contact_name,
            callback_number=sr.callback_number,
            email=sr.email,
            product=sr.product,
            product_line=sr.product_line,
            sr_reference=sr.sr_reference,
            description=sr.description,
            recording_url=sr.recording_url,
            answer_channel=sr.answer_channel,
            status=sr.status,
            created_at=sr.created_at,
            unconfirmed_reason=sr.unconfirmed_reason,
            messages=[ServiceRequestMessage.of(m) for m in sr.messages],
            confirmations=[Confirmation.of(c) for c in sr.confirmations],
        )
