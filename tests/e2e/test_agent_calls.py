"""The agent-first callback call end to end: the worker places the agent's call at the local
Twilio mock, the signed call walker answers it as the agent's phone and plays the customer."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from callbacks.calls import settle_lost_calls, start_callback_call
from callbacks.claims import Actor, claim_callback, record_disposition
from callbacks.lifecycle import Disposition
from callbacks.models import Callback, CallbackEvent
from db.transaction import transaction
from intake.staff import StaffMember
from ivr.call_walker import CallWalker
from ivr.prompts import spoken_digits
from tests.conftest import BASE_URL
from tests.support.callback_rows import AGENT_PHONE, queued_callback, staff
from tests.support.intake_rows import GERMAN_MOBILE, US_MOBILE
from tests.support.mock_twilio import MockCall

US_AGENT_PHONE = "+12025550177"


@pytest.fixture
def team(deps, clock) -> dict[str, StaffMember]:
    with transaction(deps.session_factory) as session:
        anna, _ = staff(session, "anna", now=clock.now())
        ben, _ = staff(session, "ben", now=clock.now(), phone="+4915199990002")
        joe, _ = staff(session, "joe", now=clock.now(), region="us", phone=US_AGENT_PHONE)
    return {"anna": anna, "ben": ben, "joe": joe}


@pytest.fixture
def claimed(deps, catalog, clock, team) -> Callable[..., int]:
    def claim(by: str = "anna", region: str = "de", number: str = GERMAN_MOBILE) -> int:
        with transaction(deps.session_factory) as session:
            callback_id = queued_callback(
                session, catalog=catalog, now=clock.now(), region=region, callback_number=number
            )
            claim_callback(session, callback_id, by=team[by], now=clock.now(), catalog=catalog)
        return callback_id

    return claim


@pytest.fixture
def ring(deps, catalog, clock, team, worker, mock_twilio) -> Callable[..., MockCall]:
    """Start the callback's call as ``by`` and let the worker place it: the call created."""

    def start(callback_id: int, by: str = "anna") -> MockCall:
        before = len(mock_twilio.calls)
        with transaction(deps.session_factory) as session:
            start_callback_call(session, callback_id, by=team[by], now=clock.now(), catalog=catalog)
        worker.run_once()
        worker.run_once()  # a second pass places nothing more
        calls = mock_twilio.calls
        assert len(calls) == before + 1
        return calls[-1]

    return start


@pytest.fixture
def agent_phone(rung_phone) -> Callable[..., CallWalker]:
    """The agent's phone for a call the mock accepted, the customer played by ``customer``."""
    return rung_phone


def callback(deps, callback_id: int) -> Callback:
    with transaction(deps.session_factory) as session:
        row = session.get(Callback, callback_id)
        assert row is not None
        session.expunge(row)
        return row


def moves(deps, callback_id: int) -> list[str]:
    with transaction(deps.session_factory) as session:
        return list(
            session.scalars(
                select(CallbackEvent.action)
                .where(CallbackEvent.callback_id == callback_id)
                .order_by(CallbackEvent.id)
            )
        )


# -- the agent accepts ---------------------------------------------------------------------------


def test_the_agent_hears_the_whisper_presses_1_and_talks_to_the_customer(
    deps, catalog, clock, claimed, ring, agent_phone, de, team
) -> None:
    callback_id = claimed()
    call = ring(callback_id)

    assert (call.to, call.from_, call.timeout) == (AGENT_PHONE, "+498001006711", 25)
    assert call.url == f"{BASE_URL}/ivr/agent/callback?callback={callback_id}&call=1"
    assert call.status_callback is not None
    assert parse_qs(urlsplit(call.status_callback).query) == {
        "callback": [str(callback_id)],
        "call": ["1"],
        "outbound_call": ["1"],
        "attempt": ["1"],
    }

    walker = agent_phone(call, customer="human")
    heard = walker.answer(call.url)
    sr_number = callback(deps, callback_id).sr_number
    assert heard[0] == de.text("agent_whisper_intro", sr_number=spoken_digits(sr_number))
    assert "Erika Mustermann" in heard[1]
    assert heard[3] == de.text("agent_whisper_description", description="Server startet nicht")
    assert heard[-1] == de.text("agent_press")

    assert walker.press("1") == [
        de.text("agent_calling_customer"),
        f"[connected to {GERMAN_MOBILE}: answered by human]",
        de.text("agent_reached"),
    ]
    assert walker.ended  # and its status callback (completed) was posted: nothing changed
    row = callback(deps, callback_id)
    assert (row.status, row.attempts, row.answered_by) == ("claimed", 1, "human")
    assert row.claimed_by_id == team["anna"].id
    assert moves(deps, callback_id) == ["claim", "start_call", "agent_accepted", "customer_reached"]
    assert deps.dialer.placed == []  # the web app's webhooks placed nothing; the worker did

    # The agent then records how it went.
    with transaction(deps.session_factory) as session:
        record_disposition(
            session,
            callback_id,
            by=Actor.of(team["anna"]),
            disposition=Disposition.REACHED_RESOLVED,
            now=clock.now(),
            catalog=catalog,
        )
    assert callback(deps, callback_id).status == "done"


def test_an_american_agent_hears_the_whisper_in_english(
    claimed, ring, agent_phone, en, deps
) -> None:
    callback_id = claimed(by="joe", region="us", number=US_MOBILE)
    call = ring(callback_id, by="joe")
    assert (call.to, call.from_) == (US_AGENT_PHONE, "+18005550199")
    walker = agent_phone(call, customer="human")
    heard = walker.answer(call.url)
    assert heard[-1] == en.text("agent_press")
    assert walker.press("1")[-1] == en.text("agent_reached")
    assert callback(deps, callback_id).status == "claimed"


# -- the agent does not take it -----------------------------------------------------------------


def test_the_agent_presses_2_and_the_callback_is_released(
    deps, claimed, ring, agent_phone, de
) -> None:
    callback_id = claimed()
    call = ring(callback_id)
    walker = agent_phone(call)
    walker.answer(call.url)
    assert walker.press("2") == [de.text("agent_released")]
    row = callback(deps, callback_id)
    assert (row.status, row.claimed_by_id, row.attempts) == ("queued", None, 0)
    # The call's status callback (completed) followed: one release only.
    assert moves(deps, callback_id).count("agent_declined") == 1


def ring_url(callback_id: int, seq: int = 1) -> str:
    return f"{BASE_URL}/ivr/agent/callback?callback={callback_id}&call={seq}"


def test_an_agent_who_does_not_answer_gives_the_callback_back_once(
    deps, claimed, ring, agent_phone
) -> None:
    callback_id = claimed()
    call = ring(callback_id)
    agent_phone(call).not_answered("no-answer")
    agent_phone(call).not_answered("no-answer")  # Twilio sent it twice
    row = callback(deps, callback_id)
    assert (row.status, row.claimed_by_id) == ("queued", None)
    assert moves(deps, callback_id) == ["claim", "start_call", "agent_declined"]


def test_an_agent_who_answers_but_presses_nothing_hears_goodbye_and_the_claim_is_released(
    deps, claimed, ring, agent_phone, de
) -> None:
    callback_id = claimed()
    call = ring(callback_id)
    walker = agent_phone(call)
    walker.answer(call.url)
    assert walker.silence() == [de.text("no_input"), de.text("agent_press")]
    walker.silence()
    assert walker.silence() == [de.text("agent_no_key")]
    assert walker.ended
    assert callback(deps, callback_id).status == "queued"
    assert moves(deps, callback_id)[-1] == "agent_declined"


# -- the customer is not reached ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "disposition", "heard"),
    [
        ("busy", "busy", [f"[{GERMAN_MOBILE}: busy]", "agent_not_reached_busy"]),
        (
            "no-answer",
            "no_answer",
            [f"[{GERMAN_MOBILE}: no-answer]", "agent_not_reached_no_answer"],
        ),
        (
            "machine",
            "answering_machine",
            [
                f"[{GERMAN_MOBILE} answered by machine_start: hung up on]",
                "agent_not_reached_machine",
            ],
        ),
    ],
)
def test_a_customer_not_reached_is_recorded_and_a_retry_scheduled(
    deps, catalog, clock, claimed, ring, agent_phone, de, customer, disposition, heard
) -> None:
    callback_id = claimed()
    call = ring(callback_id)
    walker = agent_phone(call, customer=customer)
    walker.answer(call.url)
    said = walker.press("1")
    assert said[1:] == [heard[0], de.text(heard[1]), de.text("agent_retry_scheduled")]

    row = callback(deps, callback_id)
    assert (row.status, row.disposition, row.attempts, row.claimed_by_id) == (
        "queued",
        disposition,
        1,
        None,
    )
    line = catalog.product_line(row.product_line)
    assert row.not_before == clock.now() + line.callback_retry_interval
    assert moves(deps, callback_id)[-1] == "customer_not_reached"


# -- duplicates, late and older callbacks ------------------------------------------------------


def test_duplicated_and_late_status_callbacks_change_nothing(
    deps, claimed, ring, agent_phone
) -> None:
    callback_id = claimed()
    call = ring(callback_id)
    walker = agent_phone(call, customer="human")
    walker.answer(call.url)
    walker.press("1")
    before = (moves(deps, callback_id), callback(deps, callback_id).status)
    assert call.status_callback is not None

    for status in ("completed", "completed", "no-answer", "busy"):
        walker.post(call.status_callback, {"CallStatus": status})
    # The Dial's outcome, posted again (a retried request).
    [dialed] = [url for url, _ in walker.requests if "/dialed?" in url]
    walker.post(dialed, {"DialCallStatus": "busy", "DialCallDuration": "0"})

    assert (moves(deps, callback_id), callback(deps, callback_id).status) == before
    assert callback(deps, callback_id).attempts == 1


def test_the_status_callback_of_an_older_call_changes_nothing(
    deps, catalog, clock, team, claimed, ring, agent_phone, de
) -> None:
    callback_id = claimed()
    first = ring(callback_id)
    first_phone = agent_phone(first)
    first_phone.answer(first.url)
    first_phone.press("2")  # released; ben claims it and calls
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["ben"], now=clock.now(), catalog=catalog)
    second = ring(callback_id, by="ben")
    assert second.url == ring_url(callback_id, 2)
    assert second.to == "+4915199990002"

    # Call 1's status arrives late, and its key 1 is replayed: call 2 goes on regardless.
    assert first.status_callback is not None
    first_phone.post(first.status_callback, {"CallStatus": "no-answer"})
    replay = first_phone.post(
        f"{BASE_URL}/ivr/agent/callback/key?callback={callback_id}&call=1", {"Digits": "1"}
    )
    assert de.text("agent_callback_gone") in replay
    row = callback(deps, callback_id)
    assert (row.status, row.call_seq) == ("calling", 2)

    walker = agent_phone(second, customer="human")
    walker.answer(second.url)
    assert walker.press("1")[-1] == de.text("agent_reached")
    assert callback(deps, callback_id).claimed_by_id == team["ben"].id


def test_a_call_whose_create_went_unanswered_is_never_placed_twice_and_the_claim_released(
    deps, claimed, catalog, clock, team, worker, mock_twilio
) -> None:
    callback_id = claimed()
    mock_twilio.drop_next("calls")  # Twilio took it, the answer never came
    with transaction(deps.session_factory) as session:
        start_callback_call(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    worker.run_once()
    clock.advance(minutes=5)
    worker.run_once()
    assert len(mock_twilio.calls) == 1
    # The worker's periodic check (callbacks.watch) gave it back to the queue; a person checks
    # Twilio's log (alert).
    assert callback(deps, callback_id).status == "queued"
    with transaction(deps.session_factory) as session:
        assert settle_lost_calls(session, now=clock.now()) == []
