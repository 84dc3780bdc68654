"""Fixtures for worker tests: a local Twilio, a real SMTP server, dependencies wired to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.dependencies import Dependencies
from config.settings import Settings
from config.wiring import build_dependencies
from intake.catalog import Catalog
from ivr.twilio_rest import TwilioSenders
from tests.conftest import BASE_URL
from tests.support.fakes import FakeClock, FakeDialer, FakeMailer, FakeMessenger
from tests.support.mock_twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, MockTwilio
from tests.support.smtp import SmtpSink

MakeDeps = Callable[..., Dependencies]


@pytest.fixture
def mock_twilio(clock: FakeClock) -> Iterator[MockTwilio]:
    # Twilio's clock is ours: listings "since the attempt" compare instants of one timeline.
    with MockTwilio(clock=clock.now) as mock:
        yield mock


@pytest.fixture
def twilio_senders(mock_twilio: MockTwilio) -> Iterator[TwilioSenders]:
    with TwilioSenders(
        TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=mock_twilio.base_url, timeout_seconds=5
    ) as senders:
        yield senders


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def make_deps(settings: Settings, catalog: Catalog, clock: FakeClock) -> Iterator[MakeDeps]:
    """Dependencies on the test database with any collaborator replaced."""
    built: list[Dependencies] = []

    def make(**overrides: Any) -> Dependencies:
        parts: dict[str, Any] = {
            "catalog": catalog,
            "clock": clock,
            "messenger": FakeMessenger(clock),
            "dialer": FakeDialer(),
            "mailer": FakeMailer(),
            "public_base_url": BASE_URL,
        }
        parts.update(overrides)
        deps = build_dependencies(settings, **parts)
        built.append(deps)
        return deps

    yield make
    for deps in built:
        deps.engine.dispose()
