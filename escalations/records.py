"""The escalation of a service request and what is agreed for it, as tables.

An escalation is raised by the customer (by phone) or by staff; the region's duty manager
accepts it; an escalation engineer becomes the primary contact; an action plan and a
communication plan are agreed; other vendors' cases are tracked; it ends only by a documented
de-escalation. Every change is also an ``EscalationEvent`` row, append-only.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UtcDateTime
from db.work import Id


class EscalationStatus(enum.StrEnum):
    """Where an escalation stands (``escalations.lifecycle`` says which moves are allowed)."""

    RAISED = "raised"  # waiting for a duty manager to accept it
    UNOWNED = "unowned"  # nobody accepted in time: flagged, everybody told
    ACCEPTED = "accepted"  # a duty manager owns it
    DE_ESCALATED = "de_escalated"


class EscalationReason(enum.StrEnum):
    """Why the customer escalates (the seed's reasons, as the phone menu offers them)."""

    PRODUCTION_DOWN = "production_down"  # during an upgrade or implementation
    BUSINESS_IMPACT = "business_impact"  # critical, management must know
    NOT_SATISFIED = "not_satisfied"  # with the response or the resolution
    OTHER = "other"


class Escalation(Base):
    """One escalation of one SR."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sr_number: Mapped[str] = mapped_column(String(16), index=True)
    region: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(32))
    reason_text: Mapped[str | None] = mapped_column(String(1000))
    # Escalated on a US government line: routed to that roster.
    is_us_government: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=EscalationStatus.RAISED)
    # Raised and lowered only by re-escalation: 1 is normal.
    priority: Mapped[int] = mapped_column(Integer, default=1)
    # "customer" (by phone) or "staff"; who, by name (a staff member, or the caller's number).
    raised_by_kind: Mapped[str] = mapped_column(String(16))
    raised_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    raised_by: Mapped[str] = mapped_column(String(200))
    # The customer's call while they hold (None when raised by staff) and where to reach them.
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    contact_number: Mapped[str | None] = mapped_column(String(32))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    engineer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    engineer_assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    management_informed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The three conditions of a de-escalation, each recorded with who and when.
    plan_satisfactory_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    plan_satisfactory_by: Mapped[str | None] = mapped_column(String(200))
    analysis_on_track_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    analysis_on_track_by: Mapped[str | None] = mapped_column(String(200))
    customer_agreed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    customer_agreed_by: Mapped[str | None] = mapped_column(String(200))  # who at the customer
    customer_agreed_how: Mapped[str | None] = mapped_column(String(200))  # e-mail, phone call...
    de_escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Who the duty managers' ring chain rings, in order (the roster's plan when it started:
    # ``[{"user_id", "name", "phone"}]``), and the number of the latest ring (0: none yet).
    ring_plan: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    ring_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RingOutcome(enum.StrEnum):
    """How one ring of a duty manager's phone ended."""

    ACCEPTED = "accepted"  # pressed 1 and the escalation became theirs
    PASSED = "passed"  # pressed 2: the next person at once
    NO_ANSWER = "no_answer"  # no answer, no key, or hung up before choosing
    BUSY = "busy"
    MACHINE = "machine"  # voicemail (machine detection)
    NOT_PLACED = "not_placed"  # the call could not be placed (or may not have been)
    TOO_LATE = "too_late"  # answered after the escalation was accepted or flagged


class EscalationRing(Base):
    """One ring of one duty manager's phone for an escalation, recorded before it is placed.

    ``outcome`` is written once: a duplicated or late report of the same ring changes nothing.
    """

    __tablename__ = "escalation_rings"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(16))
    rung_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("escalation_id", "seq"),)


class EscalationEvent(Base):
    """One thing that happened to an escalation: who, what, when. Never updated or deleted."""

    __tablename__ = "escalation_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ActionPlanStep(Base):
    """One step of the action plan agreed in the conference call."""

    __tablename__ = "escalation_plan_steps"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    # Each agreement of the plan is a new version; the latest is the plan.
    version: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CommunicationPlan(Base):
    """How and how often the customer hears of progress, and when the next update is due."""

    __tablename__ = "escalation_communication_plans"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # email, phone, conference
    every_minutes: Mapped[int] = mapped_column(Integer)
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    next_update_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_update_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The due instant the engineer was last reminded of, and the last one flagged as missed:
    # each due instant is reminded of and flagged once, however many workers look.
    reminded_for: Mapped[datetime | None] = mapped_column(UtcDateTime)
    missed_for: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class VendorCase(Base):
    """Another vendor's case opened for the escalation (TSANet or the customer's contract)."""

    __tablename__ = "escalation_vendor_cases"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    vendor: Mapped[str] = mapped_column(String(200))
    case_number: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(100))
    via: Mapped[str] = mapped_column(String(32))  # tsanet, customer_contract
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("escalation_id", "vendor", "case_number"),)


class SeverityRaise(Base):
    """A caller who needed a higher severity, not an escalation: recorded for the SR's engineer."""

    __tablename__ = "severity_raises"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sr_number: Mapped[str] = mapped_column(String(16), index=True)
    region: Mapped[str] = mapped_column(String(40))
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    reason: Mapped[str | None] = mapped_column(String(1000))
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
