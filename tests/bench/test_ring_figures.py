"""The ring benchmarks' arithmetic: matching creates to presses, the splits and the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench._ring_figures import (
    Press,
    callback_of,
    creates_by,
    escalation_ring_of,
    median_round,
    ms_text,
    ratio,
    ring_times,
    rung_twice,
    spread_ms,
    spread_text,
    unrung,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_the_call_url_names_its_callback() -> None:
    assert callback_of("http://127.0.0.1:8000/ivr/agent/callback?callback=42&call=3") == 42
    assert callback_of("http://127.0.0.1:9/floor") is None
    assert callback_of(None) is None
    assert callback_of("http://x/ivr/agent/callback?callback=abc") is None


def test_the_call_url_names_its_escalation_and_ring() -> None:
    url = "http://127.0.0.1:8000/ivr/manager/escalation?escalation=42&ring=2"
    assert escalation_ring_of(url) == (42, 2)
    assert escalation_ring_of("http://x/ivr/manager/escalation?escalation=42") is None
    assert escalation_ring_of("http://x/ivr/agent/callback?callback=42&call=1") is None
    assert escalation_ring_of(None) is None


def test_creates_are_grouped_by_the_key_their_url_names_oldest_first() -> None:
    found = creates_by(
        [
            ("http://h/ivr/agent/callback?callback=7&call=1", _at(30)),
            ("http://h/floor", _at(5)),
            ("http://h/ivr/agent/callback?callback=7&call=1", _at(10)),
            ("http://h/ivr/agent/callback?callback=8&call=1", _at(20)),
        ],
        callback_of,
    )
    assert found == {7: [_at(10), _at(30)], 8: [_at(20)]}
    rings = creates_by(
        [
            ("http://h/ivr/manager/escalation?escalation=3&ring=2", _at(50)),
            ("http://h/ivr/manager/escalation?escalation=3&ring=1", _at(10)),
            ("http://h/ivr/agent/callback?callback=3&call=1", _at(20)),
        ],
        escalation_ring_of,
    )
    assert rings == {(3, 1): [_at(10)], (3, 2): [_at(50)]}


def test_ring_time_splits_at_the_answer_and_skips_refused_or_unrung_presses() -> None:
    presses = [
        Press(1, pressed=_at(0), answered=_at(40), status=202),
        Press(2, pressed=_at(100), answered=_at(130), status=409),
        Press(3, pressed=_at(200), answered=_at(220), status=202),
    ]
    times = ring_times(presses, {1: [_at(290), _at(900)], 2: [_at(150)]}, accepted=202)
    assert len(times) == 1
    (one,) = times
    assert one.rings == 1
    assert round(one.total, 3) == 0.29
    assert round(one.answer, 3) == 0.04
    assert round(one.pickup, 3) == 0.25


def test_a_webhook_press_counts_when_answered_200() -> None:
    presses = [Press((5, 1), pressed=_at(0), answered=_at(30), status=200)]
    [one] = ring_times(presses, {(5, 1): [_at(400)]}, accepted=200)
    assert (one.rings, round(one.pickup, 3)) == ((5, 1), 0.37)
    assert ring_times(presses, {(5, 1): [_at(400)]}, accepted=202) == []


def test_rings_asked_for_are_checked_for_none_and_for_two() -> None:
    creates = {(1, 1): [_at(1)], (2, 1): [_at(1), _at(2)]}
    wanted = {(1, 1), (2, 1), (3, 1)}
    assert unrung(wanted, creates) == [(3, 1)]
    assert rung_twice(wanted, creates) == [(2, 1)]


def test_spread_is_nearest_rank_in_ms() -> None:
    values = [v / 1000 for v in range(1, 101)]  # 1..100 ms
    assert spread_ms(values) == {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert spread_ms([]) == {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    assert spread_text({"p50_ms": 1.5, "max_ms": None}) == "p50 1.5 ms max -"


def test_ratio_needs_both_figures() -> None:
    assert ratio(300.0, 2.0) == 150.0
    assert ratio(None, 2.0) is None
    assert ratio(300.0, 0.0) is None


def test_the_median_round_is_unknown_when_a_round_lacks_the_figure() -> None:
    rounds = [{"ring": {"p99_ms": v}} for v in (300.0, 100.0, 200.0)]
    assert median_round(rounds, "ring", "p99_ms") == 200.0
    assert median_round([*rounds, {"ring": {"p99_ms": None}}], "ring", "p99_ms") is None
    assert median_round([], "ring", "p99_ms") is None
    assert (ms_text(None), ms_text(12.5)) == ("-", "12.5 ms")
