"""Outbound calls are placed once; an uncertain create is surfaced, never placed again blindly."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from config.dependencies import Dependencies
from config.worker import Worker
from db.transaction import SessionFactory, transaction
from db.work import Alert, GivenUp, WorkItem
from intake.models import OutboundCall, OutboundCallStatus
from intake.outbound_call_jobs import absolute_url, call_given_up, place_call_once
from intake.outbound_calls import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    UNCERTAIN_ALERT,
    WORK_KIND,
    WORK_PRIORITY,
    begin_placing,
    request_call,
    retry_delay,
)
from intake.ports import SendError, SendRejected
from ivr.twilio_rest import TwilioSenders
from tests.support.fakes import FakeClock
from tests.support.mock_twilio import MockTwilio
from tests.worker.conftest import MakeDeps

CUSTOMER = "+4915112345678"


def requested(
    session_factory: SessionFactory,
    clock: FakeClock,
    key: str = "callback:1:1",
    *,
    url: str = "http://hotline.test/ivr/agent",
    status_callback: str = "http://hotline.test/ivr/status",
) -> int:
    with transaction(session_factory) as session:
        return request_call(
            session,
            key=key,
            to=CUSTOMER,
            from_="+498001006711",
            url=url,
            status_callback=status_callback,
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


# -- through the worker -----------------------------------------------------------------------


def work_row(deps: Dependencies, call_id: int) -> WorkItem:
    with transaction(deps.session_factory) as session:
        row = session.scalar(select(WorkItem).where(WorkItem.key == f"{WORK_KIND}:{call_id}"))
        assert row is not None
        session.expunge(row)
        return row


def call_row(deps: Dependencies, call_id: int) -> OutboundCall:
    with transaction(deps.session_factory) as session:
        row = session.get(OutboundCall, call_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_requested_call_is_placed_by_the_worker_once(
    make_deps: MakeDeps, clock: FakeClock, twilio_senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    deps = make_deps(dialer=twilio_senders)
    call_id = requested(deps.session_factory, clock)
    worker = Worker(deps)

    worker.run_once()
    worker.run_once()
    worker.shutdown()

    [call] = mock_twilio.calls
    assert call_row(deps, call_id).call_sid == call.sid
    row = work_row(deps, call_id)
    assert (row.state, row.attempts, row.priority) == ("done", 1, WORK_PRIORITY)


def test_relative_urls_are_placed_against_the_public_base_url(
    make_deps: MakeDeps, clock: FakeClock, twilio_senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    deps = make_deps(dialer=twilio_senders, public_base_url="https://hotline.example/")
    requested(
        deps.session_factory,
        clock,
        url="/ivr/agent/next-caller?agent=7&region=de",
        status_callback="/ivr/status/agent",
    )
    worker = Worker(deps)

    worker.run_once()
    worker.shutdown()

    [call] = mock_twilio.calls
    assert call.url == "https://hotline.example/ivr/agent/next-caller?agent=7&region=de"
    assert call.status_callback is not None
    assert call.status_callback.startswith("https://hotline.example/ivr/status/agent?")


def test_a_refused_call_is_placed_by_the_worker_after_its_backoff(
    make_deps: MakeDeps, clock: FakeClock, twilio_senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    deps = make_deps(dialer=twilio_senders)
    call_id = requested(deps.session_factory, clock)
    mock_twilio.fail_next("calls", status=429, code=20429)
    worker = Worker(deps)

    worker.run_once()
    assert (work_row(deps, call_id).state, call_row(deps, call_id).status) == ("due", "pending")
    clock.advance(retry_delay(1))
    worker.run_once()
    worker.shutdown()

    assert len(mock_twilio.calls) == 1
    assert call_row(deps, call_id).status == OutboundCallStatus.PLACED
    assert (work_row(deps, call_id).state, work_row(deps, call_id).attempts) == ("done", 2)


def test_a_rejected_call_fails_its_work_at_once_with_an_alert(
    make_deps: MakeDeps, clock: FakeClock, twilio_senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    deps = make_deps(dialer=twilio_senders)
    call_id = requested(deps.session_factory, clock)
    mock_twilio.fail_next("calls", status=400, code=21211, message="Invalid 'To' Phone Number")
    worker = Worker(deps)

    worker.run_once()
    clock.advance(minutes=10)
    worker.run_once()
    worker.shutdown()

    assert mock_twilio.calls == []
    assert call_row(deps, call_id).status == OutboundCallStatus.FAILED
    assert (work_row(deps, call_id).state, work_row(deps, call_id).attempts) == ("failed", 1)
    assert [a.kind for a in alerts(deps.session_factory)] == [f"work_failed:{WORK_KIND}"]


def test_a_call_refused_on_every_attempt_fails_when_its_work_gives_up(
    make_deps: MakeDeps, clock: FakeClock, twilio_senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    deps = make_deps(dialer=twilio_senders)
    call_id = requested(deps.session_factory, clock)
    mock_twilio.fail_next("calls", status=429, code=20429, times=MAX_ATTEMPTS)
    worker = Worker(deps)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        worker.run_once()
        clock.advance(retry_delay(attempt))
    worker.run_once()
    worker.shutdown()

    assert mock_twilio.calls == []
    call = call_row(deps, call_id)
    assert (call.status, call.attempts) == (OutboundCallStatus.FAILED, MAX_ATTEMPTS)
    assert work_row(deps, call_id).state == "failed"
    # Every refusal fits in two minutes: a late call reaches nobody still waiting for it.
    assert sum(RETRY_DELAYS, timedelta()) <= timedelta(minutes=2)


def test_a_call_whose_work_gives_up_mid_request_is_uncertain_with_an_alert(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    call_id = requested(session_factory, clock)
    with transaction(session_factory) as session:
        begin_placing(session, call_id, now=clock.now())  # then the worker was killed
    expired = "lease expired on attempt 5, the last one"

    with transaction(session_factory) as session:
        call_given_up(
            session,
            GivenUp(WORK_KIND, "k", {"outbound_call_id": call_id}, expired, clock.now()),
        )
        call = session.get(OutboundCall, call_id)
        assert call is not None
        assert (call.status, call.last_error) == (OutboundCallStatus.UNCERTAIN, expired)
    [alert] = alerts(session_factory)
    assert alert.kind == UNCERTAIN_ALERT


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        (
            "/ivr/agent/callback?callback=1",
            "https://h.example",
            "https://h.example/ivr/agent/callback?callback=1",
        ),
        (
            "/ivr/agent/callback",
            "https://h.example/hotline/",
            "https://h.example/hotline/ivr/agent/callback",
        ),
        ("https://elsewhere.example/x", "https://h.example", "https://elsewhere.example/x"),
        ("/ivr/agent/callback", None, "/ivr/agent/callback"),  # local mode, log-only dialer
    ],
)
def test_a_webhook_path_is_placed_after_the_public_base_url(url, base, expected) -> None:
    assert absolute_url(url, base) == expected


def test_a_call_requested_with_paths_is_placed_with_absolute_urls(
    session_factory: SessionFactory,
    clock: FakeClock,
    twilio_senders: TwilioSenders,
    mock_twilio: MockTwilio,
) -> None:
    with transaction(session_factory) as session:
        call_id = request_call(
            session,
            key="callback:9:1",
            to=CUSTOMER,
            from_="+498001006711",
            url="/ivr/agent/callback?callback=9&call=1",
            status_callback="/ivr/agent/callback/status?callback=9&call=1",
            timeout_seconds=25,
            now=clock.now(),
        )
    place_call_once(
        call_id,
        session_factory=session_factory,
        clock=clock,
        dialer=twilio_senders,
        public_base_url="https://hotline.example/x",
    )
    [call] = mock_twilio.calls
    assert call.url == "https://hotline.example/x/ivr/agent/callback?callback=9&call=1"
    assert call.status_callback == (
        f"https://hotline.example/x/ivr/agent/callback/status?callback=9&call=1"
        f"&outbound_call={call_id}&attempt=1"
    )
