"""The agent-ring benchmark's arithmetic: matching creates to presses and the splits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench._ring_figures import (
    Press,
    callback_of,
    creates_by_callback,
    ratio,
    ring_times,
    spread_ms,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_the_call_url_names_its_callback() -> None:
    assert callback_of("http://127.0.0.1:8000/ivr/agent/callback?callback=42&call=3") == 42
    assert callback_of("http://127.0.0.1:9/floor") is None
    assert callback_of(None) is None
    assert callback_of("http://x/ivr/agent/callback?callback=abc") is None


def test_creates_are_grouped_by_callback_oldest_first() -> None:
    found = creates_by_callback(
        [
            ("http://h/ivr/agent/callback?callback=7&call=1", _at(30)),
            ("http://h/floor", _at(5)),
            ("http://h/ivr/agent/callback?callback=7&call=1", _at(10)),
            ("http://h/ivr/agent/callback?callback=8&call=1", _at(20)),
        ]
    )
    assert found == {7: [_at(10), _at(30)], 8: [_at(20)]}


def test_ring_time_splits_at_the_202_and_skips_refused_or_unrung_presses() -> None:
    presses = [
        Press(1, agent_id=10, pressed=_at(0), answered=_at(40), status=202),
        Press(2, agent_id=11, pressed=_at(100), answered=_at(130), status=409),
        Press(3, agent_id=12, pressed=_at(200), answered=_at(220), status=202),
    ]
    times = ring_times(presses, {1: [_at(290), _at(900)], 2: [_at(150)]})
    assert len(times) == 1
    (one,) = times
    assert one.callback_id == 1
    assert round(one.total, 3) == 0.29
    assert round(one.api, 3) == 0.04
    assert round(one.pickup, 3) == 0.25


def test_spread_is_nearest_rank_in_ms() -> None:
    values = [v / 1000 for v in range(1, 101)]  # 1..100 ms
    assert spread_ms(values) == {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert spread_ms([]) == {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}


def test_ratio_needs_both_figures() -> None:
    assert ratio(300.0, 2.0) == 150.0
    assert ratio(None, 2.0) is None
    assert ratio(300.0, 0.0) is None
