"""The agent's leg of "take the next caller" and the caller's side of the bridge, through the
Flask test client: signed, badly signed, unsigned."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from config.settings import LOCAL_AUTH_TOKEN
from intake.models import Call
from tests.conftest import BASE_URL
from tests.support.calls import read_one

AGENT_LEG = {
    "AccountSid": "AC" + "0" * 32,
    "CallSid": "CA" + "b" * 32,
    "From": "+498001006711",
    "To": "+4969123456",
    "CallStatus": "in-progress",
    "Direction": "outbound-api",
}
QUERY = "agent=7&region=de"


def signed_post(client, path, form, *, token=LOCAL_AUTH_TOKEN):
    signature = RequestValidator(token).compute_signature(BASE_URL + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def twiml(response) -> ET.Element:
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    return root


def says(root) -> list[str]:
    return [node.text or "" for node in root.iter("Say")]


def caller_on_hold(phone):
    walker = phone()
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    return walker


def test_the_agent_hears_the_whisper_in_the_regions_voice_with_a_one_key_gather(
    client, deps, de, catalog
):
    root = twiml(signed_post(client, f"/ivr/agent/next-caller?{QUERY}", AGENT_LEG))

    [gather] = root.iter("Gather")
    assert (gather.get("numDigits"), gather.get("input")) == ("1", "dtmf")
    action = urlsplit(gather.get("action"))
    assert action.path == "/ivr/agent/next-caller/key"
    assert parse_qs(action.query) == {"agent": ["7"], "region": ["de"], "try": ["1"]}
    [say] = gather.iter("Say")
    assert say.text == de.text("next_caller_whisper")
    assert say.get("voice") == catalog.region("de").voice
    [redirect] = root.iter("Redirect")
    assert parse_qs(urlsplit(redirect.text).query)["silent"] == ["1"]


@pytest.mark.parametrize(
    "path",
    [
        f"/ivr/agent/next-caller?{QUERY}",
        f"/ivr/agent/next-caller/key?{QUERY}&try=1",
        f"/ivr/agent/next-caller/done?{QUERY}",
        "/ivr/queue/bridged",
    ],
)
def test_every_live_caller_webhook_refuses_a_bad_or_missing_signature(client, deps, path):
    form = {**AGENT_LEG, "Digits": "1", "DequeingCallSid": AGENT_LEG["CallSid"]}
    assert client.post(path, data=form).status_code == 403
    assert signed_post(client, path, form, token="another-token").status_code == 403


def test_1_with_a_caller_waiting_dials_the_regions_queue(client, phone, demo_customers, deps):
    caller_on_hold(phone)

    response = signed_post(
        client, f"/ivr/agent/next-caller/key?{QUERY}&try=1", {**AGENT_LEG, "Digits": "1"}
    )

    [dial] = twiml(response).iter("Dial")
    assert urlsplit(dial.get("action")).path == "/ivr/agent/next-caller/done"
    [queue] = dial.iter("Queue")
    assert queue.text == "support-de"
    assert queue.get("url") == f"{BASE_URL}/ivr/queue/bridged"


def test_1_with_nobody_waiting_says_so_and_hangs_up(client, deps, de):
    response = signed_post(
        client, f"/ivr/agent/next-caller/key?{QUERY}&try=1", {**AGENT_LEG, "Digits": "1"}
    )

    root = twiml(response)
    assert says(root) == [de.text("next_caller_nobody_waiting")]
    assert [node.tag for node in root] == ["Say", "Hangup"]


def test_silence_whispers_again_and_ends_after_the_third_whisper(client, deps, de):
    again = twiml(
        signed_post(client, f"/ivr/agent/next-caller/key?{QUERY}&try=1&silent=1", AGENT_LEG)
    )
    [gather] = again.iter("Gather")
    assert parse_qs(urlsplit(gather.get("action")).query)["try"] == ["2"]

    last = twiml(
        signed_post(client, f"/ivr/agent/next-caller/key?{QUERY}&try=3&silent=1", AGENT_LEG)
    )
    assert says(last) == [de.text("next_caller_no_key")]
    assert [node.tag for node in last] == ["Say", "Hangup"]


def test_a_dial_that_bridged_nobody_tells_the_agent_and_one_that_talked_hangs_up(client, deps, de):
    path = f"/ivr/agent/next-caller/done?{QUERY}"
    empty = twiml(signed_post(client, path, {**AGENT_LEG, "DialCallStatus": "no-answer"}))
    talked = twiml(signed_post(client, path, {**AGENT_LEG, "DialCallStatus": "completed"}))

    assert says(empty) == [de.text("next_caller_nobody_waiting")]
    assert [node.tag for node in talked] == ["Hangup"]


def test_an_unknown_region_ends_the_agents_call_politely_in_english(client, deps):
    root = twiml(signed_post(client, "/ivr/agent/next-caller?agent=7&region=fr", AGENT_LEG))

    assert says(root) == ["This region is not configured. Goodbye."]


def test_the_caller_taken_from_the_queue_is_marked_and_hears_nothing_more(
    client, phone, demo_customers, deps
):
    walker = caller_on_hold(phone)
    form = {**AGENT_LEG, "CallSid": walker.call_sid, "DequeingCallSid": AGENT_LEG["CallSid"]}

    first = twiml(signed_post(client, "/ivr/queue/bridged", form))
    again = twiml(signed_post(client, "/ivr/queue/bridged", form))

    assert list(first) == list(again) == []
    assert read_one(deps, Call).outcome == "agent"


def test_a_failure_on_the_agents_leg_still_answers_twiml(client, deps, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("database away")

    monkeypatch.setattr("ivr.live_callers.answer_whisper", broken)

    response = signed_post(
        client, f"/ivr/agent/next-caller/key?{QUERY}&try=1", {**AGENT_LEG, "Digits": "1"}
    )

    assert [node.tag for node in twiml(response)] == ["Say", "Hangup"]
