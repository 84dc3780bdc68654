"""Escalations as staff read them: the open ones in a region, and one with its whole history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escalations.conferences import ConferenceView, conference_views
from escalations.records import (
    ActionPlanStep,
    CommunicationPlan,
    Escalation,
    EscalationEvent,
    EscalationStatus,
    VendorCase,
)
from intake.staff import staff_by_ids


@dataclass(frozen=True)
class EscalationSummary:
    """One escalation in a list."""

    id: int
    sr_number: str
    region: str
    status: str
    reason: str
    priority: int
    is_us_government: bool
    owner: str | None
    engineer: str | None
    created_at: datetime
    age: timedelta
    next_update_due_at: datetime | None


@dataclass(frozen=True)
class EventView:
    """One line of the history."""

    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class StepView:
    """One action-plan step."""

    position: int
    text: str
    owner: str
    due_at: datetime | None


@dataclass(frozen=True)
class VendorCaseView:
    """Another vendor's case."""

    vendor: str
    case_number: str
    status: str
    via: str
    updated_at: datetime


@dataclass(frozen=True)
class CommunicationPlanView:
    """How the customer hears of progress."""

    kind: str
    every_minutes: int
    participants: list[str]
    next_update_due_at: datetime
    last_update_at: datetime | None


@dataclass(frozen=True)
class EscalationDetail(EscalationSummary):
    """One escalation with what was agreed and everything that happened."""

    reason_text: str | None
    raised_by: str
    raised_by_kind: str
    contact_number: str | None
    accepted_at: datetime | None
    management_informed_at: datetime | None
    plan_satisfactory_at: datetime | None
    analysis_on_track_at: datetime | None
    customer_agreed_at: datetime | None
    customer_agreed_by: str | None
    customer_agreed_how: str | None
    de_escalated_at: datetime | None
    action_plan: list[StepView]
    communication_plan: CommunicationPlanView | None
    vendor_cases: list[VendorCaseView]
    conferences: list[ConferenceView]
    events: list[EventView]


def list_escalations(
    session: Session,
    *,
    now: datetime,
    status: str | None = None,
    region: str | None = None,
    limit: int = 500,
) -> list[EscalationSummary]:
    """Escalations, highest priority first, then oldest first."""
    stmt = (
        select(Escalation, CommunicationPlan.next_update_due_at)
        .outerjoin(CommunicationPlan, CommunicationPlan.escalation_id == Escalation.id)
        .order_by(Escalation.priority.desc(), Escalation.created_at, Escalation.id)
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(Escalation.status == status)
    if region is not None:
        stmt = stmt.where(Escalation.region == region)
    rows = session.execute(stmt).all()
    names = _names(session, [e for e, _ in rows])
    return [_summary(e, due, names, now) for e, due in rows]


def escalation_detail(
    session: Session, escalation_id: int, *, now: datetime
) -> EscalationDetail | None:
    """The escalation with its plans, vendor cases, conference calls and history; None when
    there is none."""
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        return None
    plan = session.scalar(
        select(CommunicationPlan).where(CommunicationPlan.escalation_id == escalation_id)
    )
    latest = select(func.max(ActionPlanStep.version)).where(
        ActionPlanStep.escalation_id == escalation_id
    )
    steps = session.scalars(
        select(ActionPlanStep)
        .where(
            ActionPlanStep.escalation_id == escalation_id,
            ActionPlanStep.version == latest.scalar_subquery(),
        )
        .order_by(ActionPlanStep.position)
    )
    cases = session.scalars(
        select(VendorCase).where(VendorCase.escalation_id == escalation_id).order_by(VendorCase.id)
    )
    events = session.scalars(
        select(EscalationEvent)
        .where(EscalationEvent.escalation_id == escalation_id)
        .order_by(EscalationEvent.at, EscalationEvent.id)
    )
    names = _names(session, [escalation])
    summary = _summary(escalation, None if plan is None else plan.next_update_due_at, names, now)
    return EscalationDetail(
        **vars(summary),
        reason_text=escalation.reason_text,
        raised_by=escalation.raised_by,
        raised_by_kind=escalation.raised_by_kind,
        contact_number=escalation.contact_number,
        accepted_at=escalation.accepted_at,
        management_informed_at=escalation.management_informed_at,
        plan_satisfactory_at=escalation.plan_satisfactory_at,
        analysis_on_track_at=escalation.analysis_on_track_at,
        customer_agreed_at=escalation.customer_agreed_at,
        customer_agreed_by=escalation.customer_agreed_by,
        customer_agreed_how=escalation.customer_agreed_how,
        de_escalated_at=escalation.de_escalated_at,
        action_plan=[StepView(s.position, s.text, s.owner, s.due_at) for s in steps],
        communication_plan=None
        if plan is None
        else CommunicationPlanView(
            plan.kind,
            plan.every_minutes,
            list(plan.participants),
            plan.next_update_due_at,
            plan.last_update_at,
        ),
        vendor_cases=[
            VendorCaseView(c.vendor, c.case_number, c.status, c.via, c.updated_at) for c in cases
        ],
        conferences=conference_views(session, escalation_id),
        events=[EventView(e.at, e.actor, e.action, dict(e.detail)) for e in events],
    )


def _names(session: Session, escalations: list[Escalation]) -> dict[int, str]:
    ids = {i for e in escalations for i in (e.owner_id, e.engineer_id) if i is not None}
    return {i: member.name for i, member in staff_by_ids(session, ids).items()}


def _summary(
    e: Escalation, next_update_due_at: datetime | None, names: dict[int, str], now: datetime
) -> EscalationSummary:
    return EscalationSummary(
        id=e.id,
        sr_number=e.sr_number,
        region=e.region,
        status=e.status,
        reason=e.reason,
        priority=e.priority,
        is_us_government=e.is_us_government,
        owner=None if e.owner_id is None else names.get(e.owner_id),
        engineer=None if e.engineer_id is None else names.get(e.engineer_id),
        created_at=e.created_at,
        age=now - e.created_at,
        next_update_due_at=next_update_due_at,
    )


def waiting_for_an_owner(session: Session) -> dict[tuple[str, str], int]:
    """Escalations nobody has accepted yet, by (region, status): ``raised`` (the duty managers
    are being rung) and ``unowned`` (the rounds ran out; still waiting for someone to take it)."""
    waiting = (EscalationStatus.RAISED.value, EscalationStatus.UNOWNED.value)
    rows = session.execute(
        select(Escalation.region, Escalation.status, func.count())
        .where(Escalation.status.in_(waiting))
        .group_by(Escalation.region, Escalation.status)
    )
    return {(region, status): count for region, status, count in rows}
