"""The callback queue's API: claim, release, record, reschedule; conflicts name the holder."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.transaction import transaction
from intake.models import Role
from tests.support.callback_rows import queued_callback, staff


@pytest.fixture
def team(deps, clock):
    with transaction(deps.session_factory) as session:
        _, anna = staff(session, "anna", now=clock.now())
        _, ben = staff(session, "ben", now=clock.now())
        _, mia = staff(session, "mia", now=clock.now(), role=Role.MANAGER, region="us")
    return {"anna": anna, "ben": ben, "mia": mia}


@pytest.fixture
def queued(deps, catalog, clock):
    with transaction(deps.session_factory) as session:
        first = queued_callback(session, catalog=catalog, now=clock.now())
        second = queued_callback(session, catalog=catalog, now=clock.now() + timedelta(seconds=30))
    return [first, second]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def post(client, token, path, body=None):
    return client.post(path, json=body or {}, headers=auth(token))


def test_claim_next_takes_the_agents_regions_first_callback(client, team, queued):
    response = post(client, team["anna"], "/api/v1/callbacks/claim-next")
    assert response.status_code == 200
    body = response.get_json()["callback"]
    assert body["id"] == queued[0]
    assert body["status"] == "claimed"
    assert body["claimed_by"] == "anna"
    assert body["time_left_seconds"] == 30 * 60
    assert body["company"] == "Muster Maschinenbau GmbH"
    assert body["description"] == "Server startet nicht"


def test_claim_next_answers_the_callback_as_reading_it_does(client, team, queued):
    body = claimed(post(client, team["anna"], "/api/v1/callbacks/claim-next"))
    read = client.get(f"/api/v1/callbacks/{body['id']}", headers=auth(team["anna"]))
    assert read.status_code == 200
    as_read = read.get_json()
    assert [e["action"] for e in as_read.pop("history")] == ["claim"]
    assert body == as_read


def claimed(response):
    assert response.status_code == 200
    return response.get_json()["callback"]


def test_claim_next_with_nobody_waiting_answers_no_callback(client, team, queued):
    assert claimed(post(client, team["anna"], "/api/v1/callbacks/claim-next")) is not None
    assert claimed(post(client, team["ben"], "/api/v1/callbacks/claim-next")) is not None
    assert claimed(post(client, team["anna"], "/api/v1/callbacks/claim-next")) is None


def test_claim_next_takes_the_region_asked_for_and_refuses_an_unknown_one(client, team, queued):
    # mia works the US queue, which is empty; she may take from the German one when asked.
    assert claimed(post(client, team["mia"], "/api/v1/callbacks/claim-next")) is None
    response = post(client, team["mia"], "/api/v1/callbacks/claim-next", {"region": "de"})
    assert claimed(response)["region"] == "de"
    bad = post(client, team["mia"], "/api/v1/callbacks/claim-next", {"region": "xx"})
    assert bad.status_code == 422
    assert bad.content_type == "application/problem+json"
    assert bad.get_json()["field"] == "region"


def test_a_claim_of_a_held_callback_is_a_409_naming_the_holder(client, team, queued):
    assert post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/claim").status_code == 200
    response = post(client, team["ben"], f"/api/v1/callbacks/{queued[0]}/claim")
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["holder"] == "anna"
    assert problem["current_status"] == "claimed"
    assert "anna" in problem["detail"]
    assert problem["status"] == 409


def test_release_by_another_agent_is_refused_and_by_the_holder_done(client, team, queued):
    post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/claim")
    refused = post(client, team["ben"], f"/api/v1/callbacks/{queued[0]}/release")
    assert refused.status_code == 409
    assert refused.get_json()["holder"] == "anna"
    released = post(
        client, team["anna"], f"/api/v1/callbacks/{queued[0]}/release", {"reason": "lunch"}
    )
    assert released.status_code == 200
    assert released.get_json()["status"] == "queued"
    assert released.get_json()["claimed_by"] is None


def test_a_disposition_closes_and_the_history_tells_who_did_what(client, team, queued):
    post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/claim")
    response = post(
        client,
        team["anna"],
        f"/api/v1/callbacks/{queued[0]}/disposition",
        {"disposition": "reached_resolved", "note": "patch applied"},
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "done"
    detail = client.get(f"/api/v1/callbacks/{queued[0]}", headers=auth(team["ben"])).get_json()
    assert [(e["actor"], e["action"], e["to_status"]) for e in detail["history"]] == [
        ("anna", "claim", "claimed"),
        ("anna", "disposition", "done"),
    ]
    assert detail["history"][1]["reason"] == "reached_resolved: patch applied"
    again = post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/release")
    assert again.status_code == 409
    assert again.get_json()["current_status"] == "done"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"disposition": "lost"}, "disposition", 400),
        ({}, "disposition", 400),
        ({"disposition": "another_time"}, "call_again_at", 422),
        ({"disposition": "busy", "colour": "red"}, "colour", 400),
        (
            {"disposition": "another_time", "call_again_at": "2026-12-03T10:00:00"},
            "call_again_at",
            400,
        ),
    ],
)
def test_a_bad_disposition_body_names_the_field(client, team, queued, body, field, status):
    post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/claim")
    response = post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/disposition", body)
    assert response.status_code == status
    assert response.get_json()["field"] == field


def test_reschedule_moves_the_promise_and_refuses_the_past(client, team, queued, clock):
    later = clock.now() + timedelta(hours=2)
    past = post(
        client,
        team["mia"],
        f"/api/v1/callbacks/{queued[1]}/reschedule",
        {"at": (clock.now() - timedelta(minutes=1)).isoformat()},
    )
    assert past.status_code == 422
    assert past.get_json()["field"] == "at"
    response = post(
        client,
        team["mia"],
        f"/api/v1/callbacks/{queued[1]}/reschedule",
        {"at": later.isoformat(), "reason": "customer in a meeting"},
    )
    assert response.status_code == 200
    assert response.get_json()["due_at"] == later.isoformat().replace("+00:00", "Z")
    assert response.get_json()["time_left_seconds"] == 2 * 3600


def test_an_unknown_callback_is_a_404_problem(client, team):
    response = post(client, team["anna"], "/api/v1/callbacks/999/claim")
    assert response.status_code == 404
    assert response.get_json()["detail"] == "no callback 999"


def test_call_rings_the_holders_phone_first_and_refuses_others(client, team, queued, deps, clock):
    from sqlalchemy import select

    from intake.models import OutboundCall

    post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/claim")
    refused = post(client, team["ben"], f"/api/v1/callbacks/{queued[0]}/call")
    assert refused.status_code == 409
    assert refused.get_json()["holder"] == "anna"
    response = post(client, team["anna"], f"/api/v1/callbacks/{queued[0]}/call")
    assert response.status_code == 202
    assert response.get_json()["status"] == "calling"
    with transaction(deps.session_factory) as session:
        [call] = session.scalars(select(OutboundCall)).all()
    assert call.key == f"callback:{queued[0]}:1"
    assert call.to_number == "+4915199990001"  # anna's phone, not the customer's
    assert call.from_number == "+498001006711"


def test_an_agent_without_a_phone_is_told_so(client, deps, clock, queued):
    with transaction(deps.session_factory) as session:
        _, token = staff(session, "nophone", now=clock.now(), phone=None)
    post(client, token, f"/api/v1/callbacks/{queued[0]}/claim")
    response = post(client, token, f"/api/v1/callbacks/{queued[0]}/call")
    assert response.status_code == 422
    assert response.get_json()["field"] == "phone"
