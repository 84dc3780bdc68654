"""``hotline answer``: the terminal takes the call the log-only dialer recorded as placed and
walks the agent's leg against a running server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from callbacks.calls import call_key, start_callback_call
from callbacks.claims import claim_callback
from callbacks.models import Callback
from config import cli
from config.app import create_app
from config.wiring import build_dependencies
from db.transaction import transaction
from escalations.records import Escalation, EscalationReason, EscalationRing
from escalations.ringing import ring_key
from intake.models import OutboundCall
from intake.outbound_call_jobs import place_call_once
from ivr.twilio_rest import LogOnlySenders
from tests.support.callback_rows import queued_callback, staff
from tests.support.calls import read_one
from tests.support.escalation_rows import rung_escalation
from tests.support.fakes import FakeDialer, FakeMailer, FakeMessenger
from tests.support.intake_rows import GERMAN_MOBILE
from tests.support.rosters import cover_every_region


@pytest.fixture
def server(settings, catalog, clock) -> Iterator[str]:
    """The hotline served over HTTP on loopback, checking signatures against its own address
    (no public base URL, as in local mode)."""
    deps = build_dependencies(
        settings,
        catalog=catalog,
        clock=clock,
        messenger=FakeMessenger(clock),
        dialer=FakeDialer(),
        mailer=FakeMailer(),
    )
    http = make_server("127.0.0.1", 0, create_app(settings, deps), threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join()
    deps.engine.dispose()


def place_logged(deps, clock, key: str) -> None:
    """Let the worker's log-only dialer place the requested call ``key``."""
    with transaction(deps.session_factory) as session:
        call_id = session.scalar(select(OutboundCall.id).where(OutboundCall.key == key))
    assert call_id is not None
    place_call_once(
        call_id,
        session_factory=deps.session_factory,
        clock=clock,
        dialer=LogOnlySenders(clock=clock),
        public_base_url=None,
    )


@pytest.fixture
def placed(deps, catalog, clock) -> int:
    """A claimed callback whose agent's call the worker placed with the log-only dialer, now:
    the terminal waits for calls placed from when it started, by the system clock."""
    clock.set(datetime.now(UTC))
    with transaction(deps.session_factory) as session:
        anna, _ = staff(session, "anna", now=clock.now())
        staff(session, "olaf", now=clock.now(), phone=None)
        callback_id = queued_callback(session, catalog=catalog, now=clock.now())
        claim_callback(session, callback_id, by=anna, now=clock.now(), catalog=catalog)
        start_callback_call(session, callback_id, by=anna, now=clock.now(), catalog=catalog)
    place_logged(deps, clock, call_key(callback_id, 1))
    return callback_id


def hotline(database_url: str, *args: str, keys: str = ""):
    env = {
        "HOTLINE_DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": None,
        "TWILIO_ACCOUNT_SID": None,
        "HOTLINE_PUBLIC_BASE_URL": None,
    }
    return CliRunner(env=env).invoke(cli.main, list(args), input=keys)


def test_the_agent_answers_in_the_terminal_hears_the_whisper_and_talks_to_the_customer(
    database_url, server, placed, deps, catalog
) -> None:
    de = catalog.prompts_for("de-DE")
    result = hotline(
        database_url, "answer", "--as", "anna", "--url", server, "--wait", "5", keys="a\n1\nh\n"
    )

    assert result.exit_code == 0, result.output
    assert "Rückruf zur Support-Anfrage" in result.output
    assert de.text("agent_press") in result.output
    assert f"[connected to {GERMAN_MOBILE}: answered by human]" in result.output
    assert de.text("agent_reached") in result.output
    assert "[call ended]" in result.output
    callback = read_one(deps, Callback)
    assert (callback.status, callback.attempts) == ("claimed", 1)


def test_an_agent_who_lets_it_ring_releases_the_callback(
    database_url, server, placed, deps
) -> None:
    result = hotline(database_url, "answer", "--as", "anna", "--url", server, keys="n\n")
    assert result.exit_code == 0, result.output
    assert "[not answered: no-answer]" in result.output
    assert read_one(deps, Callback).status == "queued"


def test_answer_names_a_missing_user_or_phone_and_gives_up_waiting(database_url, placed) -> None:
    unknown = hotline(database_url, "answer", "--as", "nobody")
    assert (unknown.exit_code, unknown.output) == (1, "error: no user 'nobody'\n")
    no_phone = hotline(database_url, "answer", "--as", "olaf")
    assert no_phone.exit_code == 1
    assert "olaf has no phone number" in no_phone.output


def test_answer_gives_up_when_no_call_comes(database_url, deps, clock) -> None:
    with transaction(deps.session_factory) as session:
        staff(session, "anna", now=clock.now())
    result = hotline(database_url, "answer", "--as", "anna", "--wait", "0.2")
    assert result.exit_code == 1
    assert "no call to" in result.output


@pytest.fixture
def ringing(deps, catalog, clock) -> int:
    """A customer's escalation whose first ring (to duty-de, on duty all week) the worker
    placed with the log-only dialer: the escalation's id."""
    clock.set(datetime.now(UTC))
    cover_every_region(deps.session_factory, catalog, now=clock.now())
    with transaction(deps.session_factory) as session:
        escalation_id = rung_escalation(
            session, catalog=catalog, now=clock.now(), reason=EscalationReason.BUSINESS_IMPACT
        )
    place_logged(deps, clock, ring_key(escalation_id, 1))
    return escalation_id


def test_a_duty_manager_answers_in_the_terminal_and_accepts_the_escalation(
    database_url, server, ringing, deps, catalog
) -> None:
    de = catalog.prompts_for("de-DE")
    result = hotline(
        database_url, "answer", "--as", "duty-de", "--url", server, "--wait", "5", keys="a\n1\n"
    )
    assert result.exit_code == 0, result.output
    assert "[m]ailbox answers" in result.output
    assert de.text("manager_reason_business_impact") in result.output
    assert de.text("manager_accepted") in result.output
    escalation = read_one(deps, Escalation)
    assert escalation.status == "accepted"


def test_a_duty_managers_mailbox_passes_the_escalation_on(
    database_url, server, ringing, deps
) -> None:
    result = hotline(database_url, "answer", "--as", "duty-de", "--url", server, keys="m\n")
    assert result.exit_code == 0, result.output
    with transaction(deps.session_factory) as session:
        outcomes = session.scalars(select(EscalationRing.outcome).order_by(EscalationRing.seq))
        # The only person on the roster is rung again: the next ring of the chain.
        assert list(outcomes) == ["machine", None]
