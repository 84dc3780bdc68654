"""Raising an escalation and carrying it to its end: accept, engineer, re-escalate, de-escalate.

Services run in the caller's transaction with the escalation locked (``history.locked``); every
change appends an event. The plans agreed for an escalation are in ``escalations.plans``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from escalations.history import Actor, locked, log, move
from escalations.lifecycle import Condition, EscalationMove
from escalations.notices import engineer_and_managers, notify
from escalations.records import Escalation, EscalationReason, EscalationStatus
from escalations.ring_notices import tell_customer_accepted
from intake.models import Role, User
from intake.service_requests import find_service_request
from intake.staff import StaffMember, region_staff

OPEN = (EscalationStatus.RAISED, EscalationStatus.UNOWNED, EscalationStatus.ACCEPTED)


class UnknownServiceRequest(Exception):
    """No SR has that number."""


class UnknownStaff(Exception):
    """No active staff member of the needed role has that name."""


def raise_escalation(
    session: Session,
    *,
    sr_number: str,
    reason: EscalationReason,
    by: Actor,
    raised_by_kind: str,
    now: datetime,
    reason_text: str | None = None,
    is_us_government: bool = False,
    call_sid: str | None = None,
    contact_number: str | None = None,
    checks: dict[str, bool] | None = None,
) -> tuple[Escalation, bool]:
    """Escalate the SR, and whether that made a new escalation: an SR already escalated and
    still open keeps its one escalation, and the new request is logged on it.

    ``checks``: the customer's answers to the seed's pre-checks, kept in the history."""
    # The SR locked: two raises at once (the customer's call and a console) find the first's
    # escalation rather than each making one; no open escalation exists yet to lock.
    sr = find_service_request(session, sr_number, lock=True)
    if sr is None:
        raise UnknownServiceRequest(f"no service request {sr_number}")
    existing = session.scalar(
        select(Escalation)
        .where(
            Escalation.sr_number == sr_number,
            Escalation.status.in_([s.value for s in OPEN]),
        )
        .with_for_update()
    )
    if existing is not None:
        log(
            session,
            existing,
            "raised_again",
            by=by,
            now=now,
            reason=reason.value,
            call_sid=call_sid,
            contact_number=contact_number,
            us_government=is_us_government or None,
            checks=checks or None,
        )
        return existing, False
    escalation = Escalation(
        sr_number=sr_number,
        region=sr.region,
        reason=reason.value,
        reason_text=reason_text,
        is_us_government=is_us_government,
        status=EscalationStatus.RAISED.value,
        priority=1,
        raised_by_kind=raised_by_kind,
        raised_by_user_id=by.user_id,
        raised_by=by.name,
        call_sid=call_sid,
        contact_number=contact_number,
        created_at=now,
        updated_at=now,
    )
    session.add(escalation)
    session.flush()
    log(
        session,
        escalation,
        "raised",
        by=by,
        now=now,
        reason=reason.value,
        kind=raised_by_kind,
        us_government=is_us_government or None,
        checks=checks or None,
    )
    notify(
        session,
        escalation,
        what="raised",
        occasion="first",
        recipients=region_staff(session, region=escalation.region, role=Role.MANAGER),
        now=now,
        reason=reason_text or reason.value,
    )
    return escalation, True


def accept_escalation(
    session: Session,
    escalation_id: int,
    *,
    by: StaffMember,
    now: datetime,
    via: str | None = None,
) -> Escalation:
    """``by`` owns the escalation; a second accept is refused "already accepted by <name>".
    The customer is told who has it (``customer_notices``); ``via`` says how it was accepted."""
    escalation = locked(session, escalation_id)
    move(session, escalation, EscalationMove.ACCEPT, by=Actor.of(by), now=now, via=via)
    escalation.owner_id = by.id
    escalation.accepted_at = now
    tell_customer_accepted(session, escalation, now=now)
    return escalation


def flag_unowned(session: Session, escalation_id: int, *, by: Actor, now: datetime) -> Escalation:
    """Nobody accepted in time: the escalation is flagged for everyone to see."""
    escalation = locked(session, escalation_id)
    move(session, escalation, EscalationMove.FLAG_UNOWNED, by=by, now=now)
    return escalation


def assign_engineer(
    session: Session, escalation_id: int, *, engineer: str, by: Actor, now: datetime
) -> Escalation:
    """Make ``engineer`` (an active engineer or manager, by name) the primary contact."""
    member = session.scalar(
        select(User).where(
            User.name == engineer,
            User.is_active.is_(True),
            User.role.in_([Role.ENGINEER.value, Role.MANAGER.value]),
        )
    )
    if member is None:
        raise UnknownStaff(f"no active engineer named {engineer!r}")
    escalation = locked(session, escalation_id)
    move(
        session,
        escalation,
        EscalationMove.ASSIGN_ENGINEER,
        by=by,
        now=now,
        engineer=member.name,
        previous=escalation.engineer_id,
    )
    escalation.engineer_id = member.id
    escalation.engineer_assigned_at = now
    return escalation


def re_escalate(
    session: Session, escalation_id: int, *, reason: str, by: Actor, now: datetime
) -> Escalation:
    """The customer is unhappy with progress: raise the priority, record that management was
    informed, and tell the engineer and the region's managers at once."""
    escalation = locked(session, escalation_id)
    move(
        session,
        escalation,
        EscalationMove.RE_ESCALATE,
        by=by,
        now=now,
        reason=reason,
        priority=escalation.priority + 1,
    )
    escalation.priority += 1
    escalation.management_informed_at = now
    notify(
        session,
        escalation,
        what="re_escalated",
        occasion=str(escalation.priority),
        recipients=engineer_and_managers(session, escalation),
        now=now,
        reason=reason,
    )
    return escalation


def record_condition(
    session: Session,
    escalation_id: int,
    *,
    condition: Condition,
    by: Actor,
    now: datetime,
    customer_contact: str | None = None,
    how: str | None = None,
) -> Escalation:
    """Record one de-escalation condition; the customer's agreement needs who and how."""
    if condition is Condition.CUSTOMER_AGREED and not (customer_contact and how):
        raise ValueError("the customer's agreement needs customer_contact and how")
    escalation = locked(session, escalation_id)
    move(
        session,
        escalation,
        EscalationMove.RECORD_CONDITION,
        by=by,
        now=now,
        condition=condition.value,
        customer_contact=customer_contact,
        how=how,
    )
    if condition is Condition.PLAN_SATISFACTORY:
        escalation.plan_satisfactory_at, escalation.plan_satisfactory_by = now, by.name
    elif condition is Condition.ANALYSIS_ON_TRACK:
        escalation.analysis_on_track_at, escalation.analysis_on_track_by = now, by.name
    else:
        escalation.customer_agreed_at = now
        escalation.customer_agreed_by = customer_contact
        escalation.customer_agreed_how = how
    return escalation


def de_escalate(
    session: Session, escalation_id: int, *, by: Actor, now: datetime, note: str | None = None
) -> Escalation:
    """End the escalation; refused (``MoveRefused``) naming every condition still missing."""
    escalation = locked(session, escalation_id)
    move(session, escalation, EscalationMove.DE_ESCALATE, by=by, now=now, note=note)
    escalation.de_escalated_at = now
    return escalation
