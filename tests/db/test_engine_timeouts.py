"""PostgreSQL engines built with timeouts give up in time, whatever the server does."""

from __future__ import annotations

import dataclasses
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from db.engine import PING_SECONDS, DatabaseTimeouts, make_engine
from tests.conftest import POSTGRES_URL
from tests.support.tcp_proxy import Mode, TcpProxy

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="needs PostgreSQL: set HOTLINE_TEST_POSTGRES_URL"
)

TIMEOUTS = DatabaseTimeouts(connect_seconds=2, statement_seconds=1, lock_seconds=0.5)
# Every pooled connection pinged at checkout, however lately the server answered on it.
ALWAYS_PINGED = dataclasses.replace(TIMEOUTS, ping_idle_seconds=0)


@pytest.fixture
def proxy():
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def engine_with(proxy):
    """Engines through ``proxy`` with the timeouts given (TIMEOUTS unless told)."""
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL).set(host="127.0.0.1", port=proxy.port)
    engines = []

    def make(timeouts=TIMEOUTS):
        engines.append(make_engine(url.render_as_string(hide_password=False), timeouts=timeouts))
        return engines[-1]

    yield make
    proxy.set_mode(Mode.REFUSE)
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(engine_with):
    return engine_with()


def seconds_until_it_fails(run):
    started = time.monotonic()
    with pytest.raises(OperationalError) as failure:
        run()
    return time.monotonic() - started, failure.value


def test_a_statement_the_server_never_answers_is_cut_off_after_the_silence_limit(engine, proxy):
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        proxy.set_mode(Mode.BLACK_HOLE)
        took, _ = seconds_until_it_fails(lambda: connection.execute(text("SELECT 2")))
    assert TIMEOUTS.silence_seconds <= took < TIMEOUTS.silence_seconds + 1


def test_a_pooled_connection_that_went_silent_is_pinged_and_replaced_in_time(engine_with, proxy):
    engine = engine_with(ALWAYS_PINGED)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    proxy.set_mode(Mode.BLACK_HOLE)
    took, _ = seconds_until_it_fails(lambda: engine.connect().close())
    assert took < TIMEOUTS.longest_wait_seconds
    proxy.set_mode(Mode.PASS)
    with engine.connect() as connection:  # the next checkout connects afresh
        assert connection.execute(text("SELECT 3")).scalar() == 3


def test_a_connection_answered_on_just_now_is_not_pinged_and_cut_off_in_time_when_silent(
    engine, proxy
):
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    proxy.set_mode(Mode.BLACK_HOLE)
    started = time.monotonic()
    with engine.connect() as connection:  # no ping: nothing to wait for
        checked_out = time.monotonic() - started
        took, _ = seconds_until_it_fails(lambda: connection.execute(text("SELECT 2")))
    assert checked_out < PING_SECONDS
    assert TIMEOUTS.silence_seconds <= took < TIMEOUTS.longest_wait_seconds
    proxy.set_mode(Mode.PASS)
    with engine.connect() as connection:  # the cut-off connection was replaced
        assert connection.execute(text("SELECT 3")).scalar() == 3


def test_a_connection_answered_on_just_now_that_the_server_closed_is_replaced_unseen(engine):
    with engine.connect() as connection:
        first = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    assert POSTGRES_URL is not None
    other = make_engine(POSTGRES_URL)
    try:
        with other.connect() as connection:
            # Waits until the backend is gone: its goodbye is in our socket by then.
            assert connection.execute(text(f"SELECT pg_terminate_backend({first}, 5000)")).scalar()
    finally:
        other.dispose()
    with engine.connect() as connection:
        second = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    assert second != first


def test_a_refused_connection_fails_at_once(engine, proxy):
    proxy.set_mode(Mode.REFUSE)
    took, _ = seconds_until_it_fails(lambda: engine.connect().close())
    assert took < TIMEOUTS.connect_seconds


def test_a_slow_statement_is_cancelled_by_the_server(engine):
    with engine.connect() as connection:
        took, error = seconds_until_it_fails(
            lambda: connection.execute(text("SELECT pg_sleep(30)"))
        )
    assert "statement timeout" in str(error)
    assert took < TIMEOUTS.silence_seconds


def test_a_row_lock_held_elsewhere_is_waited_for_only_the_lock_timeout(engine):
    assert POSTGRES_URL is not None
    holder = make_engine(POSTGRES_URL)
    try:
        with holder.begin() as held:
            held.execute(text("SELECT pg_advisory_xact_lock(4711)"))
            with engine.connect() as connection:
                took, error = seconds_until_it_fails(
                    lambda: connection.execute(text("SELECT pg_advisory_xact_lock(4711)"))
                )
    finally:
        holder.dispose()
    assert "lock timeout" in str(error)
    assert took < TIMEOUTS.statement_seconds
