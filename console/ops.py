"""Operations endpoints: health and Prometheus metrics."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from flask import Blueprint, Flask, Response, g, jsonify, request
from prometheus_client import CollectorRegistry, Histogram, Metric, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from callbacks.queries import queue_figures
from config.dependencies import current
from console.queue_metrics import CallbackQueueCollector
from db.transaction import read_transaction
from db.work_health import backlog, last_heartbeat, worker_health
from escalations.queries import waiting_for_an_owner
from escalations.roster_watch import roster_covers

log = logging.getLogger("hotline.ops")
bp = Blueprint("ops", __name__)

# The worker ticks at least once a second; after this long without one it counts as stale.
WORKER_STALE_SECONDS = 30


def install_request_metrics(app: Flask) -> None:
    """Time every webhook into a histogram kept on the app (one registry per app).

    Under gunicorn each web process times its own requests; ``hotline serve`` sets
    PROMETHEUS_MULTIPROC_DIR so that a scrape, whichever process answers it, adds them all up.
    """
    registry = CollectorRegistry()
    shared = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    histogram = Histogram(
        "hotline_webhook_seconds",
        "Time to answer a Twilio webhook",
        ["endpoint"],
        registry=None if shared else registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
    )
    if shared:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    app.extensions["hotline_metrics"] = (registry, histogram)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        if request.path.startswith("/ivr/") and "started" in g:
            histogram.labels(request.endpoint or "unknown").observe(time.perf_counter() - g.started)
        return response


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@bp.get("/healthz")
def healthz() -> Response:
    """200 when the database answers; also reports the worker's last tick."""
    deps = current()
    try:
        with read_transaction(deps.session_factory) as session:
            health = worker_health(
                session, now=deps.clock.now(), stale_after=timedelta(seconds=WORKER_STALE_SECONDS)
            )
    except Exception as exc:
        # A fixed answer: the driver's message names the database's host, port and user, which
        # /healthz (reachable by load balancers, often by anyone) must never tell.
        log.error("event=health_db_unreachable error=%s", type(exc).__name__)
        response = jsonify(status="error", database="unreachable")
        response.status_code = 503
        return response
    return jsonify(
        status="ok",
        database="ok",
        worker=health.state,
        worker_last_tick_at=_iso(health.last_tick_at),
        worker_last_tick_age_seconds=health.age_seconds,
    )


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text: due work by kind, oldest due age, failures, webhook latency, the
    rosters with nobody on duty, escalations nobody has accepted, and the callback queue per
    region."""
    deps = current()
    registry, _ = current_metrics()
    now = deps.clock.now()
    with read_transaction(deps.session_factory) as session:
        work = backlog(session, now=now)
        beat = last_heartbeat(session)
        covers = roster_covers(session, catalog=deps.catalog, now=now)
        unaccepted = waiting_for_an_owner(session)
        queue = CallbackQueueCollector(
            queue_figures(session, now=now), (region.key for region in deps.catalog.regions)
        )
    # Read from the database at scrape time, so plain metric families rather than live gauges
    # (live gauges would be per-process files in multiprocess mode).
    due = GaugeMetricFamily("hotline_work_due", "Work due now, by kind", labels=["kind"])
    for kind, count in sorted(work.due_by_kind.items()):
        due.add_metric([kind], count)
    failed = GaugeMetricFamily(
        "hotline_work_failed", "Work that failed for good, by kind", labels=["kind"]
    )
    for kind, count in sorted(work.failed_by_kind.items()):
        failed.add_metric([kind], count)
    oldest = GaugeMetricFamily(
        "hotline_work_oldest_due_seconds",
        "Age of the oldest due work",
        value=work.oldest_due_age_seconds,
    )
    tick = GaugeMetricFamily(
        "hotline_worker_last_tick_age_seconds",
        "Seconds since a worker ticked (-1: never)",
        value=-1 if beat is None else (now - beat).total_seconds(),
    )
    gap = GaugeMetricFamily(
        "hotline_roster_gap",
        "1 when nobody on the region's roster is on duty now (or it has none): an escalation"
        " would ring only the fallback",
        labels=["region", "kind"],
    )
    for cover in covers:
        gap.add_metric([cover.region, cover.kind.value], 1 if cover.is_gap else 0)
    waiting = GaugeMetricFamily(
        "hotline_escalations_waiting_for_owner",
        "Escalations no duty manager has accepted: raised (being rung) or unowned (the rings"
        " ran out)",
        labels=["region", "status"],
    )
    for region in deps.catalog.regions:
        for status in ("raised", "unowned"):
            waiting.add_metric([region.key, status], unaccepted.get((region.key, status), 0))
    families = [due, failed, oldest, tick, gap, waiting, *queue.collect()]
    body = generate_latest(registry) + generate_latest(_Snapshot(families))
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


class _Snapshot(CollectorRegistry):
    """A registry that exposes metric families computed for one scrape."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        super().__init__(auto_describe=False)
        self._families = families

    def collect(self) -> Iterator[Metric]:
        """The families of this scrape."""
        yield from self._families


def current_metrics() -> tuple[CollectorRegistry, Histogram]:
    """The app's webhook metrics."""
    from flask import current_app

    registry, histogram = current_app.extensions["hotline_metrics"]
    return registry, histogram
