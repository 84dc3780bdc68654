"""Confirmations end to end: real SMTP, the twilio SDK against the local mock, status callbacks."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from config.app import create_app
from config.dependencies import Dependencies
from config.mailer import SmtpMailer
from config.settings import LOCAL_AUTH_TOKEN
from config.worker import Worker
from db.transaction import SessionFactory, transaction
from db.work import DEFAULT_LEASE, Alert, GivenUp, claim
from intake.catalog import Catalog
from intake.confirmations import WORK_KIND, begin_attempt, retry_delay
from intake.jobs import confirmation_given_up
from intake.models import Confirmation, ConfirmationStatus
from intake.service_requests import service_request_detail
from ivr.twilio_rest import TwilioSenders
from tests.conftest import BASE_URL
from tests.support.fakes import FakeClock, FakeMessenger
from tests.support.intake_rows import (
    GERMAN_CUSTOMER,
    GERMAN_MOBILE,
    US_CUSTOMER,
    US_MOBILE,
    confirmation,
    submit_request,
    work_for,
)
from tests.support.leases import let_time_pass
from tests.support.mock_twilio import MockTwilio
from tests.support.smtp import SmtpSink
from tests.worker.conftest import MakeDeps


def new_request(deps, clock: FakeClock) -> str:
    """An SR with its confirmations queued, as a finished call leaves it; its number."""
    with transaction(deps.session_factory) as session:
        return submit_request(session, catalog=deps.catalog, now=clock.now())


@pytest.mark.usefixtures("demo_customers")
def test_a_finished_call_is_confirmed_within_a_minute_and_the_sr_shows_how(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    deps = make_deps()
    with transaction(deps.session_factory) as session:
        sr_number = submit_request(
            session, catalog=deps.catalog, now=clock.now(), customer_number=GERMAN_CUSTOMER
        )
    called_at = clock.now()
    clock.advance(seconds=1)  # the worker's next tick
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    with transaction(deps.session_factory) as session:
        detail = service_request_detail(session, sr_number)
    assert detail is not None
    shown = {(c.channel, c.status) for c in detail.confirmations}
    assert shown == {("sms", "sent"), ("email", "sent")}
    for shown_confirmation in detail.confirmations:
        assert shown_confirmation.sent_at is not None
        assert shown_confirmation.sent_at - called_at <= timedelta(seconds=60)


@pytest.mark.usefixtures("demo_customers")
@pytest.mark.parametrize(
    ("region", "customer", "subject", "next_step"),
    [
        ("de", GERMAN_CUSTOMER, "Ihre Support-Anfrage {sr} ist eingegangen", "Wir rufen Sie"),
        ("us", US_CUSTOMER, "We received your support request {sr}", "We will call you back"),
    ],
)
def test_the_confirmation_email_reaches_a_real_smtp_server_in_the_callers_language(
    make_deps: MakeDeps,
    smtp_sink: SmtpSink,
    clock: FakeClock,
    region: str,
    customer: str,
    subject: str,
    next_step: str,
) -> None:
    deps = make_deps(mailer=SmtpMailer.from_url(smtp_sink.url))
    with transaction(deps.session_factory) as session:
        sr_number = submit_request(
            session,
            catalog=deps.catalog,
            now=clock.now(),
            region=region,
            customer_number=customer,
            callback_number=US_MOBILE if region == "us" else GERMAN_MOBILE,
        )
    worker = Worker(deps)
    worker.run_once()
    worker.run_once()
    worker.shutdown()

    [mail] = smtp_sink.messages
    assert mail["Subject"] == subject.format(sr=sr_number)
    body = mail.get_content()
    assert sr_number in body
    assert next_step in body
    assert mail["Auto-Submitted"] == "auto-generated"
    [envelope] = smtp_sink.envelopes
    with transaction(deps.session_factory) as session:
        sent = confirmation(session, sr_number, "email")
    assert envelope.rcpt_tos == (sent.address,)
    assert sent.status == ConfirmationStatus.SENT


def test_the_sms_goes_through_the_twilio_sdk_with_a_status_callback_naming_the_attempt(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders)
    sr_number = new_request(deps, clock)
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    [sms] = mock_twilio.messages
    assert sr_number in sms.body
    assert sms.from_ == "+498001006711"
    with transaction(deps.session_factory) as session:
        sent = confirmation(session, sr_number)
    query = urlencode({"confirmation": sent.id, "attempt": 1})
    assert sms.status_callback == f"{BASE_URL}/ivr/status/sms?{query}"
    assert (sent.provider_id, sent.status, sent.provider_status) == (sms.sid, "sent", "queued")


@pytest.mark.parametrize("code", [21606, 21211, 21610, 21612, 21408, 21614])
def test_an_sms_twilio_refuses_for_good_is_tried_once_and_raises_one_alert(
    make_deps: MakeDeps,
    twilio_senders: TwilioSenders,
    mock_twilio: MockTwilio,
    clock: FakeClock,
    code: int,
) -> None:
    deps = make_deps(messenger=twilio_senders)
    sr_number = new_request(deps, clock)
    mock_twilio.fail_next("messages", status=400, code=code, times=3)
    worker = Worker(deps)
    worker.run_once()
    clock.advance(hours=1)
    worker.run_once()
    worker.shutdown()

    assert len([r for r in mock_twilio.requests if r.method == "POST"]) == 1
    with transaction(deps.session_factory) as session:
        sent = confirmation(session, sr_number)
        assert sent.status == ConfirmationStatus.FAILED
        assert str(code) in (sent.last_error or "")
        alerts = session.scalars(select(Alert).where(Alert.subject == sent.key)).all()
    assert [a.kind for a in alerts] == [f"work_failed:{WORK_KIND}"]


@pytest.mark.usefixtures("demo_customers")
def test_a_caller_who_left_a_landline_is_texted_the_sr_number_on_their_mobile_caller_id(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders)
    with transaction(deps.session_factory) as session:
        sr_number = submit_request(
            session,
            catalog=deps.catalog,
            now=clock.now(),
            customer_number="4711002",  # no e-mail address on file
            callback_number="+4930123456",
            caller_id=GERMAN_MOBILE,
        )
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    [sms] = mock_twilio.messages
    assert (sms.to, sms.from_) == (GERMAN_MOBILE, "+498001006711")
    assert sr_number in sms.body
    with transaction(deps.session_factory) as session:
        detail = service_request_detail(session, sr_number)
    assert detail is not None
    assert [(c.channel, c.address, c.status) for c in detail.confirmations] == [
        ("sms", GERMAN_MOBILE, "sent")
    ]
    assert detail.unconfirmed_reason is None


def _sms_state(make_deps: MakeDeps, sr_number: str) -> tuple[str, str | None, str]:
    deps = make_deps()
    with transaction(deps.session_factory) as session:
        sent = confirmation(session, sr_number)
        return sent.status, sent.provider_id, work_for(session, sent.key).state


def test_an_sms_whose_answer_was_lost_is_found_by_listing_and_never_sent_twice(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders)
    sr_number = new_request(deps, clock)
    mock_twilio.drop_next("messages")
    worker = Worker(deps)

    worker.run_once()
    assert len(mock_twilio.messages) == 1  # Twilio took it; we never heard
    assert _sms_state(make_deps, sr_number)[0] == ConfirmationStatus.UNCERTAIN
    clock.advance(retry_delay(1))
    worker.run_once()
    worker.shutdown()

    [sms] = mock_twilio.messages
    assert _sms_state(make_deps, sr_number) == ("sent", sms.sid, "done")
    listed = [r for r in mock_twilio.requests if r.method == "GET"]
    assert listed
    assert listed[-1].query["To"] == [sms.to]


def test_an_sms_twilio_created_despite_answering_500_is_found_by_listing_and_not_sent_twice(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders)
    sr_number = new_request(deps, clock)
    mock_twilio.fail_next_after_recording("messages", status=500, code=20500)
    worker = Worker(deps)

    worker.run_once()
    assert len(mock_twilio.messages) == 1  # Twilio took it, then answered 500
    assert _sms_state(make_deps, sr_number)[0] == ConfirmationStatus.UNCERTAIN
    clock.advance(retry_delay(1))
    worker.run_once()
    clock.advance(hours=1)
    worker.run_once()
    worker.shutdown()

    [sms] = mock_twilio.messages
    assert _sms_state(make_deps, sr_number) == ("sent", sms.sid, "done")
    posts = [r for r in mock_twilio.requests if r.method == "POST"]
    assert len(posts) == 1
    assert any(r.method == "GET" for r in mock_twilio.requests)


def test_an_sms_dropped_before_twilio_recorded_it_is_sent_exactly_once_on_retry(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders)
    sr_number = new_request(deps, clock)
    mock_twilio.drop_next_before_recording("messages")
    worker = Worker(deps)

    worker.run_once()
    assert mock_twilio.messages == []
    clock.advance(retry_delay(1))
    worker.run_once()
    clock.advance(hours=1)
    worker.run_once()
    worker.shutdown()

    [sms] = mock_twilio.messages
    assert sr_number in sms.body
    assert _sms_state(make_deps, sr_number) == ("sent", sms.sid, "done")
    assert any(r.method == "GET" for r in mock_twilio.requests)


def test_an_uncertain_sms_is_not_resent_while_the_listing_itself_fails(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders)
    sr_number = new_request(deps, clock)
    mock_twilio.drop_next("messages")
    mock_twilio.fail_next("message_list", status=503, code=20503)
    worker = Worker(deps)

    worker.run_once()
    clock.advance(retry_delay(1))
    worker.run_once()  # cannot ask Twilio: waits, sends nothing
    assert len(mock_twilio.messages) == 1
    assert _sms_state(make_deps, sr_number)[2] == "due"
    clock.advance(retry_delay(2))
    worker.run_once()
    worker.shutdown()

    [sms] = mock_twilio.messages
    assert _sms_state(make_deps, sr_number) == ("sent", sms.sid, "done")


def _last_attempt_only(deps: Dependencies, sr_number: str) -> Confirmation:
    with transaction(deps.session_factory) as session:
        sms = confirmation(session, sr_number)
        work_for(session, sms.key).max_attempts = 1
        return sms


def test_a_confirmation_whose_final_attempt_died_unrecorded_ends_uncertain_not_sending(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock, failures=[RuntimeError("SDK bug")])
    deps = make_deps(messenger=messenger)
    sr_number = new_request(deps, clock)
    sms = _last_attempt_only(deps, sr_number)
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    with transaction(deps.session_factory) as session:
        row = confirmation(session, sr_number)
        work = work_for(session, sms.key)
        detail = service_request_detail(session, sr_number)
    assert work.state == "failed"
    assert row.status == ConfirmationStatus.UNCERTAIN
    assert row.last_error == "RuntimeError: SDK bug"
    assert detail is not None
    assert [(c.channel, c.status) for c in detail.confirmations] == [("sms", "uncertain")]


def test_a_confirmation_whose_lease_expired_on_the_final_attempt_ends_uncertain_not_sending(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    deps = make_deps(messenger=messenger)
    sr_number = new_request(deps, clock)
    sms = _last_attempt_only(deps, sr_number)
    # A worker claims the send, marks it begun, and is killed before it records anything.
    with transaction(deps.session_factory) as session:
        [item] = claim(session, worker_id="killed", now=clock.now(), kinds=[WORK_KIND])
        begin_attempt(session, sms.id, catalog=deps.catalog, now=clock.now())
    let_time_pass(deps.session_factory, clock, DEFAULT_LEASE + timedelta(seconds=1))
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    with transaction(deps.session_factory) as session:
        row = confirmation(session, sr_number)
        work = work_for(session, sms.key)
    assert (item.key, work.state) == (sms.key, "failed")
    assert row.status == ConfirmationStatus.UNCERTAIN
    assert row.last_error is not None
    assert row.last_error.startswith("lease expired")
    assert messenger.sent == []


def test_a_confirmation_that_never_began_before_its_work_failed_for_good_ends_failed(
    session_factory: SessionFactory, catalog: Catalog, clock: FakeClock
) -> None:
    with transaction(session_factory) as session:
        sr_number = submit_request(session, catalog=catalog, now=clock.now())
        queued = confirmation(session, sr_number)
    work = GivenUp(WORK_KIND, queued.key, {"confirmation_id": queued.id}, "boom", clock.now())
    with transaction(session_factory) as session:
        confirmation_given_up(session, work)

    with transaction(session_factory) as session:
        row = confirmation(session, sr_number)
    assert (row.status, row.last_error) == (ConfirmationStatus.FAILED, "boom")


def test_a_listed_sms_counts_only_if_it_names_this_sr_number_as_a_whole(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    deps = make_deps(messenger=messenger)
    with transaction(deps.session_factory) as session:
        sr_number = submit_request(session, catalog=deps.catalog, now=clock.now())
        unsure = confirmation(session, sr_number)
        unsure.status = ConfirmationStatus.UNCERTAIN.value
        unsure.attempt_started_at = clock.now()
        to = unsure.address
    # Another request's SMS whose number merely contains this one.
    messenger.send_sms(to=to, from_="+49800", body=f"Anfrage 9{sr_number}7", status_callback=None)
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    assert len(messenger.sent) == 2
    assert sr_number in messenger.sent[1].body.split()


# -- delivery status callbacks ------------------------------------------------------------------


def post_status(client: FlaskClient, url: str, form: dict[str, str], *, signed: bool = True) -> int:
    signature = RequestValidator(LOCAL_AUTH_TOKEN).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature} if signed else {}
    response = client.post(url[len(BASE_URL) :], data=form, headers=headers)
    return response.status_code


def test_duplicated_and_out_of_order_sms_status_callbacks_never_regress(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders)
    sr_number = new_request(deps, clock)
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()
    [sms] = mock_twilio.messages
    assert sms.status_callback is not None
    client = create_app(deps.settings, deps).test_client()

    def report(status: str, *, signed: bool = True) -> int:
        form = {"MessageSid": sms.sid, "MessageStatus": status, "To": sms.to}
        return post_status(client, sms.status_callback or "", form, signed=signed)

    assert report("delivered", signed=False) == 403
    assert report("sent") == 204
    clock.advance(seconds=3)
    delivered_at = clock.now()
    assert report("delivered") == 204
    clock.advance(seconds=3)
    for late in ("delivered", "sent", "queued", "sending", "undelivered"):
        assert report(late) == 204

    with transaction(deps.session_factory) as session:
        settled = confirmation(session, sr_number)
    assert (settled.status, settled.provider_status) == ("delivered", "delivered")
    assert settled.delivered_at == delivered_at
    assert settled.last_error is None
