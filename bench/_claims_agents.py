"""The claim benchmark's agents: one process each (no shared GIL), each with its own engine.

An agent process waits for a phase, then presses "claim next" in a loop until the queue answers
with nothing, timing every press, and reports an ``AgentRun``. The phases:

  real      ``callbacks.claims.take_next_callback``, as the API calls it (on PostgreSQL one
            statement for a queued callback, a transaction for an expired claim), on an
            engine made as ``hotline serve`` makes it (``db.engine.make_engine`` with the
            database timeouts: a ping at checkout of a connection idle for 2 s, statement
            and lock timeouts);
  baseline  the least any correct claim does, in raw SQLAlchemy Core on a plain engine:
            ``SELECT id ... WHERE region, status = 'queued' ORDER BY <queue order> LIMIT 1
            FOR UPDATE SKIP LOCKED`` and an ``UPDATE`` of that row, in one transaction;
  http      ``POST /api/v1/callbacks/claim-next`` with the agent's token to ``hotline serve``
            (one kept-alive connection per agent): ``{"callback": ...}``, null when none is left.
"""

from __future__ import annotations

import http.client
import json
import signal
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import Engine, bindparam, create_engine, select, text, update

from bench._claims_figures import AgentRun
from callbacks.claims import take_next_callback
from callbacks.models import Callback, CallbackStatus
from config.catalog import load_catalog
from config.settings import DEFAULT_CONFIG
from db.base import table_of
from db.engine import DatabaseTimeouts, make_engine, normalize_url
from db.transaction import make_session_factory
from intake.staff import StaffMember

PhaseName = Literal["real", "baseline", "http"]
# An agent gives up a phase after this many failed presses (each one is reported).
MAX_ERRORS = 50


class _Agent:
    def __init__(self, database_url: str, agent: StaffMember, token: str) -> None:
        self.agent = agent
        self.token = token
        self.http: http.client.HTTPConnection | None = None
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

    def warm(self, engine: Engine) -> None:
        """Connect before the start: the phase measures claims, not connecting."""
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def claim_real(self) -> int | None:
        view = take_next_callback(
            self.factory,
            by=self.agent,
            region=self.region,
            now=datetime.now(UTC),
            catalog=self.catalog,
        )
        return None if view is None else view.id

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

    def claim_http(self) -> int | None:
        assert self.http is not None
        self.http.request(
            "POST",
            "/api/v1/callbacks/claim-next",
            body=b"{}",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        response = self.http.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        callback = json.loads(body)["callback"]  # null when nobody is waiting
        return None if callback is None else int(callback["id"])

    def _connect(self, base_url: str) -> None:
        if self.http is not None:
            self.http.close()
        where = urlsplit(base_url)
        self.http = http.client.HTTPConnection(
            where.hostname or "127.0.0.1", where.port, timeout=30
        )
        self.http.connect()

    def run(self, phase: PhaseName, start_at: float, base_url: str | None = None) -> AgentRun:
        press: Callable[[], int | None]
        if phase == "http":
            assert base_url is not None
            self._connect(base_url)
            press = self.claim_http
        elif phase == "real":
            press = self.claim_real
            self.warm(self.real_engine)
        else:
            press = self.claim_baseline
            self.warm(self.bare_engine)
        claimed: list[int] = []
        latencies: list[float] = []
        errors: list[str] = []
        empty = 0
        time.sleep(max(0.0, start_at - time.monotonic()))
        cpu0 = time.process_time()
        started = time.monotonic()
        while len(errors) < MAX_ERRORS:
            before = time.perf_counter()
            try:
                got = press()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                if phase == "http" and base_url is not None:
                    self._connect(base_url)  # a fresh connection after a broken exchange
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
        )

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
        self.real_engine.dispose()
        self.bare_engine.dispose()


def agent_main(pipe: Connection, database_url: str, agent: StaffMember, token: str) -> None:
    """An agent process: ``(phase, start_at, base_url)`` in, an ``AgentRun`` (or an error
    text) out; ``None`` in ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark stops its agents itself
    try:
        worker = _Agent(database_url, agent, token)
    except Exception:
        pipe.send(f"agent {agent.name} could not start:\n{traceback.format_exc()}")
        return
    pipe.send("ready")
    try:
        while (command := pipe.recv()) is not None:
            phase, start_at, base_url = command
            try:
                pipe.send(worker.run(phase, start_at, base_url))
            except Exception:
                pipe.send(f"agent {agent.name} failed:\n{traceback.format_exc()}")
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        worker.close()
