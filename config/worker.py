"""The worker: claims due work from the database and runs each kind's handler.

APScheduler is only the worker's clock (a sub-second tick, and timers that insert each periodic
work's row); the rows are the promises. What runs is declared by each domain's ``jobs`` module
(``db.jobs``); this module only composes those declarations and binds their ports. Claims are
atomic, so any number of workers (or web processes with the worker in-process) can tick against
one database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, timedelta
from functools import partial

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from config.dependencies import Dependencies
from config.work_domains import domain_work, worker_ports
from db.jobs import (
    DomainWork,
    Job,
    LocalSpec,
    PeriodicSpec,
    bind_all,
    bind_local,
)
from db.transaction import transaction
from db.work import (
    DEFAULT_LEASE,
    ClaimedWork,
    GivenUp,
    PermanentFailure,
    claim,
    complete,
    enqueue,
    fail,
    renew,
    retry,
)
from db.work_health import record_heartbeat
from intake.log_masks import mask_text
from intake.ports import SendError

log = logging.getLogger("hotline.worker")

# A row that falls due waits at most this long for a claim (p99 lag due_at -> send <= 1 s).
TICK_SECONDS = 0.25
# A tick drains due work in batches for at most this long (real seconds), then lets the
# scheduler run its other jobs; the next tick starts at once when the interval has passed.
TICK_BUDGET_SECONDS = 5.0


def default_worker_id() -> str:
    """host:pid:random, unique per process start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _SkippedTickFilter(logging.Filter):
    """Drop APScheduler's note that a tick was skipped because the previous one is still busy.

    ``max_instances=1`` makes that the design, not a problem: a tick draining a backlog runs
    longer than the interval, and the coalesced next run starts as soon as it returns.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_SKIPPED_TICK_FILTER = _SkippedTickFilter()


class Worker:
    """Claims due work and runs it, renewing leases while handlers are busy."""

    def __init__(
        self,
        deps: Dependencies,
        *,
        worker_id: str | None = None,
        batch_size: int = 20,
        concurrency: int = 4,
        lease: timedelta = DEFAULT_LEASE,
        tick_seconds: float = TICK_SECONDS,
        domains: Iterable[DomainWork] | None = None,
        jobs: dict[str, Job] | None = None,
    ) -> None:
        """Compose the domains' work (raises WorkDeclarationError when it does not fit).

        ``jobs`` replaces the kind table (tests); the periodic work still comes from ``domains``.
        """
        if lease <= timedelta(0):
            raise ValueError("the lease must be positive")
        work = domain_work(domains)
        self.deps = deps
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.lease = lease
        self.tick_seconds = tick_seconds
        self.jobs = jobs if jobs is not None else bind_all(work, worker_ports(deps))
        self.periodic = work.periodic
        ports = worker_ports(deps)
        self.local = [(spec, bind_local(spec, ports)) for spec in work.local]
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="work")
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._db_down = False
        self._db_error: str | None = None
        # Set on shutdown: the tick in progress finishes its batch but claims nothing new.
        self._stopping = threading.Event()

    # -- one tick -----------------------------------------------------------------------------

    def tick(self) -> int:
        """Claim and run due work until none is left or the tick's budget is spent.

        The next batch is claimed as soon as the threads are about to run dry, not after the
        slowest item of the last batch, so a backlog drains without gaps.
        """
        started = time.monotonic()
        done = 0
        heartbeat = True
        more = True
        pending: set[Future[None]] = set()
        # Renewed from this thread while handlers run: a send that outlasts a third of the
        # lease keeps its claim, with or without a scheduler (``--once`` has none).
        renew_every = self.lease.total_seconds() / 3
        next_renewal = started + renew_every
        while True:
            may_claim = (
                more
                and not self._stopping.is_set()
                and time.monotonic() - started <= TICK_BUDGET_SECONDS
            )
            if may_claim and len(pending) <= self.concurrency:
                batch = self._claim(heartbeat=heartbeat)
                heartbeat = False
                more = len(batch) == self.batch_size
                pending |= {self._pool.submit(self._run, item) for item in batch}
                done += len(batch)
                continue
            if not pending:
                return done
            _, pending = wait(
                pending,
                timeout=max(0.0, next_renewal - time.monotonic()),
                return_when=FIRST_COMPLETED,
            )
            if pending and time.monotonic() >= next_renewal:
                self.renew_leases()
                next_renewal = time.monotonic() + renew_every

    def run_once(self) -> int:
        """Drain everything due now (``hotline worker --once``); returns how many ran."""
        self.enqueue_periodic()
        self.run_local()
        total = 0
        while True:
            ran = self.tick()
            total += ran
            if ran == 0:
                return total

    @property
    def database_unreachable(self) -> str | None:
        """Why the last claim could not reach the database, or None when it could."""
        return self._db_error if self._db_down else None

    def _claim(self, *, heartbeat: bool) -> list[ClaimedWork]:
        try:
            with transaction(self.deps.session_factory) as session:
                now = self.deps.clock.now()
                items = claim(
                    session,
                    worker_id=self.worker_id,
                    now=now,
                    limit=self.batch_size,
                    lease=self.lease,
                    kinds=list(self.jobs),
                    on_give_up=self._give_up,
                )
                if heartbeat:
                    record_heartbeat(session, worker_id=self.worker_id, now=now)
        except SQLAlchemyError as exc:
            self._note_database_error(exc)
            return []
        if self._db_down:
            log.info("event=database_reachable_again worker=%s", self.worker_id)
            self._db_down = False
        with self._held_lock:
            self._held.update(item.id for item in items)
        return items

    def _note_database_error(self, exc: SQLAlchemyError) -> None:
        # Every tick retries; the first failure is an error, the rest say it is still down.
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip().splitlines()
        self._db_error = reason[0] if reason else type(exc).__name__
        if not self._db_down:
            log.error(
                "event=database_unreachable worker=%s retry_in=%ss error=%s",
                self.worker_id,
                self.tick_seconds,
                self._db_error,
            )
        else:
            log.warning(
                "event=database_still_unreachable worker=%s retry_in=%ss",
                self.worker_id,
                self.tick_seconds,
            )
        self._db_down = True

    def _run(self, item: ClaimedWork) -> None:
        job = self.jobs[item.kind]
        try:
            completed = job.handle(item)
        except PermanentFailure as exc:
            self._finish(item, error=f"{type(exc).__name__}: {exc}", permanent=True)
        except Exception as exc:
            log.warning(
                "event=work_error kind=%s key=%s attempt=%s/%s error=%s",
                item.kind,
                item.key,
                item.attempts,
                item.max_attempts,
                mask_text(f"{type(exc).__name__}: {exc}"),
                # A send refused or failed is expected and says all in its message; its traceback
                # would repeat the address it names unmasked (tests/e2e/test_personal_data_in_logs).
                exc_info=not isinstance(exc, SQLAlchemyError | OSError | SendError),
            )
            self._finish(item, error=f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            if completed:
                log.log(
                    self._level(item, "done"),
                    "event=work_done kind=%s key=%s attempt=%s/%s worker=%s",
                    item.kind,
                    item.key,
                    item.attempts,
                    item.max_attempts,
                    self.worker_id,
                )
            else:
                self._finish(item, error=None, permanent=False)
        finally:
            with self._held_lock:
                self._held.discard(item.id)

    def _finish(self, item: ClaimedWork, *, error: str | None, permanent: bool) -> None:
        now = self.deps.clock.now()
        next_try = None
        try:
            with transaction(self.deps.session_factory) as session:
                if error is None:
                    owned = complete(session, item_id=item.id, worker_id=self.worker_id, now=now)
                    outcome = "done"
                elif permanent or item.attempts >= item.max_attempts:
                    owned = fail(
                        session,
                        item_id=item.id,
                        worker_id=self.worker_id,
                        now=now,
                        error=error,
                        on_give_up=self._give_up,
                    )
                    outcome = "failed"
                else:
                    next_try = now + self.jobs[item.kind].retry_delay(item.attempts)
                    owned = retry(
                        session,
                        item_id=item.id,
                        worker_id=self.worker_id,
                        now=now,
                        error=error,
                        next_try_at=next_try,
                    )
                    outcome = "retry"
        except SQLAlchemyError as exc:
            # The row stays leased to us; once the lease expires it is claimed again and the
            # handler finds its effect already recorded.
            log.error(
                "event=work_outcome_not_recorded kind=%s key=%s worker=%s error=%s",
                item.kind,
                item.key,
                self.worker_id,
                mask_text(exc),
            )
            return
        if not owned:
            # Our lease expired and someone else took the row; their outcome stands.
            outcome = "lost_lease"
        log.log(
            self._level(item, outcome),
            "event=work_%s kind=%s key=%s attempt=%s/%s worker=%s%s%s",
            outcome,
            item.kind,
            item.key,
            item.attempts,
            item.max_attempts,
            self.worker_id,
            f" next_try_at={next_try.isoformat()}" if next_try is not None else "",
            f" error={mask_text(error)!r}" if error is not None else "",
        )

    def _level(self, item: ClaimedWork, outcome: str) -> int:
        """ERROR for work given up, DEBUG for a routine check that finished, INFO otherwise."""
        if outcome == "failed":
            return logging.ERROR
        if outcome == "done" and self.jobs[item.kind].routine:
            # An idle worker would otherwise log a line every SWEEP_SECONDS.
            return logging.DEBUG
        return logging.INFO

    def _give_up(self, session: Session, work: GivenUp) -> None:
        """Run the kind's give-up hook; a broken hook must not block claiming or failing."""
        job = self.jobs.get(work.kind)
        if job is None or job.on_give_up is None:
            return
        try:
            with session.begin_nested():
                job.on_give_up(session, work)
        except Exception:
            log.exception("event=give_up_hook_failed kind=%s key=%s", work.kind, work.key)

    # -- leases and periodic work ------------------------------------------------------------

    def renew_leases(self) -> None:
        """Extend the leases of work still running (long sends keep their claim)."""
        with self._held_lock:
            held = list(self._held)
        if not held:
            return
        try:
            with transaction(self.deps.session_factory) as session:
                renewed = renew(
                    session,
                    item_ids=held,
                    worker_id=self.worker_id,
                    now=self.deps.clock.now(),
                    lease=self.lease,
                )
        except SQLAlchemyError as exc:
            log.warning("event=lease_renewal_failed worker=%s error=%s", self.worker_id, exc)
            return
        if renewed < len(held):
            log.warning(
                "event=lease_lost worker=%s held=%s renewed=%s", self.worker_id, len(held), renewed
            )

    def enqueue_periodic(self) -> None:
        """Insert this period's row of every periodic work (unique per period: many workers,
        one row)."""
        for periodic in self.periodic:
            self._enqueue_period(periodic)

    def _enqueue_period(self, periodic: PeriodicSpec) -> None:
        now = self.deps.clock.now()
        try:
            with transaction(self.deps.session_factory) as session:
                enqueue(
                    session,
                    kind=periodic.kind,
                    key=periodic.row_key(now),
                    due_at=now,
                    now=now,
                    priority=periodic.priority,
                    max_attempts=periodic.max_attempts,
                )
        except SQLAlchemyError as exc:
            log.warning(
                "event=periodic_enqueue_failed worker=%s kind=%s error=%s",
                self.worker_id,
                periodic.kind,
                exc,
            )

    def run_local(self) -> None:
        """Run every domain's local work once (each is idempotent)."""
        for spec, run in self.local:
            self._run_local(spec, run)

    def _run_local(self, spec: LocalSpec, run: Callable[[], object]) -> None:
        try:
            run()
        except Exception:
            log.exception("event=local_work_failed name=%s worker=%s", spec.name, self.worker_id)

    def shutdown(self) -> None:
        """Stop the handler threads after the work in hand."""
        self._stopping.set()
        self._pool.shutdown(wait=True)

    # -- schedulers ---------------------------------------------------------------------------

    def _add_jobs(self, scheduler: BlockingScheduler | BackgroundScheduler) -> None:
        logging.getLogger("apscheduler.scheduler").addFilter(_SKIPPED_TICK_FILTER)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            max_instances=1,
            coalesce=True,
            id="tick",
            # Work left overdue while no worker ran is taken at once, not after the first interval.
            next_run_time=self.deps.clock.now(),
        )
        for periodic in self.periodic:
            scheduler.add_job(
                partial(self._enqueue_period, periodic),
                "interval",
                seconds=periodic.every.total_seconds(),
                max_instances=1,
                coalesce=True,
                id=f"periodic:{periodic.kind}",
            )
        for spec, run in self.local:
            scheduler.add_job(
                partial(self._run_local, spec, run),
                "interval",
                seconds=spec.every.total_seconds(),
                max_instances=1,
                coalesce=True,
                id=f"local:{spec.name}",
                next_run_time=self.deps.clock.now(),
            )

    def run_forever(self) -> None:
        """Block, ticking until interrupted (``hotline worker``)."""
        scheduler = BlockingScheduler(timezone=UTC)
        self._add_jobs(scheduler)
        log.info(
            "event=worker_started worker=%s lease=%ss tick=%ss",
            self.worker_id,
            self.lease.total_seconds(),
            self.tick_seconds,
        )
        self.enqueue_periodic()
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self._stopping.set()
            if scheduler.running:
                scheduler.shutdown(wait=True)
            self.shutdown()
            log.info("event=worker_stopped worker=%s", self.worker_id)

    def start_in_background(self) -> BackgroundScheduler:
        """Tick in a background thread of this process (``hotline serve --with-worker``)."""
        scheduler = BackgroundScheduler(timezone=UTC)
        self._add_jobs(scheduler)
        scheduler.start()
        log.info("event=worker_started_in_process worker=%s", self.worker_id)
        return scheduler
