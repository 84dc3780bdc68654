"""A whole call, its confirmations and a failed e-mail leave no caller's data in the logs."""

from __future__ import annotations

import dataclasses
import logging
import socket
from datetime import timedelta

import pytest

from config.app import create_app
from config.logging import MaskingFormatter
from config.mailer import SmtpMailer
from config.settings import LOCAL_AUTH_TOKEN
from config.wiring import build_dependencies
from config.worker import Worker
from intake.models import ServiceRequest
from ivr.call_walker import CallWalker
from ivr.twilio_rest import LogOnlySenders
from tests.conftest import BASE_URL
from tests.support.calls import GERMAN_LINE, read_one, wait_in_queue

CALLER = "+4915112345678"
NATIONAL = "015112345678"
TYPED_NUMBER = "01701234567"
NAME = "Erika Mustermann"
DESCRIPTION = "Der Server in Halle drei startet nicht mehr"
CUSTOMER_EMAIL = "it-betrieb@muster-maschinenbau.example"


def _closed_port() -> int:
    # A port nobody listens on: the mailer's connection is refused at once, and its error text
    # ("mail to <address>: cannot connect ...") is what the worker would log.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def logging_deps(settings, catalog, clock, demo_customers):
    senders = LogOnlySenders(clock=clock)
    deps = build_dependencies(
        settings,
        catalog=catalog,
        clock=clock,
        messenger=senders,
        dialer=senders,
        mailer=SmtpMailer(
            "127.0.0.1",
            _closed_port(),
            from_address="hotline@example.com",
            timeout_seconds=2,
            clock=clock,
        ),
        public_base_url=BASE_URL,
    )
    yield deps
    deps.engine.dispose()


def _walker(deps, settings, from_=CALLER) -> CallWalker:
    app = create_app(settings, deps)
    client = app.test_client()

    def transport(url, form, headers):
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    return CallWalker(
        transport=transport,
        base_url=BASE_URL,
        auth_token=LOCAL_AUTH_TOKEN,
        to=GERMAN_LINE,
        from_=from_,
    )


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record's own message, and the records as the processes write them (tracebacks
    included): the first shows what the call sites pass, the second what reaches the log."""
    plain = logging.Formatter("%(name)s %(levelname)s %(message)s")
    production = MaskingFormatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(
        [record.getMessage() for record in caplog.records]
        + [production.format(record) for record in caplog.records if record.exc_info]
        + [plain.format(record) for record in caplog.records if not record.exc_info]
    )


class _FailingScheduler:
    """A callback queue whose failure names the caller, as a driver's error text might."""

    def __init__(self, real):
        self.real = real
        self.failed = False

    def schedule_callback(self, session, request, *, now):
        if not self.failed:
            self.failed = True
            raise RuntimeError(f"cannot queue a callback to {CALLER} for {CUSTOMER_EMAIL}")
        return self.real.schedule_callback(session, request, now=now)


def test_a_whole_call_and_its_confirmations_log_no_number_name_address_or_words(
    logging_deps, settings, clock, caplog
):
    caplog.set_level(logging.DEBUG)
    walker = _walker(logging_deps, settings)
    walker.dial()
    walker.press("1")
    walker.press("4711001#")
    walker.press("1")  # vSphere
    wait_in_queue(walker)
    walker.say(NAME)
    walker.press("2")  # not the caller ID: type another number
    walker.press(f"{TYPED_NUMBER}#")
    walker.press("#")  # no earlier SR
    walker.press("2")  # no recording
    walker.say(DESCRIPTION)
    walker.press("2")  # answer by e-mail
    walker.press("2")
    walker.hang_up()
    sr = read_one(logging_deps, ServiceRequest)
    assert (sr.contact_name, sr.callback_number, sr.email) == (
        NAME,
        "+491701234567",
        CUSTOMER_EMAIL,
    )

    clock.advance(timedelta(minutes=1))
    worker = Worker(logging_deps)
    worker.run_once()  # the SMS is logged as not sent, the e-mail fails: refused connection
    worker.shutdown()

    logged = _everything_logged(caplog)
    assert "event=turn" in logged
    assert "event=work_error" in logged  # the failed e-mail was logged, masked
    for secret in (CALLER, NATIONAL, TYPED_NUMBER, "+491701234567", NAME, "Mustermann"):
        assert secret not in logged
    assert CUSTOMER_EMAIL not in logged
    assert DESCRIPTION not in logged
    assert "***@muster-maschinenbau.example" in logged
    assert "***567" in logged


def test_a_failing_turn_and_the_number_typed_after_it_log_no_number_name_or_address(
    logging_deps, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    deps = dataclasses.replace(logging_deps, scheduler=_FailingScheduler(logging_deps.scheduler))
    walker = _walker(deps, settings)
    walker.dial()
    walker.press("1")
    walker.press("4711001#")
    walker.press("1")
    wait_in_queue(walker)
    walker.say(NAME)
    walker.press("1")  # the caller ID
    walker.press("#")
    walker.press("2")
    walker.say(DESCRIPTION)
    walker.press("2")  # e-mail: the turn that completes the message fails
    walker.press(f"{TYPED_NUMBER}#")  # the fallback asks for a number to call back

    logged = _everything_logged(caplog)
    assert "event=webhook_error" in logged
    assert "event=fallback_number" in logged
    assert (
        "RuntimeError: cannot queue a callback to ***678 for ***@muster-maschinenbau.example"
        in (logged)
    )
    for secret in (CALLER, NATIONAL, TYPED_NUMBER, NAME, DESCRIPTION, CUSTOMER_EMAIL):
        assert secret not in logged
