"""The escalation desk: customers' escalations and severity raises taken by phone.

Implements ``intake.ports.EscalationDesk``, so the call flow raises escalations without
importing this package (escalations sit above intake).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from escalations.history import Actor, owner_spoken_name
from escalations.records import Escalation, EscalationReason, EscalationStatus, SeverityRaise
from escalations.ringing import raise_and_ring
from escalations.services import UnknownServiceRequest
from intake.catalog import Catalog
from intake.ports import (
    CallEscalation,
    EscalationReceipt,
    EscalationRequest,
    EscalationState,
    SeverityRaiseRequest,
)
from intake.service_requests import find_service_request

# Who raised it, in the history: the customer, by the number they called from.
CUSTOMER = "customer"


# An escalation's status as the caller holding for it hears of it.
_STATE = {
    EscalationStatus.RAISED: EscalationState.RAISED,
    EscalationStatus.ACCEPTED: EscalationState.ACCEPTED,
    EscalationStatus.UNOWNED: EscalationState.UNOWNED,
    EscalationStatus.DE_ESCALATED: EscalationState.CLOSED,
}


def customer(caller_number: str | None) -> Actor:
    """The caller as an actor: "customer" and their caller ID, when it came."""
    return Actor(f"{CUSTOMER} {caller_number}" if caller_number else CUSTOMER)


class EscalationDesk:
    """Raises customers' escalations and records severity raises (the port of ``intake``)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def raise_escalation(
        self, session: Session, request: EscalationRequest, *, now: datetime
    ) -> EscalationReceipt:
        """Escalate the SR for this call once; the region's managers are e-mailed and its duty
        managers rung."""
        raised = session.scalar(select(Escalation).where(Escalation.call_sid == request.call_sid))
        if raised is not None:
            return EscalationReceipt(raised.id, is_new=False)
        checks = {
            name: answer
            for name, answer in (
                ("impact_as_recorded", request.impact_as_recorded),
                ("urgency_changed", request.urgency_changed),
            )
            if answer is not None
        }
        escalation, is_new = raise_and_ring(
            session,
            catalog=self._catalog,
            sr_number=request.sr_number,
            reason=EscalationReason(request.reason),
            by=customer(request.caller_number),
            raised_by_kind=CUSTOMER,
            now=now,
            is_us_government=request.is_us_government,
            call_sid=request.call_sid,
            contact_number=request.contact_number,
            checks=checks,
        )
        return EscalationReceipt(escalation.id, is_new=is_new)

    def raise_severity(
        self, session: Session, request: SeverityRaiseRequest, *, now: datetime
    ) -> bool:
        """Record the severity raise for the SR's engineer, once per call."""
        recorded = session.scalar(
            select(SeverityRaise.id).where(SeverityRaise.call_sid == request.call_sid)
        )
        if recorded is not None:
            return False
        sr = find_service_request(session, request.sr_number)
        if sr is None:
            raise UnknownServiceRequest(f"no service request {request.sr_number}")
        session.add(
            SeverityRaise(
                sr_number=request.sr_number,
                region=sr.region,
                call_sid=request.call_sid,
                reason=_severity_reason(request),
                requested_by=customer(request.caller_number).name,
                created_at=now,
            )
        )
        return True

    def escalation_of_call(self, session: Session, call_sid: str) -> CallEscalation | None:
        """The escalation raised on this call (``escalations.call_sid``): its status, when it
        was raised and who accepted it."""
        escalation = session.scalar(select(Escalation).where(Escalation.call_sid == call_sid))
        if escalation is None:
            return None
        return CallEscalation(
            escalation_id=escalation.id,
            state=_STATE[EscalationStatus(escalation.status)],
            raised_at=escalation.created_at,
            owner_name=owner_spoken_name(session, escalation),
        )


def _severity_reason(request: SeverityRaiseRequest) -> str:
    """Why, as the caller answered: the business impact is no longer as recorded (the offer's
    condition), the escalation reason chosen, and whether the urgency changed."""
    urgency = {True: "yes", False: "no", None: "not answered"}[request.urgency_changed]
    reason = request.reason or "not given"
    return f"business impact not as recorded; reason: {reason}; urgency changed: {urgency}"
