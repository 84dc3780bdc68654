"""What the worker logs: real work at INFO and above, an idle worker's routine only at DEBUG."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent

from config.clock import SystemClock
from config.dependencies import Dependencies
from config.logging import configure_logging
from config.worker import Worker
from db.jobs import Job
from db.transaction import transaction
from db.work import ClaimedWork, enqueue
from intake.jobs import SWEEP_KIND
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE, wait_in_queue
from tests.support.fakes import FakeClock
from tests.support.rosters import cover_every_region
from tests.worker.conftest import MakeDeps


def at_info_or_above(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.name} {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.INFO
    ]


def sweep_completions(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [
        r.levelno
        for r in caplog.records
        if r.getMessage().startswith(f"event=work_done kind={SWEEP_KIND} ")
    ]


@pytest.fixture
def our_logging_setup() -> Iterator[None]:
    """``configure_logging()`` as every hotline process runs it, undone after the test."""
    names = ("", "apscheduler", "twilio.http_client", "alembic.runtime.plugins")
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger, logger.level, list(logger.handlers)) for logger in loggers]
    configure_logging("INFO")
    yield
    for logger, level, handlers in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers


def test_an_idle_tick_and_sweep_log_nothing_at_info_or_above(
    make_deps: MakeDeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    deps = make_deps()
    cover_every_region(deps.session_factory, deps.catalog, now=deps.clock.now())
    worker = Worker(deps)
    worker.enqueue_periodic()
    # The sweep (no quiet call), the callbacks' and the escalations' watch (nothing due), the
    # roster check (no gap).
    assert worker.tick() == len(worker.periodic) == 4
    assert worker.tick() == 0
    worker.shutdown()

    assert at_info_or_above(caplog) == []
    assert sweep_completions(caplog) == [logging.DEBUG]


def test_an_idle_in_process_worker_logs_nothing_at_info_after_it_started(
    make_deps: MakeDeps, caplog: pytest.LogCaptureFixture, our_logging_setup: None
) -> None:
    # A real APScheduler, which logs "Running job" and "executed successfully" at INFO.
    caplog.set_level(logging.DEBUG)
    deps = make_deps(clock=SystemClock())
    cover_every_region(deps.session_factory, deps.catalog, now=deps.clock.now())
    worker = Worker(deps)
    worker.enqueue_periodic()
    ticked = threading.Event()

    def on_run(event: JobExecutionEvent) -> None:
        if event.job_id == "tick":
            ticked.set()

    scheduler = worker.start_in_background()
    scheduler.add_listener(on_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    try:
        # The first tick runs at once and takes the sweep row with it.
        assert ticked.wait(timeout=30), "the worker never ticked"
    finally:
        scheduler.shutdown(wait=True)
        worker.shutdown()

    started, *after_start = at_info_or_above(caplog)
    assert started.startswith("INFO hotline.worker event=worker_started_in_process ")
    assert after_start == []
    assert sweep_completions(caplog) == [logging.DEBUG]


@pytest.mark.usefixtures("demo_customers")
def test_a_sweep_that_settles_a_call_says_so_at_info(
    phone, deps: Dependencies, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    wait_in_queue(walker)
    walker.say("Erika Mustermann")
    # The phone goes dead and Twilio's status callback never arrives.
    clock.advance(minutes=2)
    caplog.set_level(logging.DEBUG)
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    settled = f"INFO hotline.worker event=call_settled_by_sweep call_sid={walker.call_sid} "
    assert any(line.startswith(settled) for line in at_info_or_above(caplog))
    assert sweep_completions(caplog) == [logging.DEBUG]


def test_a_routine_kind_that_fails_is_still_logged_as_an_error(
    make_deps: MakeDeps, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(item: ClaimedWork) -> None:
        raise RuntimeError("the sweep's query failed")

    deps = make_deps()
    with transaction(deps.session_factory) as session:
        now = clock.now()
        enqueue(session, kind="test.routine", key="r:1", due_at=now, now=now, max_attempts=1)
    jobs = {"test.routine": Job(broken, lambda _n: timedelta(seconds=15), routine=True)}
    caplog.set_level(logging.DEBUG)
    worker = Worker(deps, jobs=jobs)
    worker.tick()
    worker.shutdown()

    events = {r.getMessage().split()[0]: r.levelno for r in caplog.records}
    assert events["event=work_error"] == logging.WARNING
    assert events["event=work_failed"] == logging.ERROR
