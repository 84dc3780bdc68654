"""The worker runs what the domains declare: their kinds, their ports, their periodic rows."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy import select

from callbacks import jobs as callbacks_jobs
from config import cli
from config import work_domains as worker_module
from config.work_domains import DOMAIN_WORK, domain_work
from config.worker import Worker
from db.jobs import DomainWork, JobSpec, LocalSpec, PeriodicSpec, WorkDeclarationError
from db.transaction import transaction
from db.work import ClaimedWork, WorkItem, enqueue
from escalations import jobs as escalations_jobs
from escalations.jobs import WATCH_KIND
from escalations.notices import NOTICE_KIND
from escalations.watch import REPORT_KIND
from intake import confirmations, outbound_calls
from intake import jobs as intake_jobs
from tests.support.fakes import FakeClock
from tests.worker.conftest import MakeDeps

KIND = "test.effect"
TIDY = "test.tidy"
INTAKE_KINDS = {confirmations.WORK_KIND, intake_jobs.SWEEP_KIND, outbound_calls.WORK_KIND}
CALLBACK_KINDS = {
    callbacks_jobs.WATCH_KIND,
    callbacks_jobs.MANAGER_NOTICE_KIND,
    callbacks_jobs.CUSTOMER_NOTICE_KIND,
}
# Every kind the domains declare.
ALL_KINDS = (
    INTAKE_KINDS
    | CALLBACK_KINDS
    | {
        NOTICE_KIND,
        REPORT_KIND,
        WATCH_KIND,
        escalations_jobs.ROSTER_GAPS_KIND,
        escalations_jobs.RING_NOTICE_KIND,
    }
)


def no_delay(_attempt: int) -> timedelta:
    return timedelta(0)


def tidy(item: ClaimedWork) -> None:
    del item


TIDY_WORK = DomainWork(
    "test",
    jobs=(JobSpec(TIDY, tidy, no_delay),),
    periodic=(PeriodicSpec(TIDY, every=timedelta(minutes=1)),),
)


def periodic_keys(deps, kind: str) -> list[str]:
    with transaction(deps.session_factory) as session:
        return list(session.scalars(select(WorkItem.key).where(WorkItem.kind == kind)))


def test_the_worker_runs_every_kind_the_domains_declare() -> None:
    assert DOMAIN_WORK == (intake_jobs.WORK, callbacks_jobs.WORK, escalations_jobs.WORK)
    work = domain_work()
    assert set(work.jobs) == ALL_KINDS
    assert [p.kind for p in work.periodic] == [
        intake_jobs.SWEEP_KIND,
        callbacks_jobs.WATCH_KIND,
        WATCH_KIND,
        escalations_jobs.ROSTER_GAPS_KIND,
    ]


def test_a_domains_kind_is_run_with_the_ports_its_handler_names(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    deps = make_deps()
    seen: list[tuple[str, object, object, object]] = []

    def effect(item: ClaimedWork, *, clock: object, dialer: object, public_base_url: object):
        seen.append((item.key, clock, dialer, public_base_url))

    test_work = DomainWork("test", jobs=(JobSpec(KIND, effect, no_delay),))
    with transaction(deps.session_factory) as session:
        enqueue(session, kind=KIND, key="effect:1", due_at=clock.now(), now=clock.now())
    worker = Worker(deps, domains=(*DOMAIN_WORK, test_work))
    worker.run_once()
    worker.shutdown()

    assert set(worker.jobs) == {*ALL_KINDS, KIND}
    assert seen == [("effect:1", deps.clock, deps.dialer, deps.public_base_url)]
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(WorkItem.state).where(WorkItem.key == "effect:1")) == "done"


def test_a_kind_another_domain_already_declares_is_refused_at_start(make_deps: MakeDeps) -> None:
    copy = DomainWork("callbacks", jobs=(JobSpec(confirmations.WORK_KIND, tidy, no_delay),))

    with pytest.raises(WorkDeclarationError) as refused:
        Worker(make_deps(), domains=(*DOMAIN_WORK, copy))

    assert str(refused.value) == (
        "work kind 'confirmation.send' is declared twice: by intake and by callbacks"
    )


def test_a_port_the_worker_does_not_have_is_refused_at_start_naming_the_kind(
    make_deps: MakeDeps,
) -> None:
    def page(item: ClaimedWork, *, clock: object, pager: object) -> None:
        del item, clock, pager

    paging = DomainWork("escalations", jobs=(JobSpec("escalation.page", page, no_delay),))

    with pytest.raises(WorkDeclarationError) as refused:
        Worker(make_deps(), domains=(*DOMAIN_WORK, paging))

    message = str(refused.value)
    assert message.startswith("work kind 'escalation.page' asks for port(s) 'pager', which the")
    assert message.endswith(", ".join(sorted(worker_module.PORTS)))


def test_hotline_worker_refuses_to_start_when_the_domains_work_does_not_fit(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    copy = DomainWork("callbacks", jobs=(JobSpec(intake_jobs.SWEEP_KIND, tidy, no_delay),))
    monkeypatch.setattr(worker_module, "DOMAIN_WORK", (*DOMAIN_WORK, copy))

    result = CliRunner().invoke(
        cli.worker,
        ["--once"],
        env={"HOTLINE_DATABASE_URL": database_url, "HOTLINE_LOCAL_MODE": "1"},
    )

    assert result.exit_code == 1
    assert "error: work kind 'calls.settle_quiet' is declared twice" in result.output


def test_each_periodic_work_gets_its_own_timer_at_its_own_period(make_deps: MakeDeps) -> None:
    worker = Worker(make_deps(), domains=(*DOMAIN_WORK, TIDY_WORK))
    scheduler = BackgroundScheduler()
    worker._add_jobs(scheduler)
    worker.shutdown()

    timers = {job.id: job.trigger.interval for job in scheduler.get_jobs()}
    assert timers[f"periodic:{TIDY}"] == timedelta(minutes=1)
    assert timers[f"periodic:{intake_jobs.SWEEP_KIND}"] == intake_jobs.SWEEP_EVERY


def test_periodic_rows_are_inserted_once_per_period_by_workers_inserting_at_once(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    workers = [Worker(make_deps(), domains=(*DOMAIN_WORK, TIDY_WORK)) for _ in range(3)]

    for _period in range(3):
        start = threading.Barrier(len(workers))

        def insert(worker: Worker, start: threading.Barrier = start) -> None:
            start.wait(timeout=10)
            for _ in range(5):
                worker.enqueue_periodic()

        threads = [threading.Thread(target=insert, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        clock.advance(minutes=1)
    for worker in workers:
        worker.shutdown()

    deps = workers[0].deps
    assert len(periodic_keys(deps, TIDY)) == 3
    # The sweep's 15 s periods: one row for each minute's inserts as well.
    assert len(periodic_keys(deps, intake_jobs.SWEEP_KIND)) == 3
    with transaction(deps.session_factory) as session:
        rows = session.scalars(select(WorkItem).where(WorkItem.kind == TIDY)).all()
        assert {(r.state, r.priority, r.max_attempts) for r in rows} == {("due", 100, 1)}


def test_local_work_runs_in_every_worker_with_its_ports_and_its_own_timer(
    make_deps: MakeDeps,
) -> None:
    deps = make_deps()
    seen: list[object] = []

    def look(*, spool: object) -> None:
        seen.append(spool)

    local = DomainWork("test", local=(LocalSpec("test.look", look, every=timedelta(seconds=7)),))
    worker = Worker(deps, domains=(*DOMAIN_WORK, local))
    worker.run_once()
    scheduler = BackgroundScheduler()
    worker._add_jobs(scheduler)
    worker.shutdown()

    assert seen == [deps.spool]
    timers = {job.id: job.trigger.interval for job in scheduler.get_jobs()}
    assert timers["local:test.look"] == timedelta(seconds=7)
    assert timers["local:fallback.replay_spool"] == intake_jobs.SPOOL_EVERY


def test_local_work_asking_for_a_port_the_worker_lacks_is_refused_at_start(
    make_deps: MakeDeps,
) -> None:
    def page(*, pager: object) -> None:
        del pager

    paging = DomainWork("test", local=(LocalSpec("test.page", page, every=timedelta(seconds=5)),))

    with pytest.raises(WorkDeclarationError) as refused:
        Worker(make_deps(), domains=(*DOMAIN_WORK, paging))

    assert str(refused.value).startswith("local work 'test.page' asks for port(s) 'pager'")


def test_local_work_that_fails_is_logged_and_the_worker_goes_on(
    make_deps: MakeDeps, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("disk gone")

    local = DomainWork(
        "test", local=(LocalSpec("test.broken", broken, every=timedelta(seconds=5)),)
    )
    worker = Worker(make_deps(), domains=(*DOMAIN_WORK, local))
    worker.run_once()
    worker.shutdown()

    assert "event=local_work_failed name=test.broken" in caplog.text
