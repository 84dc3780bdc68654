"""Tables of the core domain: customers, staff, calls, messages, service requests, confirmations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UtcDateTime
from db.work import Id


class Customer(Base):
    """An entitlement account, identified by the customer number callers type."""

    __tablename__ = "customers"

    customer_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    company: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Entitlement(Base):
    """Support for one product under one customer number, at one support level."""

    __tablename__ = "entitlements"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    customer_number: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_number", ondelete="CASCADE"), index=True
    )
    product: Mapped[str] = mapped_column(String(80))
    product_line: Mapped[str] = mapped_column(String(40))
    support_level: Mapped[str] = mapped_column(String(40))

    __table_args__ = (UniqueConstraint("customer_number", "product"),)


class Role(enum.StrEnum):
    """What a staff member may do."""

    AGENT = "agent"
    ENGINEER = "engineer"
    MANAGER = "manager"
    ADMIN = "admin"


class Presence(enum.StrEnum):
    """Whether an agent takes live callers now."""

    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"


class User(Base):
    """A staff member; their API tokens are rows of ``api_tokens``."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # How callers and customers hear and read the name ("Anna Becker"); None: ``name``.
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The region whose queue and callers an agent (or manager) works; None: not set yet.
    region: Mapped[str | None] = mapped_column(String(40))
    presence: Mapped[str] = mapped_column(String(16), default=Presence.AWAY, server_default="away")
    presence_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """One API token of a user, stored only as a hash; revoked tokens stay, for the record.

    Several per user, so a token can be replaced (a new one issued, then the old one revoked)
    without a moment when the user's tools have none.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's last four characters: enough to tell a user's tokens apart in a listing.
    hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Call(Base):
    """One inbound call, keyed by Twilio's CallSid; its flow state lives here, not in memory."""

    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(16))
    from_number: Mapped[str | None] = mapped_column(String(40))
    to_number: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When the worker's sweep may take the call as ended if no status callback came by then.
    settle_after: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), default="in-progress")
    status_sequence: Mapped[int] = mapped_column(Integer, default=-1)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    flow: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    turn: Mapped[int] = mapped_column(Integer, default=0)
    customer_number: Mapped[str | None] = mapped_column(String(32))
    product: Mapped[str | None] = mapped_column(String(80))
    product_line: Mapped[str | None] = mapped_column(String(40))
    is_identified: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(32))
    sr_number: Mapped[str | None] = mapped_column(String(16))
    # Set once the call can no longer change its message (SR made, or nothing to make).
    is_settled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised by every write (the ORM does it itself): a turn decided on a snapshot is written
    # only if the call has not changed since (``intake.calls.write_turn``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __table_args__ = (Index("ix_calls_unsettled", "is_settled", "settle_after"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (read by the ORM)


class CallTurn(Base):
    """The answer given to one webhook turn of a call, replayed verbatim if Twilio asks again."""

    __tablename__ = "call_turns"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.call_sid", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    step: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("call_sid", "seq"),)


class Message(Base):
    """What a caller left, field by field, each stored the moment it arrived."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="new")
    region: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(16))
    customer_number: Mapped[str | None] = mapped_column(String(32))
    is_identified: Mapped[bool] = mapped_column(Boolean, default=False)
    product: Mapped[str | None] = mapped_column(String(80))
    product_line: Mapped[str] = mapped_column(String(40))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    callback_number: Mapped[str | None] = mapped_column(String(32))
    callback_number_source: Mapped[str | None] = mapped_column(String(16))
    sr_reference: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    description_confidence: Mapped[float | None] = mapped_column(Float)
    recording_consent: Mapped[bool | None] = mapped_column(Boolean)
    consent_prompt_version: Mapped[str | None] = mapped_column(String(64))
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recording_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    recording_url: Mapped[str | None] = mapped_column(String(500))
    answer_channel: Mapped[str] = mapped_column(String(8), default="phone")
    # When the caller first called: a caller who left the queue keeps their place in line.
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When the caller asked to be called back (began the message, or pressed the callback key
    # on hold): the callback promise counts from here, whenever the call is settled.
    callback_asked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    is_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sr_number: Mapped[str | None] = mapped_column(String(16), index=True)
    # Whether the SR has everything the message holds (cleared by every answer stored after).
    is_submitted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ServiceRequest(Base):
    """A support request with its caller-facing number (digits only, Luhn-checked)."""

    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(16), unique=True)
    region: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(16))
    customer_number: Mapped[str | None] = mapped_column(String(32), index=True)
    is_identified: Mapped[bool] = mapped_column(Boolean, default=False)
    company: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    callback_number: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    product: Mapped[str | None] = mapped_column(String(80))
    product_line: Mapped[str] = mapped_column(String(40))
    sr_reference: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    answer_channel: Mapped[str] = mapped_column(String(8), default="phone")
    status: Mapped[str] = mapped_column(String(16), default="open")
    # The message the SR was made from; its later answers are copied onto the SR.
    origin_message_id: Mapped[int | None] = mapped_column(Integer)
    # Why no confirmation could be sent (no mobile number and no e-mail address), if so.
    unconfirmed_reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="phone")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConfirmationStatus(enum.StrEnum):
    """Where a confirmation to the customer stands."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class Confirmation(Base):
    """One confirmation (SMS or e-mail) of one message, with its outcome."""

    __tablename__ = "confirmations"
    # The hourly SMS limits count recent rows per number and in all, at every message queued.
    __table_args__ = (
        Index("ix_confirmations_address_created", "address", "created_at"),
        Index("ix_confirmations_channel_created", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    sr_number: Mapped[str] = mapped_column(String(16), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ConfirmationStatus.QUEUED)
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(String(32))
    attempt_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboundCallStatus(enum.StrEnum):
    """Where a call we place stands; ``uncertain`` is never placed again without a person."""

    PENDING = "pending"
    PLACING = "placing"
    PLACED = "placed"
    UNCERTAIN = "uncertain"
    FAILED = "failed"


class OutboundCall(Base):
    """A call the hotline means to place once (callback, manager ring), keyed by its purpose."""

    __tablename__ = "outbound_calls"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    to_number: Mapped[str] = mapped_column(String(32))
    from_number: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(500))
    status_callback: Mapped[str | None] = mapped_column(String(500))
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    # Ask Twilio to tell a person from a machine (AnsweredBy on the answer webhook).
    machine_detection: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default=OutboundCallStatus.PENDING)
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    placed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
