"""Claim benchmark (``make bench``): twenty agents pressing "claim next" at once, on PostgreSQL.

``python -m bench.claims`` creates a throw-away database on 127.0.0.1:5432
(``hotline_bench_claims_<pid>``, dropped at the end; ``--database-url`` uses a database of yours
instead, which must hold no callbacks and no users, and is left in place), migrates it with
``hotline db upgrade``, queues 10 000 callbacks (the messages and callbacks rows a caller's
message leaves) and adds 20 agents of the region. Then, in each round, twenty agent processes
(``bench._claims_agents``, one engine each) empty the queue three times, the table reset in between:

  real      ``callbacks.claims.take_next_callback``, as the API calls it: on PostgreSQL one
            statement locks the next callback (SKIP LOCKED), claims it, writes its event and
            answers its view; an expired claim at the head takes a transaction;
  baseline  the least any correct claim does: SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1 and an
            UPDATE, raw SQLAlchemy Core;
  http      the same twenty agents as API clients of ``hotline serve`` on this database (its
            defaults: 2 processes a core, 1 thread each), ``POST /api/v1/callbacks/claim-next``
            with each agent's token (``--no-http`` leaves it out).

Each phase's figures: claims/s (all claims over the time from the first agent's start to the
last one's end), each claim's latency (the press until its transaction committed) p50/p90/p99,
the check that every callback was claimed exactly once: once by the agents' own reports, once
as the database holds it (the row's ``claimed_by_id``, and one claim event per callback for the
real and http phases), and the CPU used meanwhile by the agents, the served app, the database's
backends and everything else on the machine (other people's jobs: printed next to the figures).
The targets are judged on the median round of the real phase (the http phase's figures are
printed beside them); double claims on every round of every phase.
Without PostgreSQL it says so and exits 0 with no figures. It never fails on a timing: exit 0
however slow, 1 when a claim failed or a callback went twice or never, 2 when the set-up failed.
The results are also written to ``bench/results/claims-<date>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from bench._claims_agents import PhaseName, agent_main
from bench._claims_figures import AgentRun, PhaseFigures, check_claims, figures_of, median
from bench._claims_fill import add_agents, fill_queue, reset_queue
from bench._served_pg import (
    ServedOnPostgres,
    migrate,
    positive,
    postgres_reachable,
    terminate_as_interrupt,
)
from bench._webhook_servers import (
    GunicornSettings,
    Server,
    ServerError,
    free_port,
    machine_busy_seconds,
    start_real,
)
from bench.worker import create_database, drop_database, with_database
from callbacks.models import Callback, CallbackEvent
from config.catalog import load_catalog
from config.settings import DEFAULT_CONFIG
from db.engine import normalize_url
from intake.staff import StaffMember

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_SERVER = "postgresql://127.0.0.1:5432/postgres"
TARGET_CLAIMS_PER_SECOND = 500.0
TARGET_P99_MS = 50.0
# Other processes busier than this during a phase make its figures doubtful: say so.
DISTURBED_OTHER_CORES = 0.2
AGENT_START_SECONDS = 120.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far; 0 once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class Backends:
    """CPU of the benchmark database's PostgreSQL backends (this process's own left out)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def sample(self) -> dict[int, float]:
        with self.engine.connect() as connection:
            pids = connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            ).scalars()
            return {int(pid): _cpu_seconds(int(pid)) for pid in pids}

    @staticmethod
    def used(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU between two samples; a backend started in between counts whole."""
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def log(message: str) -> None:
    print(f"  {message}", flush=True)


class AgentPool:
    """The agent processes, started once and given one phase after the other."""

    def __init__(self, database_url: str, agents: Sequence[tuple[StaffMember, str]]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for agent, token in agents:
            ours, theirs = context.Pipe()
            process = context.Process(
                target=agent_main, args=(theirs, database_url, agent, token), daemon=True
            )
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)
        for pipe in self.pipes:
            if not pipe.poll(AGENT_START_SECONDS):
                raise RuntimeError("an agent process did not start in time")
            answer = pipe.recv()
            if answer != "ready":
                raise RuntimeError(str(answer))

    def run(self, phase: PhaseName, start_at: float, base_url: str | None) -> list[AgentRun]:
        for pipe in self.pipes:
            pipe.send((phase, start_at, base_url))
        runs = []
        for pipe in self.pipes:
            answer = pipe.recv()
            if not isinstance(answer, AgentRun):
                raise RuntimeError(str(answer))
            runs.append(answer)
        return runs

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()  # only our own agents, by their handle
                process.join(timeout=5)


@dataclass
class Round:
    """One round: the real claims, the baseline's and the served app's, each on a freshly
    reset queue."""

    number: int
    order: list[str]
    real: PhaseFigures
    baseline: PhaseFigures
    http: PhaseFigures | None

    def phases(self) -> list[PhaseFigures]:
        return [self.real, self.baseline, *([self.http] if self.http else [])]

    @property
    def ratio(self) -> float:
        base = self.baseline.claims_per_s
        return round(self.real.claims_per_s / base, 3) if base else 0.0


def run_phase(
    phase: PhaseName,
    engine: Engine,
    pool: AgentPool,
    callback_ids: list[int],
    server: Server | None = None,
) -> PhaseFigures:
    """Reset the queue, let every agent empty it together, check and measure."""
    reset_queue(engine)
    backends = Backends(engine)
    start_at = time.monotonic() + 1.0
    time.sleep(max(0.0, start_at - time.monotonic()))
    busy0, pg0 = machine_busy_seconds(), backends.sample()
    server0 = server.cpu_seconds() if server is not None else 0.0
    runs = pool.run(phase, start_at, server.base_url if server is not None else None)
    busy1, pg1 = machine_busy_seconds(), backends.sample()
    server1 = server.cpu_seconds() if server is not None else 0.0
    loadavg = os.getloadavg()[0]
    if server is not None and server.process.poll() is not None:
        raise ServerError(f"hotline serve died during the run:\n{server.log_tail()}")
    with engine.connect() as connection:
        holders: dict[int, int | None] = {
            row.id: row.claimed_by_id
            for row in connection.execute(select(Callback.id, Callback.claimed_by_id))
        }
        events = None
        if phase != "baseline":
            events = list(
                connection.execute(
                    select(CallbackEvent.callback_id).where(CallbackEvent.action == "claim")
                ).scalars()
            )
    claims_by_agent = {run.agent_id: run.claimed for run in runs}
    check = check_claims(callback_ids, claims_by_agent, holders, events)
    figures = figures_of(
        phase,
        runs,
        check,
        machine_busy_seconds=busy1 - busy0,
        loadavg_1m=loadavg,
        postgres_cpu_seconds=Backends.used(pg0, pg1),
        server_cpu_seconds=server1 - server0,
    )
    _print_phase(figures)
    return figures


def _fmt(value: float | None, unit: str = " ms") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def _print_phase(f: PhaseFigures) -> None:
    line = (
        f"    {f.name:<8} {f.claims:>6} claims in {f.seconds:6.2f} s  {f.claims_per_s:7.1f}"
        f" claims/s  p50 {_fmt(f.p50_ms)} p90 {_fmt(f.p90_ms)} p99 {_fmt(f.p99_ms)}"
        f" max {_fmt(f.max_ms)}  double claims {f.double_claims} ({f.check})"
        f"  per agent: {f.agent_claims_min} to {f.agent_claims_max} claims,"
        f" p50 {_fmt(f.agent_p50_min_ms)} to {_fmt(f.agent_p50_max_ms)}"
        f"  cpu cores: agents {f.agents_cpu_cores:.2f}"
        + (f" server {f.server_cpu_cores:.2f}" if f.server_cpu_cores else "")
        + f" postgres {f.postgres_cpu_cores:.2f} other {f.other_cpu_cores:.2f}"
        f" ({_fmt(f.cpu_ms_per_claim)} of ours a claim)  load {f.loadavg_1m:.2f}"
    )
    if f.errors:
        line += f"  ERRORS {f.errors}: {f.error_samples[:2]}"
    print(line, flush=True)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _spread(values: Sequence[float | int | None], unit: str = "") -> str:
    return "rounds: " + ", ".join("-" if v is None else f"{v:g}{unit}" for v in values)


def _speed_targets(phases: Sequence[PhaseFigures], label: str) -> list[dict[str, Any]]:
    """Claims/s and p99 of one kind of phase, each judged on the median over the rounds."""
    rates = [f.claims_per_s for f in phases]
    p99s = [f.p99_ms for f in phases]
    known_p99 = [v for v in p99s if v is not None]
    p99 = median(known_p99) if known_p99 and len(known_p99) == len(p99s) else None
    return [
        {
            "target": f"{label}claims/s >= {TARGET_CLAIMS_PER_SECOND:g}",
            "value": median(rates),
            "met": median(rates) >= TARGET_CLAIMS_PER_SECOND,
            "rounds": rates,
            "detail": _spread(rates),
        },
        {
            "target": f"{label}claim latency p99 <= {TARGET_P99_MS:g} ms",
            "value": p99,
            "met": p99 is not None and p99 <= TARGET_P99_MS,
            "rounds": p99s,
            "detail": _spread(p99s, " ms"),
        },
    ]


def _targets(rounds: Sequence[Round]) -> list[dict[str, Any]]:
    doubles = [sum(f.double_claims for f in r.phases()) for r in rounds]
    targets = _speed_targets([r.real for r in rounds], "")
    served = [r.http for r in rounds if r.http is not None]
    if served:
        targets += _speed_targets(served, "API: ")
    targets.append(
        {
            "target": "double claims = 0 (every phase)",
            "value": sum(doubles),
            "met": not any(doubles)
            and all(f.check.startswith("all ") for r in rounds for f in r.phases()),
            "rounds": doubles,
            "detail": _spread(doubles),
        }
    )
    return targets


def _require_empty(engine: Engine) -> None:
    with engine.connect() as connection:
        for table in ("callbacks", "users"):
            if connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one():
                raise RuntimeError(
                    f"{engine.url.render_as_string()} already holds {table}: the benchmark"
                    " resets every callback between phases; give it a database of its own"
                )


def run_benchmark(args: argparse.Namespace, database_url: str, workdir: Path) -> int:
    now = datetime.now(UTC)
    cores = os.cpu_count() or 0
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    migrate(database_url, workdir)
    engine = create_engine(normalize_url(database_url), pool_size=2)
    try:
        _require_empty(engine)
        catalog = load_catalog(DEFAULT_CONFIG)
        seconds = fill_queue(engine, catalog, args.callbacks)
        agents = add_agents(engine, args.agents)
        with engine.connect() as connection:
            server_version = connection.execute(text("SHOW server_version")).scalar_one()
            callback_ids = list(connection.execute(select(Callback.id)).scalars())
        print(
            f"claim benchmark {now:%Y-%m-%d %H:%M}Z · {cores} cores · Python "
            f"{platform.python_version()} · PostgreSQL {server_version} · {args.agents} agent"
            f" processes · {len(callback_ids)} queued callbacks (filled in {seconds:.1f} s) ·"
            f" {args.rounds} round(s) · load average {loadavg_start}",
            flush=True,
        )
        with contextlib.ExitStack() as running:
            server = None
            if args.http:
                env = ServedOnPostgres(workdir=workdir, port=free_port(), postgres_url=database_url)
                server = start_real(env, GunicornSettings(workers=2 * (cores or 1), threads=1))
                running.callback(server.stop)
                server.wait_healthy()
                log(f"served: hotline serve pid {server.pid}, {server.base_url}, 2 per core x 1")
            pool = AgentPool(database_url, agents)
            running.callback(pool.stop)
            rounds = []
            for number in range(1, args.rounds + 1):
                # Alternate which phase goes first: neither always gets the warmer machine.
                order: list[PhaseName] = (
                    ["baseline", "real"] if number % 2 else ["real", "baseline"]
                )
                print(f"  round {number} of {args.rounds}", flush=True)
                phases = {p: run_phase(p, engine, pool, callback_ids) for p in order}
                served = None
                if server is not None:
                    served = run_phase("http", engine, pool, callback_ids, server)
                    order.append("http")
                rounds.append(
                    Round(
                        number,
                        list(order),
                        real=phases["real"],
                        baseline=phases["baseline"],
                        http=served,
                    )
                )
    finally:
        engine.dispose()
    return _report(args, rounds, now, cores, server_version, loadavg_start)


def _report(
    args: argparse.Namespace,
    rounds: list[Round],
    now: datetime,
    cores: int,
    server_version: str,
    loadavg_start: list[float],
) -> int:
    targets = _targets(rounds)
    every = [f for r in rounds for f in r.phases()]
    errors = sum(f.errors for f in every)
    broken = [f for f in every if not f.check.startswith("all ")]
    disturbance = max(f.other_cpu_cores for f in every)
    loadavg_end = [round(x, 2) for x in os.getloadavg()]
    ratios = [r.ratio for r in rounds]
    print()
    judged = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "1 round"
    print(f"summary ({judged}; load average at start {loadavg_start}, at end {loadavg_end})")
    for one in rounds:
        print(
            f"  round {one.number}: real {one.real.claims_per_s:.1f} claims/s p99"
            f" {_fmt(one.real.p99_ms)} · baseline {one.baseline.claims_per_s:.1f} claims/s p99"
            f" {_fmt(one.baseline.p99_ms)} · real/baseline {one.ratio:.2f}"
            + (
                f" · API {one.http.claims_per_s:.1f} claims/s p99 {_fmt(one.http.p99_ms)}"
                if one.http is not None
                else ""
            )
            + " · other processes "
            + " / ".join(f"{f.other_cpu_cores:.2f}" for f in one.phases())
            + " cores"
        )
    for target in targets:
        print(
            f"  target {target['target']:<36} {target['value']!s:>8}  "
            f"{_verdict(bool(target['met']))} ({target['detail']})"
        )
    print(
        f"  for information: real/baseline claims/s {median(ratios):.2f} (rounds: "
        + ", ".join(f"{v:g}" for v in ratios)
        + f"); baseline p99 {_fmt(median([r.baseline.p99_ms or 0.0 for r in rounds]))}"
    )
    if disturbance > DISTURBED_OTHER_CORES:
        print(
            f"  note: other processes used up to {disturbance:.2f} of {cores} cores during the"
            " phases; the figures understate this machine (rerun when it is quiet)"
        )
    if errors:
        print(f"  ERRORS: {errors} claim(s) failed; see the rows above")
    for f in broken:
        print(f"  WRONG: {f.name}: {f.check}")

    results = {
        "date": now.isoformat(timespec="seconds"),
        "host": {
            "cores": cores,
            "python": platform.python_version(),
            "postgresql": server_version,
            "platform": platform.platform(),
            "loadavg_start": loadavg_start,
            "loadavg_end": loadavg_end,
        },
        "load": {"agents": args.agents, "callbacks": args.callbacks, "rounds": args.rounds},
        "rounds": [
            {
                "number": one.number,
                "order": one.order,
                "real": asdict(one.real),
                "baseline": asdict(one.baseline),
                "http": None if one.http is None else asdict(one.http),
                "ratio": one.ratio,
            }
            for one in rounds
        ],
        "targets": targets,
        "ratio_median": median(ratios),
        "errors": errors,
        "max_other_cpu_cores": disturbance,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"claims-{now:%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"  results: {out}")
    return 1 if errors or broken else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.claims", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--database-url",
        help="an empty, or migrated but empty, PostgreSQL database to use (kept); default: a"
        f" database of its own on {DEFAULT_SERVER.rsplit('/', 1)[0]}, created and dropped",
    )
    parser.add_argument("--callbacks", type=positive, default=10_000, help="queued callbacks")
    parser.add_argument("--agents", type=positive, default=20, help="agent processes")
    parser.add_argument(
        "--http",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also claim through the API of hotline serve on the same database",
    )
    parser.add_argument(
        "--rounds",
        type=positive,
        default=3,
        help="repeat both phases this often; targets are judged on the median round",
    )
    args = parser.parse_args(argv)

    if not postgres_reachable(args.database_url or DEFAULT_SERVER, "bench.claims"):
        return 0

    with (
        terminate_as_interrupt(),
        tempfile.TemporaryDirectory(prefix="bench-claims-") as workdir,
        contextlib.ExitStack() as stack,
    ):
        try:
            database_url = args.database_url
            if database_url is None:
                name = f"hotline_bench_claims_{os.getpid()}"
                create_database(DEFAULT_SERVER, name)
                stack.callback(drop_database, DEFAULT_SERVER, name)
                database_url = with_database(DEFAULT_SERVER, name)
            return run_benchmark(args, database_url, Path(workdir))
        except KeyboardInterrupt:
            print("interrupted: stopping the agents", file=sys.stderr)
            return 130
        except (RuntimeError, ServerError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
