"""Every API endpoint names the roles that may use it; each role is tried on each; revoked
tokens and disabled users are refused from the next request on."""

from __future__ import annotations

import pytest

from db.transaction import transaction
from intake.staff import Role, add_user, issue_token, list_tokens, revoke_token, set_active

# (path, roles that may use it). A new endpoint fails the completeness test below until it is
# listed here with its roles.
CALLBACK_WORKERS = {Role.AGENT, Role.MANAGER}
ESCALATION_STAFF = {Role.ENGINEER, Role.MANAGER}
MANAGERS = {Role.MANAGER}
E = "/api/v1/escalations"
ESCALATION_ENDPOINTS = {
    "escalations_api.list_escalations": ("GET", E, ESCALATION_STAFF, 200),
    "escalations_api.get_escalation": ("GET", f"{E}/4242", ESCALATION_STAFF, 404),
    "escalations_api.raise_one": ("POST", E, ESCALATION_STAFF, 400),
    "escalations_api.accept": ("POST", f"{E}/4242/accept", MANAGERS, 404),
    "escalations_api.engineer": ("POST", f"{E}/4242/engineer", MANAGERS, 400),
    "escalations_api.action_plan": ("POST", f"{E}/4242/action-plan", ESCALATION_STAFF, 400),
    "escalations_api.communication_plan": (
        "POST",
        f"{E}/4242/communication-plan",
        ESCALATION_STAFF,
        400,
    ),
    "escalations_api.update": ("POST", f"{E}/4242/updates", ESCALATION_STAFF, 400),
    "escalations_api.vendors": ("POST", f"{E}/4242/vendors", ESCALATION_STAFF, 400),
    "escalations_api.conference": ("POST", f"{E}/4242/conference", ESCALATION_STAFF, 400),
    "escalations_api.re_escalate_one": ("POST", f"{E}/4242/re-escalate", ESCALATION_STAFF, 400),
    "escalations_api.conditions": ("POST", f"{E}/4242/conditions", ESCALATION_STAFF, 400),
    "escalations_api.de_escalate_one": ("POST", f"{E}/4242/de-escalate", MANAGERS, 404),
}
ROSTER_KEEPERS = {Role.MANAGER, Role.ADMIN}
ENDPOINTS = {
    "api.get_service_request": (
        "GET",
        "/api/v1/service-requests/10000016",
        {Role.AGENT, Role.ENGINEER, Role.MANAGER},
    ),
    "callbacks_api.list_queue": ("GET", "/api/v1/callbacks", CALLBACK_WORKERS),
    "agents_api.put_presence": ("PUT", "/api/v1/agents/me/presence", CALLBACK_WORKERS),
    "callbacks_api.call": ("POST", "/api/v1/callbacks/4242/call", CALLBACK_WORKERS),
    "agents_api.post_next_caller": ("POST", "/api/v1/agents/me/next-caller", CALLBACK_WORKERS),
    "callbacks_api.get_callback": ("GET", "/api/v1/callbacks/4242", CALLBACK_WORKERS),
    "callbacks_api.claim_next": ("POST", "/api/v1/callbacks/claim-next", CALLBACK_WORKERS),
    "callbacks_api.claim": ("POST", "/api/v1/callbacks/4242/claim", CALLBACK_WORKERS),
    "callbacks_api.release": ("POST", "/api/v1/callbacks/4242/release", CALLBACK_WORKERS),
    "callbacks_api.disposition": (
        "POST",
        "/api/v1/callbacks/4242/disposition",
        CALLBACK_WORKERS,
    ),
    "callbacks_api.reschedule": (
        "POST",
        "/api/v1/callbacks/4242/reschedule",
        CALLBACK_WORKERS,
    ),
    "rosters_api.get_rosters": ("GET", "/api/v1/rosters/de", ROSTER_KEEPERS),
    "rosters_api.put_roster": ("PUT", "/api/v1/rosters/de", ROSTER_KEEPERS),
    "rosters_api.post_override": ("POST", "/api/v1/rosters/de/overrides", {Role.MANAGER}),
}


ENDPOINTS.update({name: row[:3] for name, row in ESCALATION_ENDPOINTS.items()})

# What an admitted role gets from each view here: nothing numbered 4242 or 10000016 exists,
# the users work no region, no region has a roster, and the bodies sent are empty.
ADMITTED_STATUS = {
    **{name: row[3] for name, row in ESCALATION_ENDPOINTS.items()},
    "api.get_service_request": 404,
    "callbacks_api.list_queue": 200,
    "agents_api.put_presence": 400,
    "callbacks_api.call": 404,
    "agents_api.post_next_caller": 409,
    "callbacks_api.get_callback": 404,
    "callbacks_api.claim_next": 422,
    "callbacks_api.claim": 404,
    "callbacks_api.release": 404,
    "callbacks_api.disposition": 400,
    "callbacks_api.reschedule": 400,
    "rosters_api.get_rosters": 200,
    "rosters_api.put_roster": 400,
    "rosters_api.post_override": 400,
}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(deps, clock):
    """One user and token per role."""
    issued = {}
    with transaction(deps.session_factory) as session:
        for role in Role:
            _, issued[role] = add_user(session, name=f"{role.value}1", role=role, now=clock.now())
    return issued


def test_every_api_endpoint_states_its_roles_and_is_listed_here(app):
    api_views = {
        rule.endpoint: app.view_functions[rule.endpoint]
        for rule in app.url_map.iter_rules()
        # The OpenAPI document and its docs page are public.
        if rule.rule.startswith("/api/v1/") and not rule.endpoint.startswith("api_docs.")
    }
    assert set(api_views) == set(ENDPOINTS)
    for name, view in api_views.items():
        assert view.allowed_roles == frozenset(ENDPOINTS[name][2]), name


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_each_role_is_admitted_or_refused_by_each_endpoint(client, tokens, endpoint, role):
    method, path, allowed = ENDPOINTS[endpoint]

    response = client.open(path, method=method, json={}, headers=auth(tokens[role]))

    if role in allowed:
        assert response.status_code == ADMITTED_STATUS[endpoint], response.get_json()
    else:
        assert response.status_code == 403
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert (body["title"], body["status"]) == ("Forbidden", 403)
        assert body["detail"].startswith(f"role {role.value} may not; allowed: ")
        assert (body["role"], set(body["allowed_roles"])) == (
            role.value,
            {r.value for r in allowed},
        )


def test_a_revoked_token_is_refused_at_once_and_the_users_other_token_still_works(
    client, deps, clock, tokens
):
    with transaction(deps.session_factory) as session:
        _, second_token = issue_token(session, name="agent1", now=clock.now())
        first, second = list_tokens(session, name="agent1")
    assert (first.hint, second.hint) == (tokens[Role.AGENT][-4:], second_token[-4:])
    assert client.get("/api/v1/callbacks", headers=auth(tokens[Role.AGENT])).status_code == 200

    with transaction(deps.session_factory) as session:
        revoke_token(session, name="agent1", token_id=first.id, now=clock.now())

    refused = client.get("/api/v1/callbacks", headers=auth(tokens[Role.AGENT]))
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "the token is not valid"
    assert client.get("/api/v1/callbacks", headers=auth(second_token)).status_code == 200


def test_a_disabled_users_tokens_stop_working_at_once_and_work_again_when_enabled(
    client, deps, tokens
):
    headers = auth(tokens[Role.MANAGER])
    assert client.get("/api/v1/callbacks", headers=headers).status_code == 200

    with transaction(deps.session_factory) as session:
        set_active(session, name="manager1", active=False)
    assert client.get("/api/v1/callbacks", headers=headers).status_code == 401

    with transaction(deps.session_factory) as session:
        set_active(session, name="manager1", active=True)
    assert client.get("/api/v1/callbacks", headers=headers).status_code == 200
