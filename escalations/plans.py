"""What is agreed for an escalation: the action plan, the communication plan and its updates,
and other vendors' cases."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escalations.history import Actor, locked, move
from escalations.lifecycle import EscalationMove
from escalations.records import ActionPlanStep, CommunicationPlan, Escalation, VendorCase


class CommunicationKind(enum.StrEnum):
    """How the customer hears of progress (seed: e-mail, phone, conference call)."""

    EMAIL = "email"
    PHONE = "phone"
    CONFERENCE = "conference"


class VendorChannel(enum.StrEnum):
    """How another vendor was engaged."""

    TSANET = "tsanet"
    CUSTOMER_CONTRACT = "customer_contract"


@dataclass(frozen=True)
class PlanStep:
    """One step of an action plan: what, who, by when."""

    text: str
    owner: str
    due_at: datetime | None = None


def agree_action_plan(
    session: Session,
    escalation_id: int,
    *,
    steps: Sequence[PlanStep],
    participants: Sequence[str],
    by: Actor,
    now: datetime,
) -> int:
    """Record the action plan agreed in the conference call (a new version each time) with who
    agreed it; returns the plan's version."""
    if not steps:
        raise ValueError("an action plan needs at least one step")
    if not participants:
        raise ValueError("name the participants who agreed the plan")
    escalation = locked(session, escalation_id)
    version = (
        session.scalar(
            select(func.max(ActionPlanStep.version)).where(
                ActionPlanStep.escalation_id == escalation.id
            )
        )
        or 0
    ) + 1
    move(
        session,
        escalation,
        EscalationMove.AGREE_ACTION_PLAN,
        by=by,
        now=now,
        version=version,
        steps=len(steps),
        participants=list(participants),
    )
    for position, step in enumerate(steps, start=1):
        session.add(
            ActionPlanStep(
                escalation_id=escalation.id,
                version=version,
                position=position,
                text=step.text,
                owner=step.owner,
                due_at=step.due_at,
            )
        )
    return version


def set_communication_plan(
    session: Session,
    escalation_id: int,
    *,
    kind: CommunicationKind,
    every: timedelta,
    participants: Sequence[str],
    by: Actor,
    now: datetime,
) -> CommunicationPlan:
    """Agree how often the customer hears of progress; the first update is due one period on."""
    if every < timedelta(minutes=15):
        raise ValueError("updates at most every 15 minutes")
    escalation = locked(session, escalation_id)
    move(
        session,
        escalation,
        EscalationMove.SET_COMMUNICATION_PLAN,
        by=by,
        now=now,
        kind=kind.value,
        every_minutes=int(every.total_seconds() // 60),
        participants=list(participants),
    )
    plan = session.scalar(
        select(CommunicationPlan).where(CommunicationPlan.escalation_id == escalation.id)
    )
    if plan is None:
        plan = CommunicationPlan(escalation_id=escalation.id, participants=[])
        session.add(plan)
    plan.kind = kind.value
    plan.every_minutes = int(every.total_seconds() // 60)
    plan.participants = list(participants)
    plan.next_update_due_at = (plan.last_update_at or now) + every
    plan.updated_at = now
    return plan


def record_update(
    session: Session, escalation_id: int, *, summary: str, by: Actor, now: datetime
) -> CommunicationPlan:
    """An update reached the customer: the next one is due one period from now."""
    escalation = locked(session, escalation_id)
    plan = _plan(session, escalation)
    move(session, escalation, EscalationMove.RECORD_UPDATE, by=by, now=now, summary=summary)
    plan.last_update_at = now
    plan.next_update_due_at = now + timedelta(minutes=plan.every_minutes)
    plan.updated_at = now
    return plan


def track_vendor_case(
    session: Session,
    escalation_id: int,
    *,
    vendor: str,
    case_number: str,
    status: str,
    via: VendorChannel,
    by: Actor,
    now: datetime,
) -> VendorCase:
    """Record another vendor's case, or its new status."""
    escalation = locked(session, escalation_id)
    move(
        session,
        escalation,
        EscalationMove.TRACK_VENDOR_CASE,
        by=by,
        now=now,
        vendor=vendor,
        case_number=case_number,
        status=status,
        via=via.value,
    )
    case = session.scalar(
        select(VendorCase).where(
            VendorCase.escalation_id == escalation.id,
            VendorCase.vendor == vendor,
            VendorCase.case_number == case_number,
        )
    )
    if case is None:
        case = VendorCase(escalation_id=escalation.id, vendor=vendor, case_number=case_number)
        session.add(case)
    case.status = status
    case.via = via.value
    case.updated_at = now
    return case


def _plan(session: Session, escalation: Escalation) -> CommunicationPlan:
    plan = session.scalar(
        select(CommunicationPlan).where(CommunicationPlan.escalation_id == escalation.id)
    )
    if plan is None:
        raise ValueError("agree a communication plan first")
    return plan
