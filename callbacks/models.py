"""The callback row: a promise to call a customer back by ``due_at``."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UtcDateTime
from db.work import Id


class CallbackStatus(enum.StrEnum):
    """Where a callback stands."""

    QUEUED = "queued"
    DONE = "done"
    CANCELLED = "cancelled"


class Callback(Base):
    """A callback owed to a caller, ordered by when they first called."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    sr_number: Mapped[str] = mapped_column(String(16), index=True)
    region: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(16))
    product_line: Mapped[str] = mapped_column(String(40))
    callback_number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.QUEUED)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    warn_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_callbacks_queue", "status", "requested_at"),)
