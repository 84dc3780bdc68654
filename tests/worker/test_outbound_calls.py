"""Outbound calls are placed once; an uncertain create is surfaced, never placed again blindly."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from db.transaction import SessionFactory, transaction
from db.work import Alert
from intake.models import OutboundCall, OutboundCallStatus
from intake.outbound_call_jobs import place_call_once
from intake.outbound_calls import UNCERTAIN_ALERT, request_call
from intake.ports import SendError, SendRejected
from ivr.twilio_rest import TwilioSenders
from tests.support.fakes import FakeClock
from tests.support.mock_twilio import MockTwilio

CUSTOMER = "+4915112345678"


def requested(session_factory: SessionFactory, clock: FakeClock, key: str = "callback:1:1") -> int:
    with transaction(session_factory) as session:
        return request_call(
            session,
            key=key,
            to=CUSTOMER,
            from_="+498001006711",
            url="http://hotline.test/ivr/agent",
            status_callback="http://hotline.test/ivr/status",
            timeout_seconds=60,
            now=clock.now(),
        )


def alerts(session_factory: SessionFactory) -> list[Alert]:
    with transaction(session_factory) as session:
        return list(session.scalars(select(Alert)))


def test_a_requested_call_is_placed_once_with_a_status_callback_naming_the_attempt(
    session_factory: SessionFactory,
    clock: FakeClock,
    twilio_senders: TwilioSenders,
    mock_twilio: MockTwilio,
) -> None:
    call_id = requested(session_factory, clock)
    assert requested(session_factory, clock) == call_id

    first = place_call_once(
        call_id, session_factory=session_factory, clock=clock, dialer=twilio_senders
    )
    again = place_call_once(
        call_id, session_factory=session_factory, clock=clock, dialer=twilio_senders
    )

    [call] = mock_twilio.calls
    assert first == again
    assert (first.status, first.call_sid) == (OutboundCallStatus.PLACED, call.sid)
    assert call.status_callback is not None
    query = parse_qs(urlsplit(call.status_callback).query)
    assert query == {"outbound_call": [str(call_id)], "attempt": ["1"]}


def test_an_uncertain_call_create_is_marked_and_alerted_and_never_placed_again(
    session_factory: SessionFactory,
    clock: FakeClock,
    twilio_senders: TwilioSenders,
    mock_twilio: MockTwilio,
) -> None:
    call_id = requested(session_factory, clock)
    mock_twilio.drop_next("calls")

    outcome = place_call_once(
        call_id, session_factory=session_factory, clock=clock, dialer=twilio_senders
    )
    later = place_call_once(
        call_id, session_factory=session_factory, clock=clock, dialer=twilio_senders
    )

    assert outcome.status == later.status == OutboundCallStatus.UNCERTAIN
    assert len(mock_twilio.calls) == 1  # Twilio placed it; we never heard back
    assert len([r for r in mock_twilio.requests if r.path.endswith("/Calls.json")]) == 1
    [alert] = alerts(session_factory)
    assert (alert.kind, alert.subject) == (UNCERTAIN_ALERT, "callback:1:1")
    assert CUSTOMER in alert.message


def test_a_call_whose_attempt_died_mid_request_is_uncertain_not_placed_again(
    session_factory: SessionFactory, clock: FakeClock, twilio_senders: TwilioSenders
) -> None:
    call_id = requested(session_factory, clock)

    class Killed(BaseException):
        pass

    class DyingDialer:
        def place_call(self, **_kwargs: object) -> str:
            raise Killed

    with pytest.raises(Killed):
        place_call_once(call_id, session_factory=session_factory, clock=clock, dialer=DyingDialer())
    outcome = place_call_once(
        call_id, session_factory=session_factory, clock=clock, dialer=twilio_senders
    )

    assert outcome.status == OutboundCallStatus.UNCERTAIN
    assert [a.kind for a in alerts(session_factory)] == [UNCERTAIN_ALERT]


def test_a_refused_call_is_tried_again_and_a_rejected_one_fails_for_good(
    session_factory: SessionFactory,
    clock: FakeClock,
    twilio_senders: TwilioSenders,
    mock_twilio: MockTwilio,
) -> None:
    retried = requested(session_factory, clock, "callback:2:1")
    mock_twilio.fail_next("calls", status=429, code=20429)  # rate limited: nothing placed
    with pytest.raises(SendError):
        place_call_once(
            retried, session_factory=session_factory, clock=clock, dialer=twilio_senders
        )
    outcome = place_call_once(
        retried, session_factory=session_factory, clock=clock, dialer=twilio_senders
    )
    assert outcome.status == OutboundCallStatus.PLACED

    rejected = requested(session_factory, clock, "callback:3:1")
    mock_twilio.fail_next("calls", status=400, code=21211, message="Invalid 'To' Phone Number")
    with pytest.raises(SendRejected):
        place_call_once(
            rejected, session_factory=session_factory, clock=clock, dialer=twilio_senders
        )
    with transaction(session_factory) as session:
        row = session.get(OutboundCall, rejected)
        assert row is not None
        assert (row.status, row.attempts) == ("failed", 1)
    assert len(mock_twilio.calls) == 1
    assert alerts(session_factory) == []
