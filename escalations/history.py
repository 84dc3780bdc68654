"""Reading an escalation for a change, and the append-only log every change writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escalations.lifecycle import EscalationMove, decide_escalation_move
from escalations.records import Escalation, EscalationEvent, EscalationStatus
from intake.staff import StaffMember, staff_by_ids


@dataclass(frozen=True)
class Actor:
    """Who did something: a staff member, the customer (by number), or the system."""

    name: str
    user_id: int | None = None

    @classmethod
    def of(cls, member: StaffMember) -> Actor:
        """The staff member as an actor."""
        return cls(member.name, member.id)


SYSTEM = Actor("system")


class UnknownEscalation(Exception):
    """No escalation has that id."""


def locked(session: Session, escalation_id: int) -> Escalation:
    """The escalation, locked until the transaction ends; raises ``UnknownEscalation``."""
    escalation = session.scalar(
        select(Escalation).where(Escalation.id == escalation_id).with_for_update()
    )
    if escalation is None:
        raise UnknownEscalation(f"no escalation {escalation_id}")
    return escalation


def owner_name(session: Session, escalation: Escalation) -> str | None:
    """The user name of the duty manager who accepted it, if one did (staff and the API)."""
    owner = _owner(session, escalation)
    return None if owner is None else owner.name


def owner_spoken_name(session: Session, escalation: Escalation) -> str | None:
    """The name callers hear and customers read of the duty manager who accepted it."""
    owner = _owner(session, escalation)
    return None if owner is None else owner.spoken_name


def _owner(session: Session, escalation: Escalation) -> StaffMember | None:
    if escalation.owner_id is None:
        return None
    return staff_by_ids(session, {escalation.owner_id}).get(escalation.owner_id)


def move(
    session: Session,
    escalation: Escalation,
    what: EscalationMove,
    *,
    by: Actor,
    now: datetime,
    **detail: Any,
) -> EscalationStatus:
    """Apply ``what`` (refused with every reason by ``lifecycle``) and log it."""
    from escalations.lifecycle import Conditions

    status = decide_escalation_move(
        what,
        EscalationStatus(escalation.status),
        owner=owner_name(session, escalation),
        conditions=Conditions(
            escalation.plan_satisfactory_at,
            escalation.analysis_on_track_at,
            escalation.customer_agreed_at,
        ),
    )
    escalation.status = status.value
    escalation.updated_at = now
    log(session, escalation, what.value, by=by, now=now, **detail)
    return status


def log(
    session: Session,
    escalation: Escalation,
    action: str,
    *,
    by: Actor,
    now: datetime,
    **detail: Any,
) -> None:
    """Append one event to the escalation's history."""
    session.add(
        EscalationEvent(
            escalation_id=escalation.id,
            at=now,
            user_id=by.user_id,
            actor=by.name,
            action=action,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    )
