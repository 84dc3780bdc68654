"""The agents' own API: presence, and taking the next caller."""

from __future__ import annotations

import pytest

from db.transaction import transaction
from intake.models import OutboundCall
from intake.staff import Presence, Role, add_user, find_member

PRESENCE = "/api/v1/agents/me/presence"
NEXT_CALLER = "/api/v1/agents/me/next-caller"


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def user(deps, clock, name, role=Role.AGENT, **details):
    with transaction(deps.session_factory) as session:
        _, token = add_user(session, name=name, role=role, now=clock.now(), **details)
    return token


@pytest.fixture
def agent(deps, clock):
    return user(deps, clock, "anna", phone="+4969123456", region="de")


def presence_of(deps, name):
    with transaction(deps.session_factory) as session:
        return find_member(session, name).presence


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER])
def test_agents_and_managers_set_their_presence(client, deps, clock, role):
    token = user(deps, clock, "someone", role=role, region="de")

    response = client.put(PRESENCE, json={"presence": "available"}, headers=auth(token))

    assert response.status_code == 200
    assert response.get_json() == {"name": "someone", "presence": "available", "region": "de"}
    assert presence_of(deps, "someone") is Presence.AVAILABLE


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"presence": "lunch"}, "presence: Input should be 'available', 'busy' or 'away'"),
        ({}, "presence: Field required"),
        (["available"], "send a JSON object"),
        (None, "send a JSON object"),
    ],
)
def test_a_presence_that_is_not_one_of_the_three_is_refused_naming_the_field(
    client, deps, agent, body, detail
):
    response = client.put(PRESENCE, json=body, headers=auth(agent))

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["detail"].startswith(detail)
    if isinstance(body, dict):
        assert problem["field"] == "presence"
    assert presence_of(deps, "anna") is Presence.AWAY


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.ADMIN])
def test_other_roles_may_neither_set_a_presence_nor_take_callers(client, deps, clock, role):
    token = user(deps, clock, "other", role=role, phone="+4969123456", region="de")

    assert client.put(PRESENCE, json={"presence": "busy"}, headers=auth(token)).status_code == 403
    assert client.post(NEXT_CALLER, headers=auth(token)).status_code == 403
    assert client.post(NEXT_CALLER).status_code == 401


def test_an_available_agent_taking_the_next_caller_gets_the_call_that_rings_them(
    client, deps, agent
):
    client.put(PRESENCE, json={"presence": "available"}, headers=auth(agent))

    response = client.post(NEXT_CALLER, headers=auth(agent))

    assert response.status_code == 202
    body = response.get_json()
    assert body == {
        "outbound_call_id": body["outbound_call_id"],
        "to": "+4969123456",
        "from_number": "+498001006711",
        "region": "de",
    }
    with transaction(deps.session_factory) as session:
        call = session.get(OutboundCall, body["outbound_call_id"])
        assert call is not None
        assert call.url.startswith("/ivr/agent/next-caller?agent=")
    again = client.post(NEXT_CALLER, headers=auth(agent)).get_json()
    assert again["outbound_call_id"] != body["outbound_call_id"]


def test_an_agent_who_is_not_available_is_told_their_presence(client, deps, agent):
    client.put(PRESENCE, json={"presence": "busy"}, headers=auth(agent))

    response = client.post(NEXT_CALLER, headers=auth(agent))

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["presence"] == "busy"
    assert "your presence is busy" in problem["detail"]


def test_an_agent_without_phone_or_region_is_told_what_is_missing(client, deps, clock):
    token = user(deps, clock, "ben", phone="+4969123456")
    client.put(PRESENCE, json={"presence": "available"}, headers=auth(token))

    response = client.post(NEXT_CALLER, headers=auth(token))

    assert response.status_code == 409
    problem = response.get_json()
    assert problem["missing"] == ["region"]
    assert problem["status"] == 409
    assert "no region" in problem["detail"]
    with transaction(deps.session_factory) as session:
        assert session.query(OutboundCall).count() == 0
