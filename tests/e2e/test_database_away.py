"""A call while the database is away: the caller still leaves a number, and it becomes an SR.

The database here is away for good (a path that cannot be opened); the same flow against a
PostgreSQL server that flips between answering, black-holing and refusing is in
``test_postgres_outage``.
"""

from __future__ import annotations

import dataclasses

import pytest

from callbacks.models import Callback
from config.app import create_app
from db.engine import make_engine
from db.spool import Spool
from db.transaction import make_session_factory
from intake.jobs import replay_spooled_numbers
from intake.models import Call, ServiceRequest
from ivr.call_walker import CallWalker
from tests.conftest import BASE_URL, LOCAL_AUTH_TOKEN
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE, read_one, read_rows


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path / "spool")


@pytest.fixture
def away_deps(deps, spool, tmp_path):
    """The test's dependencies with a database that cannot be reached."""
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'hotline.db'}")
    yield dataclasses.replace(
        deps, engine=engine, session_factory=make_session_factory(engine), spool=spool
    )
    engine.dispose()


@pytest.fixture
def status_answers():
    """What the status callbacks answered (they cannot record anything either: 500)."""
    return []


@pytest.fixture
def away_phone(settings, away_deps, status_answers):
    client = create_app(settings, away_deps).test_client()

    def transport(url, form, headers):
        response = client.post(url, data=form, headers=headers)
        if "/ivr/status" in url:
            # Twilio only notes a failed status callback in its debugger; the walker would
            # take it for a failed call.
            status_answers.append(response.status_code)
            return 204, ""
        return response.status_code, response.get_data(as_text=True)

    def start(from_=GERMAN_MOBILE):
        return CallWalker(
            transport=transport,
            base_url=BASE_URL,
            auth_token=LOCAL_AUTH_TOKEN,
            to=GERMAN_LINE,
            from_=from_,
        )

    return start


def replay(deps, spool):
    return replay_spooled_numbers(
        session_factory=deps.session_factory,
        catalog=deps.catalog,
        scheduler=deps.scheduler,
        escalations=deps.escalations,
        spool=spool,
    )


def test_a_number_typed_while_the_database_is_away_is_kept_and_becomes_one_sr(
    away_phone, deps, spool, catalog, clock, caplog, status_answers
):
    de = catalog.prompts_for("de-DE")
    walker = away_phone()
    walker.dial()  # the greeting stores nothing: it needs no database
    assert walker.press("1") == [de.text("error_fallback")]
    assert walker.press("030123456#") == [de.text("fallback_thanks")]
    assert walker.ended
    assert status_answers == [500]
    assert f"event=fallback_number_spooled call_sid={walker.call_sid}" in caplog.text
    assert read_rows(deps, ServiceRequest) == []

    report = replay(deps, spool)

    assert (report.replayed, report.failed) == (1, 0)
    sr = read_one(deps, ServiceRequest)
    assert sr.callback_number == "+4930123456"
    callback = read_one(deps, Callback)
    assert (callback.sr_number, callback.callback_number) == (sr.number, "+4930123456")
    call = read_one(deps, Call)
    assert (call.call_sid, call.sr_number) == (walker.call_sid, sr.number)
    # Counted from when the caller gave the number, not from the replay.
    assert sr.created_at == clock.now()


def test_a_number_replayed_twice_makes_no_second_sr(away_phone, deps, spool):
    walker = away_phone()
    walker.dial()
    walker.press("1")
    walker.press("030123456#")
    # As after a crash between the SR's commit and the spool's mark: the record comes again.
    spool.append(walker.call_sid, next(spool.pending()).values)
    assert replay(deps, spool).replayed == 2
    assert len(read_rows(deps, ServiceRequest)) == 1
    assert len(read_rows(deps, Callback)) == 1


def test_digits_that_are_no_number_are_asked_again_while_the_database_is_away(
    away_phone, deps, spool, catalog
):
    de = catalog.prompts_for("de-DE")
    walker = away_phone()
    walker.dial()
    walker.press("1")
    assert walker.press("12#")[-1] == de.text("error_fallback")  # after "not a valid number"
    assert list(spool.pending()) == []
    assert walker.press("030123456#") == [de.text("fallback_thanks")]
    assert [record.values["digits"] for record in spool.pending()] == ["030123456"]


def test_the_caller_id_is_kept_when_nothing_is_typed(away_phone, deps, spool):
    walker = away_phone()
    walker.dial()
    walker.press("1")
    walker.silence()  # the fallback's Gather falls through to its caller-ID action
    replay(deps, spool)
    assert read_one(deps, ServiceRequest).callback_number == GERMAN_MOBILE


def test_health_answers_503_with_a_fixed_text_while_the_database_is_away(settings, away_deps):
    response = create_app(settings, away_deps).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}


def test_a_spooled_record_that_can_never_be_an_sr_is_logged_and_does_not_hold_up_the_rest(
    away_phone, deps, spool, caplog
):
    spool.append("CAbroken", {"call_sid": "CAbroken"})  # no number, no line, no time
    walker = away_phone()
    walker.dial()
    walker.press("1")
    walker.press("030123456#")

    report = replay(deps, spool)

    assert (report.replayed, report.failed) == (2, 0)
    assert "event=spooled_number_unreadable key=CAbroken" in caplog.text
    assert read_one(deps, ServiceRequest).callback_number == "+4930123456"
