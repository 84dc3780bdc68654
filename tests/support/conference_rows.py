"""An accepted escalation ready for a conference call, and regions with a dial-in line."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from escalations.history import SYSTEM, Actor
from escalations.records import EscalationReason
from escalations.services import accept_escalation, assign_engineer, raise_escalation
from intake.catalog import Catalog
from intake.models import Role
from intake.staff import StaffMember
from tests.support.callback_rows import staff
from tests.support.intake_rows import submit_request

# The German region's dial-in line in these tests (a Frankfurt landline).
DIAL_IN_LINE = "+496912345670"
MIA_PHONE = "+4915199990011"  # the duty manager
EVA_PHONE = "+4915199990012"  # the escalation engineer
BERLIN_LANDLINE = "+493012345678"  # somebody else, by number


def with_dial_in(catalog: Catalog, number: str = DIAL_IN_LINE, region: str = "de") -> Catalog:
    """The catalog with ``number`` as ``region``'s conference dial-in line."""
    regions = tuple(
        replace(r, conference_number=number) if r.key == region else r for r in catalog.regions
    )
    return replace(catalog, regions=regions)


@dataclass(frozen=True)
class ConferenceEscalation:
    """The escalation, its SR, its owner (mia) and engineer (eva, unless left out)."""

    id: int
    sr_number: str
    owner: StaffMember
    engineer: StaffMember | None


def escalation_for_conference(
    session: Session,
    *,
    catalog: Catalog,
    now: datetime,
    with_engineer: bool = True,
    engineer_phone: str | None = EVA_PHONE,
    contact_number: str | None = None,
) -> ConferenceEscalation:
    """A German SR (callback number GERMAN_MOBILE) escalated by staff and accepted by mia."""
    sr = submit_request(session, catalog=catalog, now=now)
    mia, _ = staff(session, "mia", now=now, role=Role.MANAGER, phone=MIA_PHONE)
    eva, _ = staff(session, "eva", now=now, role=Role.ENGINEER, phone=engineer_phone)
    escalation, _ = raise_escalation(
        session,
        sr_number=sr,
        reason=EscalationReason.PRODUCTION_DOWN,
        by=SYSTEM,
        raised_by_kind="staff",
        now=now,
        contact_number=contact_number,
    )
    accept_escalation(session, escalation.id, by=mia, now=now)
    if with_engineer:
        assign_engineer(session, escalation.id, engineer="eva", by=Actor.of(mia), now=now)
    return ConferenceEscalation(escalation.id, sr, mia, eva if with_engineer else None)
