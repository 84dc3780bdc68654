"""PostgreSQL behind a proxy the test controls: a call goes on while the database black-holes
or refuses, every webhook answers in time, and the number left becomes an SR on recovery."""

from __future__ import annotations

import dataclasses
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callbacks.models import Callback
from config.app import create_app
from config.worker import Worker
from db.engine import DatabaseTimeouts, make_engine
from db.spool import Spool
from db.transaction import make_session_factory, transaction
from intake.models import Call, Message, ServiceRequest
from ivr.call_walker import CallWalker
from tests.conftest import BASE_URL, LOCAL_AUTH_TOKEN, POSTGRES_URL
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE, read_one, read_rows, wait_in_queue
from tests.support.tcp_proxy import Mode, TcpProxy

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="needs PostgreSQL: set HOTLINE_TEST_POSTGRES_URL"
)

# Twilio waits 15 s; every webhook must answer within this, whatever the database does.
WEBHOOK_LIMIT_SECONDS = 10.0
TIMEOUTS = DatabaseTimeouts()


@pytest.fixture
def proxy():
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_deps(deps, proxy, tmp_path):
    """The test's dependencies on an engine that reaches PostgreSQL only through ``proxy``."""
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL).set(host="127.0.0.1", port=proxy.port)
    engine = make_engine(url.render_as_string(hide_password=False), timeouts=TIMEOUTS)
    yield dataclasses.replace(
        deps,
        engine=engine,
        session_factory=make_session_factory(engine),
        spool=Spool(tmp_path / "spool"),
    )
    proxy.set_mode(Mode.REFUSE)  # connections stuck in the black hole end, and their locks
    engine.dispose()


@pytest.fixture
def timed_phone(settings, proxied_deps):
    """A caller whose every webhook is timed; status callbacks are answered 204 to the walker
    (Twilio only notes a failed one), their real answers kept in ``answers``."""
    client = create_app(settings, proxied_deps).test_client()
    seconds: list[float] = []
    answers: list[int] = []

    def transport(url, form, headers):
        started = time.monotonic()
        response = client.post(url, data=form, headers=headers)
        seconds.append(time.monotonic() - started)
        if "/ivr/status" in url:
            answers.append(response.status_code)
            return 204, ""
        return response.status_code, response.get_data(as_text=True)

    walker = CallWalker(
        transport=transport,
        base_url=BASE_URL,
        auth_token=LOCAL_AUTH_TOKEN,
        to=GERMAN_LINE,
        from_=GERMAN_MOBILE,
    )
    return walker, seconds, client


def replay_until_settled(deps, call_sid, *, deadline_seconds=20.0):
    """Run the worker's local work (the spool's replay) until the call has its SR."""
    worker = Worker(deps)
    try:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            worker.run_local()
            with transaction(deps.session_factory) as session:
                call = session.get(Call, call_sid)
                if call is not None and call.sr_number is not None:
                    return call.sr_number
        raise AssertionError(f"no SR for {call_sid} within {deadline_seconds} s")
    finally:
        worker.shutdown()


@pytest.mark.parametrize("outage", [Mode.BLACK_HOLE, Mode.REFUSE])
def test_a_call_in_progress_keeps_its_number_through_an_outage_and_gets_its_sr_after_it(
    timed_phone, proxy, proxied_deps, deps, demo_customers, catalog, outage, caplog
):
    de = catalog.prompts_for("de-DE")
    walker, seconds, client = timed_phone
    walker.dial()
    walker.press("1")
    walker.press("4711002#")  # stored: the call knows its customer
    wait_in_queue(walker)
    assert read_one(deps, Message).customer_number == "4711002"

    proxy.set_mode(outage)
    heard = walker.say("Erika Mustermann")
    assert heard == [de.text("error_fallback")]
    assert walker.press("030123456#") == [de.text("fallback_thanks")]
    assert walker.ended
    assert max(seconds) < WEBHOOK_LIMIT_SECONDS, seconds
    assert f"event=fallback_number_spooled call_sid={walker.call_sid}" in caplog.text

    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "error", "database": "unreachable"}
    url = make_url(POSTGRES_URL)
    for secret in filter(None, [url.host, url.username, url.database, str(proxy.port)]):
        assert secret not in health.get_data(as_text=True)

    proxy.set_mode(Mode.PASS)
    sr_number = replay_until_settled(proxied_deps, walker.call_sid)

    sr = read_one(deps, ServiceRequest)
    assert (sr.number, sr.customer_number, sr.callback_number) == (
        sr_number,
        "4711002",
        "+4930123456",
    )
    callback = read_one(deps, Callback)
    assert (callback.sr_number, callback.callback_number) == (sr_number, "+4930123456")
    # Replayed once: a second pass finds nothing pending and makes nothing.
    assert list(proxied_deps.spool.pending()) == []
    replay_until_settled(proxied_deps, walker.call_sid)
    assert len(read_rows(deps, ServiceRequest)) == 1


def test_the_health_check_answers_in_time_and_recovers_when_the_database_returns(
    timed_phone, proxy
):
    _, _, client = timed_phone
    assert client.get("/healthz").status_code == 200
    proxy.set_mode(Mode.BLACK_HOLE)
    started = time.monotonic()
    assert client.get("/healthz").status_code == 503
    assert time.monotonic() - started < WEBHOOK_LIMIT_SECONDS
    proxy.set_mode(Mode.PASS)
    deadline = time.monotonic() + 10
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "/healthz still 503 after the database came back"


def test_a_call_whose_row_another_transaction_keeps_locked_answers_in_time_and_keeps_the_number(
    timed_phone, proxied_deps, deps, demo_customers, catalog
):
    de = catalog.prompts_for("de-DE")
    walker, seconds, _ = timed_phone
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    wait_in_queue(walker)
    assert POSTGRES_URL is not None
    holder = make_engine(POSTGRES_URL)
    try:
        with holder.begin() as held:
            # A stuck transaction (a hung job, an operator's open psql) holds the call's row.
            held.execute(
                text("SELECT * FROM calls WHERE call_sid = :sid FOR UPDATE"),
                {"sid": walker.call_sid},
            )
            assert walker.say("Erika Mustermann") == [de.text("error_fallback")]
            assert walker.press("030123456#") == [de.text("fallback_thanks")]
    finally:
        holder.dispose()
    assert max(seconds) < WEBHOOK_LIMIT_SECONDS, seconds
    assert [record.key for record in proxied_deps.spool.pending()] == [walker.call_sid]

    sr_number = replay_until_settled(proxied_deps, walker.call_sid)

    sr = read_one(deps, ServiceRequest)
    assert (sr.number, sr.callback_number) == (sr_number, "+4930123456")
