"""The escalation-ring benchmark's database and phones, walked through the app: each customer
escalates an SR of their own and its first duty manager is rung; a pass rings the next one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from bench._escalation_fill import add_duty_roster, fill_customers
from bench._escalation_walks import (
    ACCEPT,
    CALL_ME_BACK_HERE,
    PASS,
    StampedTransport,
    answered_ring,
    timed_press,
    up_to_the_callback_number,
)
from bench._ring_figures import escalation_ring_of
from config.dependencies import Dependencies
from config.settings import LOCAL_AUTH_TOKEN
from config.wiring import build_dependencies
from config.worker import Worker
from db.transaction import transaction
from escalations.records import Escalation, EscalationRing
from intake.models import Role
from ivr.call_walker import CallWalker, Transport
from ivr.prompts import spoken_digits
from ivr.twilio_rest import TwilioSenders
from tests.conftest import BASE_URL
from tests.support.mock_twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, MockTwilio

GERMAN_LINE = "+498001006711"


@pytest.fixture
def mock_twilio(clock) -> Iterator[MockTwilio]:
    with MockTwilio(clock=clock.now) as mock:
        yield mock


@pytest.fixture
def deps(settings, catalog, clock, mailer, mock_twilio) -> Iterator[Dependencies]:
    """The app's and the worker's dependencies, calls placed and SMS sent on the local Twilio
    mock (whose message SIDs never meet the history's)."""
    with TwilioSenders(
        TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=mock_twilio.base_url, timeout_seconds=5
    ) as senders:
        deps = build_dependencies(
            settings,
            catalog=catalog,
            clock=clock,
            messenger=senders,
            dialer=senders,
            mailer=mailer,
            public_base_url=BASE_URL,
        )
        yield deps
        deps.engine.dispose()


@pytest.fixture
def worker(deps) -> Iterator[Worker]:
    runner = Worker(deps)
    yield runner
    runner.shutdown()


@pytest.fixture
def transport(client) -> Callable[[], StampedTransport]:
    def post(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    def stamped() -> StampedTransport:
        return StampedTransport(post)

    return stamped


def _customer_phone(transport: Transport, caller: str) -> CallWalker:
    return CallWalker(
        transport=transport,
        base_url=BASE_URL,
        auth_token=LOCAL_AUTH_TOKEN,
        to=GERMAN_LINE,
        from_=caller,
    )


def _rings(deps) -> list[tuple[int, int, str | None]]:
    with transaction(deps.session_factory) as session:
        rows = session.scalars(
            select(EscalationRing).order_by(EscalationRing.escalation_id, EscalationRing.seq)
        )
        return [(r.escalation_id, r.seq, r.outcome) for r in rows]


def test_each_customer_escalates_an_sr_of_their_own_and_the_first_duty_manager_is_rung(
    deps, catalog, transport, worker, mock_twilio
) -> None:
    customers = fill_customers(deps.engine, catalog, 2)
    managers = add_duty_roster(deps.engine, 5)
    assert len({c.sr_number for c in customers}) == 2
    assert [m.role for m in managers] == [Role.MANAGER] * 6
    de = catalog.prompts_for("de-DE")
    walked = []
    for customer in customers:
        stamped = transport()
        walker = _customer_phone(stamped, customer.caller)
        up_to_the_callback_number(walker, customer.sr_number)
        assert walker.heard[-1] == de.text(
            "callback_offer", number=spoken_digits("0" + customer.caller.removeprefix("+49"))
        )
        stamp = timed_press(walker, stamped, CALL_ME_BACK_HERE)
        assert stamp is stamped.stamps[-1]
        assert stamp.status == 200
        assert stamp.sent <= stamp.answered
        # The customer holds while the duty managers are rung.
        assert walker.heard[-1] == de.text(
            "escalation_hold_start", sr_number=spoken_digits(customer.sr_number)
        )
        assert walker.holding is not None
        walked.append(walker.call_sid)
    worker.run_once()

    with transaction(deps.session_factory) as session:
        raised = {
            e.call_sid: (e.id, e.sr_number)
            for e in session.scalars(select(Escalation).order_by(Escalation.id))
        }
    assert [raised[sid][1] for sid in walked] == [c.sr_number for c in customers]
    calls = mock_twilio.calls
    # The worker places the rings side by side: in either order.
    assert sorted(escalation_ring_of(c.url) for c in calls) == [(raised[s][0], 1) for s in walked]
    assert {c.to for c in calls} == {managers[0].phone}


def test_a_duty_manager_passing_rings_the_next_and_that_one_accepts(
    deps, catalog, transport, worker, mock_twilio
) -> None:
    [customer] = fill_customers(deps.engine, catalog, 1)
    managers = add_duty_roster(deps.engine, 5)
    walker = _customer_phone(transport(), customer.caller)
    up_to_the_callback_number(walker, customer.sr_number)
    walker.press(CALL_ME_BACK_HERE)
    worker.run_once()
    [first] = mock_twilio.calls

    stamped = transport()
    phone = answered_ring(
        first, stamped, base_url=BASE_URL, auth_token=LOCAL_AUTH_TOKEN, account_sid=TEST_ACCOUNT_SID
    )
    stamp = timed_press(phone, stamped, PASS)
    # The stamp is the key's webhook, not the status callback that follows the hang-up.
    assert stamp.url.startswith(f"{BASE_URL}/ivr/manager/escalation/key?")
    assert stamped.stamps[-1].url == first.status_callback
    assert phone.ended
    worker.run_once()
    second = mock_twilio.calls[-1]
    (escalation_id, _) = escalation_ring_of(first.url) or (0, 0)
    assert escalation_ring_of(second.url) == (escalation_id, 2)
    assert (first.to, second.to) == (managers[0].phone, managers[1].phone)

    accepting = answered_ring(
        second,
        transport(),
        base_url=BASE_URL,
        auth_token=LOCAL_AUTH_TOKEN,
        account_sid=TEST_ACCOUNT_SID,
    )
    accepting.press(ACCEPT)
    worker.run_once()
    assert len(mock_twilio.calls) == 2  # nobody else is rung
    assert _rings(deps) == [(escalation_id, 1, "passed"), (escalation_id, 2, "accepted")]
