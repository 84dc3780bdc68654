"""The Twilio edge through the Flask test client: signatures, failures, status callbacks."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest
from flask import request
from flask.sessions import NullSession
from twilio.request_validator import RequestValidator

from callbacks.models import Callback
from config.app import create_app
from config.settings import LOCAL_AUTH_TOKEN
from intake.call_store import CallStore
from intake.models import Call, CallTurn, Message, ServiceRequest
from ivr.call_walker import CallWalker
from tests.conftest import BASE_URL, WEDNESDAY_MORNING
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE, read_one, read_rows, wait_in_queue

CALL_SID = "CA" + "a" * 32
FIRST_WEBHOOK = {
    "AccountSid": "AC" + "0" * 32,
    "CallSid": CALL_SID,
    "From": GERMAN_MOBILE,
    "To": GERMAN_LINE,
    "CallStatus": "ringing",
    "Direction": "inbound",
}


def signed_post(client, path, form, *, token=LOCAL_AUTH_TOKEN, base=BASE_URL):
    signature = RequestValidator(token).compute_signature(base + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def twiml(response) -> ET.Element:
    """The parsed TwiML of a response that Twilio would accept."""
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    body = response.get_data()
    assert len(body) < 64 * 1024
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


def answer_menu(client) -> None:
    """Greet the caller and answer the menu (1: a new request), which stores the call."""
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    form = {**FIRST_WEBHOOK, "Digits": "1", "CallStatus": "in-progress"}
    assert signed_post(client, "/ivr/voice?step=menu&seq=1", form).status_code == 200


# The caller's first answer: accepted, it stores the call (the greeting stores nothing).
FIRST_ANSWER_PATH = "/ivr/voice?step=menu&seq=1"
FIRST_ANSWER = {**FIRST_WEBHOOK, "Digits": "1", "CallStatus": "in-progress"}


def stored_nothing(deps) -> bool:
    return all(read_rows(deps, model) == [] for model in (Call, CallTurn, Message))


# -- signatures --------------------------------------------------------------------------------


def test_an_unsigned_webhook_is_refused_and_nothing_is_stored(client, deps):
    response = client.post(FIRST_ANSWER_PATH, data=FIRST_ANSWER)
    assert response.status_code == 403
    assert stored_nothing(deps)


def test_a_webhook_signed_with_another_token_is_refused(client, deps):
    response = signed_post(client, FIRST_ANSWER_PATH, FIRST_ANSWER, token="not-our-token")
    assert response.status_code == 403
    assert stored_nothing(deps)


def test_a_webhook_whose_form_was_changed_after_signing_is_refused(client, deps):
    signature = RequestValidator(LOCAL_AUTH_TOKEN).compute_signature(
        BASE_URL + FIRST_ANSWER_PATH, FIRST_ANSWER
    )
    response = client.post(
        FIRST_ANSWER_PATH,
        data={**FIRST_ANSWER, "From": "+4930999999"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 403
    assert stored_nothing(deps)


def test_a_signature_over_the_public_url_with_its_default_port_is_accepted(client, deps):
    # Twilio signs some requests over the URL with the port written out.
    with_port = BASE_URL + ":80"
    assert BASE_URL == "http://hotline.test"
    response = signed_post(client, FIRST_ANSWER_PATH, FIRST_ANSWER, base=with_port)
    gather = twiml(response).find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{BASE_URL}/ivr/voice?step=customer_number&seq=2"
    assert read_one(deps, Call).call_sid == CALL_SID


def test_a_signature_over_the_internal_url_instead_of_the_public_one_is_refused(client, deps):
    response = signed_post(client, FIRST_ANSWER_PATH, FIRST_ANSWER, base="http://localhost")
    assert response.status_code == 403
    assert stored_nothing(deps)


@pytest.mark.parametrize(
    "path", ["/ivr/status", "/ivr/status/recording", "/ivr/fallback", "/ivr/fallback/number"]
)
def test_every_twilio_endpoint_checks_the_signature(client, deps, path):
    # A form each of them would store something for, were it signed.
    form = {**FIRST_WEBHOOK, "CallStatus": "completed", "CallDuration": "5", "Digits": "030123456"}
    assert client.post(path, data=form).status_code == 403
    assert stored_nothing(deps)
    assert read_rows(deps, ServiceRequest) == []


def test_a_signed_webhook_is_answered_with_the_greeting(client, deps, catalog, clock):
    root = twiml(signed_post(client, "/ivr/voice", FIRST_WEBHOOK))
    de = catalog.prompts_for("de-DE")
    gather = root.find("Gather")
    assert gather is not None
    assert [s.text for s in gather.findall("Say")] == [de.text("welcome"), de.text("menu")]
    # The answer carries when the call was greeted; the greeting itself stores nothing.
    started_ms = int(clock.now().timestamp() * 1000)
    assert gather.get("action") == f"{BASE_URL}/ivr/voice?step=menu&seq=1&t={started_ms}"
    redirect = root.find("Redirect")
    assert redirect is not None
    assert redirect.text == f"{BASE_URL}/ivr/voice?step=menu&seq=1&t={started_ms}&silent=1"
    assert stored_nothing(deps)


def test_the_first_answer_stores_the_call_from_when_it_was_greeted(client, deps, clock):
    greeted = clock.now()
    started_ms = int(greeted.timestamp() * 1000)
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    clock.advance(seconds=8)
    form = {**FIRST_WEBHOOK, "Digits": "1", "CallStatus": "in-progress"}
    path = f"/ivr/voice?step=menu&seq=1&t={started_ms}"
    assert twiml(signed_post(client, path, form)).find("Gather") is not None
    call = read_one(deps, Call)
    assert (call.call_sid, call.started_at, call.last_activity_at) == (
        CALL_SID,
        greeted,
        clock.now(),
    )


def test_a_signature_over_the_query_string_is_checked(client, deps):
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    form = {**FIRST_WEBHOOK, "Digits": "1", "CallStatus": "in-progress"}
    signature = RequestValidator(LOCAL_AUTH_TOKEN).compute_signature(
        BASE_URL + "/ivr/voice?step=menu&seq=1", form
    )
    tampered = client.post(
        "/ivr/voice?step=menu&seq=2", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert tampered.status_code == 403
    assert signed_post(client, "/ivr/voice?step=menu&seq=1", form).status_code == 200


# -- numbers we do not serve, failures ---------------------------------------------------------


def test_an_unknown_dialled_number_hears_a_polite_english_goodbye(client, deps):
    root = twiml(signed_post(client, "/ivr/voice", {**FIRST_WEBHOOK, "To": "+4940123456"}))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    say = root.find("Say")
    assert say is not None
    assert say.get("language") == "en-US"
    assert say.text == "Sorry, this number is not in service. Please check the number. Goodbye."
    assert stored_nothing(deps)


class FailingScheduler:
    """A callback queue that breaks the first ``failures`` times it is used."""

    def __init__(self, real, failures=1):
        self.real = real
        self.failures = failures

    def schedule_callback(self, session, request, *, now):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database hiccup")
        return self.real.schedule_callback(session, request, now=now)


@pytest.fixture
def failing_phone(settings, deps):
    """A phone to an app whose first attempt to queue a callback fails."""
    app = create_app(
        settings, dataclasses.replace(deps, scheduler=FailingScheduler(deps.scheduler))
    )
    client = app.test_client()

    def transport(url, form, headers):
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    return CallWalker(
        transport=transport,
        base_url=BASE_URL,
        auth_token=LOCAL_AUTH_TOKEN,
        to=GERMAN_LINE,
        from_=GERMAN_MOBILE,
    )


def test_a_failing_turn_answers_the_fallback_and_still_takes_a_number(
    failing_phone, demo_customers, deps, catalog, caplog
):
    de = catalog.prompts_for("de-DE")
    walker = failing_phone
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    wait_in_queue(walker)
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    heard = walker.say("Beschreibung")
    # The SR was rolled back with the failed turn, so no number may be read.
    assert heard == [de.text("error_fallback")]
    assert read_rows(deps, ServiceRequest) == []
    assert f"event=webhook_error call_sid={walker.call_sid}" in caplog.text
    assert walker.press("030123456#") == [de.text("fallback_thanks")]
    assert walker.ended
    sr = read_one(deps, ServiceRequest)
    assert (sr.contact_name, sr.callback_number) == ("Erika Mustermann", "+4930123456")
    callback = read_one(deps, Callback)
    assert (callback.sr_number, callback.callback_number) == (sr.number, "+4930123456")


def test_a_fallback_number_without_a_typed_number_uses_the_caller_id(client, deps):
    root = twiml(signed_post(client, "/ivr/fallback/number", {**FIRST_WEBHOOK, "Digits": ""}))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    sr = read_one(deps, ServiceRequest)
    assert (sr.region, sr.callback_number, sr.product_line) == ("de", GERMAN_MOBILE, "datacenter")
    assert read_one(deps, Callback).callback_number == GERMAN_MOBILE


def test_a_fallback_number_posted_twice_makes_one_sr(client, deps):
    form = {**FIRST_WEBHOOK, "Digits": "030123456"}
    signed_post(client, "/ivr/fallback/number", form)
    signed_post(client, "/ivr/fallback/number", form)
    assert len(read_rows(deps, ServiceRequest)) == 1
    assert len(read_rows(deps, Callback)) == 1


@pytest.mark.parametrize(
    ("digits", "reason"),
    [
        ("09001234567", "callback_refused_premium_rate"),
        ("08001006711", "callback_refused_own_number"),
    ],
)
def test_a_number_refused_at_the_fallback_is_asked_again_with_the_reason(
    client, deps, de, digits, reason
):
    form = {**FIRST_WEBHOOK, "Digits": digits}
    again = twiml(signed_post(client, "/ivr/fallback/number?try=1", form))
    gather = again.find("Gather")
    assert gather is not None
    assert [say.text for say in gather.findall("Say")] == [
        de.text(reason),
        de.text("error_fallback"),
    ]
    assert read_rows(deps, ServiceRequest) == []


def test_digits_that_are_no_phone_number_are_asked_again_then_the_caller_id_is_used(
    client, deps, de
):
    form = {**FIRST_WEBHOOK, "Digits": "12"}
    again = twiml(signed_post(client, "/ivr/fallback/number?try=1", form))
    gather = again.find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{BASE_URL}/ivr/fallback/number?try=2"
    assert [say.text for say in gather.findall("Say")] == [
        de.text("callback_invalid"),
        de.text("error_fallback"),
    ]
    assert read_rows(deps, ServiceRequest) == []
    signed_post(client, "/ivr/fallback/number?try=2", form)
    last = twiml(signed_post(client, "/ivr/fallback/number?try=3", form))
    assert [say.text for say in last.findall("Say")] == [de.text("fallback_thanks")]
    [callback] = read_rows(deps, Callback)
    assert callback.callback_number == FIRST_WEBHOOK["From"]


@pytest.mark.parametrize("typed", ["09001234567", "08001006711", "00442079460958"])
def test_a_fallback_number_we_do_not_call_is_asked_again_then_the_caller_id_is_used(
    client, deps, typed
):
    form = {**FIRST_WEBHOOK, "Digits": typed}
    again = twiml(signed_post(client, "/ivr/fallback/number?try=1", form))
    assert again.find("Gather") is not None
    assert read_rows(deps, ServiceRequest) == []
    signed_post(client, "/ivr/fallback/number?try=3", form)
    [callback] = read_rows(deps, Callback)
    assert callback.callback_number == FIRST_WEBHOOK["From"]


def test_a_fallback_number_typed_with_49_but_no_00_is_taken_as_the_mobile_it_spells(client, deps):
    # No read-back while Twilio is failing us: the reading the call flow would offer is kept.
    signed_post(client, "/ivr/fallback/number", {**FIRST_WEBHOOK, "Digits": "4917612345678"})
    assert read_one(deps, Callback).callback_number == "+4917612345678"


def test_a_caller_with_no_number_at_all_is_not_promised_a_callback(client, deps, de):
    form = {**FIRST_WEBHOOK, "From": "anonymous", "Digits": ""}
    last = twiml(signed_post(client, "/ivr/fallback/number?try=1", form))
    assert [say.text for say in last.findall("Say")] == [de.text("no_number_goodbye")]
    assert read_rows(deps, Callback) == []


@pytest.mark.parametrize(("to", "language"), [(GERMAN_LINE, "de-DE"), ("+4940123456", "en-US")])
def test_the_fallback_url_answers_safe_twiml_that_takes_a_number(client, deps, to, language):
    root = twiml(
        signed_post(client, "/ivr/fallback", {**FIRST_WEBHOOK, "To": to, "ErrorCode": "11200"})
    )
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{BASE_URL}/ivr/fallback/number?try=1"
    assert gather.get("input") == "dtmf"
    say = gather.find("Say")
    assert say is not None
    assert say.get("language") == language
    redirect = root.find("Redirect")
    assert redirect is not None
    assert redirect.text == f"{BASE_URL}/ivr/fallback/number?try=1"


def test_every_answer_of_a_whole_call_is_small_valid_twiml(phone, demo_customers):
    walker = phone()
    walker.dial()
    walker.press("1")
    walker.press("4711001#")
    walker.press("1")
    wait_in_queue(walker)
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("1")
    walker.say("Beschreibung " * 200)
    walker.press("1")
    walker.press("1")
    walker.press("2")
    assert walker.ended
    for (url, _), body in zip(walker.requests, walker.responses, strict=True):
        if "/ivr/status" in url:
            assert body == ""
            continue
        assert len(body.encode()) < 64 * 1024
        assert ET.fromstring(body).tag == "Response"


# -- status callbacks --------------------------------------------------------------------------


def status(client, call_status, **extra):
    form = {**FIRST_WEBHOOK, "CallStatus": call_status, **extra}
    return signed_post(client, "/ivr/status", form)


def test_status_callbacks_answer_204_and_record_the_end(client, deps, clock):
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    response = status(client, "completed", CallDuration="42", SequenceNumber="3")
    assert response.status_code == 204
    assert response.get_data() == b""
    call = read_one(deps, Call)
    assert (call.status, call.duration_seconds, call.ended_at) == ("completed", 42, clock.now())


def test_a_late_ringing_after_completed_changes_nothing(client, deps, clock):
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    status(client, "completed", CallDuration="42", SequenceNumber="3")
    clock.advance(minutes=1)
    assert status(client, "ringing", SequenceNumber="0").status_code == 204
    assert status(client, "completed", CallDuration="99", SequenceNumber="3").status_code == 204
    call = read_one(deps, Call)
    assert (call.status, call.duration_seconds, call.ended_at) == (
        "completed",
        42,
        WEDNESDAY_MORNING,
    )


def test_an_older_progress_status_does_not_overwrite_a_newer_one(client, deps):
    answer_menu(client)
    status(client, "in-progress", SequenceNumber="2")
    status(client, "ringing", SequenceNumber="1")
    assert read_one(deps, Call).status == "in-progress"


def test_a_call_that_ends_during_the_greeting_is_stored_by_its_status_callback(client, deps, clock):
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    assert status(client, "completed", CallDuration="6").status_code == 204
    call = read_one(deps, Call)
    assert (call.status, call.duration_seconds, call.outcome, call.ended_at) == (
        "completed",
        6,
        "abandoned",
        clock.now(),
    )
    assert read_rows(deps, CallTurn) == []
    assert read_rows(deps, Message) == []


def test_an_answer_after_the_status_callback_of_a_call_ended_in_the_greeting_hears_goodbye(
    client, deps, catalog
):
    # The caller pressed a key and hung up; the status callback overtook the answer.
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    status(client, "completed", CallDuration="4")
    root = twiml(signed_post(client, FIRST_ANSWER_PATH, FIRST_ANSWER))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert root.find("Say").text == catalog.prompts_for("de-DE").text("goodbye")
    call = read_one(deps, Call)
    assert (call.status, call.turn, call.outcome) == ("completed", 0, "abandoned")
    assert read_rows(deps, CallTurn) == []


def test_two_copies_of_the_first_answer_store_one_call_and_hear_the_same(client, deps):
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    first = signed_post(client, FIRST_ANSWER_PATH, FIRST_ANSWER)
    again = signed_post(client, FIRST_ANSWER_PATH, FIRST_ANSWER)
    assert again.get_data() == first.get_data()
    assert read_one(deps, Call).turn == 2
    assert sorted(turn.seq for turn in read_rows(deps, CallTurn)) == [0, 1]


def test_a_fallback_number_for_a_call_stored_meanwhile_joins_that_call(client, deps, monkeypatch):
    answer_menu(client)
    # The fallback's look-up ran just before the first answer stored the call (on PostgreSQL
    # two transactions can interleave so): its insert then finds the row and joins it.
    real_load = CallStore.load
    lookups: list[str] = []

    def late_load(store, call_sid):
        lookups.append(call_sid)
        return None if len(lookups) == 1 else real_load(store, call_sid)

    monkeypatch.setattr(CallStore, "load", late_load)
    form = {**FIRST_WEBHOOK, "Digits": "030123456"}
    assert [c.tag for c in twiml(signed_post(client, "/ivr/fallback/number", form))] == [
        "Say",
        "Hangup",
    ]
    assert len(lookups) == 2
    assert read_one(deps, Call).turn == 2  # the answered call, not a second row
    assert read_one(deps, ServiceRequest).callback_number == "+4930123456"


def test_a_status_callback_for_a_call_not_to_our_numbers_is_accepted_and_ignored(client, deps):
    assert status(client, "completed", To="+15550000000").status_code == 204
    assert stored_nothing(deps)


def test_a_recording_callback_for_a_call_without_consent_is_ignored(client, deps):
    signed_post(client, "/ivr/voice", FIRST_WEBHOOK)
    form = {
        **FIRST_WEBHOOK,
        "RecordingSid": "RE" + "1" * 32,
        "RecordingUrl": "https://api.twilio.com/rec",
        "RecordingStatus": "completed",
    }
    assert signed_post(client, "/ivr/status/recording", form).status_code == 204
    assert read_rows(deps, Message) == []


def test_twilio_requests_get_no_cookie_session_and_others_keep_theirs(app):
    with app.test_request_context("/ivr/voice", method="POST"):
        assert app.session_interface.open_session(app, request) is None  # Flask's null session
    with app.test_request_context("/api/v1/callbacks"):
        opened = app.session_interface.open_session(app, request)
        assert opened is not None
        assert not isinstance(opened, NullSession)
