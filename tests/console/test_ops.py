"""Health and metrics: the worker's last tick, due work, failures, webhook latency and roster
gaps."""

from __future__ import annotations

from datetime import time, timedelta

from flask.testing import FlaskClient

from config.dependencies import Dependencies
from config.worker import Worker
from db.transaction import transaction
from db.work import claim, enqueue, fail
from escalations.history import SYSTEM
from escalations.records import EscalationReason
from escalations.rosters import RosterSpec, ShiftSpec, replace_roster
from escalations.routing import RosterKind
from escalations.services import accept_escalation, flag_unowned, raise_escalation
from intake.models import Role
from intake.staff import add_user
from tests.support.callback_rows import queued_callback, staff
from tests.support.fakes import FakeClock
from tests.support.intake_rows import submit_request


def test_healthz_reports_the_workers_last_tick_and_when_it_went_stale(
    client: FlaskClient, deps: Dependencies, clock: FakeClock
) -> None:
    assert client.get("/healthz").get_json()["worker"] == "never"

    worker = Worker(deps, jobs={})
    worker.tick()
    worker.shutdown()
    fresh = client.get("/healthz").get_json()
    clock.advance(minutes=5)
    stale = client.get("/healthz").get_json()

    assert fresh["status"] == "ok"
    assert fresh["worker"] == "ok"
    assert fresh["worker_last_tick_at"] == "2026-11-25T10:00:00Z"
    assert stale["worker"] == "stale"
    assert stale["worker_last_tick_age_seconds"] == 300


def test_metrics_show_due_work_by_kind_oldest_due_age_failures_and_webhook_latency(
    client: FlaskClient, deps: Dependencies, clock: FakeClock
) -> None:
    now = clock.now()
    with transaction(deps.session_factory) as session:
        for key, kind, due_in in [
            ("a", "confirmation.send", -90),
            ("b", "confirmation.send", -10),
            ("c", "callback.warn", 0),
            ("later", "callback.warn", 600),
            ("bad", "report.daily", -5),
        ]:
            enqueue(
                session,
                kind=kind,
                key=key,
                due_at=now + timedelta(seconds=due_in),
                now=now,
            )
    with transaction(deps.session_factory) as session:
        [bad] = claim(session, worker_id="w", now=now, kinds=["report.daily"])
        fail(session, item_id=bad.id, worker_id="w", now=now, error="boom")
    client.post("/ivr/voice", data={"CallSid": "CA1"})  # unsigned: 403, still timed

    text = client.get("/metrics").get_data(as_text=True)

    assert 'hotline_work_due{kind="confirmation.send"} 2.0' in text
    assert 'hotline_work_due{kind="callback.warn"} 1.0' in text
    assert "hotline_work_oldest_due_seconds 90.0" in text
    assert 'hotline_work_failed{kind="report.daily"} 1.0' in text
    assert "hotline_webhook_seconds_bucket{" in text
    assert "hotline_webhook_seconds_count{" in text


def test_metrics_show_which_rosters_have_nobody_on_duty_now(
    client: FlaskClient, deps: Dependencies, clock: FakeClock
) -> None:
    with transaction(deps.session_factory) as session:
        add_user(session, name="anna", role=Role.MANAGER, now=clock.now(), phone="+4915110000001")
        weekdays = ShiftSpec((0, 1, 2, 3, 4), time(8), time(18))
        for region, kind in [("de", RosterKind.DUTY), ("us", RosterKind.US_GOVERNMENT)]:
            replace_roster(
                session,
                RosterSpec(region, kind, ("anna",), "anna", (weekdays,)),
                by="test",
                now=clock.now(),
            )

    # Wednesday 10:00 UTC: 11:00 in Berlin, 05:00 in New York.
    text = client.get("/metrics").get_data(as_text=True)
    clock.advance(hours=8)  # 19:00 in Berlin, 13:00 in New York
    later = client.get("/metrics").get_data(as_text=True)

    assert 'hotline_roster_gap{kind="duty",region="de"} 0.0' in text
    assert 'hotline_roster_gap{kind="duty",region="us"} 1.0' in text  # no roster
    assert 'hotline_roster_gap{kind="us_government",region="us"} 1.0' in text
    assert 'hotline_roster_gap{kind="duty",region="de"} 1.0' in later
    assert 'hotline_roster_gap{kind="us_government",region="us"} 0.0' in later


def test_metrics_show_each_regions_callbacks_waiting_at_risk_breached_and_the_oldest_wait(
    client: FlaskClient, deps: Dependencies, clock: FakeClock
) -> None:
    # 24x7 promises: due 30 minutes after the call, at risk from 10 minutes before.
    for minutes_later in (0, 15, 10):  # called at 10:00, 10:15 and 10:25
        clock.advance(minutes=minutes_later)
        with transaction(deps.session_factory) as session:
            queued_callback(session, catalog=deps.catalog, now=clock.now())
    clock.advance(minutes=10)  # 10:35

    text = client.get("/metrics").get_data(as_text=True)

    assert 'hotline_callbacks_waiting{region="de"} 3.0' in text
    assert 'hotline_callbacks_at_risk{region="de"} 2.0' in text  # from 10:20 and from 10:35
    assert 'hotline_callbacks_breached{region="de"} 1.0' in text  # due 10:30
    assert 'hotline_callbacks_oldest_wait_seconds{region="de"} 2100.0' in text
    # A region with nobody waiting shows zeros rather than no series at all.
    for name in ("waiting", "at_risk", "breached", "oldest_wait_seconds"):
        assert f'hotline_callbacks_{name}{{region="us"}} 0.0' in text


def test_metrics_count_the_escalations_no_duty_manager_has_accepted(
    client: FlaskClient, deps: Dependencies, clock: FakeClock
) -> None:
    with transaction(deps.session_factory) as session:
        ringing = [
            raise_escalation(
                session,
                sr_number=submit_request(session, catalog=deps.catalog, now=clock.now()),
                reason=EscalationReason.PRODUCTION_DOWN,
                by=SYSTEM,
                raised_by_kind="staff",
                now=clock.now(),
            )[0].id
            for _ in range(3)
        ]
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER)
    with transaction(deps.session_factory) as session:
        flag_unowned(session, ringing[0], by=SYSTEM, now=clock.now())
        accept_escalation(session, ringing[1], by=mia, now=clock.now())

    text = client.get("/metrics").get_data(as_text=True)

    assert 'hotline_escalations_waiting_for_owner{region="de",status="raised"} 1.0' in text
    assert 'hotline_escalations_waiting_for_owner{region="de",status="unowned"} 1.0' in text
    assert 'hotline_escalations_waiting_for_owner{region="us",status="unowned"} 0.0' in text
