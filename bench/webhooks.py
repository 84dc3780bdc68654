"""Webhook benchmark: the hotline under ``hotline serve`` next to a bare Flask baseline.

``python -m bench.webhooks`` (``make bench``) builds a fresh SQLite database, serves the real app
and a bare signature-checking app with the same gunicorn settings, drives them from 127.0.0.1 and
prints figures, ratios and the issue's targets (met / not met). It never fails on a figure:
exit 0 however slow, 1 when calls went wrong, 2 when a server or its set-up failed. The results
are also written to ``bench/results/webhooks-<date>.json`` (git-ignored).

Figures:
  (a) complete message-taking calls/s, N callers without think time, webhook p50/p99; then the
      same on a database already holding 1 000 000 turns of 100 000 earlier calls (made by the
      benchmark at the start, copied afresh for each round; ``--no-big-db`` leaves it out), and
      its ratio to the empty database's;
  (b) first-webhook throughput at saturation (new CallSids only), real vs bare, and the ratio;
      then, for information, call starts (the greeting and the first answer, which stores the
      call: the greeting itself stores nothing) real vs bare;
  (c) webhook p99 with 50 callers each sending one webhook every 0.5 s (open loop).

The three run ``--rounds`` times (default 3), one after the other, each round with its own bare
baseline; each target is judged on the median over the rounds, and every round is printed, so a
noisy minute on a shared machine shows as spread rather than deciding a verdict.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench._served_pg import positive, terminate_as_interrupt
from bench._webhook_big_db import (
    BIG_DB_CALLS,
    TARGET_BIG_DB_RATIO,
    HistoryTemplate,
    make_template,
    serving_copy,
)
from bench._webhook_figures import Figures, Timing, figures_of, fmt, print_row
from bench._webhook_load import Phase, Scenario, run_phase
from bench._webhook_servers import (
    GunicornSettings,
    RealAppEnv,
    Server,
    ServerError,
    free_port,
    machine_busy_seconds,
    prepare_database,
    start_bare,
    start_real,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_CALLS_PER_SECOND = 60.0
TARGET_FIRST_WEBHOOK_RATIO = 0.4
TARGET_PACED_P99_MS = 50.0
PACED_CALLERS = 50
PACED_INTERVAL_SECONDS = 0.5
# Other processes busier than this during a phase make its figures doubtful: say so.
DISTURBED_OTHER_CORES = 0.2


class Bench:
    """Runs the phases against the two servers (and the big database's) and keeps the figures."""

    def __init__(
        self,
        real: Server,
        bare: Server,
        auth_token: str,
        processes: int,
        timing: Timing,
        big_db: Callable[[], AbstractContextManager[Server]] | None = None,
    ) -> None:
        self.servers = {"real": real, "bare": bare}
        self.auth_token = auth_token
        self.processes = processes
        self.timing = timing
        self.big_db = big_db  # serves a fresh copy of the big database while in use

    def run_big_db(self, callers: Sequence[int], warmup: float, duration: float) -> list[Figures]:
        """Complete calls at each of ``callers`` on a fresh copy of the big database."""
        assert self.big_db is not None
        with self.big_db() as server:
            self.servers["big"] = server
            try:
                return [self.run("big", "calls", n, warmup, duration) for n in callers]
            finally:
                del self.servers["big"]

    def run(
        self,
        app: str,
        scenario: Scenario,
        callers: int,
        warmup: float,
        duration: float,
        interval: float | None = None,
    ) -> Figures:
        server = self.servers[app]
        phase = Phase(
            base_url=server.base_url,
            auth_token=self.auth_token,
            scenario=scenario,
            callers=callers,
            warmup=warmup,
            duration=duration,
            interval=interval,
        )
        marks: dict[str, tuple[float, float, float]] = {}

        def on_window(edge: str) -> None:
            marks[edge] = (time.monotonic(), server.cpu_seconds(), machine_busy_seconds())

        stats = run_phase(phase, processes=self.processes, on_window=on_window)
        if server.process.poll() is not None:
            raise ServerError(f"{server.name} server died during the run:\n{server.log_tail()}")
        (t0, cpu0, busy0), (t1, cpu1, busy1) = marks["start"], marks["end"]
        figures = figures_of(app, phase, stats, cpu1 - cpu0, busy1 - busy0, t1 - t0)
        print_row(figures)
        return figures


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class Round:
    """One pass through the three kinds of phase, with this pass's own baseline."""

    calls: list[Figures]
    first: dict[str, list[Figures]]
    start: dict[str, Figures]
    paced: dict[str, Figures]
    big_calls: list[Figures] = field(default_factory=list)  # (a) on the big database

    @property
    def best_calls(self) -> Figures:
        return max(self.calls, key=lambda f: f.calls_per_s)

    @property
    def best_big_calls(self) -> Figures | None:
        return max(self.big_calls, key=lambda f: f.calls_per_s, default=None)

    @property
    def big_ratio(self) -> float | None:
        """Best complete calls/s on the big database over the empty database's."""
        big, empty = self.best_big_calls, self.best_calls.calls_per_s
        if big is None:
            return None
        return big.calls_per_s / empty if empty else 0.0

    def best_first(self, app: str) -> Figures:
        return max(self.first[app], key=lambda f: f.webhooks_per_s)

    @property
    def ratio(self) -> float:
        bare = self.best_first("bare").webhooks_per_s
        return self.best_first("real").webhooks_per_s / bare if bare else 0.0

    @property
    def paced_worst_ms(self) -> float | None:
        """The stricter paced p99: a send held back by a slow answer counts from when it was due."""
        real = self.paced["real"]
        if real.p99_ms is None:
            return None
        return max(real.p99_ms, real.intended_p99_ms or 0.0)

    @property
    def start_ratio(self) -> float:
        bare = self.start["bare"].calls_per_s
        return self.start["real"].calls_per_s / bare if bare else 0.0

    def every(self) -> list[Figures]:
        return [
            *self.calls,
            *self.big_calls,
            *self.first["real"],
            *self.first["bare"],
            *self.start.values(),
            *self.paced.values(),
        ]

    def summary(self) -> str:
        real, bare = self.best_first("real"), self.best_first("bare")
        best = self.best_calls
        return (
            f"calls/s {best.calls_per_s:.1f} (N={best.callers}; "
            + ", ".join(f"{f.calls_per_s:.1f}" for f in self.calls)
            + f") · first ratio {self.ratio:.2f} ({real.webhooks_per_s:.0f}/s vs "
            f"{bare.webhooks_per_s:.0f}/s) · start ratio {self.start_ratio:.2f} "
            f"({self.start['real'].calls_per_s:.0f}/s vs {self.start['bare'].calls_per_s:.0f}/s)"
            f" · paced p99 {fmt(self.paced_worst_ms, ' ms')} "
            f"(bare {fmt(self.paced['bare'].p99_ms, ' ms')})"
            + (
                f" · big db calls/s {big.calls_per_s:.1f} (ratio {self.big_ratio:.2f})"
                if (big := self.best_big_calls) is not None
                else ""
            )
        )


def median(values: Sequence[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _run_round(bench: Bench, args: argparse.Namespace, timing: Timing, big_db_label: str) -> Round:
    print("(a) complete message-taking calls, N callers, no think time")
    calls = [
        bench.run("real", "calls", n, timing.calls_warmup, timing.calls_duration)
        for n in args.callers
    ]
    big_calls = []
    if bench.big_db is not None:
        print(f"(a) the same on {big_db_label}")
        big_calls = bench.run_big_db(args.callers, timing.calls_warmup, timing.calls_duration)
    print("(b) first webhook only (new CallSid each), saturation")
    first: dict[str, list[Figures]] = {"real": [], "bare": []}
    for n in args.first_callers:
        for app in ("bare", "real"):
            first[app].append(
                bench.run(app, "first", n, timing.first_warmup, timing.first_duration)
            )
    start_callers = max(args.first_callers)
    start = {
        app: bench.run(app, "start", start_callers, timing.first_warmup, timing.first_duration)
        for app in ("bare", "real")
    }
    print(f"(c) {PACED_CALLERS} callers, one webhook each every {PACED_INTERVAL_SECONDS:g} s")
    # The bare app's fixed TwiML cannot be walked as a call: it gets first webhooks only.
    paced_scenarios: tuple[tuple[str, Scenario], ...] = (("real", "calls"), ("bare", "first"))
    paced = {
        app: bench.run(
            app,
            scenario,
            PACED_CALLERS,
            timing.paced_warmup,
            timing.paced_duration,
            interval=PACED_INTERVAL_SECONDS,
        )
        for app, scenario in paced_scenarios
    }
    return Round(calls=calls, first=first, start=start, paced=paced, big_calls=big_calls)


def _targets(rounds: list[Round], big_db: HistoryTemplate | None) -> list[dict[str, object]]:
    """Each target judged on the median over the rounds, so one noisy minute cannot decide it."""
    calls = [r.best_calls.calls_per_s for r in rounds]
    ratios = [round(r.ratio, 3) for r in rounds]
    paced = [r.paced_worst_ms for r in rounds]
    paced_known = [v for v in paced if v is not None]
    paced_median = median(paced_known) if len(paced_known) == len(paced) else None

    def spread(values: Sequence[float | None], unit: str = "") -> str:
        return "rounds: " + ", ".join("-" if v is None else f"{v:g}{unit}" for v in values)

    targets: list[dict[str, object]] = [
        {
            "target": f"complete calls/s >= {TARGET_CALLS_PER_SECOND:g}",
            "value": round(median(calls), 2),
            "met": median(calls) >= TARGET_CALLS_PER_SECOND,
            "rounds": calls,
            "detail": spread(calls),
        },
        {
            "target": f"first-webhook ratio real/bare >= {TARGET_FIRST_WEBHOOK_RATIO:g}",
            "value": round(median(ratios), 3),
            "met": median(ratios) >= TARGET_FIRST_WEBHOOK_RATIO,
            "rounds": ratios,
            "detail": spread(ratios),
        },
        {
            "target": f"webhook p99 <= {TARGET_PACED_P99_MS:g} ms at {PACED_CALLERS} callers/"
            f"{PACED_INTERVAL_SECONDS:g} s",
            "value": paced_median,
            "met": paced_median is not None and paced_median <= TARGET_PACED_P99_MS,
            "rounds": paced,
            "detail": spread(paced, " ms"),
        },
    ]
    big_ratios = [r.big_ratio for r in rounds]
    if big_db is not None and None not in big_ratios:
        ratios = [round(r, 3) for r in big_ratios if r is not None]
        big_calls = [f.calls_per_s for r in rounds if (f := r.best_big_calls) is not None]
        targets.append(
            {
                "target": f"complete calls/s {big_db.label} / empty db >= {TARGET_BIG_DB_RATIO:g}",
                "value": round(median(ratios), 3),
                "met": median(ratios) >= TARGET_BIG_DB_RATIO,
                "rounds": ratios,
                "detail": f"{spread(ratios)}; {big_db.label} calls/s "
                + ", ".join(f"{v:g}" for v in big_calls),
            }
        )
    return targets


def run_benchmark(args: argparse.Namespace, workdir: Path, started: list[Server]) -> int:
    """Set up, serve, measure and report; returns the exit status."""
    settings = GunicornSettings(workers=args.workers, threads=args.threads)
    timing = Timing().scaled(args.scale)
    now = datetime.now(UTC)
    cores = os.cpu_count() or 0
    print(
        f"webhook benchmark {now:%Y-%m-%d %H:%M}Z · {cores} cores · Python "
        f"{platform.python_version()} · SQLite {sqlite3.sqlite_version} · gunicorn gthread "
        f"{settings.workers} workers x {settings.threads} threads · load: "
        f"{args.processes} processes, 127.0.0.1 · {args.rounds} round(s)",
        flush=True,
    )
    env = RealAppEnv(workdir=workdir, port=free_port())
    prepare_database(env)
    big_db: HistoryTemplate | None = None
    if args.big_db:
        print(f"  making the big database ({args.big_db_calls} earlier calls)...", flush=True)
        big_db = make_template(workdir, args.big_db_calls)
        print(f"  big database: {big_db.describe()}", flush=True)
    real = start_real(env, settings)
    started.append(real)
    bare = start_bare(workdir, free_port(), env.auth_token, settings)
    started.append(bare)
    real.wait_healthy()
    bare.wait_healthy()
    print(f"  real app: hotline serve pid {real.pid}, {real.base_url}, {env.database_url}")
    print(f"  bare app: bench.bare_app pid {bare.pid}, {bare.base_url}", flush=True)
    serve_big_db: Callable[[], AbstractContextManager[Server]] | None = None
    if big_db is not None:
        serve_big_db = functools.partial(serving_copy, big_db, settings, env.auth_token, started)
    bench = Bench(real, bare, env.auth_token, args.processes, timing, serve_big_db)
    big_db_label = f"the {big_db.label} (a fresh copy)" if big_db is not None else ""

    rounds: list[Round] = []
    for number in range(1, args.rounds + 1):
        print(f"round {number} of {args.rounds}", flush=True)
        rounds.append(_run_round(bench, args, timing, big_db_label))
    targets = _targets(rounds, big_db)
    every = [f for r in rounds for f in r.every()]
    errors = sum(f.errors for f in every)
    disturbance = max(f.other_cpu_cores for f in every)

    print()
    judged = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "1 round"
    print(f"summary ({judged})")
    for number, one in enumerate(rounds, start=1):
        print(f"  round {number}: {one.summary()}")
    for target in targets:
        print(
            f"  target {target['target']:<48} {target['value']!s:>8}  "
            f"{_verdict(bool(target['met']))} ({target['detail']})"
        )
    start_ratios = [round(r.start_ratio, 3) for r in rounds]
    print(
        f"  for information: call starts (greeting + first answer, which stores the call) "
        f"real/bare {median(start_ratios):.3f} (rounds: "
        + ", ".join(f"{v:g}" for v in start_ratios)
        + ")"
    )
    if disturbance > DISTURBED_OTHER_CORES:
        print(
            f"  note: other processes used up to {disturbance:.2f} of {cores} cores during the"
            " phases; the figures understate this machine (rerun when it is quiet)"
        )
    if errors:
        print(f"  ERRORS: {errors} call(s) went wrong; see the rows above")

    results = {
        "date": now.isoformat(),
        "host": {
            "cores": cores,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
        },
        "server": {"worker_class": "gthread", **asdict(settings)},
        "load": {"processes": args.processes, "timing": asdict(timing)},
        "rounds": [
            {
                "complete_calls": [asdict(f) for f in one.calls],
                "first_webhook": {
                    "real": [asdict(f) for f in one.first["real"]],
                    "bare": [asdict(f) for f in one.first["bare"]],
                    "ratio": round(one.ratio, 3),
                },
                "call_start": {
                    **{app: asdict(f) for app, f in one.start.items()},
                    "ratio": round(one.start_ratio, 3),
                },
                "paced": {app: asdict(f) for app, f in one.paced.items()},
                "complete_calls_big_db": [asdict(f) for f in one.big_calls],
                "big_db_ratio": None if one.big_ratio is None else round(one.big_ratio, 3),
            }
            for one in rounds
        ],
        "big_db": None if big_db is None else big_db.results(),
        "targets": targets,
        "errors": errors,
        "max_other_cpu_cores": disturbance,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"webhooks-{now:%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"  results: {out}")
    return 1 if errors else 0


def _callers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--callers", type=_callers, default=[8, 16, 32], help="(a) e.g. 8,16,32")
    parser.add_argument("--first-callers", type=_callers, default=[16, 32], help="(b) callers")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1),
        help="gunicorn workers (both apps)",
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads (both apps)")
    parser.add_argument("--processes", type=int, default=4, help="load generator processes")
    parser.add_argument("--scale", type=float, default=1.0, help="scale every phase's duration")
    parser.add_argument(
        "--rounds",
        type=positive,
        default=3,
        help="repeat every phase this often; targets are judged on the median round",
    )
    parser.add_argument(
        "--big-db",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="(a) again on a database already holding earlier calls, made at the start",
    )
    parser.add_argument(
        "--big-db-calls",
        type=positive,
        default=BIG_DB_CALLS,
        help="earlier calls in that database, 10 turns each",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db and logs)")
    args = parser.parse_args(argv)

    started: list[Server] = []
    workdir = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    status = 0
    try:
        with terminate_as_interrupt():
            status = run_benchmark(args, workdir, started)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("interrupted: stopping the servers", file=sys.stderr)
        status = 130
    finally:
        with _signals_ignored():
            _clean_up(started, workdir, keep=args.keep)
    return status


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """A second Ctrl-C or SIGTERM must not cut the clean-up short and orphan a server."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _clean_up(started: list[Server], workdir: Path, *, keep: bool) -> None:
    for server in reversed(started):
        try:
            server.stop()
        except Exception as exc:  # keep stopping the others
            print(f"error: stopping the {server.name} server: {exc}", file=sys.stderr)
    if keep:
        print(f"  kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
