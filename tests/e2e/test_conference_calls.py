"""An escalation's conference call end to end: started through the API, the worker places each
participant's call at the local Twilio mock, the signed call walker answers them as their
phones and joins the conference, a latecomer dials in with the PIN; who joined, when and for
how long is read back through the API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from config.settings import LOCAL_AUTH_TOKEN
from db.transaction import transaction
from escalations.conferences import DIAL_IN_PATH
from intake.staff import issue_token
from ivr.call_walker import CallWalker
from ivr.prompts import spoken_digits
from ivr.walker_conference import ConferenceRoom
from tests.conftest import BASE_URL
from tests.ivr.test_webhooks import signed_post
from tests.support.conference_rows import (
    BERLIN_LANDLINE,
    DIAL_IN_LINE,
    EVA_PHONE,
    MIA_PHONE,
    escalation_for_conference,
    with_dial_in,
)
from tests.support.intake_rows import GERMAN_MOBILE
from tests.support.mock_twilio import MockCall

LATECOMER = "+4917612345999"


@pytest.fixture
def catalog(catalog):
    return with_dial_in(catalog)


@pytest.fixture
def escalation(deps, catalog, clock) -> tuple[int, str, str]:
    """An accepted escalation with its engineer: its id, SR number, and the owner's token."""
    with transaction(deps.session_factory) as session:
        esc = escalation_for_conference(session, catalog=catalog, now=clock.now())
        _, token = issue_token(session, name="mia", now=clock.now())
    return esc.id, esc.sr_number, token


@pytest.fixture
def rooms() -> dict[str, ConferenceRoom]:
    """The conferences every phone in a test shares."""
    return {}


@pytest.fixture
def phone(client, clock, rooms):
    """A phone for a call the mock accepted, or (``dial_in``) a caller on the dial-in line."""

    def transport(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    def make(call: MockCall | None = None) -> CallWalker:
        walker = CallWalker(
            transport=transport,
            base_url=BASE_URL,
            auth_token=LOCAL_AUTH_TOKEN,
            to=DIAL_IN_LINE if call is None else call.to,
            from_=LATECOMER if call is None else call.from_,
            status_callback=None if call is None else call.status_callback,
            conference_rooms=rooms,
            clock=clock.now,
        )
        if call is not None:
            walker.call_sid = call.sid
        return walker

    return make


def api(client, token, path, body=None, method="POST"):
    return client.open(
        f"/api/v1/escalations{path}",
        method=method,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_participants_are_dialled_into_one_conference_and_their_time_on_it_recorded(
    client, worker, mock_twilio, escalation, phone, clock, catalog
) -> None:
    escalation_id, sr_number, token = escalation
    body = {
        "participants": [
            {"role": "customer"},
            {"role": "engineer"},
            {"role": "duty_manager"},
            {"role": "other", "number": "030 12345678", "name": "Storage Corp"},
        ]
    }
    started = api(client, token, f"/{escalation_id}/conference", body)
    assert started.status_code == 202
    conference = started.get_json()
    assert (conference["name"], conference["dial_in_number"]) == (
        f"escalation-{escalation_id}-1",
        DIAL_IN_LINE,
    )

    worker.run_once()
    worker.run_once()  # a second pass places nothing more
    calls = {call.to: call for call in mock_twilio.calls}
    assert set(calls) == {GERMAN_MOBILE, EVA_PHONE, MIA_PHONE, BERLIN_LANDLINE}
    for participant in conference["participants"]:
        call = calls[participant["number"]]
        query = f"conference={conference['id']}&participant={participant['id']}"
        assert call.url == f"{BASE_URL}/ivr/conference/leg?{query}"
        assert (call.from_, call.timeout) == ("+498001006711", catalog.staff_ring_seconds)
        assert call.status_callback is not None
        assert urlsplit(call.status_callback).path == "/ivr/conference/leg/status"
        assert set(parse_qs(urlsplit(call.status_callback).query)) == {
            "conference",
            "participant",
            "outbound_call",
            "attempt",
        }

    de = catalog.prompts_for("de-DE")
    intro = de.text("conference_intro", sr_number=spoken_digits(sr_number))
    phones = {number: phone(calls[number]) for number in (GERMAN_MOBILE, EVA_PHONE, MIA_PHONE)}
    for number, walker in phones.items():
        assert walker.answer(calls[number].url) == [intro, f"[in conference {conference['name']}]"]
    phone(calls[BERLIN_LANDLINE]).not_answered("no-answer")

    # Twilio posts the customer's join a second time: nothing more is recorded.
    url, form = next(
        (u, f)
        for u, f in phones[GERMAN_MOBILE].requests
        if f.get("StatusCallbackEvent") == "participant-join"
    )
    assert signed_post(client, url.removeprefix(BASE_URL), form).status_code == 204

    clock.advance(minutes=10)
    phones[MIA_PHONE].hang_up()
    clock.advance(minutes=5)
    phones[GERMAN_MOBILE].hang_up()
    phones[EVA_PHONE].hang_up()  # the last one out ends the conference

    detail = api(client, token, f"/{escalation_id}", method="GET").get_json()
    [held] = detail["conferences"]
    assert held["ended_at"] is not None
    assert [
        (p["kind"], p["state"], p["seconds"], p["call_status"]) for p in held["participants"]
    ] == [
        ("customer", "left", 900, "completed"),
        ("engineer", "left", 900, "completed"),
        ("duty_manager", "left", 600, "completed"),
        ("other", "not_reached", None, "no-answer"),
    ]
    actions = [e["action"] for e in detail["events"]]
    assert actions.count("conference_participant_joined") == 3
    assert actions.count("conference_participant_left") == 3
    assert actions[-1] == "conference_ended"
    assert "conference_not_reached" in actions


def test_a_latecomer_dials_in_with_the_pin_and_joins_those_already_talking(
    client, worker, mock_twilio, escalation, phone, clock, catalog
) -> None:
    escalation_id, _, token = escalation
    started = api(
        client, token, f"/{escalation_id}/conference", {"participants": [{"role": "engineer"}]}
    )
    conference = started.get_json()
    worker.run_once()
    [call] = mock_twilio.calls
    engineer = phone(call)
    engineer.answer(call.url)

    clock.advance(minutes=2)
    latecomer = phone()
    de = catalog.prompts_for("de-DE")
    assert latecomer.dial(f"{BASE_URL}{DIAL_IN_PATH}") == [de.text("conference_ask_pin")]
    assert latecomer.press(conference["pin"])[-1] == f"[in conference {conference['name']}]"
    clock.advance(minutes=3)
    latecomer.hang_up()
    assert (
        api(client, token, f"/{escalation_id}", method="GET").get_json()["conferences"][0][
            "ended_at"
        ]
        is None
    )  # the engineer is still on
    engineer.hang_up()

    [held] = api(client, token, f"/{escalation_id}", method="GET").get_json()["conferences"]
    assert [(p["kind"], p["number"], p["seconds"]) for p in held["participants"]] == [
        ("engineer", EVA_PHONE, 300),
        ("dial_in", "***999", 180),
    ]
    assert held["ended_at"] is not None
