"""The ring benchmarks' rig: the hotline served and its worker on a throw-away database.

Shared by the agent-ring and escalation-ring benchmarks. ``on_throwaway_database`` is their
``main``: it skips without PostgreSQL, creates ``hotline_bench_<name>_<pid>`` (dropped at the
end, on Ctrl-C and SIGTERM too) and maps failures to exit codes. ``start_rig`` runs, on that
migrated database, one ``hotline worker`` with its defaults and ``hotline serve`` (its defaults:
2 processes a core, 1 thread each), both with Twilio credentials pointing at the project's
Twilio mock served from this process and ``HOTLINE_PUBLIC_BASE_URL`` set. ``CpuWatch`` measures
who used the CPU during a round, ``floor`` the least a ring can take (``calls.create`` made
directly with the twilio SDK against the same mock), and ``wait_for_creates`` waits for the
rings asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, text

from bench._ring_figures import creates_by
from bench._served_pg import ServedOnPostgres, postgres_reachable, terminate_as_interrupt
from bench._webhook_servers import (
    GunicornSettings,
    Server,
    ServerError,
    free_port,
    machine_busy_seconds,
    start_real,
)
from bench.claims import Backends
from bench.worker import (
    ACCOUNT_SID,
    ADMIN_URL,
    AUTH_TOKEN,
    Fleet,
    WorkerProcess,
    bench_mock,
    create_database,
    drop_database,
    plain_url,
    proc_cpu,
    tail,
    with_database,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
FLOOR_TO = "+4915100000001"
FLOOR_FROM = "+4930123456789"
# Other processes using more of the machine than this (cores) make the figures pessimistic.
DISTURBED_OTHER_CORES = 0.2

K = TypeVar("K", bound=Hashable)


def log(message: str) -> None:
    print(f"  {message}", flush=True)


@dataclass
class Rig:
    """The served hotline, its worker and the Twilio mock, on the benchmark's database."""

    server: Server
    worker: WorkerProcess
    mock: Any
    engine: Engine
    server_processes: int

    def check_alive(self) -> None:
        """Raise when the worker or the server died during a round (the figures are void)."""
        if self.worker.proc.poll() is not None:
            raise RuntimeError(f"hotline worker died during the run: {tail(self.worker.log_path)}")
        if self.server.process.poll() is not None:
            raise ServerError(f"hotline serve died during the run:\n{self.server.log_tail()}")

    def describe(self) -> str:
        return (
            f"hotline serve pid {self.server.pid} ({self.server_processes} x 1), hotline worker"
            f" pid {self.worker.pid} (defaults), Twilio mock {self.mock.base_url}"
        )


def start_rig(
    running: contextlib.ExitStack, database_url: str, workdir: Path, engine: Engine
) -> Rig:
    """Start the mock, ``hotline serve`` and ``hotline worker`` (each stopped by ``running``);
    return once the server answers and the worker ticks."""
    mock = bench_mock()
    mock_url = mock.start()
    running.callback(mock.stop)
    served = ServedOnPostgres(
        workdir=workdir,
        port=free_port(),
        auth_token=AUTH_TOKEN,
        postgres_url=database_url,
        twilio_api_base_url=mock_url,
        account_sid=ACCOUNT_SID,
    )
    processes = 2 * (os.cpu_count() or 1)
    server = start_real(served, GunicornSettings(workers=processes, threads=1))
    running.callback(server.stop)
    server.wait_healthy()
    fleet = Fleet(env={**served.environ(), "HOTLINE_LOG_LEVEL": "INFO"}, log_dir=workdir)
    running.callback(fleet.stop_all)
    worker = fleet.start()
    import psycopg

    with psycopg.connect(plain_url(database_url)) as conn:
        fleet.wait_ready(conn, [worker])
    return Rig(server, worker, mock, engine, processes)


class CpuWatch:
    """The CPU used from its start until ``cores``: by the worker, the served app, the
    database's backends, this process (the presses and the mock) and everything else."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.backends = Backends(rig.engine)
        self.start = self._sample()

    def _sample(self) -> tuple[float, dict[int, float], float, float, float, float]:
        return (
            machine_busy_seconds(),
            self.backends.sample(),
            self.rig.server.cpu_seconds(),
            proc_cpu(self.rig.worker.pid),
            proc_cpu(os.getpid()),
            time.monotonic(),
        )

    def cores(self) -> dict[str, float]:
        """Cores used (1.0 = one core busy) since the start, by each."""
        busy0, pg0, server0, worker0, driver0, wall0 = self.start
        busy1, pg1, server1, worker1, driver1, wall1 = self._sample()
        wall = max(wall1 - wall0, 1e-9)
        worker, server, driver = worker1 - worker0, server1 - server0, driver1 - driver0
        postgres = Backends.used(pg0, pg1)
        ours = worker + server + postgres + driver
        return {
            "worker": round(worker / wall, 2),
            "server": round(server / wall, 2),
            "postgres": round(postgres / wall, 2),
            "bench_and_mock": round(driver / wall, 2),
            "other": round(max(0.0, busy1 - busy0 - ours) / wall, 2),
        }


def cpu_text(cpu: dict[str, float]) -> str:
    return (
        f"cpu cores: worker {cpu['worker']:.2f} server {cpu['server']:.2f} postgres"
        f" {cpu['postgres']:.2f} bench+mock {cpu['bench_and_mock']:.2f} other {cpu['other']:.2f}"
    )


def wait_for_creates(
    mock: Any,
    wanted: set[K],
    key_of: Callable[[str | None], K | None],
    *,
    deadline_seconds: float,
) -> dict[K, list[datetime]]:
    """The mock's creates by key, once every ring in ``wanted`` is among them or the deadline
    has passed."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        creates = creates_by(((c.url, c.date_created) for c in mock.calls), key_of)
        if wanted <= creates.keys() or time.monotonic() > deadline:
            return creates
        time.sleep(0.05)


def floor(mock: Any, calls: int) -> list[float]:
    """Seconds of each ``calls.create`` made directly with the twilio SDK against the mock."""
    from twilio.rest import Client

    from ivr.twilio_rest import BaseUrlHttpClient

    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=BaseUrlHttpClient(mock.base_url))
    client.calls.create(to=FLOOR_TO, from_=FLOOR_FROM, url="http://127.0.0.1:9/floor")  # warm
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        client.calls.create(to=FLOOR_TO, from_=FLOOR_FROM, url="http://127.0.0.1:9/floor")
        seconds.append(time.perf_counter() - started)
    return seconds


def run_header(engine: Engine) -> dict[str, Any]:
    """What a run is measured on (kept with its results): date, cores, versions, load."""
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar_one()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "postgresql": version,
        "loadavg_start": loadavg_now(),
    }


def header_line(name: str, header: dict[str, Any]) -> str:
    """The first line a benchmark prints: ``<name> benchmark <date> · cores · versions``."""
    date = datetime.fromisoformat(header["date"])
    return (
        f"{name} benchmark {date:%Y-%m-%d %H:%M}Z · {header['cores']} cores · Python"
        f" {header['python']} · PostgreSQL {header['postgresql']}"
    )


def loadavg_now() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def note_disturbance(rounds: list[dict[str, Any]], cores: int) -> float:
    """The most other processes used in a round; says so when it makes the figures pessimistic."""
    disturbance = float(max(r["cpu_cores"]["other"] for r in rounds))
    if disturbance > DISTURBED_OTHER_CORES:
        print(
            f"  note: other processes used up to {disturbance:.2f} of {cores} cores"
            " during the rounds; the figures understate this machine (rerun when it is quiet)"
        )
    return disturbance


def write_results(stem: str, results: dict[str, Any]) -> None:
    """``bench/results/<stem>-<date>.json`` (git-ignored)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{stem}-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"  results: {out.relative_to(ROOT)}")


def on_throwaway_database(prog: str, name: str, run: Callable[[str, Path], int]) -> int:
    """``run(database_url, workdir)`` on a database of its own; 0 without PostgreSQL, 2 when
    the set-up failed (RuntimeError, ServerError), 130 when interrupted."""
    if not postgres_reachable(ADMIN_URL, prog):
        return 0
    database = f"hotline_bench_{name}_{os.getpid()}"
    with (
        terminate_as_interrupt(),
        tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir,
        contextlib.ExitStack() as stack,
    ):
        try:
            create_database(ADMIN_URL, database)
            stack.callback(drop_database, ADMIN_URL, database)
            return run(with_database(ADMIN_URL, database), Path(workdir))
        except KeyboardInterrupt:
            print("interrupted: servers and worker stopped, database dropped", file=sys.stderr)
            return 130
        except (RuntimeError, ServerError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
