"""Whole live-caller bridges: a caller on hold, an agent pressing "next caller" in the API, the
worker placing the call on a local Twilio, the agent answering it with the signed call walker."""

from __future__ import annotations

import pytest

from config.dependencies import Dependencies
from config.settings import LOCAL_AUTH_TOKEN
from config.worker import Worker
from db.transaction import transaction
from intake.models import Call
from intake.staff import Presence, Role, add_user, set_presence
from ivr.call_walker import CallWalker
from tests.conftest import BASE_URL

AGENT_PHONE = "+4969123456"


@pytest.fixture
def deps(twilio_deps) -> Dependencies:
    """The app's and the worker's dependencies, calls placed on the local Twilio."""
    return twilio_deps


@pytest.fixture
def agent_token(deps, clock):
    with transaction(deps.session_factory) as session:
        member, token = add_user(
            session, name="anna", role=Role.AGENT, phone=AGENT_PHONE, region="de", now=clock.now()
        )
        set_presence(session, user_id=member.id, presence=Presence.AWAY, now=clock.now())
    return token


def transport_of(client):
    def transport(url, form, headers):
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    return transport


def caller_on_hold(phone, position=1):
    walker = phone()
    walker.queue_position = position
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    assert walker.listening is not None
    assert walker.listening.in_queue
    return walker


def take_next_caller(client, deps, token, mock_twilio, waiting):
    """Press "next caller", let the worker place the call, answer it as the agent."""
    headers = {"Authorization": f"Bearer {token}"}
    presence = client.put(
        "/api/v1/agents/me/presence", json={"presence": "available"}, headers=headers
    )
    assert presence.status_code == 200
    pressed = client.post("/api/v1/agents/me/next-caller", headers=headers)
    assert pressed.status_code == 202, pressed.get_json()
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()
    [placed] = mock_twilio.calls
    assert (placed.to, placed.from_, placed.timeout) == (
        AGENT_PHONE,
        "+498001006711",
        deps.catalog.staff_ring_seconds,
    )
    assert placed.url is not None
    assert placed.url.startswith(f"{BASE_URL}/ivr/agent/next-caller?")
    agent = CallWalker(
        transport=transport_of(client),
        base_url=BASE_URL,
        auth_token=LOCAL_AUTH_TOKEN,
        to=placed.to,
        from_=placed.from_,
        call_sid=placed.sid,
        queue_callers=lambda name: waiting if name == "support-de" else None,
    )
    return agent, agent.answer(placed.url)


def test_an_agent_presses_1_and_is_bridged_to_the_caller_waiting_on_hold(
    client, phone, demo_customers, deps, de, agent_token, mock_twilio
):
    caller = caller_on_hold(phone, position=1)
    assert de.text("queue_position_next") in caller.heard

    agent, heard = take_next_caller(client, deps, agent_token, mock_twilio, caller)
    assert heard == [de.text("next_caller_whisper")]
    heard = agent.press("1")

    assert heard == ["[connected to the caller waiting in queue support-de]"]
    assert agent.ended
    # The caller's talk with the agent ends the call (the flow's end says nothing more).
    assert caller.heard[-1] == "[connected to an agent]"
    assert caller.ended
    bridged = [form for url, form in caller.requests if "QueueResult" in form]
    assert bridged[-1]["QueueResult"] == "bridged"
    with transaction(deps.session_factory) as session:
        call = session.get(Call, caller.call_sid)
        assert call is not None
        assert call.outcome == "agent"
        assert call.is_settled
        assert call.sr_number is None  # the agent took the caller: no message, no callback


def test_with_nobody_waiting_the_agent_hears_so(client, deps, de, agent_token, mock_twilio):
    agent, _ = take_next_caller(client, deps, agent_token, mock_twilio, None)

    heard = agent.press("1")

    assert heard == [de.text("next_caller_nobody_waiting")]
    assert agent.ended


def test_an_agent_who_presses_nothing_hears_the_whisper_three_times(
    client, phone, demo_customers, deps, de, agent_token, mock_twilio
):
    caller = caller_on_hold(phone)
    agent, heard = take_next_caller(client, deps, agent_token, mock_twilio, caller)

    heard += agent.silence()
    heard += agent.silence()
    heard += agent.silence()

    assert heard == [de.text("next_caller_whisper")] * 3 + [de.text("next_caller_no_key")]
    assert agent.ended
    assert caller.listening is not None
    assert caller.listening.in_queue  # still waiting for the next agent


def test_a_caller_taken_by_one_agent_is_not_offered_to_the_next(
    client, phone, demo_customers, deps, de, agent_token, mock_twilio, clock
):
    caller = caller_on_hold(phone)
    first, _ = take_next_caller(client, deps, agent_token, mock_twilio, caller)
    first.press("1")
    mock_twilio.reset()

    second, _ = take_next_caller(client, deps, agent_token, mock_twilio, None)

    assert second.press("1") == [de.text("next_caller_nobody_waiting")]
