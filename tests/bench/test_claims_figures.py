"""The claim benchmark's own arithmetic: percentiles, rates and the double-claim check."""

from __future__ import annotations

import pytest

from bench._claims_figures import AgentRun, check_claims, figures_of, median
from bench._webhook_figures import percentile


def _run(
    agent: int, claimed: list[int], latencies: list[float], start: float, end: float
) -> AgentRun:
    return AgentRun(
        agent_id=agent,
        claimed=claimed,
        latencies=latencies,
        started=start,
        finished=end,
        empty_presses=1,
        errors=[],
        cpu_seconds=1.0,
    )


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.90) == 90.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(list(reversed(values)), 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None
    assert percentile([float(v) for v in range(1, 11)], 0.5) == 5.0
    assert percentile([float(v) for v in range(1, 1001)], 0.99) == 990.0
    assert percentile([float(v) for v in range(1, 101)], 0.07) == 7.0  # 0.07 * 100 > 7 in floats
    # One slow claim in a hundred is the p99; two in a hundred make it slow too.
    assert percentile([1.0] * 99 + [500.0], 0.99) == 1.0
    assert percentile([1.0] * 98 + [500.0, 500.0], 0.99) == 500.0


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError, match="nothing"):
        median([])


def test_every_callback_once_by_its_holder_passes() -> None:
    check = check_claims(
        [1, 2, 3, 4],
        {10: [1, 3], 11: [2, 4]},
        {1: 10, 2: 11, 3: 10, 4: 11},
        [1, 2, 3, 4],
    )
    assert check.ok
    assert check.double_claims == 0
    assert check.claimed_by_agents == 4
    assert check.describe() == "all 4 claimed exactly once"


def test_a_callback_two_agents_got_is_a_double_claim() -> None:
    check = check_claims([1, 2, 3], {10: [1, 2], 11: [2, 3]}, {1: 10, 2: 11, 3: 11}, None)
    assert not check.ok
    assert check.reported_twice == [2]
    assert check.holder_mismatch == [2]  # the row names agent 11; agent 10 was told it too
    assert check.double_claims == 1
    assert "reported twice 1" in check.describe()


def test_one_agent_getting_the_same_callback_twice_is_a_double_claim_too() -> None:
    check = check_claims([1, 2], {10: [1, 1, 2]}, {1: 10, 2: 10}, None)
    assert check.reported_twice == [1]
    assert check.double_claims == 1


def test_two_claim_events_for_one_callback_are_a_double_claim_even_if_agents_disagree() -> None:
    check = check_claims([1, 2], {10: [1], 11: [2]}, {1: 10, 2: 11}, [1, 2, 2])
    assert check.events_twice == [2]
    assert check.events_not_one == [2]
    assert check.double_claims == 1
    assert not check.ok


def test_missing_unexpected_and_misattributed_claims_fail_without_counting_as_doubles() -> None:
    check = check_claims([1, 2, 3], {10: [1, 9], 11: [2]}, {1: 11, 2: 11, 9: 10}, [1, 2, 9])
    assert check.never_claimed == [3]
    assert check.unexpected == [9]
    assert check.holder_mismatch == [1]
    assert check.events_not_one == [3]  # 9 has its one event: it is wrong as "unexpected"
    assert check.double_claims == 0
    assert not check.ok


def test_phase_rate_runs_from_the_first_start_to_the_last_end() -> None:
    runs = [
        _run(10, [1, 2, 3], [0.010, 0.020, 0.030], start=100.0, end=101.0),
        _run(11, [4, 5, 6, 7, 8], [0.001] * 5, start=100.5, end=102.0),
    ]
    check = check_claims(range(1, 9), {r.agent_id: r.claimed for r in runs}, {}, None)
    figures = figures_of(
        "real", runs, check, machine_busy_seconds=5.0, loadavg_1m=1.5, postgres_cpu_seconds=1.0
    )
    assert figures.seconds == 2.0
    assert figures.claims == 8
    assert figures.claims_per_s == 4.0
    assert figures.p50_ms == 1.0  # five of the eight latencies are 1 ms
    assert figures.p99_ms == 30.0
    assert figures.max_ms == 30.0
    assert figures.agents_cpu_cores == 1.0  # 2 s of agent CPU over 2 s
    assert figures.postgres_cpu_cores == 0.5
    assert figures.other_cpu_cores == 1.0  # 5 busy - 2 agents - 1 backends, over 2 s
    assert figures.cpu_ms_per_claim == 375.0  # 3 s of ours over 8 claims
    # How evenly the agents were served: 3 and 5 claims, medians of 20 ms and 1 ms.
    assert (figures.agent_claims_min, figures.agent_claims_max) == (3, 5)
    assert (figures.agent_p50_min_ms, figures.agent_p50_max_ms) == (1.0, 20.0)
    served = figures_of(
        "http",
        runs,
        check,
        machine_busy_seconds=5.0,
        loadavg_1m=1.5,
        postgres_cpu_seconds=1.0,
        server_cpu_seconds=3.0,
    )
    assert served.server_cpu_cores == 1.5
    assert served.other_cpu_cores == 0.0  # never below nothing
