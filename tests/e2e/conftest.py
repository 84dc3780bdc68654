"""What the end-to-end tests share: the local Twilio REST mock, the app's dependencies placing
calls on it, and a phone the hotline rings."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from config.dependencies import Dependencies
from config.settings import LOCAL_AUTH_TOKEN
from config.wiring import build_dependencies
from config.worker import Worker
from ivr.call_walker import CallWalker
from ivr.twilio_rest import TwilioSenders
from tests.conftest import BASE_URL
from tests.support.fakes import FakeMailer, FakeMessenger
from tests.support.mock_twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, MockCall, MockTwilio


@pytest.fixture
def mock_twilio(clock) -> Iterator[MockTwilio]:
    with MockTwilio(clock=clock.now) as mock:
        yield mock


@pytest.fixture
def twilio_deps(settings, catalog, clock, messenger, mailer, mock_twilio) -> Iterator[Dependencies]:
    """The app's and the worker's dependencies, calls placed on the local Twilio."""
    with TwilioSenders(
        TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=mock_twilio.base_url, timeout_seconds=5
    ) as senders:
        deps = build_dependencies(
            settings,
            catalog=catalog,
            clock=clock,
            messenger=messenger,
            dialer=senders,
            mailer=mailer,
            public_base_url=BASE_URL,
        )
        yield deps
        deps.engine.dispose()


@pytest.fixture
def worker(settings, catalog, clock, mock_twilio) -> Iterator[Worker]:
    """A worker of its own, placing calls at the mock; webhooks are reached at BASE_URL."""
    with TwilioSenders(
        TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=mock_twilio.base_url, timeout_seconds=5
    ) as senders:
        deps = build_dependencies(
            settings,
            catalog=catalog,
            clock=clock,
            messenger=FakeMessenger(clock),
            dialer=senders,
            mailer=FakeMailer(),
            public_base_url=BASE_URL,
        )
        runner = Worker(deps)
        yield runner
        runner.shutdown()
        deps.engine.dispose()


@pytest.fixture
def rung_phone(client) -> Callable[..., CallWalker]:
    """The phone of a call the mock accepted, answering through the app's test client."""

    def transport(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    def phone(call: MockCall, customer: str | None = None) -> CallWalker:
        """``customer``: how the person a <Dial> rings answers (``CALLEE_OUTCOMES``)."""
        return CallWalker(
            transport=transport,
            base_url=BASE_URL,
            auth_token=LOCAL_AUTH_TOKEN,
            to=call.to,
            from_=call.from_,
            call_sid=call.sid,
            status_callback=call.status_callback,
            callee=None if customer is None else (lambda _number: customer),
        )

    return phone
