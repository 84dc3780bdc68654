"""The claim benchmark's arithmetic: one phase's figures, and the check that no callback went twice.

Pure (no database, no processes), so ``tests/bench`` can hold the benchmark to its sums.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench._webhook_figures import percentile


def median(values: Sequence[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class AgentRun:
    """What one agent process did in a phase: the callbacks it got, each claim's seconds."""

    agent_id: int
    claimed: list[int]
    latencies: list[float]
    started: float  # time.monotonic() (one clock for every process of the machine)
    finished: float
    empty_presses: int  # "next" answered with nothing left (the last press of each agent)
    errors: list[str]
    cpu_seconds: float  # the agent process's own CPU during the phase


@dataclass(frozen=True)
class ClaimCheck:
    """Every callback claimed exactly once, by the agent the database names?"""

    expected: int
    claimed_by_agents: int  # claims the agents reported, all together
    reported_twice: list[int]  # callbacks two presses (of any agents) came back with
    never_claimed: list[int]  # expected callbacks nobody reported
    unexpected: list[int]  # reported callbacks that were not in the queue
    holder_mismatch: list[int]  # the row names another holder than the agent that got it
    events_not_one: list[int]  # callbacks with other than exactly one claim event (when recorded)
    events_twice: list[int]  # callbacks with two or more claim events

    @property
    def double_claims(self) -> int:
        """Callbacks that went to more than one claim: by the agents' word or the events'."""
        return len(set(self.reported_twice) | set(self.events_twice))

    @property
    def ok(self) -> bool:
        return not (
            self.reported_twice
            or self.never_claimed
            or self.unexpected
            or self.holder_mismatch
            or self.events_not_one
        )

    def describe(self) -> str:
        if self.ok:
            return f"all {self.expected} claimed exactly once"
        parts = [
            f"{label} {len(ids)} (e.g. {sorted(ids)[:5]})"
            for label, ids in (
                ("reported twice", self.reported_twice),
                ("never claimed", self.never_claimed),
                ("not in the queue", self.unexpected),
                ("holder differs", self.holder_mismatch),
                ("claim events != 1", self.events_not_one),
            )
            if ids
        ]
        return "; ".join(parts)


def check_claims(
    expected: Iterable[int],
    claims_by_agent: Mapping[int, Sequence[int]],
    holders: Mapping[int, int | None],
    claim_events: Iterable[int] | None,
) -> ClaimCheck:
    """Compare what the agents got with what the database says.

    ``claims_by_agent``: agent id -> callback ids the agent's presses returned. ``holders``:
    callback id -> ``claimed_by_id`` of its row after the phase. ``claim_events``: the
    ``callback_id`` of every claim event written in the phase (one entry per event), or None
    for a phase that writes no events (the baseline).
    """
    wanted = set(expected)
    reports = Counter(c for claimed in claims_by_agent.values() for c in claimed)
    holder_mismatch = {
        callback
        for agent, claimed in claims_by_agent.items()
        for callback in claimed
        if holders.get(callback) != agent
    }
    events_not_one: set[int] = set()
    events_twice: set[int] = set()
    if claim_events is not None:
        events = Counter(claim_events)
        events_not_one = {c for c in wanted | set(events) if events[c] != 1}
        events_twice = {c for c, n in events.items() if n > 1}
    return ClaimCheck(
        expected=len(wanted),
        claimed_by_agents=sum(reports.values()),
        reported_twice=sorted(c for c, n in reports.items() if n > 1),
        never_claimed=sorted(wanted - set(reports)),
        unexpected=sorted(set(reports) - wanted),
        holder_mismatch=sorted(holder_mismatch),
        events_not_one=sorted(events_not_one),
        events_twice=sorted(events_twice),
    )


@dataclass
class PhaseFigures:
    """One phase (real or baseline, one round) as printed and stored."""

    name: str
    agents: int
    claims: int
    seconds: float
    claims_per_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int
    error_samples: list[str]
    double_claims: int
    check: str
    agents_cpu_cores: float  # the agent processes
    server_cpu_cores: float  # hotline serve (the http phase)
    postgres_cpu_cores: float  # the benchmark database's PostgreSQL backends
    other_cpu_cores: float  # everything else on the machine meanwhile (other jobs disturb)
    cpu_ms_per_claim: float | None  # agents + server + backends: what a claim costs this box
    loadavg_1m: float
    # How evenly the agents were served: the fewest and most claims one agent made, and the
    # lowest and highest of the agents' own median latencies. Through the API each agent keeps
    # one connection, which stays with the web process that accepted it.
    agent_claims_min: int = 0
    agent_claims_max: int = 0
    agent_p50_min_ms: float | None = None
    agent_p50_max_ms: float | None = None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def figures_of(
    name: str,
    runs: Sequence[AgentRun],
    check: ClaimCheck,
    *,
    machine_busy_seconds: float,
    loadavg_1m: float,
    postgres_cpu_seconds: float,
    server_cpu_seconds: float = 0.0,
) -> PhaseFigures:
    """The phase's figures: the wall time runs from the first agent's start to the last's end.

    ``machine_busy_seconds``: CPU seconds all cores were busy over the phase (``/proc/stat``);
    ``postgres_cpu_seconds`` and ``server_cpu_seconds``: what the database's backends and the
    served app used meanwhile.
    """
    if not runs:
        raise ValueError("a phase without agents")
    seconds = max(r.finished for r in runs) - min(r.started for r in runs)
    latencies = [value for r in runs for value in r.latencies]
    medians = [m for r in runs if (m := percentile(r.latencies, 0.50)) is not None]
    claims = sum(len(r.claimed) for r in runs)
    errors = [e for r in runs for e in r.errors]
    agents_cpu = sum(r.cpu_seconds for r in runs)
    ours = agents_cpu + postgres_cpu_seconds + server_cpu_seconds
    other = max(0.0, machine_busy_seconds - ours)
    per_second = (lambda v: round(v / seconds, 2)) if seconds > 0 else (lambda _v: 0.0)
    return PhaseFigures(
        name=name,
        agents=len(runs),
        claims=claims,
        seconds=round(seconds, 3),
        claims_per_s=round(claims / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=_ms(percentile(latencies, 0.50)),
        p90_ms=_ms(percentile(latencies, 0.90)),
        p99_ms=_ms(percentile(latencies, 0.99)),
        max_ms=_ms(max(latencies, default=None)),
        errors=len(errors),
        error_samples=errors[:3],
        double_claims=check.double_claims,
        check=check.describe(),
        agents_cpu_cores=per_second(agents_cpu),
        server_cpu_cores=per_second(server_cpu_seconds),
        postgres_cpu_cores=per_second(postgres_cpu_seconds),
        other_cpu_cores=per_second(other),
        cpu_ms_per_claim=round(ours / claims * 1000, 2) if claims else None,
        loadavg_1m=round(loadavg_1m, 2),
        agent_claims_min=min(len(r.claimed) for r in runs),
        agent_claims_max=max(len(r.claimed) for r in runs),
        agent_p50_min_ms=_ms(min(medians, default=None)),
        agent_p50_max_ms=_ms(max(medians, default=None)),
    )
