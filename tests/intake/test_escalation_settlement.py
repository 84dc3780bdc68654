"""Settling an escalation's message on the database: the SR it quotes, the duty manager's call
back due by the escalation promise around the clock, and the escalation raised once through the
``EscalationDesk`` port (a fake here: intake knows only the port)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callbacks.models import Callback
from callbacks.services import CallbackQueue
from db.transaction import transaction
from intake.call_input import CallContext
from intake.call_steps import FlowState, MessageKind, StepName
from intake.call_store import new_call
from intake.messages import new_message_values
from intake.models import Message
from intake.ports import (
    CallbackRequest,
    CallEscalation,
    EscalationReceipt,
    EscalationRequest,
    SeverityRaiseRequest,
)
from intake.settlement import settle_ended_call, settle_message
from tests.support.intake_rows import GERMAN_MOBILE, submit_request

# Saturday 28 Nov 2026, 22:00 in Germany: desktop support is closed until Monday.
SATURDAY_NIGHT = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)
CALL_SID = "CA" + "e" * 32


@dataclass
class FakeDesk:
    """Records what the call flow asks of the escalation desk."""

    escalations: list[EscalationRequest] = field(default_factory=list)
    severity_raises: list[SeverityRaiseRequest] = field(default_factory=list)

    def raise_escalation(
        self, session: Session, request: EscalationRequest, *, now: datetime
    ) -> EscalationReceipt:
        self.escalations.append(request)
        return EscalationReceipt(len(self.escalations), is_new=True)

    def raise_severity(
        self, session: Session, request: SeverityRaiseRequest, *, now: datetime
    ) -> bool:
        self.severity_raises.append(request)
        return True

    def escalation_of_call(self, session: Session, call_sid: str) -> CallEscalation | None:
        return None  # the hold is walked against the real desk (tests/e2e)


def escalating_call(catalog, *, asked_at, product_line="datacenter", **state):
    call = new_call(
        CALL_SID,
        catalog.region("de"),
        to_number="+498001006711",
        from_number=GERMAN_MOBILE,
        started_at=asked_at - timedelta(minutes=2),
    )
    flow = FlowState(
        step=StepName.CALLBACK_NUMBER,
        kind=MessageKind.ESCALATION,
        escalation_reason="production_down",
        impact_as_recorded=True,
        urgency_changed=False,
        **state,
    )
    return replace(call, flow=flow.to_json(), product_line=product_line)


def open_escalation_message(session, call, sr_number, *, asked_at, product_line="datacenter"):
    message = Message(
        **new_message_values(
            call,
            kind=MessageKind.ESCALATION.value,
            product_line=product_line,
            company=None,
            sr_reference=sr_number,
            callback_asked_at=asked_at,
            now=asked_at,
        )
    )
    session.add(message)
    session.flush()
    return message


def test_the_callback_queue_keeps_a_promise_given_with_the_request(session_factory, catalog):
    with transaction(session_factory) as session:
        sr = submit_request(session, catalog=catalog, now=SATURDAY_NIGHT)
        call = escalating_call(catalog, asked_at=SATURDAY_NIGHT)
        message = open_escalation_message(session, call, sr, asked_at=SATURDAY_NIGHT)
        due = CallbackQueue(catalog).schedule_callback(
            session,
            CallbackRequest(
                sr_number=sr,
                message_id=message.id,
                region="de",
                language="de-DE",
                product_line="desktop",
                callback_number=GERMAN_MOBILE,
                requested_at=SATURDAY_NIGHT,
                asked_at=SATURDAY_NIGHT,
                promise=timedelta(minutes=15),
            ),
            now=SATURDAY_NIGHT + timedelta(minutes=1),
        )
    # Not the desktop line's 24 business hours: 15 minutes, at night and on a weekend too.
    assert due == SATURDAY_NIGHT + timedelta(minutes=15)


def test_an_escalation_message_settles_on_its_sr_with_the_escalation_promise_and_is_raised_once(
    session_factory, catalog
):
    desk = FakeDesk()
    context = CallContext(
        catalog=catalog, scheduler=CallbackQueue(catalog), escalations=desk, now=SATURDAY_NIGHT
    )
    asked_at = SATURDAY_NIGHT - timedelta(minutes=1)
    with transaction(session_factory) as session:
        sr = submit_request(session, catalog=catalog, now=SATURDAY_NIGHT - timedelta(days=1))
        call = escalating_call(catalog, asked_at=asked_at, product_line="desktop")
        message = open_escalation_message(
            session, call, sr, asked_at=asked_at, product_line="desktop"
        )
        message.callback_number = "+4930123456"
        settled = settle_message(session, call, message, context=context)
        # Settled again (a late answer): the escalation is not raised twice.
        settle_message(session, settled, message, context=context)
        callback = session.scalar(select(Callback).where(Callback.message_id == message.id))
        assert callback is not None
        assert callback.due_at == asked_at + timedelta(minutes=15)
        assert (callback.sr_number, callback.callback_number) == (sr, "+4930123456")
        assert message.sr_number == sr
    assert settled.sr_number == sr
    assert desk.escalations == [
        EscalationRequest(
            sr_number=sr,
            reason="production_down",
            call_sid=CALL_SID,
            caller_number=GERMAN_MOBILE,
            contact_number="+4930123456",
            is_us_government=False,
            impact_as_recorded=True,
            urgency_changed=False,
        )
    ]


def test_an_escalating_caller_who_hangs_up_is_escalated_and_called_back_on_the_caller_id(
    session_factory, catalog
):
    desk = FakeDesk()
    context = CallContext(
        catalog=catalog, scheduler=CallbackQueue(catalog), escalations=desk, now=SATURDAY_NIGHT
    )
    with transaction(session_factory) as session:
        sr = submit_request(session, catalog=catalog, now=SATURDAY_NIGHT - timedelta(days=1))
        call = escalating_call(
            catalog, asked_at=SATURDAY_NIGHT, quoted_sr=sr, is_us_government=True
        )
        open_escalation_message(session, call, sr, asked_at=SATURDAY_NIGHT)
        settled = settle_ended_call(session, call, context=context)
    assert settled.is_settled
    [request] = desk.escalations
    assert (request.contact_number, request.is_us_government) == (GERMAN_MOBILE, True)


def test_a_message_of_another_kind_raises_no_escalation(session_factory, catalog, clock):
    desk = FakeDesk()
    context = CallContext(
        catalog=catalog, scheduler=CallbackQueue(catalog), escalations=desk, now=clock.now()
    )
    with transaction(session_factory) as session:
        sr = submit_request(session, catalog=catalog, now=clock.now())
        call = escalating_call(catalog, asked_at=clock.now())
        message = open_escalation_message(session, call, sr, asked_at=clock.now())
        message.kind = MessageKind.CALLBACK.value
        settle_message(session, call, message, context=context)
        callback = session.scalar(select(Callback).where(Callback.message_id == message.id))
        assert callback is not None
        assert callback.due_at == clock.now() + timedelta(minutes=30)
    assert desk.escalations == []
