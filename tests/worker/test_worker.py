"""The worker: claims due rows, retries with backoff, fails loudly, keeps leases, rides outages."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from config import cli
from config.dependencies import Dependencies
from config.settings import Settings
from config.worker import DEFAULT_LEASE, TICK_SECONDS, Job, Worker
from db.transaction import transaction
from db.work import Alert, ClaimedWork, PermanentFailure, WorkItem, claim, enqueue
from intake import confirmations
from intake.catalog import Catalog
from intake.models import ConfirmationStatus
from intake.ports import SendError, SendRejected
from tests.support.fakes import FakeClock, FakeMailer, FakeMessenger
from tests.support.intake_rows import confirmation, submit_request, work_for
from tests.support.smtp import free_port
from tests.worker.conftest import MakeDeps

KIND = "test.effect"


def sms_key(deps: Dependencies, sr_number: str) -> str:
    with transaction(deps.session_factory) as session:
        return confirmation(session, sr_number).key


def new_request(deps: Dependencies, **kwargs: object) -> str:
    with transaction(deps.session_factory) as session:
        return submit_request(session, catalog=deps.catalog, now=deps.clock.now(), **kwargs)  # type: ignore[arg-type]


def alerts(deps: Dependencies) -> list[Alert]:
    with transaction(deps.session_factory) as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_cli_defaults_are_the_workers_defaults() -> None:
    assert timedelta(seconds=cli.DEFAULT_LEASE_SECONDS) == DEFAULT_LEASE
    assert TICK_SECONDS == cli.DEFAULT_TICK_SECONDS <= 0.5


@pytest.mark.usefixtures("demo_customers")
def test_due_confirmations_go_out_once_by_sms_and_email(make_deps: MakeDeps) -> None:
    deps = make_deps()
    sr_number = new_request(deps, customer_number="4711001")
    worker = Worker(deps)

    assert worker.run_once() >= 3  # SMS, e-mail and the periodic sweep
    assert worker.run_once() == 0
    worker.shutdown()

    assert isinstance(deps.messenger, FakeMessenger)
    assert isinstance(deps.mailer, FakeMailer)
    [sms] = deps.messenger.sent
    [mail] = deps.mailer.sent
    assert sr_number in sms.body
    assert sr_number in mail.subject
    with transaction(deps.session_factory) as session:
        for channel in ("sms", "email"):
            sent = confirmation(session, sr_number, channel)
            assert sent.status == ConfirmationStatus.SENT
            assert work_for(session, sent.key).state == "done"


def test_a_failed_send_is_retried_after_its_backoff_with_the_error_recorded(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    messenger.failures.append(SendError("Twilio answered HTTP 503"))
    deps = make_deps(messenger=messenger)
    sr_number = new_request(deps)
    key = sms_key(deps, sr_number)
    worker = Worker(deps)

    worker.run_once()
    with transaction(deps.session_factory) as session:
        row = work_for(session, key)
        assert (row.state, row.attempts) == ("due", 1)
        assert row.due_at == clock.now() + confirmations.retry_delay(1)
        assert "HTTP 503" in (row.last_error or "")
        assert confirmation(session, sr_number).status == ConfirmationStatus.QUEUED

    clock.advance(seconds=14)
    worker.run_once()
    assert messenger.sent == []
    clock.advance(seconds=1)
    worker.run_once()
    worker.shutdown()

    assert len(messenger.sent) == 1
    with transaction(deps.session_factory) as session:
        assert work_for(session, key).state == "done"
        assert work_for(session, key).attempts == 2


def test_after_the_last_attempt_work_fails_with_an_alert_and_is_never_dropped(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    messenger.failures.extend(SendError(f"outage {n}") for n in range(confirmations.MAX_ATTEMPTS))
    deps = make_deps(messenger=messenger)
    sr_number = new_request(deps)
    key = sms_key(deps, sr_number)
    worker = Worker(deps)

    for attempt in range(1, confirmations.MAX_ATTEMPTS + 1):
        assert worker.run_once() >= 1
        if attempt < confirmations.MAX_ATTEMPTS:
            clock.advance(confirmations.retry_delay(attempt))
    clock.advance(hours=2)
    assert worker.run_once() <= len(worker.periodic)  # at most the periodic checks
    worker.shutdown()

    assert messenger.sent == []
    # Every retry fits inside the one-hour promise.
    assert sum(confirmations.RETRY_DELAYS, timedelta()) < timedelta(hours=1)
    with transaction(deps.session_factory) as session:
        row = work_for(session, key)
        assert (row.state, row.attempts) == ("failed", confirmations.MAX_ATTEMPTS)
        assert confirmation(session, sr_number).status == ConfirmationStatus.FAILED
    [alert] = [a for a in alerts(deps) if a.subject == key]
    assert alert.kind == f"work_failed:{confirmations.WORK_KIND}"
    assert f"outage {confirmations.MAX_ATTEMPTS - 1}" in alert.message


def test_a_permanent_failure_fails_at_once_with_an_alert(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    messenger.failures.append(SendRejected("error 21211: invalid 'To' phone number"))
    deps = make_deps(messenger=messenger)
    sr_number = new_request(deps)
    key = sms_key(deps, sr_number)
    worker = Worker(deps)

    worker.run_once()
    clock.advance(hours=1)
    worker.run_once()
    worker.shutdown()

    with transaction(deps.session_factory) as session:
        row = work_for(session, key)
        assert (row.state, row.attempts) == ("failed", 1)
        assert confirmation(session, sr_number).status == ConfirmationStatus.FAILED
    # (The callback, an hour past due, also raised its own: no manager to tell of the breach.)
    assert [a.subject for a in alerts(deps) if a.kind.startswith("work_failed")] == [key]


def test_any_job_kind_raising_permanent_failure_is_not_retried(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    deps = make_deps()
    calls: list[int] = []

    def handle(item: ClaimedWork) -> None:
        calls.append(item.attempts)
        raise PermanentFailure("bad data")

    with transaction(deps.session_factory) as session:
        enqueue(session, kind=KIND, key="k", due_at=clock.now(), now=clock.now())
    worker = Worker(deps, jobs={KIND: Job(handle, lambda _n: timedelta(seconds=1))})
    worker.run_once()
    clock.advance(minutes=1)
    worker.run_once()
    worker.shutdown()

    assert calls == [1]
    assert [(a.kind, a.message) for a in alerts(deps)] == [
        (f"work_failed:{KIND}", "PermanentFailure: bad data")
    ]


def test_a_handler_that_outlasts_its_lease_keeps_renewing_it(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    deps = make_deps()
    release = threading.Event()
    started = threading.Event()

    def handle(item: ClaimedWork) -> None:
        started.set()
        assert release.wait(timeout=30)

    with transaction(deps.session_factory) as session:
        enqueue(session, kind=KIND, key="slow", due_at=clock.now(), now=clock.now())
    lease = timedelta(seconds=0.3)
    worker = Worker(deps, lease=lease, jobs={KIND: Job(handle, lambda _n: timedelta(0))})
    ticking = threading.Thread(target=worker.tick)
    ticking.start()
    try:
        assert started.wait(timeout=10)
        with transaction(deps.session_factory) as session:
            first_lease = work_for(session, "slow").lease_until
        assert first_lease is not None
        clock.advance(seconds=30)  # far past the first lease
        deadline = time.monotonic() + 10
        while True:
            with transaction(deps.session_factory) as session:
                row = work_for(session, "slow")
            # Renewed: set again from a later instant (ours on SQLite, the database's on
            # PostgreSQL, whose clock went on while the handler ran).
            if row.lease_until is not None and row.lease_until > first_lease:
                break
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.02)
        with transaction(deps.session_factory) as session:
            assert claim(session, worker_id="other", now=clock.now(), lease=lease) == []
    finally:
        release.set()
        ticking.join(timeout=10)
        worker.shutdown()

    with transaction(deps.session_factory) as session:
        assert work_for(session, "slow").state == "done"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-hotline-dir/hotline.db",
        f"postgresql://127.0.0.1:{free_port()}/test?connect_timeout=2",
    ],
    ids=["sqlite-unopenable-path", "postgresql-closed-port"],
)
def test_a_worker_that_cannot_reach_the_database_keeps_retrying_and_says_so(
    url: str, make_deps: MakeDeps, caplog: pytest.LogCaptureFixture
) -> None:
    from config.wiring import build_dependencies

    deps = make_deps()
    unreachable = build_dependencies(
        Settings.from_env({"HOTLINE_DATABASE_URL": url}),
        catalog=deps.catalog,
        clock=deps.clock,
        messenger=deps.messenger,
        dialer=deps.dialer,
        mailer=deps.mailer,
    )
    worker = Worker(unreachable)
    caplog.set_level(logging.INFO, logger="hotline.worker")
    try:
        assert worker.tick() == 0
        assert worker.tick() == 0
        assert worker.run_once() == 0
    finally:
        worker.shutdown()
        unreachable.engine.dispose()

    events = [r.getMessage().split()[0] for r in caplog.records if r.name == "hotline.worker"]
    assert events[0] == "event=database_unreachable"
    assert "event=database_still_unreachable" in events
    assert f"retry_in={TICK_SECONDS}s" in caplog.records[0].getMessage()

    # Back online: the same worker object carries on and says so.
    worker = Worker(deps)
    worker._db_down = True
    worker.tick()
    worker.shutdown()
    assert "event=database_reachable_again" in caplog.text


def test_two_workers_with_their_own_engines_do_each_row_exactly_once(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    rows = 600
    first, second = make_deps(), make_deps()
    now = clock.now()
    with transaction(first.session_factory) as session:
        session.execute(
            insert(WorkItem),
            [
                {
                    "kind": KIND,
                    "key": f"effect:{n}",
                    "payload": {},
                    "state": "due",
                    "priority": 100,
                    "due_at": now - timedelta(milliseconds=n),
                    "attempts": 0,
                    "max_attempts": 3,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(rows)
            ],
        )
    effects: Counter[str] = Counter()
    lock = threading.Lock()

    def handle(item: ClaimedWork) -> None:
        with lock:
            effects[item.key] += 1

    jobs = {KIND: Job(handle, lambda _n: timedelta(seconds=1))}
    workers = [Worker(d, jobs=jobs, batch_size=25) for d in (first, second)]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for worker in workers:
        worker.shutdown()

    assert len(effects) == rows
    assert set(effects.values()) == {1}
    with transaction(first.session_factory) as session:
        states = dict(
            session.execute(
                select(WorkItem.state, func.count())
                .where(WorkItem.kind == KIND)
                .group_by(WorkItem.state)
            ).all()
        )
        done_by = dict(
            session.execute(
                select(WorkItem.claimed_by, func.count())
                .where(WorkItem.kind == KIND)
                .group_by(WorkItem.claimed_by)
            ).all()
        )
    assert states == {"done": rows}
    assert set(done_by) <= {w.worker_id for w in workers}


def test_the_periodic_sweep_is_one_row_per_period_however_many_workers_insert_it(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    deps = make_deps()
    workers = [Worker(deps), Worker(deps)]
    for worker in workers:
        worker.enqueue_periodic()
    clock.advance(seconds=15)
    workers[0].enqueue_periodic()
    for worker in workers:
        worker.shutdown()

    with transaction(deps.session_factory) as session:
        keys = session.scalars(
            select(WorkItem.key).where(WorkItem.kind == "calls.settle_quiet")
        ).all()
    assert len(keys) == 2


def test_every_action_is_logged_with_the_sr_number(
    make_deps: MakeDeps, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    deps = make_deps()
    sr_number = new_request(deps)
    caplog.set_level(logging.INFO, logger="hotline.worker")
    worker = Worker(deps)
    worker.run_once()
    worker.shutdown()

    lines = [r.getMessage() for r in caplog.records if sr_number in r.getMessage()]
    assert any(line.startswith("event=confirmation_sent") for line in lines)
    assert any(line.startswith("event=work_done") for line in lines)


def test_two_workers_whose_clocks_are_minutes_apart_never_both_run_the_same_work(
    make_deps: MakeDeps, clock: FakeClock, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite is one host: its leases run on the injected clock (db.work)")
    behind = make_deps()
    ahead = make_deps(clock=FakeClock(clock.now() + timedelta(minutes=5)))
    runs: list[str] = []
    release = threading.Event()
    started = threading.Event()

    def slow(item: ClaimedWork) -> None:
        runs.append("behind")
        started.set()
        assert release.wait(timeout=30)

    def quick(item: ClaimedWork) -> None:
        runs.append("ahead")

    with transaction(behind.session_factory) as session:
        enqueue(session, kind=KIND, key="sms", due_at=clock.now(), now=clock.now())
    first = Worker(behind, jobs={KIND: Job(slow, lambda _n: timedelta(0))})
    second = Worker(ahead, jobs={KIND: Job(quick, lambda _n: timedelta(0))})
    ticking = threading.Thread(target=first.tick)
    ticking.start()
    try:
        assert started.wait(timeout=10)
        # Five minutes ahead, the 10-second lease taken by the host behind looks long expired
        # by this host's clock; the database's clock says it holds.
        assert second.tick() == 0
        first.renew_leases()
        assert second.tick() == 0
    finally:
        release.set()
        ticking.join(timeout=10)
        first.shutdown()
        second.shutdown()
    assert runs == ["behind"]
    with transaction(behind.session_factory) as session:
        assert work_for(session, "sms").state == "done"
