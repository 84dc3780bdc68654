"""The worker: claims due work from the database and runs each kind's handler.

APScheduler is only the worker's clock (a sub-second tick and a periodic sweep insert); the rows
are the promises. Claims are atomic, so any number of workers (or web processes with the worker
in-process) can tick against one database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, timedelta
from functools import partial

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import OperationalError

from config.dependencies import Dependencies
from db.transaction import transaction
from db.work import (
    DEFAULT_LEASE,
    ClaimedWork,
    PermanentFailure,
    claim,
    complete,
    enqueue,
    fail,
    record_heartbeat,
    renew,
    retry,
)
from intake import confirmations
from intake.jobs import send_confirmation, settle_quiet_calls

log = logging.getLogger("hotline.worker")

TICK_SECONDS = 0.5
SWEEP_SECONDS = 15
SWEEP_KIND = "calls.settle_quiet"
# A tick drains due work in batches for at most this long, then yields to the next tick.
TICK_BUDGET = timedelta(seconds=5)


@dataclass(frozen=True)
class Job:
    """How to run one kind of work and how long to wait before retrying it."""

    handle: Callable[[ClaimedWork], None]
    retry_delay: Callable[[int], timedelta]


def _fixed_delay(seconds: int) -> Callable[[int], timedelta]:
    return lambda _attempt: timedelta(seconds=seconds)


def job_table(deps: Dependencies) -> dict[str, Job]:
    """Every kind of work the worker knows, bound to this process's dependencies."""
    return {
        confirmations.WORK_KIND: Job(
            partial(
                send_confirmation,
                session_factory=deps.session_factory,
                clock=deps.clock,
                catalog=deps.catalog,
                messenger=deps.messenger,
                mailer=deps.mailer,
                public_base_url=deps.public_base_url,
            ),
            confirmations.retry_delay,
        ),
        SWEEP_KIND: Job(
            partial(
                settle_quiet_calls,
                session_factory=deps.session_factory,
                clock=deps.clock,
                catalog=deps.catalog,
                scheduler=deps.scheduler,
            ),
            _fixed_delay(SWEEP_SECONDS),
        ),
    }


def default_worker_id() -> str:
    """host:pid:random, unique per process start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
        jobs: dict[str, Job] | None = None,
    ) -> None:
        self.deps = deps
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.lease = lease
        self.jobs = jobs if jobs is not None else job_table(deps)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="work")
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._db_down = False

    # -- one tick -----------------------------------------------------------------------------

    def tick(self) -> int:
        """Claim and run due work until none is left or the tick's budget is spent."""
        started = self.deps.clock.now()
        done = 0
        while True:
            batch = self._claim()
            if batch:
                list(self._pool.map(self._run, batch))
                done += len(batch)
            if len(batch) < self.batch_size or self.deps.clock.now() - started > TICK_BUDGET:
                return done

    def run_once(self) -> int:
        """Drain everything due now (``hotline worker --once``); returns how many ran."""
        self.enqueue_periodic()
        total = 0
        while True:
            ran = self.tick()
            total += ran
            if ran == 0:
                return total

    def _claim(self) -> list[ClaimedWork]:
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
                )
                record_heartbeat(session, worker_id=self.worker_id, now=now)
        except OperationalError as exc:
            if not self._db_down:
                log.error("event=database_unreachable worker=%s error=%s", self.worker_id, exc)
            else:
                log.warning("event=database_still_unreachable worker=%s", self.worker_id)
            self._db_down = True
            return []
        if self._db_down:
            log.info("event=database_reachable_again worker=%s", self.worker_id)
            self._db_down = False
        with self._held_lock:
            self._held.update(item.id for item in items)
        return items

    def _run(self, item: ClaimedWork) -> None:
        job = self.jobs[item.kind]
        try:
            job.handle(item)
        except PermanentFailure as exc:
            self._finish(item, error=f"{type(exc).__name__}: {exc}", permanent=True)
        except Exception as exc:
            log.exception(
                "event=work_error kind=%s key=%s attempt=%s", item.kind, item.key, item.attempts
            )
            self._finish(item, error=f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            self._finish(item, error=None, permanent=False)
        finally:
            with self._held_lock:
                self._held.discard(item.id)

    def _finish(self, item: ClaimedWork, *, error: str | None, permanent: bool) -> None:
        now = self.deps.clock.now()
        with transaction(self.deps.session_factory) as session:
            if error is None:
                owned = complete(session, item_id=item.id, worker_id=self.worker_id, now=now)
                outcome = "done"
            elif permanent or item.attempts >= item.max_attempts:
                owned = fail(
                    session, item_id=item.id, worker_id=self.worker_id, now=now, error=error
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
        if not owned:
            # Our lease expired and someone else took the row; their outcome stands.
            outcome = "lost_lease"
        log.info(
            "event=work_%s kind=%s key=%s attempt=%s worker=%s",
            outcome,
            item.kind,
            item.key,
            item.attempts,
            self.worker_id,
        )

    # -- leases and periodic work ------------------------------------------------------------

    def renew_leases(self) -> None:
        """Extend the leases of work still running (long sends keep their claim)."""
        with self._held_lock:
            held = list(self._held)
        if not held:
            return
        try:
            with transaction(self.deps.session_factory) as session:
                renew(
                    session,
                    item_ids=held,
                    worker_id=self.worker_id,
                    now=self.deps.clock.now(),
                    lease=self.lease,
                )
        except OperationalError as exc:
            log.warning("event=lease_renewal_failed worker=%s error=%s", self.worker_id, exc)

    def enqueue_periodic(self) -> None:
        """Insert this period's sweep row (unique per period, so many workers insert one)."""
        now = self.deps.clock.now()
        bucket = int(now.timestamp()) // SWEEP_SECONDS
        try:
            with transaction(self.deps.session_factory) as session:
                enqueue(
                    session,
                    kind=SWEEP_KIND,
                    key=f"{SWEEP_KIND}:{bucket}",
                    due_at=now,
                    now=now,
                    priority=50,
                    max_attempts=1,
                )
        except OperationalError as exc:
            log.warning("event=periodic_enqueue_failed error=%s", exc)

    def shutdown(self) -> None:
        """Stop the handler threads after the work in hand."""
        self._pool.shutdown(wait=True)

    # -- schedulers ---------------------------------------------------------------------------

    def _add_jobs(self, scheduler: BlockingScheduler | BackgroundScheduler) -> None:
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=TICK_SECONDS,
            max_instances=1,
            coalesce=True,
            id="tick",
        )
        scheduler.add_job(
            self.renew_leases,
            "interval",
            seconds=self.lease.total_seconds() / 3,
            max_instances=1,
            coalesce=True,
            id="renew",
        )
        scheduler.add_job(
            self.enqueue_periodic,
            "interval",
            seconds=SWEEP_SECONDS,
            max_instances=1,
            coalesce=True,
            id="periodic",
        )

    def run_forever(self) -> None:
        """Block, ticking until interrupted (``hotline worker``)."""
        scheduler = BlockingScheduler(timezone=UTC)
        self._add_jobs(scheduler)
        log.info("event=worker_started worker=%s", self.worker_id)
        self.enqueue_periodic()
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()
            log.info("event=worker_stopped worker=%s", self.worker_id)

    def start_in_background(self) -> BackgroundScheduler:
        """Tick in a background thread of this process (``hotline serve --with-worker``)."""
        scheduler = BackgroundScheduler(timezone=UTC)
        self._add_jobs(scheduler)
        scheduler.start()
        log.info("event=worker_started_in_process worker=%s", self.worker_id)
        return scheduler
