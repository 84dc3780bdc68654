"""The agent's leg webhooks through the Flask test client: signed or refused, always TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from callbacks.calls import AGENT_LEG_PATH, AGENT_STATUS_PATH, start_callback_call
from callbacks.claims import claim_callback
from callbacks.models import Callback, CallbackEvent
from db.transaction import transaction
from ivr.prompts import spoken_digits
from tests.ivr.test_webhooks import signed_post, twiml
from tests.support.callback_rows import AGENT_PHONE, queued_callback, staff
from tests.support.calls import read_one, read_rows
from tests.support.intake_rows import GERMAN_MOBILE

GERMAN_LINE = "+498001006711"
LEG = {
    "AccountSid": "AC" + "0" * 32,
    "CallSid": "CA" + "b" * 32,
    "From": GERMAN_LINE,
    "To": AGENT_PHONE,
    "Direction": "outbound-api",
    "CallStatus": "in-progress",
}


@pytest.fixture
def calling(deps, catalog, clock):
    """A callback whose agent's call was started: its id."""
    with transaction(deps.session_factory) as session:
        anna, _ = staff(session, "anna", now=clock.now())
        callback_id = queued_callback(session, catalog=catalog, now=clock.now())
        claim_callback(session, callback_id, by=anna, now=clock.now(), catalog=catalog)
        start_callback_call(session, callback_id, by=anna, now=clock.now(), catalog=catalog)
    return callback_id


def path(callback_id: int, step: str = "", **more: object) -> str:
    base = f"{AGENT_LEG_PATH}/{step}" if step else AGENT_LEG_PATH
    extra = "".join(f"&{k}={v}" for k, v in more.items())
    return f"{base}?callback={callback_id}&call=1{extra}"


def says(root: ET.Element) -> list[str]:
    return [(node.text or "") for node in root.iter("Say")]


def history(deps, callback_id: int) -> list[str]:
    rows = read_rows(deps, CallbackEvent)
    return [e.action for e in sorted(rows, key=lambda e: e.id) if e.callback_id == callback_id]


def test_the_routes_are_where_the_domain_sends_twilio(app) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {AGENT_LEG_PATH, AGENT_STATUS_PATH} <= rules
    assert {f"{AGENT_LEG_PATH}/{s}" for s in ("key", "screen", "dialed")} <= rules


@pytest.mark.parametrize("step", ["", "key", "screen", "dialed", "status"])
def test_every_agent_leg_webhook_refuses_a_bad_signature_and_changes_nothing(
    client, deps, calling, step
) -> None:
    form = {**LEG, "Digits": "2", "CallStatus": "no-answer", "DialCallStatus": "busy"}
    before = history(deps, calling)
    assert client.post(path(calling, step), data=form).status_code == 403
    forged = client.post(
        path(calling, step), data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    )
    assert forged.status_code == 403
    wrong_token = signed_post(client, path(calling, step), form, token="another-token")
    assert wrong_token.status_code == 403
    assert history(deps, calling) == before
    assert read_one(deps, Callback).status == "calling"


def test_the_agent_hears_the_summary_in_german_then_the_question(client, deps, calling, de) -> None:
    callback = read_one(deps, Callback)
    root = twiml(signed_post(client, path(calling), LEG))

    [gather] = root.findall("Gather")
    assert (gather.get("numDigits"), gather.get("input")) == ("1", "dtmf")
    assert gather.get("action") == f"http://hotline.test{path(calling, 'key', **{'try': 1})}"
    heard = says(root)
    assert heard[0] == de.text("agent_whisper_intro", sr_number=spoken_digits(callback.sr_number))
    assert heard[1] == de.text(
        "agent_whisper_contact", name="Erika Mustermann", company="Muster Maschinenbau GmbH"
    )
    assert heard[2].startswith("Bis zur zugesagten Rückrufzeit bleiben noch")
    assert heard[3] == de.text("agent_whisper_description", description="Server startet nicht")
    assert heard[-1] == de.text("agent_press")
    assert {(n.get("voice"), n.get("language")) for n in root.iter("Say")} == {
        ("Polly.Vicki-Neural", "de-DE")
    }
    [redirect] = root.findall("Redirect")
    assert redirect.text == f"http://hotline.test{path(calling, **{'try': 2})}"


def test_silence_asks_again_three_times_then_says_goodbye(client, deps, calling, de) -> None:
    again = twiml(signed_post(client, path(calling, **{"try": 3}), LEG))
    assert says(again) == [de.text("no_input"), de.text("agent_press")]
    done = twiml(signed_post(client, path(calling, **{"try": 4}), LEG))
    assert says(done) == [de.text("agent_no_key")]
    assert done.find("Hangup") is not None
    # The goodbye itself changes nothing: the call's status callback releases the claim.
    assert read_one(deps, Callback).status == "calling"


def test_a_wrong_key_is_asked_again_with_the_next_try(client, deps, calling, de) -> None:
    root = twiml(signed_post(client, path(calling, "key", **{"try": 1}), {**LEG, "Digits": "5"}))
    assert says(root) == [de.text("not_understood"), de.text("agent_press")]
    [gather] = root.findall("Gather")
    assert gather.get("action", "").endswith("&try=2")


def test_key_1_dials_the_customer_with_the_region_number_and_machine_detection(
    client, deps, calling, catalog, de
) -> None:
    root = twiml(signed_post(client, path(calling, "key"), {**LEG, "Digits": "1"}))
    assert says(root) == [de.text("agent_calling_customer")]
    [dial] = root.findall("Dial")
    assert dial.get("callerId") == GERMAN_LINE
    assert dial.get("timeout") == str(catalog.staff_ring_seconds)
    assert dial.get("action") == f"http://hotline.test{path(calling, 'dialed')}"
    [number] = dial.findall("Number")
    assert number.text == GERMAN_MOBILE
    assert number.get("machineDetection") == "Enable"
    assert number.get("url") == f"http://hotline.test{path(calling, 'screen')}"
    assert history(deps, calling)[-1] == "agent_accepted"


def test_key_2_releases_the_callback(client, deps, calling, de) -> None:
    root = twiml(signed_post(client, path(calling, "key"), {**LEG, "Digits": "2"}))
    assert says(root) == [de.text("agent_released")]
    assert root.find("Hangup") is not None
    assert read_one(deps, Callback).status == "queued"


@pytest.mark.parametrize(("answered_by", "hangs_up"), [("human", False), ("machine_start", True)])
def test_the_customers_answer_is_screened(client, deps, calling, answered_by, hangs_up) -> None:
    signed_post(client, path(calling, "key"), {**LEG, "Digits": "1"})
    form = {**LEG, "CallSid": "CA" + "c" * 32, "AnsweredBy": answered_by}
    root = twiml(signed_post(client, path(calling, "screen"), form))
    assert (root.find("Hangup") is not None) is hangs_up
    if not hangs_up:
        assert list(root) == []  # an empty document bridges the two calls
    assert read_one(deps, Callback).answered_by == answered_by


def test_the_dial_outcome_tells_the_agent_what_happened(client, deps, calling, de) -> None:
    signed_post(client, path(calling, "key"), {**LEG, "Digits": "1"})
    root = twiml(signed_post(client, path(calling, "dialed"), {**LEG, "DialCallStatus": "busy"}))
    assert says(root) == [de.text("agent_not_reached_busy"), de.text("agent_retry_scheduled")]
    callback = read_one(deps, Callback)
    assert (callback.status, callback.disposition, callback.attempts) == ("queued", "busy", 1)


def test_the_status_callback_releases_an_unanswered_call_once(client, deps, calling) -> None:
    form = {**LEG, "CallStatus": "no-answer"}
    status = f"{AGENT_STATUS_PATH}?callback={calling}&call=1&outbound_call=1&attempt=1"
    first = signed_post(client, status, form)
    again = signed_post(client, status, form)
    assert (first.status_code, again.status_code) == (204, 204)
    assert read_one(deps, Callback).status == "queued"
    assert history(deps, calling).count("agent_declined") == 1


def test_a_webhook_naming_no_callback_hears_a_goodbye(client, deps) -> None:
    root = twiml(signed_post(client, AGENT_LEG_PATH, LEG))
    assert says(root) == ["This callback is no longer waiting for you. Goodbye."]


def test_a_failure_still_answers_twiml_and_a_failed_status_callback_answers_500(
    client, deps, calling
) -> None:
    # A product line the configuration no longer knows: every move of this callback fails.
    with transaction(deps.session_factory) as session:
        callback = session.get(Callback, calling)
        callback.product_line = "retired"
    root = twiml(signed_post(client, path(calling, "key"), {**LEG, "Digits": "1"}))
    assert root.find("Hangup") is not None
    assert says(root) == ["Sorry, we have a technical problem. Goodbye."]
    status = signed_post(
        client, f"{AGENT_STATUS_PATH}?callback={calling}&call=1", {**LEG, "CallStatus": "busy"}
    )
    assert status.status_code == 500
    assert read_one(deps, Callback).status == "calling"
