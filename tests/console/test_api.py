"""The JSON API and the operations endpoints."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

import db.transaction
from db.transaction import transaction
from intake.confirmations import NO_CONFIRMATION_CHANNEL
from intake.models import Call, Role, ServiceRequest
from intake.staff import add_user
from tests.conftest import WEDNESDAY_MORNING
from tests.support.calls import GERMAN_MOBILE, read_one, wait_in_queue
from tests.support.intake_rows import submit_request


@pytest.fixture
def token(deps, clock):
    with transaction(deps.session_factory) as session:
        _, token = add_user(session, name="agent1", role=Role.AGENT, now=clock.now())
    return token


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def sr_number(phone, demo_customers, deps, clock):
    """An SR left by a German caller who agreed to the recording."""
    walker = phone()
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    wait_in_queue(walker)
    clock.advance(minutes=2)
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("1")
    walker.say("Der NSX-Manager startet nicht mehr.")
    walker.press("2")
    return read_one(deps, ServiceRequest).number


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic YWdlbnQ6eA=="}],
)
def test_the_api_wants_a_bearer_token(client, headers):
    response = client.get("/api/v1/callbacks", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="hotline"'
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert (body["type"], body["title"], body["status"]) == ("about:blank", "Unauthorized", 401)
    assert body["detail"].startswith("send Authorization: Bearer <token>")


def test_an_unknown_token_is_refused(client, token):
    response = client.get("/api/v1/callbacks", headers=auth(token + "x"))
    assert response.status_code == 401
    assert response.get_json()["detail"] == "the token is not valid"


def test_a_service_request_as_json(client, token, sr_number, catalog, deps):
    call_sid = read_one(deps, Call).call_sid
    response = client.get(f"/api/v1/service-requests/{sr_number}", headers=auth(token))
    assert response.status_code == 200
    body = response.get_json()
    assert {key: body[key] for key in body if key not in ("messages", "confirmations")} == {
        "sr_number": sr_number,
        "region": "de",
        "language": "de-DE",
        "customer_number": "4711002",
        "identified": True,
        "company": "Beispiel Logistik AG",
        "contact_name": "Erika Mustermann",
        "callback_number": GERMAN_MOBILE,
        "email": None,
        "product": "NSX",
        "product_line": "datacenter",
        "sr_reference": None,
        "description": "Der NSX-Manager startet nicht mehr.",
        "recording_url": f"http://hotline.test/recordings/{call_sid}",
        "answer_channel": "phone",
        "status": "open",
        "created_at": "2026-11-25T10:02:00Z",
        "unconfirmed_reason": None,
    }
    [message] = body["messages"]
    assert message["recording_consent"] is True
    assert message["consent_prompt_version"] == catalog.prompts_for("de-DE").version
    assert message["requested_at"] == "2026-11-25T10:00:00Z"
    # Due 30 minutes after the caller was told to leave a message (10:00), not after the SR.
    assert message["callback_due_at"] == "2026-11-25T10:30:00Z"
    assert message["complete"] is True
    assert [(c["channel"], c["address"], c["status"]) for c in body["confirmations"]] == [
        ("sms", GERMAN_MOBILE, "queued")
    ]


def test_an_sr_that_could_not_be_confirmed_says_why_in_the_api(
    client, token, demo_customers, deps, clock
):
    # A Berlin landline to call back, the caller ID withheld, no e-mail address on file.
    with transaction(deps.session_factory) as session:
        number = submit_request(
            session,
            catalog=deps.catalog,
            now=clock.now(),
            customer_number="4711002",
            callback_number="+4930123456",
            caller_id=None,
        )
    response = client.get(f"/api/v1/service-requests/{number}", headers=auth(token))
    assert response.status_code == 200
    body = response.get_json()
    assert body["confirmations"] == []
    assert body["unconfirmed_reason"] == NO_CONFIRMATION_CHANNEL
    assert body["unconfirmed_reason"] == (
        "no confirmation possible: no mobile number to text and no e-mail address on file"
    )


def test_an_unknown_sr_is_404_and_a_malformed_one_400_as_problems(client, token):
    unknown = client.get("/api/v1/service-requests/10000016", headers=auth(token))
    assert unknown.status_code == 404
    assert unknown.mimetype == "application/problem+json"
    assert unknown.get_json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no service request 10000016",
    }
    malformed = client.get("/api/v1/service-requests/abc", headers=auth(token))
    assert malformed.status_code == 400
    assert malformed.mimetype == "application/problem+json"
    assert malformed.get_json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "sr_number: an SR number has digits only",
        "field": "sr_number",
    }


def test_unknown_api_paths_and_methods_are_problems_and_other_paths_keep_flasks_page(client, token):
    missing = client.get("/api/v1/no-such-thing", headers=auth(token))
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    assert missing.get_json()["title"] == "Not Found"

    wrong_method = client.delete("/api/v1/callbacks", headers=auth(token))
    assert wrong_method.status_code == 405
    assert wrong_method.mimetype == "application/problem+json"
    assert wrong_method.get_json()["status"] == 405
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"GET"}

    elsewhere = client.get("/no-such-page")
    assert elsewhere.status_code == 404
    assert elsewhere.mimetype == "text/html"


def test_queued_callbacks_are_listed_with_their_sr_and_due_time(client, token, sr_number):
    response = client.get("/api/v1/callbacks?status=queued", headers=auth(token))
    assert response.status_code == 200
    [callback] = response.get_json()["callbacks"]
    assert (callback["sr_number"], callback["status"]) == (sr_number, "queued")
    assert callback["due_at"] == (WEDNESDAY_MORNING + timedelta(minutes=30)).isoformat().replace(
        "+00:00", "Z"
    )
    assert callback["requested_at"] == "2026-11-25T10:00:00Z"
    assert callback["callback_number"] == GERMAN_MOBILE
    done = client.get("/api/v1/callbacks?status=done", headers=auth(token))
    assert done.get_json()["callbacks"] == []


def test_an_unknown_callback_status_is_a_bad_request(client, token):
    response = client.get("/api/v1/callbacks?status=lost", headers=auth(token))
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert (body["title"], body["field"]) == ("Bad Request", "status")
    for status in ("queued", "claimed", "calling", "done", "unreachable", "cancelled"):
        assert f"'{status}'" in body["detail"]


def test_health_answers_200_with_the_worker_state(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["database"], body["worker"]) == ("ok", "ok", "never")


def test_metrics_are_prometheus_text(client, phone):
    phone().dial()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'hotline_webhook_seconds_count{endpoint="ivr.voice"} 1.0' in text
    assert "hotline_work_oldest_due_seconds" in text
    assert "hotline_worker_last_tick_age_seconds -1.0" in text


def test_api_health_and_metrics_answer_while_a_writer_holds_the_sqlite_lock(
    client, token, sr_number, deps, is_postgres, monkeypatch
):
    if is_postgres:
        pytest.skip("the writer lock is SQLite's; PostgreSQL readers never wait for writers")
    # A read that queued behind the writer would give up after this and answer 500 or 503.
    monkeypatch.setattr(db.transaction, "WRITER_WAIT_SECONDS", 0.2)
    inside, leave = threading.Event(), threading.Event()

    def write() -> None:
        with transaction(deps.session_factory):
            inside.set()
            leave.wait(10)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert inside.wait(10)
    try:
        sr = client.get(f"/api/v1/service-requests/{sr_number}", headers=auth(token))
        queue = client.get("/api/v1/callbacks", headers=auth(token))
        health = client.get("/healthz")
        metrics = client.get("/metrics")
    finally:
        leave.set()
        writer.join(10)

    assert sr.status_code == 200
    assert sr.get_json()["sr_number"] == sr_number
    assert queue.status_code == 200
    assert [c["sr_number"] for c in queue.get_json()["callbacks"]] == [sr_number]
    assert health.status_code == 200
    assert health.get_json()["database"] == "ok"
    assert metrics.status_code == 200
