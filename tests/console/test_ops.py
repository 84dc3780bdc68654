"""Health and metrics: the worker's last tick, due work, failures and webhook latency."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from config.dependencies import Dependencies
from config.worker import Worker
from db.transaction import transaction
from db.work import claim, enqueue, fail
from tests.support.fakes import FakeClock


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
