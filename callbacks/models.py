"""The callback row (a promise to call a customer back by ``due_at``) and its history."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UtcDateTime
from db.work import Id


class CallbackStatus(enum.StrEnum):
    """Where a callback stands (``callbacks.lifecycle`` says which moves are allowed)."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    CALLING = "calling"
    DONE = "done"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


class Callback(Base):
    """A callback owed to a caller: worked earliest promise first, then by first call."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    sr_number: Mapped[str] = mapped_column(String(16), index=True)
    region: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(16))
    product_line: Mapped[str] = mapped_column(String(40))
    callback_number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.QUEUED)
    # When the caller first called: second in queue order, after the promise.
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    warn_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A retry or a time the customer asked for: not offered to agents before then.
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Calls that reached the customer's phone (answered or not): bounded per product line.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Agent-first calls started; each names its own call legs and status callbacks.
    call_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the customer's phone did on the current call leg (human, machine, ...), if known.
    answered_by: Mapped[str | None] = mapped_column(String(32))
    first_call_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disposition: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_callbacks_queue", "status", "requested_at"),
        Index("ix_callbacks_claim_order", "region", "status", "due_at", "requested_at"),
        # Expired claims (claiming takes them over, the worker returns them to the queue).
        Index("ix_callbacks_claim_expiry", "status", "claim_expires_at"),
    )


class CallbackEvent(Base):
    """One move of a callback: who (a user, or the system), when, from and to what, and why."""

    __tablename__ = "callback_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    callback_id: Mapped[int] = mapped_column(
        ForeignKey("callbacks.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The user's name, or "system" (the worker) or "twilio" (a call's outcome).
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
