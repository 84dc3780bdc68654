"""Worker benchmark (``make bench``): due-at lag, sends/s and restart catch-up on PostgreSQL.

Run from the project root: ``.venv/bin/python -m bench.worker``. It creates a throw-away database
next to the ``test`` one on 127.0.0.1:5432 (``HOTLINE_BENCH_POSTGRES_URL`` to change), migrates it
with ``hotline db upgrade``, loads 100 000 pending SMS confirmations (most due hours ahead) and runs
real ``hotline worker`` processes against a local Twilio mock served from this process. It prints
figures and ratios and writes them to ``bench/results/worker-<date>.json``; it never fails on a
timing. Without PostgreSQL it says so and exits 0.

Scenarios (the 100 000 rows are present in each; state is reset in between):
  sweep       one worker, a block due at once, for each --concurrency/--batch pair; the fastest
              pair is used for everything below. A probe repeats it with a 150 ms Twilio round
              trip (the mock waits before answering), as against the real API.
  lag         2 000 rows come due spread over 20 s; lag = mock received the SMS - due_at.
  throughput  5 000 rows due at once; sends/s of one worker, then of two.
  restart     a stopped worker (SIGTERM) left 1 000 rows overdue; time from restart until all are
              done. A second variant stops the worker a third of the way through a drain.
Each run also records CPU (workers, PostgreSQL, this driver with the mock, everything else on the
machine), commits and row updates per send, and what the workers logged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._config import config_with_sms_senders

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_URL = os.environ.get("HOTLINE_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")

ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "bench-auth-token"
MOBILE = "+4915112345678"
WORK_KIND = "confirmation.send"  # intake.confirmations.WORK_KIND
PRIORITY = 10  # intake.confirmations.WORK_PRIORITY
MAX_ATTEMPTS = 7  # intake.confirmations.MAX_ATTEMPTS
# SR numbers are 10 digits derived from the row id, so a received SMS maps back to its row.
SR_BASE = 7_000_000_000
SR_PATTERN = re.compile(r"\b(7\d{9})\b")

TARGET_P99_LAG = 1.0
TARGET_SCALE = 1.6
TARGET_RESTART = 5.0
# Threads per worker for the scale-out with Twilio's round trip (the sends wait, not compute).
LATENCY_SCALE_CONCURRENCY = 16
LATENCY_SCALE_BATCH = 48

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    """Progress on stderr; figures go to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- database --------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """A libpq URL (no SQLAlchemy driver suffix) for psycopg."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(plain_url(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(plain_url(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def far_due(now: datetime, row_id: int) -> datetime:
    """Where an idle row waits: two hours ahead and beyond, spread out."""
    return now + timedelta(hours=2, seconds=row_id * 0.25)


def load_rows(conn: Any, rows: int) -> float:
    """COPY ``rows`` messages, SMS confirmations and pending work items; returns seconds."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    callback_due = now + timedelta(minutes=30)
    with conn.cursor() as cur:
        with cur.copy(
            "COPY messages (id, call_sid, kind, region, language, customer_number, is_identified,"
            " product, product_line, contact_name, callback_number, callback_number_source,"
            " description, answer_channel, requested_at, created_at, updated_at, is_complete,"
            " callback_due_at, sr_number) FROM STDIN"
        ) as copy:
            for i in range(1, rows + 1):
                copy.write_row(
                    (
                        i,
                        f"CAbench{i:026d}",
                        "new",
                        "de",
                        "de-DE",
                        "1000001",
                        True,
                        "vSphere",
                        "datacenter",
                        "Erika Mustermann",
                        MOBILE,
                        "caller_id",
                        "Host nicht erreichbar",
                        "phone",
                        now,
                        now,
                        now,
                        True,
                        callback_due,
                        str(SR_BASE + i),
                    )
                )
        with cur.copy(
            "COPY confirmations (id, key, sr_number, message_id, channel, address, language,"
            " status, created_at) FROM STDIN"
        ) as copy:
            for i in range(1, rows + 1):
                sr = str(SR_BASE + i)
                copy.write_row(
                    (i, f"confirmation:{sr}:{i}:sms", sr, i, "sms", MOBILE, "de-DE", "queued", now)
                )
        with cur.copy(
            "COPY work_items (id, kind, key, payload, state, priority, due_at, attempts,"
            " max_attempts, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, rows + 1):
                sr = str(SR_BASE + i)
                copy.write_row(
                    (
                        i,
                        WORK_KIND,
                        f"confirmation:{sr}:{i}:sms",
                        json.dumps({"confirmation_id": i}),
                        "due",
                        PRIORITY,
                        far_due(now, i),
                        0,
                        MAX_ATTEMPTS,
                        now,
                        now,
                    )
                )
        for table in ("messages", "confirmations", "work_items"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", (rows,))
    conn.commit()
    vacuum(conn)
    return time.perf_counter() - started


def vacuum(conn: Any) -> None:
    """VACUUM ANALYZE the hot tables (autocommit is needed for VACUUM)."""
    previous = conn.autocommit
    conn.commit()
    conn.autocommit = True
    try:
        for table in ("work_items", "confirmations", "messages", "worker_heartbeats"):
            conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        conn.autocommit = previous


def reset(conn: Any, rows: int) -> None:
    """Every row pending again, hours ahead; no heartbeats, no sweep rows; vacuumed."""
    now = datetime.now(UTC)
    conn.execute(
        "UPDATE work_items SET state = 'due', attempts = 0, claimed_by = NULL,"
        " lease_until = NULL, last_error = NULL, finished_at = NULL, updated_at = %(now)s,"
        " due_at = %(far)s + id * interval '250 milliseconds'"
        " WHERE kind = %(kind)s AND (state <> 'due' OR due_at < %(soon)s)",
        {
            "now": now,
            "far": now + timedelta(hours=2),
            "soon": now + timedelta(hours=1),
            "kind": WORK_KIND,
        },
    )
    conn.execute("DELETE FROM work_items WHERE kind <> %s", (WORK_KIND,))
    conn.execute("DELETE FROM alerts")
    conn.execute("DELETE FROM worker_heartbeats")
    conn.execute(
        "UPDATE confirmations SET status = 'queued', provider_id = NULL, provider_status = NULL,"
        " attempt_started_at = NULL, sent_at = NULL, delivered_at = NULL, last_error = NULL"
        " WHERE status <> 'queued' OR attempt_started_at IS NOT NULL"
    )
    conn.commit()
    vacuum(conn)
    count = conn.execute(
        "SELECT count(*) FROM work_items WHERE state = 'due' AND due_at > %s", (now,)
    ).fetchone()[0]
    conn.commit()
    assert count == rows, f"reset left {count} of {rows} rows pending"


DRIVER_COMMITS = 0  # this script's own transactions, kept out of the per-send figures


def query(conn: Any, sql: str, params: Any = None) -> list[Any]:
    """Run one statement in its own transaction; rows if it returns any."""
    global DRIVER_COMMITS
    cur = conn.execute(sql, params)
    rows = cur.fetchall() if cur.description is not None else []
    conn.commit()
    DRIVER_COMMITS += 1
    return rows


def make_due(conn: Any, first: int, count: int, *, start: datetime, spread: float) -> None:
    """Rows ``first``..``first+count-1`` due from ``start``, evenly over ``spread`` seconds."""
    step = spread / (count - 1) if count > 1 else 0.0
    query(
        conn,
        "UPDATE work_items SET due_at = %(start)s + (id - %(first)s) * %(step)s * interval '1 s'"
        " WHERE id BETWEEN %(first)s AND %(last)s",
        {"start": start, "first": first, "last": first + count - 1, "step": step},
    )


def count_done(conn: Any, first: int, count: int) -> int:
    rows = query(
        conn,
        "SELECT count(*) FROM work_items WHERE id BETWEEN %s AND %s AND state = 'done'",
        (first, first + count - 1),
    )
    return int(rows[0][0])


def state_counts(conn: Any) -> dict[str, int]:
    rows = query(conn, "SELECT state, count(*) FROM work_items GROUP BY state")
    return {str(state): int(n) for state, n in rows}


def due_times(conn: Any, first: int, count: int) -> dict[int, datetime]:
    rows = query(
        conn,
        "SELECT id, due_at FROM work_items WHERE id BETWEEN %s AND %s",
        (first, first + count - 1),
    )
    return {int(i): due for i, due in rows}


def pg_counters(conn: Any) -> dict[str, int]:
    """Commits and row updates so far (read after the workers' backends have exited)."""
    # This backend's own updates (reset, make_due) reach the statistics lazily: flush them now.
    query(conn, "SELECT pg_stat_force_next_flush()")
    counters = {"driver_commits": DRIVER_COMMITS}
    row = query(
        conn,
        "SELECT xact_commit, xact_rollback FROM pg_stat_database"
        " WHERE datname = current_database()",
    )[0]
    counters["xact_commit"], counters["xact_rollback"] = int(row[0]), int(row[1])
    for name, upd, hot in query(
        conn,
        "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
        " WHERE relname IN ('work_items', 'confirmations', 'worker_heartbeats')",
    ):
        counters[f"upd_{name}"] = int(upd)
        counters[f"hot_upd_{name}"] = int(hot)
    return counters


def counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


# -- CPU -------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
    return pids


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuSample:
    at: float
    workers: dict[int, float]
    postgres: dict[int, float]
    driver: float
    machine: tuple[float, float]


def cpu_sample(worker_pids: Sequence[int]) -> CpuSample:
    return CpuSample(
        at=time.perf_counter(),
        workers={pid: proc_cpu(pid) for pid in worker_pids},
        postgres={pid: proc_cpu(pid) for pid in postgres_pids()},
        driver=proc_cpu(os.getpid()),
        machine=machine_cpu(),
    )


def cpu_use(start: CpuSample, end: CpuSample) -> dict[str, float]:
    """Cores used over the interval (1.0 = one core busy) by workers, PostgreSQL, this driver.

    ``other_cores`` is what the rest of the machine used meanwhile (other people's tests and
    benchmarks on a shared box): when it is high, every figure here is pessimistic.
    """
    wall = max(end.at - start.at, 1e-9)
    workers = sum(end.workers[p] - start.workers.get(p, 0.0) for p in end.workers) / wall
    postgres = sum(end.postgres[p] - start.postgres.get(p, 0.0) for p in end.postgres) / wall
    driver = (end.driver - start.driver) / wall
    busy = end.machine[0] - start.machine[0]
    total = end.machine[1] - start.machine[1]
    cores = os.cpu_count() or 1
    machine = cores * busy / total if total else 0.0
    return {
        "wall_s": round(wall, 2),
        "workers_cores": round(workers, 2),
        "postgres_cores": round(postgres, 2),
        "driver_and_mock_cores": round(driver, 2),
        "machine_busy_cores": round(machine, 2),
        "other_cores": round(max(0.0, machine - workers - postgres - driver), 2),
        "machine_cores": cores,
    }


# -- worker processes ------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Fleet:
    """The ``hotline worker`` processes of this run; all of them are stopped on exit."""

    env: dict[str, str]
    log_dir: Path
    extra_args: list[str] = field(default_factory=list)
    processes: list[WorkerProcess] = field(default_factory=list)
    serial: int = 0

    def start(self, *, concurrency: int | None = None, batch: int | None = None) -> WorkerProcess:
        """One more ``hotline worker``; ``None`` leaves that option at the worker's default."""
        self.serial += 1
        options = [
            *(["--concurrency", str(concurrency)] if concurrency is not None else []),
            *(["--batch", str(batch)] if batch is not None else []),
        ]
        log_path = self.log_dir / f"worker-{self.serial}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "hotline"),
                    "worker",
                    *options,
                    *self.extra_args,
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(proc, log_path, time.perf_counter())
        self.processes.append(worker)
        return worker

    def wait_ready(self, conn: Any, workers: Sequence[WorkerProcess], timeout: float = 30) -> None:
        """Until each worker has written its first heartbeat (it ticks and claims)."""
        deadline = time.monotonic() + timeout
        while True:
            beats = {row[0] for row in query(conn, "SELECT worker_id FROM worker_heartbeats")}
            pending = [w for w in workers if not any(f":{w.pid}:" in b for b in beats)]
            if not pending:
                return
            for w in pending:
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.pid} exited: {tail(w.log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"workers not ready after {timeout}s: {tail(pending[0].log_path)}"
                )
            time.sleep(0.05)

    def stop(self, worker: WorkerProcess, *, timeout: float = 15) -> float:
        """SIGTERM, as a service manager stops it; SIGKILL if it lingers. Returns seconds."""
        started = time.perf_counter()
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
            try:
                worker.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
        return time.perf_counter() - started

    def stop_all(self) -> None:
        for worker in self.processes:
            self.stop(worker)
        self.processes = [w for w in self.processes if w.proc.poll() is None]


def tail(path: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def log_figures(workers: Sequence[WorkerProcess]) -> dict[str, int]:
    """What the workers logged: lines in all, Twilio client lines, pool overflows, problems."""
    figures = {"lines": 0, "twilio_client_lines": 0, "pool_full": 0, "warnings_errors": 0}
    for worker in workers:
        with contextlib.suppress(OSError):
            for line in worker.log_path.read_text(errors="replace").splitlines():
                figures["lines"] += 1
                if " twilio.http_client " in line:
                    figures["twilio_client_lines"] += 1
                if "Connection pool is full" in line:
                    figures["pool_full"] += 1
                if " WARNING " in line or " ERROR " in line or "Traceback" in line:
                    figures["warnings_errors"] += 1
    return figures


# -- the Twilio mock ------------------------------------------------------------------------


def bench_mock() -> Any:
    """The project's MockTwilio, answering without Nagle delays, with an optional send latency.

    ``tests.support.mock_twilio`` writes a response's headers and body in two sends on a
    keep-alive connection without TCP_NODELAY: Nagle holds the body until the client's delayed
    ACK (~40 ms on Linux), so every create would take ~45 ms instead of ~1 ms. The subclass only
    turns Nagle off on its connections; ``latency`` (seconds) then emulates Twilio's round trip,
    added after the message is recorded so the receive time stays exact.
    """
    from tests.support.mock_twilio import MockTwilio, _Handler

    class NoDelayHandler(_Handler):
        disable_nagle_algorithm = True

    class BenchMockTwilio(MockTwilio):
        latency = 0.0

        def start(self) -> str:
            url = super().start()
            assert self._server is not None
            self._server.RequestHandlerClass = NoDelayHandler
            return url

        def _create_message(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
            answer = super()._create_message(form)
            if self.latency:
                time.sleep(self.latency)
            return answer

    return BenchMockTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)


# -- measuring -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def received(mock: Any) -> dict[int, list[datetime]]:
    """Row id -> times the mock accepted an SMS for it."""
    found: dict[int, list[datetime]] = {}
    for message in mock.messages:
        match = SR_PATTERN.search(message.body)
        if match:
            found.setdefault(int(match[1]) - SR_BASE, []).append(message.date_created)
    return found


def wait_for_sends(mock: Any, expected: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(mock.messages) >= expected:
            return True
        time.sleep(0.05)
    return False


def per_send(delta: dict[str, int], sends: int) -> dict[str, Any]:
    """Worker transactions and row updates per SMS (this script's own commits taken out)."""
    commits = delta.get("xact_commit", 0) - delta.get("driver_commits", 0)
    if sends <= 0:
        return {"commits": commits}
    return {
        "commits_per_send": round(commits / sends, 2),
        "work_items_updates_per_send": round(delta.get("upd_work_items", 0) / sends, 2),
        "confirmations_updates_per_send": round(delta.get("upd_confirmations", 0) / sends, 2),
        "heartbeat_updates": delta.get("upd_worker_heartbeats", 0),
        "rollbacks": delta.get("xact_rollback", 0),
    }


@dataclass
class Run:
    """Workers started for one measurement, with what is sampled around it."""

    workers: list[WorkerProcess]
    counters: dict[str, int] = field(default_factory=dict)
    cpu: CpuSample | None = None

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]


@dataclass
class Bench:
    conn: Any
    fleet: Fleet
    mock: Any
    rows: int

    def start(self, n: int, *, concurrency: int, batch: int) -> Run:
        """Reset the rows, start ``n`` workers and wait until each has ticked."""
        reset(self.conn, self.rows)
        self.mock.reset()
        workers = [self.fleet.start(concurrency=concurrency, batch=batch) for _ in range(n)]
        self.fleet.wait_ready(self.conn, workers)
        time.sleep(0.3)  # the startup sweep row runs
        self.mock.reset()
        return Run(workers)

    def begin(self, run: Run) -> None:
        """Start the counters (after the rows were made due: that update is not the worker's)."""
        run.counters = pg_counters(self.conn)
        run.cpu = cpu_sample(run.pids)

    def end(self, run: Run, sends: int) -> dict[str, Any]:
        """CPU up to now, then stop the workers; database counters once their backends exited."""
        assert run.cpu is not None
        cpu = cpu_use(run.cpu, cpu_sample(run.pids))
        stop_s = [self.fleet.stop(w) for w in run.workers]
        time.sleep(0.2)  # exiting backends flush their statistics
        logs = log_figures(run.workers)
        return {
            "cpu": cpu,
            "pg": per_send(counter_delta(run.counters, pg_counters(self.conn)), sends),
            "log": {**logs, "lines_per_send": round(logs["lines"] / sends, 1) if sends else None},
            "sigterm_to_exit_s": round(max(stop_s), 2),
        }

    def lag(
        self, n: int, *, count: int, spread: float, concurrency: int, batch: int
    ) -> dict[str, Any]:
        run = self.start(n, concurrency=concurrency, batch=batch)
        make_due(self.conn, 1, count, start=datetime.now(UTC) + timedelta(seconds=1), spread=spread)
        self.begin(run)
        complete = wait_for_sends(self.mock, count, timeout=1 + spread + 30)
        time.sleep(0.2)
        got = received(self.mock)
        extra = self.end(run, len(got))
        dues = due_times(self.conn, 1, count)
        lags = [(times[0] - dues[i]).total_seconds() for i, times in got.items() if i in dues]
        return {
            "workers": n,
            "concurrency": concurrency,
            "batch": batch,
            "rows": count,
            "spread_s": spread,
            "sent": len(got),
            "duplicates": sum(len(t) - 1 for t in got.values()),
            "complete": complete,
            "lag_p50_s": round(percentile(lags, 50), 3),
            "lag_p90_s": round(percentile(lags, 90), 3),
            "lag_p99_s": round(percentile(lags, 99), 3),
            "lag_max_s": round(max(lags), 3) if lags else None,
            "lag_min_s": round(min(lags), 3) if lags else None,
            **extra,
        }

    def throughput(
        self, n: int, *, count: int, concurrency: int, batch: int, latency: float = 0.0
    ) -> dict[str, Any]:
        run = self.start(n, concurrency=concurrency, batch=batch)
        self.mock.latency = latency
        try:
            due_at = datetime.now(UTC)
            make_due(self.conn, 1, count, start=due_at, spread=0.0)
            self.begin(run)
            complete = wait_for_sends(self.mock, count, timeout=150)
            deadline = time.monotonic() + 10
            while count_done(self.conn, 1, count) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            done_at = datetime.now(UTC)
            got = received(self.mock)
            extra = self.end(run, len(got))
        finally:
            self.mock.latency = 0.0
        times = sorted(t[0] for t in got.values())
        sent = len(times)
        span = ((times[-1] if times else due_at) - due_at).total_seconds()
        steady = (times[-1] - times[0]).total_seconds() if sent > 1 else 0.0
        return {
            "workers": n,
            "concurrency": concurrency,
            "batch": batch,
            "mock_latency_s": latency,
            "rows": count,
            "sent": sent,
            "duplicates": sum(len(t) - 1 for t in got.values()),
            "complete": complete,
            "due_to_last_send_s": round(span, 3),
            "sends_per_s": round(sent / span, 1) if span > 0 else None,
            "sends_per_s_first_to_last": round((sent - 1) / steady, 1) if steady > 0 else None,
            "due_to_all_done_s": round((done_at - due_at).total_seconds(), 3),
            **extra,
        }

    def restart(self, *, count: int, concurrency: int, batch: int) -> dict[str, Any]:
        """Stop an idle worker, let rows fall overdue, restart it, time the catch-up."""
        run = self.start(1, concurrency=concurrency, batch=batch)
        stop_s = self.fleet.stop(run.workers[0])
        make_due(self.conn, 1, count, start=datetime.now(UTC), spread=2.0)
        time.sleep(3.0)
        return self._catch_up(count, concurrency=concurrency, batch=batch, stop_s=stop_s)

    def restart_mid_drain(self, *, count: int, concurrency: int, batch: int) -> dict[str, Any]:
        """Stop a worker (SIGTERM) a third of the way through a backlog, restart it at once."""
        run = self.start(1, concurrency=concurrency, batch=batch)
        make_due(self.conn, 1, count, start=datetime.now(UTC), spread=0.0)
        wait_for_sends(self.mock, count // 3, timeout=60)
        sent_at_sigterm = len(self.mock.messages)
        stop_s = self.fleet.stop(run.workers[0])
        states = state_counts(self.conn)
        result = self._catch_up(count, concurrency=concurrency, batch=batch, stop_s=stop_s)
        result["sent_at_sigterm"] = sent_at_sigterm
        result["left_running_by_stopped_worker"] = states.get("running", 0)
        return result

    def _catch_up(
        self, count: int, *, concurrency: int, batch: int, stop_s: float
    ) -> dict[str, Any]:
        remaining = count - count_done(self.conn, 1, count)
        sent_before = len(received(self.mock))
        restarted = time.perf_counter()
        restarted_wall = datetime.now(UTC)
        worker = self.fleet.start(concurrency=concurrency, batch=batch)
        self.fleet.wait_ready(self.conn, [worker])
        ready_s = time.perf_counter() - restarted
        deadline = time.monotonic() + 60
        while count_done(self.conn, 1, count) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        all_done_s = time.perf_counter() - restarted
        self.fleet.stop(worker)
        got = received(self.mock)
        late = [t for times in got.values() for t in times if t >= restarted_wall]
        return {
            "rows": count,
            "concurrency": concurrency,
            "batch": batch,
            "sigterm_to_exit_s": round(stop_s, 3),
            "overdue_at_restart": remaining,
            "sent_before_restart": sent_before,
            "sent_after_restart": len(late),
            "duplicates": sum(len(t) - 1 for t in got.values()),
            "restart_to_first_tick_s": round(ready_s, 3),
            "restart_to_last_send_s": (
                round((max(late) - restarted_wall).total_seconds(), 3) if late else None
            ),
            "restart_to_all_done_s": round(all_done_s, 3),
            "all_done": count_done(self.conn, 1, count) == count,
            "log": log_figures([worker]),
        }


# -- claim query plan ------------------------------------------------------------------------


def explain_claim(db_url: str, *, due: int, rows: int, conn: Any) -> dict[str, Any]:
    """EXPLAIN ANALYZE the worker's own claim statement (captured from db.work.claim)."""
    from sqlalchemy import event

    from db.engine import make_engine
    from db.transaction import make_session_factory, transaction
    from db.work import claim

    reset(conn, rows)
    if due:
        make_due(conn, 1, due, start=datetime.now(UTC) - timedelta(seconds=1), spread=0.0)
    engine = make_engine(db_url, pool_size=1)
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        captured.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    session_factory = make_session_factory(engine)
    try:
        with contextlib.suppress(_Rollback), transaction(session_factory) as session:
            claim(session, worker_id="bench:explain", now=datetime.now(UTC), kinds=[WORK_KIND])
            raise _Rollback
        event.remove(engine, "before_cursor_execute", capture)
        plans: dict[str, list[str]] = {}
        timings: dict[str, float] = {}
        for statement, params in captured:
            if not statement.lstrip().upper().startswith(("UPDATE", "WITH")):
                continue
            label = "claim" if "due_at <=" in statement else f"release_leases_{len(plans) + 1}"
            with engine.connect() as c:
                for _ in range(3):  # warm
                    _execute(c, statement, params)
                started = time.perf_counter()
                for _ in range(20):
                    _execute(c, statement, params)
                timings[label] = round((time.perf_counter() - started) / 20 * 1000, 2)
                lines = c.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
                ).fetchall()
                c.rollback()
            plans[label] = [str(line[0]) for line in lines]
        return {"due_rows": due, "ms_per_statement": timings, "plans": plans}
    finally:
        engine.dispose()


class _Rollback(Exception):
    pass


def _execute(connection: Any, statement: str, params: Any) -> None:
    result = connection.exec_driver_sql(statement, params)
    if result.returns_rows:
        result.fetchall()
    connection.rollback()


# -- main ------------------------------------------------------------------------------------


def best(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return max(results, key=lambda r: r.get("sends_per_s") or 0.0)


def restart_met(r: dict[str, Any]) -> bool:
    return bool(r["all_done"] and r["restart_to_all_done_s"] <= TARGET_RESTART)


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def cpu_line(label: str, c: dict[str, float]) -> str:
    return (
        f"  cpu, {label}: workers {c['workers_cores']:.2f} cores, PostgreSQL"
        f" {c['postgres_cores']:.2f}, driver+mock {c['driver_and_mock_cores']:.2f}, other"
        f" processes {c['other_cores']:.2f}; machine busy {c['machine_busy_cores']:.2f}"
        f" of {c['machine_cores']}"
    )


def summary(report: dict[str, Any]) -> list[str]:
    """The figures, with each target marked met or not met."""
    one, two = report["throughput"]["one"], report["throughput"]["two"]
    ratio = report["throughput"]["ratio"]
    lines = [
        "",
        f"== worker benchmark ({report['machine']}; load average at start"
        f" {report['loadavg_start']}, at end {report['loadavg_end']})",
        f"{report['pending_rows']} pending confirmations (SMS), loaded in {report['load_s']} s;"
        f" worker CLI: {report['worker_cli']}",
        "",
        "lag (due_at -> SMS received by the mock)",
    ]
    for r in report["lag"]:
        lines.append(
            f"  {r['workers']} worker(s), {r['rows']} rows over {r['spread_s']:.0f} s,"
            f" --concurrency {r['concurrency']} --batch {r['batch']}: p50 {r['lag_p50_s']:.3f} s"
            f"  p99 {r['lag_p99_s']:.3f} s  max {r['lag_max_s']:.3f} s  ({r['sent']} sent)"
        )
        lines.append(cpu_line(f"{r['workers']} worker(s)", r["cpu"]))
    lines += ["", "throughput (rows due at once; sends/s = rows / (last send - due_at))"]
    for r in report["concurrency_sweep"]:
        lines.append(
            f"  sweep, 1 worker, {r['rows']} rows, --concurrency {r['concurrency']} --batch"
            f" {r['batch']}: {r['sends_per_s']} sends/s"
            f" (worker CPU {r['cpu']['workers_cores']:.2f} cores)"
        )
    for r in report.get("latency_probe", []):
        lines.append(
            f"  with a {r['mock_latency_s'] * 1000:.0f} ms Twilio round trip, 1 worker,"
            f" --concurrency {r['concurrency']} --batch {r['batch']}: {r['sends_per_s']} sends/s"
        )
    if "latency_scale" in report:
        ls = report["latency_scale"]
        lines.append(
            f"  with a {ls['one']['mock_latency_s'] * 1000:.0f} ms Twilio round trip,"
            f" {ls['one']['rows']} rows, --concurrency {LATENCY_SCALE_CONCURRENCY} --batch"
            f" {LATENCY_SCALE_BATCH}: 1 worker {ls['one']['sends_per_s']} / 2 workers"
            f" {ls['two']['sends_per_s']} sends/s (ratio {ls['ratio']:.2f}; worker CPU"
            f" {ls['one']['cpu']['workers_cores']:.2f} / {ls['two']['cpu']['workers_cores']:.2f}"
            " cores)"
        )
    for label, r in (("1 worker ", one), ("2 workers", two)):
        lines.append(
            f"  {label}, {r['rows']} rows, --concurrency {r['concurrency']} --batch {r['batch']}:"
            f" {r['sends_per_s']} sends/s (first to last send {r['sends_per_s_first_to_last']}/s;"
            f" all done {r['due_to_all_done_s']:.1f} s after due)"
        )
        lines.append(cpu_line(label.strip(), r["cpu"]))
        p, lg = r["pg"], r["log"]
        lines.append(
            f"  per send: {p.get('commits_per_send')} commits,"
            f" {p.get('work_items_updates_per_send')} work_items and"
            f" {p.get('confirmations_updates_per_send')} confirmations row updates,"
            f" {lg['lines_per_send']} worker log lines ({lg['twilio_client_lines']} Twilio"
            f" client lines in all)"
        )
    lines.append(f"  ratio 2 workers / 1 worker: {ratio:.2f}")
    lines += ["", "restart"]
    for label, r in (
        ("stopped while idle", report["restart"]),
        ("stopped mid-drain", report["restart_mid_drain"]),
    ):
        lines.append(
            f"  {label}: SIGTERM to exit {r['sigterm_to_exit_s']:.2f} s,"
            f" {r['overdue_at_restart']} rows overdue at restart, first tick"
            f" {r['restart_to_first_tick_s']:.2f} s and all done"
            f" {r['restart_to_all_done_s']:.2f} s after restart"
        )
    mid = report["restart_mid_drain"]
    lines.append(
        f"  mid-drain: {mid['sent_at_sigterm']} of {mid['rows']} sent at SIGTERM,"
        f" {mid['sent_before_restart']} by exit; rows left 'running':"
        f" {mid['left_running_by_stopped_worker']}"
    )
    dup = sum(
        r["duplicates"]
        for r in [
            *report["lag"],
            *report["concurrency_sweep"],
            *report.get("latency_scale", {}).get("runs", []),
            one,
            two,
            report["restart"],
            report["restart_mid_drain"],
        ]
    )
    lines.append(f"\nduplicate SMS over all runs: {dup}")
    for label, e in report["explain"].items():
        lines.append(f"claim transaction statements, {label} (ms each): {e['ms_per_statement']}")
    others = [
        r["cpu"]["other_cores"]
        for r in [*report["lag"], *report["concurrency_sweep"], one, two]
        if "cpu" in r
    ]
    if others and max(others) > 0.3:
        lines.append(
            f"NOTE: other processes on this machine used up to {max(others):.2f} of"
            f" {os.cpu_count()} cores during the runs; the figures are pessimistic."
        )
    t = report["targets"]
    lines += [
        "",
        "targets",
        f"  p99 lag <= {TARGET_P99_LAG:.0f} s, 1 worker:  {met(t['lag_p99_le_1s']['1'])}",
        f"  p99 lag <= {TARGET_P99_LAG:.0f} s, 2 workers: {met(t['lag_p99_le_1s']['2'])}",
        f"  2 workers >= {TARGET_SCALE}x 1 worker:  {met(t['two_workers_ge_1_6x'])} ({ratio:.2f}x)",
        *(
            [
                f"    with the {report['latency_scale']['one']['mock_latency_s'] * 1000:.0f} ms"
                f" round trip, --concurrency {LATENCY_SCALE_CONCURRENCY}:"
                f" {met(report['latency_scale']['ratio'] >= TARGET_SCALE)}"
                f" ({report['latency_scale']['ratio']:.2f}x)"
            ]
            if "latency_scale" in report
            else []
        ),
        f"  overdue work done <= {TARGET_RESTART:.0f} s after restart: {met(t['restart_le_5s'])}"
        f" ({report['restart']['restart_to_all_done_s']:.2f} s; mid-drain stop:"
        f" {met(t['restart_mid_drain_le_5s'])}, {mid['restart_to_all_done_s']:.2f} s)",
    ]
    return lines


def worker_options(env: dict[str, str]) -> str:
    """The options ``hotline worker --help`` lists, with their defaults."""
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "hotline"), "worker", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    blocks: list[str] = []
    for line in shown.splitlines():
        if line.startswith("  --"):
            blocks.append(line.strip())
        elif blocks and line.startswith("   "):
            blocks[-1] += " " + line.strip()
    options = []
    for block in blocks:
        name = block.split()[0]
        default = re.search(r"\[default: ([^;\]]+)", block)
        if name != "--help":
            options.append(name + (f"={default[1]}" if default else ""))
    return "hotline worker " + " ".join(options)


def parse_pairs(values: Sequence[str]) -> list[tuple[int, int]]:
    """``C:B`` strings -> (concurrency, batch)."""
    pairs = []
    for value in values:
        c, _, b = value.partition(":")
        pairs.append((int(c), int(b or 20)))
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000, help="pending rows in the table")
    parser.add_argument("--lag-rows", type=int, default=2_000)
    parser.add_argument("--lag-spread", type=float, default=20.0, help="seconds")
    parser.add_argument("--block", type=int, default=5_000, help="rows due at once (throughput)")
    parser.add_argument("--sweep-block", type=int, default=800)
    parser.add_argument(
        "--sweep",
        nargs="+",
        default=["4:20", "8:40", "16:48"],
        metavar="C:B",
        help="hotline worker --concurrency C --batch B pairs to try with one worker; the best"
        " is used for every other run",
    )
    parser.add_argument(
        "--twilio-latency",
        type=float,
        default=0.15,
        help="seconds the mock waits before answering, for the latency probe (0: skip it)",
    )
    parser.add_argument("--latency-rows", type=int, default=200)
    parser.add_argument(
        "--latency-scale-rows",
        type=int,
        default=1_500,
        help="rows for the scale-out with the Twilio round trip (1 and 2 workers)",
    )
    parser.add_argument("--restart-rows", type=int, default=1_000)
    parser.add_argument(
        "--worker-arg",
        action="append",
        default=[],
        help="extra argument for every hotline worker, e.g. --worker-arg=--tick-seconds=0.25",
    )
    args = parser.parse_args(argv)

    import psycopg

    try:
        psycopg.connect(plain_url(ADMIN_URL), connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"bench.worker: PostgreSQL not reachable at {ADMIN_URL} ({exc}); skipped.")
        return 0

    name = f"hotline_bench_worker_{os.getpid()}"
    db_url = with_database(ADMIN_URL, name)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_terminate_as_exit())
        create_database(ADMIN_URL, name)
        stack.callback(drop_database, ADMIN_URL, name)
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-worker-")))
        env = _worker_env(db_url, config=config_with_sms_senders(log_dir))
        started = time.perf_counter()
        loadavg_start = [round(x, 2) for x in os.getloadavg()]
        subprocess.run(
            [str(Path(sys.executable).parent / "hotline"), "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        log(f"database {name} migrated")
        conn = stack.enter_context(psycopg.connect(plain_url(db_url)))
        load_s = load_rows(conn, args.rows)
        log(f"loaded {args.rows} pending confirmations in {load_s:.1f} s")

        mock = bench_mock()
        env["TWILIO_API_BASE_URL"] = mock.start()
        stack.callback(mock.stop)
        fleet = Fleet(env=env, log_dir=log_dir, extra_args=args.worker_arg)
        stack.callback(fleet.stop_all)
        bench = Bench(conn, fleet, mock, args.rows)

        report: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores, {platform.python_implementation()}"
            f" {platform.python_version()}, PostgreSQL {conn.info.server_version // 10000}",
            "loadavg_start": loadavg_start,
            "pending_rows": args.rows,
            "worker_extra_args": args.worker_arg,
            "load_s": round(load_s, 2),
            "worker_cli": worker_options(env),
        }
        report["explain"] = {
            "idle (0 due)": explain_claim(db_url, due=0, rows=args.rows, conn=conn),
            f"{args.block} due": explain_claim(db_url, due=args.block, rows=args.rows, conn=conn),
        }
        log("claim statement explained")

        sweep = []
        for c, b in parse_pairs(args.sweep):
            sweep.append(bench.throughput(1, count=args.sweep_block, concurrency=c, batch=b))
            log(f"sweep --concurrency {c} --batch {b}: {sweep[-1]['sends_per_s']} sends/s")
        report["concurrency_sweep"] = sweep
        chosen = best(sweep)
        conc, batch = chosen["concurrency"], chosen["batch"]

        if args.twilio_latency > 0:
            report["latency_probe"] = []
            for c, b in sorted({(4, 20), (conc, batch)}):
                r = bench.throughput(
                    1, count=args.latency_rows, concurrency=c, batch=b, latency=args.twilio_latency
                )
                report["latency_probe"].append(r)
                log(f"latency probe --concurrency {c}: {r['sends_per_s']} sends/s")
            # Scale-out where a worker mostly waits on Twilio, as in production: with the
            # mock answering at once, one worker already takes most of a 2-core machine.
            waiting = [
                bench.throughput(
                    n,
                    count=args.latency_scale_rows,
                    concurrency=LATENCY_SCALE_CONCURRENCY,
                    batch=LATENCY_SCALE_BATCH,
                    latency=args.twilio_latency,
                )
                for n in (1, 2)
            ]
            report["latency_scale"] = {
                "runs": waiting,
                "one": waiting[0],
                "two": waiting[1],
                "ratio": round(
                    (waiting[1]["sends_per_s"] or 0.0)
                    / (waiting[0]["sends_per_s"] or float("inf")),
                    2,
                ),
            }
            log(
                f"scale-out with the round trip: {waiting[0]['sends_per_s']} /"
                f" {waiting[1]['sends_per_s']} sends/s"
            )

        report["lag"] = []
        for n in (1, 2):
            r = bench.lag(
                n, count=args.lag_rows, spread=args.lag_spread, concurrency=conc, batch=batch
            )
            report["lag"].append(r)
            log(
                f"lag {n} worker(s): p50 {r['lag_p50_s']} p99 {r['lag_p99_s']} max {r['lag_max_s']}"
            )

        one = bench.throughput(1, count=args.block, concurrency=conc, batch=batch)
        log(f"throughput 1 worker: {one['sends_per_s']} sends/s")
        two = bench.throughput(2, count=args.block, concurrency=conc, batch=batch)
        log(f"throughput 2 workers: {two['sends_per_s']} sends/s")
        ratio = (two["sends_per_s"] or 0.0) / (one["sends_per_s"] or float("inf"))
        report["throughput"] = {"one": one, "two": two, "ratio": round(ratio, 2)}

        report["restart"] = bench.restart(count=args.restart_rows, concurrency=conc, batch=batch)
        log(f"restart: all done after {report['restart']['restart_to_all_done_s']} s")
        mid = bench.restart_mid_drain(count=args.restart_rows, concurrency=conc, batch=batch)
        report["restart_mid_drain"] = mid
        log(f"restart mid-drain: all done after {mid['restart_to_all_done_s']} s")

        report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        report["total_s"] = round(time.perf_counter() - started, 1)
        report["targets"] = {
            "lag_p99_le_1s": {
                str(r["workers"]): r["lag_p99_s"] <= TARGET_P99_LAG for r in report["lag"]
            },
            "two_workers_ge_1_6x": ratio >= TARGET_SCALE,
            "restart_le_5s": restart_met(report["restart"]),
            "restart_mid_drain_le_5s": restart_met(mid),
        }

        for line in summary(report):
            print(line)
        for label, e in report["explain"].items():
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the claim, {label}:")
            for line in e["plans"].get("claim", []):
                print("  " + line)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"worker-{datetime.now(UTC):%Y-%m-%d}.json"
        out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nresults written to {out.relative_to(ROOT)} (total {report['total_s']} s)")
    return 0


def _worker_env(db_url: str, *, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env.update(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_CONFIG=str(config),
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        HOTLINE_PUBLIC_BASE_URL="http://127.0.0.1:9",
        HOTLINE_LOG_LEVEL="INFO",
    )
    return env


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so workers, mock and database are cleaned up."""

    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(
            "bench.worker: interrupted; workers stopped and bench database dropped", file=sys.stderr
        )
        sys.exit(130)
