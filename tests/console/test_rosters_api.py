"""The roster API: read a region's rosters, replace one, add an override; problem+json errors
naming the field and the value."""

from __future__ import annotations

import pytest

from db.transaction import transaction
from intake.models import Role
from intake.staff import add_user

PEOPLE = ("anna", "bernd", "carl", "erika")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
ROSTER = {
    "kind": "duty",
    "members": ["anna", "bernd"],
    "fallback": "erika",
    "shifts": [
        {"days": WEEKDAYS, "hours": "08:00-18:00", "members": ["anna", "bernd"]},
        {"days": ["saturday", "sunday"], "hours": "00:00-24:00", "members": []},
    ],
    "overrides": [],
}


@pytest.fixture
def manager(deps, clock):
    with transaction(deps.session_factory) as session:
        for i, name in enumerate(PEOPLE):
            add_user(
                session, name=name, role=Role.MANAGER, now=clock.now(), phone=f"+49151100000{i:02d}"
            )
        _, token = add_user(session, name="mia", role=Role.MANAGER, now=clock.now())
    return {"Authorization": f"Bearer {token}"}


def test_a_roster_put_is_read_back_as_sent_with_who_is_on_duty_and_the_gaps(client, manager):
    put = client.put("/api/v1/rosters/de", json=ROSTER, headers=manager)
    got = client.get("/api/v1/rosters/de", headers=manager)

    assert put.status_code == 200, put.get_json()
    body = got.get_json()
    assert body == put.get_json()
    assert (body["region"], body["timezone"]) == ("de", "Europe/Berlin")
    assert body["rosters"] == [ROSTER]
    [status] = body["status"]
    # Wednesday 25 Nov 2026, 11:00 in Berlin.
    assert status["on_duty_now"] == ["anna", "bernd"]
    assert status["fallback_now"] == "erika"
    assert status["gap_now"] is False
    assert status["updated_by"] == "mia"
    assert status["updated_at"] == "2026-11-25T10:00:00Z"
    assert status["gaps_next_7_days"][0] == {
        "starts_at": "2026-11-25T17:00:00Z",
        "ends_at": "2026-11-26T07:00:00Z",
        "local_start": "2026-11-25T18:00:00+01:00",
        "local_end": "2026-11-26T08:00:00+01:00",
    }


def test_an_override_is_added_and_changes_who_is_on_duty(client, manager):
    client.put("/api/v1/rosters/de", json=ROSTER, headers=manager)
    override = {
        "action": "replace",
        "member": "anna",
        "substitute": "carl",
        "first_day": "2026-11-25",
        "last_day": "2026-11-27",
        "note": "sick",
    }

    response = client.post("/api/v1/rosters/de/overrides", json=override, headers=manager)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["rosters"][0]["overrides"] == [override]
    assert body["status"][0]["on_duty_now"] == ["carl", "bernd"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field", "value"),
    [
        (
            "PUT",
            "/api/v1/rosters/de",
            {**ROSTER, "members": ["anna", "nobody"]},
            422,
            "members[1]",
            "nobody",
        ),
        ("PUT", "/api/v1/rosters/de", {**ROSTER, "fallback": "mia"}, 422, "fallback", "mia"),
        (
            "PUT",
            "/api/v1/rosters/de",
            {**ROSTER, "shifts": [{"days": ["monday"], "hours": "8-18"}]},
            400,
            "shifts.0.hours",
            None,
        ),
        # Malformed bodies are a 400 naming the field (the value is in the detail).
        ("PUT", "/api/v1/rosters/de", {**ROSTER, "kind": "night"}, 400, "kind", None),
        ("PUT", "/api/v1/rosters/de", {**ROSTER, "extra": 1}, 400, "extra", None),
        (
            "POST",
            "/api/v1/rosters/de/overrides",
            {
                "action": "remove",
                "member": "carl",
                "first_day": "2026-12-01",
                "last_day": "2026-12-01",
            },
            422,
            "member",
            "carl",
        ),
        (
            "POST",
            "/api/v1/rosters/de/overrides",
            {
                "action": "remove",
                "member": "anna",
                "first_day": "2026-12-01",
                "last_day": "2026-12-01",
                "kind": "us_government",
            },
            404,
            None,
            None,
        ),
        ("GET", "/api/v1/rosters/fr", None, 404, None, None),
    ],
)
def test_errors_are_problems_naming_the_field_and_the_value(
    client, manager, method, path, body, status, field, value
):
    client.put("/api/v1/rosters/de", json=ROSTER, headers=manager)

    response = client.open(path, method=method, json=body, headers=manager)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status
    assert problem.get("field") == field
    assert problem.get("value") == value


def test_a_refused_roster_lists_every_problem_and_changes_nothing(client, manager):
    client.put("/api/v1/rosters/de", json=ROSTER, headers=manager)
    bad = {**ROSTER, "members": ["anna", "ghost"], "fallback": "nobody"}

    response = client.put("/api/v1/rosters/de", json=bad, headers=manager)

    assert [(p["field"], p["value"]) for p in response.get_json()["problems"]] == [
        ("members[1]", "ghost"),
        ("fallback", "nobody"),
        ("shifts[0].members[1]", "bernd"),  # no longer a member
    ]
    assert client.get("/api/v1/rosters/de", headers=manager).get_json()["rosters"] == [ROSTER]
