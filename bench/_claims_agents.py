"""The claim benchmark's agents: one process each (no shared GIL), each with its own engine.

An agent process waits for a phase, then presses "claim next" in a loop until the queue answers
with nothing, timing every press, and reports an ``AgentRun``. The phases:

  real      ``callbacks.claims.claim_next_callback`` in ``db.transaction.transaction``, on an
            engine made as ``hotline serve`` makes it (``db.engine.make_engine`` with the
            database timeouts: a ping at each checkout, statement and lock timeouts);
  baseline  the least any correct claim does, in raw SQLAlchemy Core on a plain engine:
            ``SELECT id ... WHERE region, status = 'queued' ORDER BY <queue order> LIMIT 1
            FOR UPDATE SKIP LOCKED`` and an ``UPDATE`` of that row, in one transaction.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, bindparam, create_engine, select, text, update

from bench._claims_figures import AgentRun
from callbacks.claims import claim_next_callback
from callbacks.models import Callback, CallbackStatus
from config.catalog import load_catalog
from config.settings import DEFAULT_CONFIG
from db.base import table_of
from db.engine import DatabaseTimeouts, make_engine, normalize_url
from db.transaction import make_session_factory, transaction
from intake.staff import StaffMember

PhaseName = Literal["real", "baseline"]
# An agent gives up a phase after this many failed presses (each one is reported).
MAX_ERRORS = 50
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (here: a PostgreSQL backend) so far; 0 once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class _Agent:
    def __init__(self, database_url: str, agent: StaffMember) -> None:
        self.agent = agent
        self.region = agent.region or ""
        self.catalog = load_catalog(DEFAULT_CONFIG)
        self.real_engine = make_engine(database_url, pool_size=1, timeouts=DatabaseTimeouts())
        self.factory = make_session_factory(self.real_engine)
        self.bare_engine = create_engine(normalize_url(database_url), pool_size=1)
        self.claim_expiry = self.catalog.callback_claim_expiry
        table = table_of(Callback)
        self.select_next = (
            select(table.c.id)
            .where(
                table.c.region == self.region,
                table.c.status == CallbackStatus.QUEUED.value,
            )
            .order_by(table.c.due_at, table.c.requested_at, table.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        self.take = (
            update(table)
            .where(table.c.id == bindparam("callback_id"))
            .values(
                status=CallbackStatus.CLAIMED.value,
                claimed_by_id=agent.id,
                claimed_at=bindparam("now"),
                claim_expires_at=bindparam("expires"),
                updated_at=bindparam("now"),
            )
        )

    def backend_pid(self, engine: Engine) -> int:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def claim_real(self) -> int | None:
        with transaction(self.factory) as session:
            callback = claim_next_callback(
                session,
                by=self.agent,
                region=self.region,
                now=datetime.now(UTC),
                catalog=self.catalog,
            )
            return None if callback is None else callback.id

    def claim_baseline(self) -> int | None:
        with self.bare_engine.begin() as connection:
            callback_id = connection.execute(self.select_next).scalar()
            if callback_id is None:
                return None
            now = datetime.now(UTC)
            connection.execute(
                self.take,
                {"callback_id": callback_id, "now": now, "expires": now + self.claim_expiry},
            )
            return int(callback_id)

    def run(self, phase: PhaseName, start_at: float) -> AgentRun:
        press: Callable[[], int | None]
        press, engine = (
            (self.claim_real, self.real_engine)
            if phase == "real"
            else (self.claim_baseline, self.bare_engine)
        )
        backend = self.backend_pid(engine)  # also warms the pooled connection
        claimed: list[int] = []
        latencies: list[float] = []
        errors: list[str] = []
        empty = 0
        time.sleep(max(0.0, start_at - time.monotonic()))
        cpu0, backend0 = time.process_time(), backend_cpu_seconds(backend)
        started = time.monotonic()
        while len(errors) < MAX_ERRORS:
            before = time.perf_counter()
            try:
                got = press()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            took = time.perf_counter() - before
            if got is None:
                empty += 1
                break
            claimed.append(got)
            latencies.append(took)
        finished = time.monotonic()
        return AgentRun(
            agent_id=self.agent.id,
            claimed=claimed,
            latencies=latencies,
            started=started,
            finished=finished,
            empty_presses=empty,
            errors=errors,
            cpu_seconds=time.process_time() - cpu0,
            backend_cpu_seconds=backend_cpu_seconds(backend) - backend0,
        )

    def close(self) -> None:
        self.real_engine.dispose()
        self.bare_engine.dispose()


def agent_main(pipe: Connection, database_url: str, agent: StaffMember) -> None:
    """An agent process: ``(phase, start_at)`` in, an ``AgentRun`` (or an error text) out;
    ``None`` in ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark stops its agents itself
    try:
        worker = _Agent(database_url, agent)
    except Exception:
        pipe.send(f"agent {agent.name} could not start:\n{traceback.format_exc()}")
        return
    pipe.send("ready")
    try:
        while (command := pipe.recv()) is not None:
            phase, start_at = command
            try:
                pipe.send(worker.run(phase, start_at))
            except Exception:
                pipe.send(f"agent {agent.name} failed:\n{traceback.format_exc()}")
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        worker.close()
