"""The escalation desk on the database: a customer's escalation raised once per call with the
region's managers told, a severity raise recorded once per call and never as an escalation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.transaction import read_transaction, transaction
from db.work import WorkItem
from escalations.desk import EscalationDesk, customer
from escalations.history import SYSTEM
from escalations.records import (
    Escalation,
    EscalationEvent,
    EscalationReason,
    EscalationStatus,
    SeverityRaise,
)
from escalations.services import UnknownServiceRequest, accept_escalation, flag_unowned
from intake.call_rules import ESCALATION_REASONS
from intake.models import Role
from intake.ports import (
    CallEscalation,
    EscalationRequest,
    EscalationState,
    SeverityRaiseRequest,
)
from tests.support.callback_rows import staff
from tests.support.intake_rows import GERMAN_MOBILE, submit_request
from tests.support.rosters import cover_every_region

CALL_SID = "CA" + "d" * 32


@pytest.fixture
def sr(deps, catalog, clock) -> str:
    with transaction(deps.session_factory) as session:
        return submit_request(session, catalog=catalog, now=clock.now())


def request(sr: str, **changes) -> EscalationRequest:
    values = {
        "sr_number": sr,
        "reason": "production_down",
        "call_sid": CALL_SID,
        "caller_number": GERMAN_MOBILE,
        "contact_number": "+4930123456",
        "is_us_government": False,
        "impact_as_recorded": True,
        "urgency_changed": None,
    }
    return EscalationRequest(**{**values, **changes})


def test_the_phone_menus_reasons_are_the_escalation_reasons():
    assert set(ESCALATION_REASONS.values()) == {r.value for r in EscalationReason}


def test_a_customers_escalation_is_raised_once_per_call_and_the_managers_are_told(deps, clock, sr):
    with transaction(deps.session_factory) as session:
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER, email="mia@example.com")
    desk = EscalationDesk(deps.catalog)
    with transaction(deps.session_factory) as session:
        first = desk.raise_escalation(session, request(sr), now=clock.now())
    with transaction(deps.session_factory) as session:
        again = desk.raise_escalation(session, request(sr), now=clock.now())
    assert first.is_new
    assert (again.escalation_id, again.is_new) == (first.escalation_id, False)
    with transaction(deps.session_factory) as session:
        escalation = session.get(Escalation, first.escalation_id)
        assert escalation is not None
        assert (escalation.raised_by_kind, escalation.raised_by) == (
            "customer",
            f"customer {GERMAN_MOBILE}",
        )
        assert (escalation.call_sid, escalation.contact_number) == (CALL_SID, "+4930123456")
        events = session.scalars(select(EscalationEvent)).all()
        # No roster here: nobody to ring, so it is flagged unowned at once.
        assert [(e.action, e.actor) for e in events] == [
            ("raised", f"customer {GERMAN_MOBILE}"),
            ("ringing_started", "system"),
            ("flag_unowned", "system"),
        ]
        # Only the answers given go into the history.
        assert events[0].detail["checks"] == {"impact_as_recorded": True}
        notices = session.scalars(
            select(WorkItem.key).where(WorkItem.kind == "escalations.notice")
        ).all()
        assert notices == [f"escalations.notice:{first.escalation_id}:raised:first:{mia.id}"]


def test_a_withheld_caller_is_named_the_customer():
    assert customer(None).name == "customer"
    assert customer("").name == "customer"


def test_an_unknown_sr_is_not_escalated(deps, clock):
    with pytest.raises(UnknownServiceRequest), transaction(deps.session_factory) as session:
        EscalationDesk(deps.catalog).raise_escalation(session, request("10000024"), now=clock.now())


def severity(sr: str) -> SeverityRaiseRequest:
    return SeverityRaiseRequest(
        sr_number=sr,
        reason="business_impact",
        call_sid=CALL_SID,
        caller_number=GERMAN_MOBILE,
        urgency_changed=False,
    )


def test_a_severity_raise_is_recorded_once_per_call_and_is_no_escalation(deps, clock, sr):
    desk = EscalationDesk(deps.catalog)
    with transaction(deps.session_factory) as session:
        assert desk.raise_severity(session, severity(sr), now=clock.now()) is True
    with transaction(deps.session_factory) as session:
        assert desk.raise_severity(session, severity(sr), now=clock.now()) is False
    with transaction(deps.session_factory) as session:
        [raised] = session.scalars(select(SeverityRaise)).all()
        assert (raised.sr_number, raised.region, raised.call_sid) == (sr, "de", CALL_SID)
        assert raised.requested_by == f"customer {GERMAN_MOBILE}"
        assert raised.reason == (
            "business impact not as recorded; reason: business_impact; urgency changed: no"
        )
        assert raised.created_at == clock.now()
        assert session.scalars(select(Escalation)).all() == []


def test_a_severity_raise_on_an_unknown_sr_is_refused(deps, clock):
    with pytest.raises(UnknownServiceRequest), transaction(deps.session_factory) as session:
        EscalationDesk(deps.catalog).raise_severity(session, severity("10000024"), now=clock.now())


def test_a_call_reads_the_escalation_it_raised_as_it_goes_raised_then_accepted(
    deps, catalog, clock, sr
):
    cover_every_region(deps.session_factory, catalog, now=clock.now())  # rung, not unowned
    with transaction(deps.session_factory) as session:
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER)
    desk = EscalationDesk(deps.catalog)
    raised_at = clock.now()
    with transaction(deps.session_factory) as session:
        receipt = desk.raise_escalation(session, request(sr), now=raised_at)
        # A second call on the SR is logged on the same escalation: it raised none itself.
        other = "CA" + "f" * 32
        desk.raise_escalation(session, request(sr, call_sid=other), now=raised_at)
    clock.advance(seconds=40)
    with read_transaction(deps.session_factory) as session:
        assert desk.escalation_of_call(session, CALL_SID) == CallEscalation(
            receipt.escalation_id, EscalationState.RAISED, raised_at, None
        )
        assert desk.escalation_of_call(session, other) is None
        assert desk.escalation_of_call(session, "CA" + "0" * 32) is None
    with transaction(deps.session_factory) as session:
        accept_escalation(session, receipt.escalation_id, by=mia, now=clock.now())
    with read_transaction(deps.session_factory) as session:
        assert desk.escalation_of_call(session, CALL_SID) == CallEscalation(
            receipt.escalation_id, EscalationState.ACCEPTED, raised_at, "mia"
        )


def test_an_escalation_flagged_unowned_reads_unowned_on_its_call(deps, catalog, clock, sr):
    cover_every_region(deps.session_factory, catalog, now=clock.now())  # rung, not unowned
    desk = EscalationDesk(deps.catalog)
    with transaction(deps.session_factory) as session:
        receipt = desk.raise_escalation(session, request(sr), now=clock.now())
    with transaction(deps.session_factory) as session:
        flag_unowned(session, receipt.escalation_id, by=SYSTEM, now=clock.now())
    with read_transaction(deps.session_factory) as session:
        found = desk.escalation_of_call(session, CALL_SID)
    assert found is not None
    assert (found.state, found.owner_name) == (EscalationState.UNOWNED, None)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("raised", EscalationState.RAISED),
        ("accepted", EscalationState.ACCEPTED),
        ("unowned", EscalationState.UNOWNED),
        ("de_escalated", EscalationState.CLOSED),
    ],
)
def test_every_escalation_status_is_a_state_the_holding_caller_knows(
    deps, clock, sr, status, state
):
    assert {s.value for s in EscalationStatus} == {"raised", "accepted", "unowned", "de_escalated"}
    desk = EscalationDesk(deps.catalog)
    with transaction(deps.session_factory) as session:
        receipt = desk.raise_escalation(session, request(sr), now=clock.now())
    with transaction(deps.session_factory) as session:
        escalation = session.get(Escalation, receipt.escalation_id)
        assert escalation is not None
        escalation.status = status
    with read_transaction(deps.session_factory) as session:
        found = desk.escalation_of_call(session, CALL_SID)
    assert found is not None
    assert found.state is state
