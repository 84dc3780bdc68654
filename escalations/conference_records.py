"""An escalation's conference calls and who was on them, as tables.

The seed's conference call sets up the action plan, and is held again when the customer is
unhappy with progress. The hotline dials the participants into one Twilio conference (its
``name`` is Twilio's FriendlyName); latecomers dial in with the PIN. Twilio's conference events
fill in who joined, when, and for how long.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UtcDateTime
from db.work import Id


class ParticipantKind(enum.StrEnum):
    """Who a participant is to the escalation."""

    CUSTOMER = "customer"  # the escalation's contact number, else the SR's callback number
    ENGINEER = "engineer"  # the escalation engineer
    DUTY_MANAGER = "duty_manager"  # the duty manager who owns the escalation
    OTHER = "other"  # anyone else, by number (a vendor, a program manager)
    DIAL_IN = "dial_in"  # a latecomer who dialled in with the PIN


class EscalationConference(Base):
    """One conference call of an escalation; open until Twilio reports its end (or nobody is on
    the line and nobody is still being dialled)."""

    __tablename__ = "escalation_conferences"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    # The escalation's n-th conference; the name is ``escalation-<id>-<n>``.
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    region: Mapped[str] = mapped_column(String(40))
    pin: Mapped[str] = mapped_column(String(6))
    # The PIN while the conference is open, NULL once it ended: unique, so no two open
    # conferences share a PIN (NULLs never collide, on SQLite and PostgreSQL alike).
    open_pin: Mapped[str | None] = mapped_column(String(6), unique=True)
    # The region's dial-in number when the conference started (None: no dial-in).
    dial_in_number: Mapped[str | None] = mapped_column(String(32))
    conference_sid: Mapped[str | None] = mapped_column(String(64))
    started_by: Mapped[str] = mapped_column(String(200))
    started_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("escalation_id", "seq"),)


class ConferenceParticipant(Base):
    """One person dialled into (or dialling in to) a conference, and their time on it."""

    __tablename__ = "conference_participants"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    conference_id: Mapped[int] = mapped_column(
        ForeignKey("escalation_conferences.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    # E.164 for a dialled participant; a dial-in caller's number masked (``***678``).
    number: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The outbound call's key (``conference:<conference>:<participant>``); None for a dial-in.
    call_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The participant's call, as Twilio names it in the conference's events.
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # How the participant's call ended (CallStatus: completed, no-answer, busy, ...).
    call_status: Mapped[str | None] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    joined_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    seconds: Mapped[int | None] = mapped_column(Integer)
