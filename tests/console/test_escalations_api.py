"""The escalations API, walked as staff work an escalation from raise to de-escalation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.transaction import transaction
from escalations.ringing import ring_key
from intake.models import OutboundCall, Role
from tests.support.callback_rows import staff
from tests.support.conference_rows import EVA_PHONE as EVA
from tests.support.conference_rows import MIA_PHONE as MIA
from tests.support.intake_rows import submit_request
from tests.support.rosters import cover_every_region


@pytest.fixture
def people(deps, clock):
    with transaction(deps.session_factory) as session:
        tokens = {
            "mia": staff(
                session, "mia", now=clock.now(), role=Role.MANAGER, email="mia@x.de", phone=MIA
            )[1],
            "max": staff(session, "max", now=clock.now(), role=Role.MANAGER)[1],
            "eva": staff(session, "eva", now=clock.now(), role=Role.ENGINEER, phone=EVA)[1],
        }
    return tokens


@pytest.fixture
def sr(deps, catalog, clock):
    with transaction(deps.session_factory) as session:
        return submit_request(session, catalog=catalog, now=clock.now())


def call(client, token, path, body=None, method="POST"):
    return client.open(
        f"/api/v1/escalations{path}",
        method=method,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_an_escalation_is_worked_from_raise_to_documented_de_escalation(client, people, sr):
    raised = call(client, people["eva"], "", {"sr_number": sr, "reason": "production_down"})
    assert raised.status_code == 200
    esc = raised.get_json()["id"]
    again = call(client, people["eva"], "", {"sr_number": sr, "reason": "business_impact"})
    assert (again.status_code, again.get_json()["id"]) == (200, esc)

    assert call(client, people["mia"], f"/{esc}/accept", {}).status_code == 200
    second = call(client, people["max"], f"/{esc}/accept", {})
    assert second.status_code == 409
    assert second.get_json()["detail"] == "already accepted by mia"

    assert call(client, people["mia"], f"/{esc}/engineer", {"engineer": "eva"}).status_code == 200
    plan = {
        "steps": [{"text": "Collect logs", "owner": "eva", "due_at": "2026-12-04T09:00:00Z"}],
        "participants": ["eva", "mia", "Erika Mustermann"],
    }
    assert call(client, people["eva"], f"/{esc}/action-plan", plan).status_code == 200
    comms = {"kind": "email", "every_minutes": 240, "participants": ["Erika Mustermann"]}
    assert call(client, people["eva"], f"/{esc}/communication-plan", comms).status_code == 200
    vendor = {"vendor": "Storage Corp", "case_number": "SC-1", "status": "open", "via": "tsanet"}
    assert call(client, people["eva"], f"/{esc}/vendors", vendor).status_code == 200
    assert call(client, people["eva"], f"/{esc}/updates", {"summary": "logs in"}).status_code == 200
    reesc = call(client, people["eva"], f"/{esc}/re-escalate", {"reason": "slow"})
    assert reesc.get_json()["priority"] == 2

    refused = call(client, people["mia"], f"/{esc}/de-escalate", {})
    assert refused.status_code == 409
    assert len(refused.get_json()["reasons"]) == 3
    for condition in ("plan_satisfactory", "analysis_on_track"):
        body = {"condition": condition}
        assert call(client, people["mia"], f"/{esc}/conditions", body).status_code == 200
    half = call(client, people["mia"], f"/{esc}/conditions", {"condition": "customer_agreed"})
    assert half.status_code == 422
    agreed = {"condition": "customer_agreed", "customer_contact": "Erika", "how": "e-mail"}
    assert call(client, people["mia"], f"/{esc}/conditions", agreed).status_code == 200
    done = call(client, people["mia"], f"/{esc}/de-escalate", {"note": "patched"})
    assert done.status_code == 200
    body = done.get_json()
    assert body["status"] == "de_escalated"
    assert body["owner"] == "mia"
    assert body["engineer"] == "eva"
    assert body["action_plan"][0]["text"] == "Collect logs"
    assert body["communication_plan"]["every_minutes"] == 240
    assert body["vendor_cases"][0]["case_number"] == "SC-1"
    assert body["events"][0]["action"] == "raised"
    assert body["events"][-1]["action"] == "de_escalate"

    listed = call(client, people["eva"], "?status=de_escalated", method="GET").get_json()
    assert [e["id"] for e in listed["escalations"]] == [esc]
    assert call(client, people["eva"], "?status=open", method="GET").status_code == 400
    assert [e["action"] for e in body["events"]].count("raised_again") == 1


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"sr_number": "12ab", "reason": "other"}, "sr_number", 400),
        ({"sr_number": "10000016", "reason": "angry"}, "reason", 400),
        # Well-formed, but no such SR.
        ({"sr_number": "10000016", "reason": "other"}, "sr_number", 422),
    ],
)
def test_a_bad_raise_names_the_field(client, people, body, field, status):
    response = call(client, people["eva"], "", body)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert response.get_json()["field"] == field


def test_an_unknown_engineer_is_named(client, people, sr):
    esc = call(client, people["eva"], "", {"sr_number": sr, "reason": "other"}).get_json()["id"]
    call(client, people["mia"], f"/{esc}/accept", {})
    response = call(client, people["mia"], f"/{esc}/engineer", {"engineer": "nobody"})
    assert response.status_code == 422
    assert response.get_json()["field"] == "engineer"


def test_a_staff_escalation_rings_the_duty_manager_on_the_roster(
    client, people, sr, deps, catalog, clock
) -> None:
    cover_every_region(deps.session_factory, catalog, now=clock.now())
    raised = call(client, people["eva"], "", {"sr_number": sr, "reason": "business_impact"})
    assert raised.status_code == 200
    body = raised.get_json()
    assert body["status"] == "raised"
    assert [e["action"] for e in body["events"]] == ["raised", "ringing_started", "ring"]
    assert body["events"][-1]["detail"] == {"seq": 1, "round": 1, "to": "duty-de"}
    with transaction(deps.session_factory) as session:
        ring = session.scalar(
            select(OutboundCall).where(OutboundCall.key == ring_key(body["id"], 1))
        )
        assert ring is not None
        assert (ring.to_number, ring.from_number, ring.machine_detection) == (
            "+4915120000000",
            "+498001006711",
            True,
        )


# -- conference calls ------------------------------------------------------------------------


@pytest.fixture
def accepted(client, people, sr):
    """An escalation accepted by mia, with eva as its engineer: its id."""
    esc = call(client, people["eva"], "", {"sr_number": sr, "reason": "other"}).get_json()["id"]
    call(client, people["mia"], f"/{esc}/accept", {})
    call(client, people["mia"], f"/{esc}/engineer", {"engineer": "eva"})
    return esc


def test_a_conference_call_is_started_and_shown_with_the_escalation(client, people, accepted, deps):
    body = {"participants": [{"role": "customer"}, {"role": "engineer", "name": "Eva"}]}
    started = call(client, people["eva"], f"/{accepted}/conference", body)

    assert started.status_code == 202
    conference = started.get_json()
    assert conference["name"] == f"escalation-{accepted}-1"
    assert len(conference["pin"]) == 6
    assert conference["dial_in_number"] is None  # no dial-in line configured
    assert conference["started_by"] == "eva"
    assert [(p["kind"], p["state"]) for p in conference["participants"]] == [
        ("customer", "dialling"),
        ("engineer", "dialling"),
    ]
    shown = call(client, people["mia"], f"/{accepted}", method="GET").get_json()
    assert shown["conferences"] == [conference]
    assert shown["events"][-1]["action"] == "start_conference"
    assert shown["events"][-1]["detail"]["conference"] == conference["name"]

    # Started again while open: the duty manager is added to the same conference.
    added = call(
        client,
        people["mia"],
        f"/{accepted}/conference",
        {"participants": [{"role": "duty_manager"}]},
    ).get_json()
    assert (added["id"], added["pin"]) == (conference["id"], conference["pin"])
    assert [p["kind"] for p in added["participants"]] == ["customer", "engineer", "duty_manager"]


def test_a_conference_on_an_escalation_nobody_accepted_is_refused_with_409(client, people, sr):
    # No roster here: nobody to ring, so the escalation is flagged unowned at once.
    esc = call(client, people["eva"], "", {"sr_number": sr, "reason": "other"}).get_json()["id"]
    response = call(
        client, people["eva"], f"/{esc}/conference", {"participants": [{"role": "customer"}]}
    )
    assert response.status_code == 409
    body = response.get_json()
    assert (body["current_status"], body["reasons"]) == (
        "unowned",
        ["cannot start_conference an escalation that is unowned (accepted)"],
    )


@pytest.mark.parametrize(
    ("participants", "status", "field", "detail"),
    [
        (
            [{"role": "other", "number": "0900 1234567"}],
            422,
            "participants[0].number",
            "premium-rate",
        ),
        (
            [{"role": "customer"}, {"role": "other", "number": "+442079460958"}],
            422,
            "participants[1].number",
            "outside the countries",
        ),
        ([{"role": "other"}], 400, "participants.0", "needs a number"),
        ([{"role": "engineer", "number": "+4915112345678"}], 400, "participants.0", "on file"),
        ([{"role": "dial_in"}], 400, "participants.0.role", None),
        ([], 400, "participants", None),
    ],
)
def test_a_participant_who_cannot_be_dialled_is_named(
    client, people, accepted, participants, status, field, detail
):
    response = call(
        client, people["mia"], f"/{accepted}/conference", {"participants": participants}
    )
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["field"] == field
    if detail is not None:
        assert detail in body["detail"]


def test_a_conference_needs_an_engineer_assigned_to_dial_one(client, people, sr):
    esc = call(client, people["eva"], "", {"sr_number": sr, "reason": "other"}).get_json()["id"]
    call(client, people["mia"], f"/{esc}/accept", {})
    response = call(
        client, people["mia"], f"/{esc}/conference", {"participants": [{"role": "engineer"}]}
    )
    assert response.status_code == 422
    assert response.get_json()["detail"] == "no escalation engineer is assigned to the escalation"


def test_a_conference_for_no_escalation_is_404(client, people):
    body = {"participants": [{"role": "customer"}]}
    assert call(client, people["mia"], "/4242/conference", body).status_code == 404
