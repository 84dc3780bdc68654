"""An escalation as staff carry it: raised, accepted by a duty manager, an engineer assigned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from escalations.history import SYSTEM, Actor
from escalations.records import EscalationReason
from escalations.ringing import raise_and_ring
from escalations.services import accept_escalation, assign_engineer, raise_escalation
from intake.catalog import Catalog
from intake.models import Role
from intake.staff import StaffMember
from tests.support.callback_rows import staff
from tests.support.intake_rows import submit_request


@dataclass(frozen=True)
class AcceptedEscalation:
    """The escalation, its SR, and the duty manager who owns it (mia; eva is the engineer)."""

    id: int
    sr_number: str
    owner: StaffMember


def accepted_escalation(
    session: Session,
    *,
    catalog: Catalog,
    now: datetime,
    reason: EscalationReason = EscalationReason.PRODUCTION_DOWN,
) -> AcceptedEscalation:
    """A German SR escalated by staff, accepted by mia, with eva as its engineer; both have
    e-mail addresses."""
    sr = submit_request(session, catalog=catalog, now=now)
    mia, _ = staff(session, "mia", now=now, role=Role.MANAGER, email="mia@example.com")
    staff(session, "eva", now=now, role=Role.ENGINEER, email="eva@example.com")
    escalation, _ = raise_escalation(
        session, sr_number=sr, reason=reason, by=SYSTEM, raised_by_kind="staff", now=now
    )
    accept_escalation(session, escalation.id, by=mia, now=now)
    assign_engineer(session, escalation.id, engineer="eva", by=Actor.of(mia), now=now)
    return AcceptedEscalation(escalation.id, sr, mia)


def rung_escalation(
    session: Session,
    *,
    catalog: Catalog,
    now: datetime,
    reason: EscalationReason = EscalationReason.PRODUCTION_DOWN,
    contact_number: str | None = None,
) -> int:
    """A German SR escalated (by its customer when ``contact_number`` is given, else by staff),
    its duty managers' first ring requested: the escalation's id."""
    sr = submit_request(session, catalog=catalog, now=now)
    escalation, _ = raise_and_ring(
        session,
        catalog=catalog,
        now=now,
        sr_number=sr,
        reason=reason,
        by=SYSTEM,
        raised_by_kind="customer" if contact_number else "staff",
        call_sid="CA" + "e" * 32 if contact_number else None,
        contact_number=contact_number,
    )
    return escalation.id
