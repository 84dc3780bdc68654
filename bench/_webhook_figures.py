"""The webhook benchmark's figures: one phase's results, computed and printed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bench._webhook_load import Phase, PhaseStats, Scenario


@dataclass(frozen=True)
class Timing:
    """Warm-up and measured seconds of each kind of phase."""

    calls_warmup: float = 2.0
    calls_duration: float = 8.0
    first_warmup: float = 1.0
    first_duration: float = 5.0
    paced_warmup: float = 2.0
    paced_duration: float = 15.0

    def scaled(self, factor: float) -> Timing:
        return Timing(**{name: value * factor for name, value in asdict(self).items()})


@dataclass
class Figures:
    """One phase's results, ready to print and to store."""

    app: str
    scenario: Scenario
    callers: int
    seconds: float
    interval: float | None
    webhooks_per_s: float
    calls_per_s: float
    webhooks_per_call: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    intended_p99_ms: float | None  # paced phases: latency counted from the planned send
    errors: int
    error_samples: list[str]
    generator_cpu_cores: float
    server_cpu_cores: float
    other_cpu_cores: float  # everything else on the machine meanwhile (other jobs disturb)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` in 0..1), ``None`` without values."""
    if not values:
        return None
    ordered = sorted(values)
    # The smallest value with at least ``fraction`` of all at or below it: rank ceil(f * n),
    # rounded first so that 0.07 * 100 (7.000000000000001 in floats) is rank 7, not 8.
    rank = max(1, min(len(ordered), math.ceil(round(fraction * len(ordered), 9))))
    return ordered[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def figures_of(
    app: str, phase: Phase, stats: PhaseStats, server_cpu: float, busy: float, seconds: float
) -> Figures:
    return Figures(
        app=app,
        scenario=phase.scenario,
        callers=phase.callers,
        seconds=round(seconds, 2),
        interval=phase.interval,
        webhooks_per_s=round(stats.webhooks / seconds, 1),
        calls_per_s=round(stats.calls / seconds, 2),
        webhooks_per_call=round(stats.call_webhooks / stats.calls, 2) if stats.calls else None,
        p50_ms=_ms(percentile(stats.latencies, 0.50)),
        p90_ms=_ms(percentile(stats.latencies, 0.90)),
        p99_ms=_ms(percentile(stats.latencies, 0.99)),
        max_ms=_ms(max(stats.latencies, default=None)),
        intended_p99_ms=_ms(percentile(stats.intended_latencies, 0.99)),
        errors=stats.errors,
        error_samples=stats.error_samples,
        generator_cpu_cores=round(stats.generator_cpu_seconds / seconds, 2),
        server_cpu_cores=round(server_cpu / seconds, 2),
        other_cpu_cores=round(
            max(0.0, busy - server_cpu - stats.generator_cpu_seconds) / seconds, 2
        ),
    )


def fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


_UNIT: dict[Scenario, str] = {"calls": "calls", "first": "first", "start": "starts"}


def print_row(f: Figures) -> None:
    """One phase's figures as one line."""
    pacing = f" every {f.interval:g}s" if f.interval else ""
    line = (
        f"  {f.app:<4} {f.scenario:<5} N={f.callers:<3}{pacing:<11} "
        f"{f.calls_per_s:7.1f} {_UNIT[f.scenario]}/s "
        f"{f.webhooks_per_s:7.1f} webhooks/s  "
        f"p50 {fmt(f.p50_ms, 'ms')} p90 {fmt(f.p90_ms, 'ms')} p99 {fmt(f.p99_ms, 'ms')}"
    )
    if f.intended_p99_ms is not None:
        line += f" (p99 from planned send {fmt(f.intended_p99_ms, 'ms')})"
    if f.webhooks_per_call is not None and f.scenario == "calls":
        line += f"  {f.webhooks_per_call:.1f} webhooks/call"
    line += (
        f"  cpu cores: server {f.server_cpu_cores:.2f} load {f.generator_cpu_cores:.2f}"
        f" other {f.other_cpu_cores:.2f}"
    )
    if f.errors:
        line += f"  ERRORS {f.errors}: {f.error_samples[:2]}"
    print(line, flush=True)
