"""Escalation-ring benchmark (``make bench``): a customer's last key until a duty manager's ring.

``python -m bench.escalation_ring`` creates a throw-away database on 127.0.0.1:5432
(``HOTLINE_BENCH_POSTGRES_URL`` to change; ``hotline_bench_escalation_<pid>``, dropped at the
end), migrates it with ``hotline db upgrade``, imports the demo customers with a history of
earlier calls whose SRs the customers escalate, and adds a duty roster for region de: 5 managers
with phones on duty all week and a fallback. It then runs ``hotline serve`` and one ``hotline
worker`` on that database (``bench._ring_rig``: Twilio pointed at the project's mock served from
this process).

In each round the customers call one after the other, one every ``--interval`` seconds, each
escalating an SR of their own over HTTP with the signed call walker (``bench._escalation_walks``):
menu key 3, the SR number, its read-back confirmed, the reason, both pre-checks, then the
callback number. That last key settles the call, raises the escalation and asks for its first
ring; the first ring is the ``calls.create`` the mock records whose Url names the escalation and
ring 1. Its time is the last key until that create, split into the webhook's part (until the
answer came back) and the worker's pick-up (the answer until the create). Then, one every
``--interval`` seconds, the duty manager rung picks up (not timed) and presses 2: the pass's
time is the 2 until the create of ring 2, split the same way. Ring 2's manager then accepts
(not timed), so nobody else is rung. The floor, measured in the same round: ``calls.create``
made directly from this process with the twilio SDK against the same mock.

Figures: p50/p90/p99/max of both times and their parts, every round, with the CPU used by the
worker, the served app, the database's backends, this process (the phones and the mock) and
everything else on the machine; the targets (p99 <= 2 s each) are judged on the median round.
It never fails on a timing: exit 0 however slow, 1 when an escalation was not raised, never
rang or rang twice (or the wrong phone), 2 when the set-up failed. Without PostgreSQL it says so
and exits 0. Results also go to ``bench/results/escalation-ring-<date>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, func, select

from bench._escalation_fill import Customer, add_duty_roster, fill_customers
from bench._escalation_walks import (
    ACCEPT,
    CALL_ME_BACK_HERE,
    PASS,
    Stamp,
    StampedTransport,
    answered_ring,
    timed_press,
    up_to_the_callback_number,
)
from bench._ring_figures import (
    Press,
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
from bench._ring_rig import (
    CpuWatch,
    Rig,
    cpu_text,
    floor,
    header_line,
    loadavg_now,
    log,
    note_disturbance,
    on_throwaway_database,
    run_header,
    start_rig,
    wait_for_creates,
    write_results,
)
from bench._served_pg import migrate, positive
from bench.worker import ACCOUNT_SID, AUTH_TOKEN
from config.catalog import load_catalog
from config.settings import DEFAULT_CONFIG
from db.engine import normalize_url
from db.work import WorkItem, WorkState
from escalations.records import Escalation
from intake.staff import StaffMember
from ivr.call_walker import CallWalker, WalkerError
from ivr.walker_transport import requests_transport

TARGET_P99_S = 2.0
# Seconds to wait, after the last key or pass, for its ring (the worker ticks every 0.25 s).
RING_DEADLINE_SECONDS = 30.0
# Seconds to wait, after a round, for the worker to finish what the accepts left (the SMS).
QUIET_DEADLINE_SECONDS = 15.0
REGION = "de"
ROSTER_MEMBERS = 5

Ring = tuple[int, int]  # (escalation id, ring number)
T = TypeVar("T")


@dataclass(frozen=True)
class Walked:
    """One phone's walk: its call, the stamp of its timed key, or why it failed."""

    call_sid: str
    stamp: Stamp | None
    failure: str | None = None


def _paced(count: int, interval: float, walk: Callable[[int], T]) -> list[T]:
    """``walk(i)`` for each i, started ``interval`` seconds apart, each in a thread of its own."""
    start_at = time.monotonic() + 0.5

    def spaced(index: int) -> T:
        time.sleep(max(0.0, start_at + index * interval - time.monotonic()))
        return walk(index)

    with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
        return list(pool.map(spaced, range(count)))


def _escalate(rig: Rig, line: str, customer: Customer) -> Walked:
    """The customer's call up to the callback number, then its last key (timed), then hang up."""
    transport = StampedTransport(requests_transport())
    walker = CallWalker(
        transport=transport,
        base_url=rig.server.base_url,
        auth_token=AUTH_TOKEN,
        to=line,
        from_=customer.caller,
        account_sid=ACCOUNT_SID,
    )
    try:
        up_to_the_callback_number(walker, customer.sr_number)
        stamp = timed_press(walker, transport, CALL_ME_BACK_HERE)
        walker.hang_up()
    except (WalkerError, OSError) as exc:
        return Walked(walker.call_sid, None, f"{type(exc).__name__}: {exc}")
    return Walked(walker.call_sid, stamp)


def _answer_and_press(rig: Rig, call: Any, keys: str) -> Walked:
    """The duty manager picks up ``call``, hears the summary and presses ``keys`` (timed)."""
    transport = StampedTransport(requests_transport())
    try:
        phone = answered_ring(
            call,
            transport,
            base_url=rig.server.base_url,
            auth_token=AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
        )
        return Walked(call.sid, timed_press(phone, transport, keys))
    except (WalkerError, OSError, ValueError) as exc:
        return Walked(call.sid, None, f"{type(exc).__name__}: {exc}")


def _escalations_of(engine: Engine, call_sids: Sequence[str]) -> dict[str, int]:
    """The escalation each customer's call raised (by its CallSid)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(Escalation.call_sid, Escalation.id).where(Escalation.call_sid.in_(call_sids))
        ).all()
    return {sid: escalation_id for sid, escalation_id in rows if sid is not None}


def _first_calls(mock: Any, rings: set[Ring]) -> dict[Ring, Any]:
    """The first call the mock accepted for each of ``rings``."""
    found: dict[Ring, Any] = {}
    for call in mock.calls:
        ring = escalation_ring_of(call.url)
        if ring in rings and ring not in found:
            found[ring] = call
    return found


def _wait_quiet(engine: Engine) -> None:
    """Until the worker has no due work left (or the deadline passes)."""
    deadline = time.monotonic() + QUIET_DEADLINE_SECONDS
    busy = select(func.count()).where(
        WorkItem.state.in_((WorkState.DUE.value, WorkState.RUNNING.value)),
        WorkItem.due_at <= func.now(),
    )
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if not connection.execute(busy).scalar_one():
                return
        time.sleep(0.1)


def _presses(walks: Sequence[Walked], rings: Sequence[Ring | None]) -> list[Press[Ring]]:
    return [
        Press(ring, w.stamp.sent, w.stamp.answered, w.stamp.status)
        for w, ring in zip(walks, rings, strict=True)
        if w.stamp is not None and ring is not None
    ]


def _wrong_phones(calls: dict[Ring, Any], managers: Sequence[StaffMember]) -> list[Ring]:
    """Rings that went to another phone than the roster's n-th member's."""
    return sorted(ring for ring, call in calls.items() if call.to != managers[ring[1] - 1].phone)


def run_round(
    number: int,
    args: argparse.Namespace,
    customers: Sequence[Customer],
    managers: Sequence[StaffMember],
    line: str,
    rig: Rig,
) -> dict[str, Any]:
    """Escalate, wait for the first rings, pass each on, wait for the second, and measure."""
    watch = CpuWatch(rig)
    walks = _paced(len(customers), args.interval, lambda i: _escalate(rig, line, customers[i]))
    raised = _escalations_of(rig.engine, [w.call_sid for w in walks])
    first = [(raised[w.call_sid], 1) if w.call_sid in raised else None for w in walks]
    escalated = _presses(walks, first)
    wanted_first = {p.rings for p in escalated if p.status == 200}
    creates = wait_for_creates(
        rig.mock, wanted_first, escalation_ring_of, deadline_seconds=RING_DEADLINE_SECONDS
    )
    first_calls = _first_calls(rig.mock, wanted_first)
    rung_first = sorted(first_calls)
    passes = _paced(
        len(rung_first),
        args.interval,
        lambda i: _answer_and_press(rig, first_calls[rung_first[i]], PASS),
    )
    second = [(escalation_id, 2) for escalation_id, _ in rung_first]
    passed = _presses(passes, second)
    wanted_second = {p.rings for p in passed if p.status == 200}
    creates = wait_for_creates(
        rig.mock,
        wanted_first | wanted_second,
        escalation_ring_of,
        deadline_seconds=RING_DEADLINE_SECONDS,
    )
    cpu = watch.cores()
    loadavg = os.getloadavg()[0]
    second_calls = _first_calls(rig.mock, wanted_second)
    # The second managers accept: nobody else is rung once this round is measured.
    accepts = [_answer_and_press(rig, call, ACCEPT) for call in second_calls.values()]
    floor_seconds = floor(rig.mock, args.floor_calls)
    rig.check_alive()

    first_times = ring_times(escalated, creates, accepted=200)
    pass_times = ring_times(passed, creates, accepted=200)
    figures = {
        "round": number,
        "customers": len(walks),
        "failed_walks": [w.failure for w in walks if w.failure is not None],
        "not_raised": [w.call_sid for w in walks if w.failure is None and w.call_sid not in raised],
        "refused": [(p.rings, p.status) for p in [*escalated, *passed] if p.status != 200],
        "never_rang": unrung(wanted_first, creates) + unrung(wanted_second, creates),
        "rang_twice": rung_twice(wanted_first, creates) + rung_twice(wanted_second, creates),
        "wrong_phone": _wrong_phones({**first_calls, **second_calls}, managers),
        "failed_passes": [w.failure for w in passes if w.failure is not None],
        "failed_accepts": [w.failure for w in accepts if w.failure is not None],
        "passes": len(passes),
        "first_ring": spread_ms([t.total for t in first_times]),
        "first_webhook": spread_ms([t.answer for t in first_times]),
        "first_pickup": spread_ms([t.pickup for t in first_times]),
        "pass_ring": spread_ms([t.total for t in pass_times]),
        "pass_webhook": spread_ms([t.answer for t in pass_times]),
        "pass_pickup": spread_ms([t.pickup for t in pass_times]),
        "floor": spread_ms(floor_seconds),
        "cpu_cores": cpu,
        "loadavg_1m": round(loadavg, 2),
    }
    _print_round(figures)
    _wait_quiet(rig.engine)
    rig.mock.reset()
    return figures


PROBLEMS = (
    "failed_walks",
    "not_raised",
    "refused",
    "never_rang",
    "rang_twice",
    "wrong_phone",
    "failed_passes",
    "failed_accepts",
)


def _problems(figures: dict[str, Any]) -> int:
    return sum(len(figures[name]) for name in PROBLEMS)


def _print_round(f: dict[str, Any]) -> None:
    problems = ", ".join(f"{name.replace('_', ' ')} {len(f[name])}" for name in PROBLEMS)
    print(
        f"  round {f['round']}: {f['customers']} customers escalating, last key to first ring"
        f" {spread_text(f['first_ring'])}\n"
        f"    webhook (last key to TwiML) {spread_text(f['first_webhook'])}\n"
        f"    worker pick-up (TwiML to create) {spread_text(f['first_pickup'])}\n"
        f"  {f['passes']} duty managers pressing 2, pass to next ring"
        f" {spread_text(f['pass_ring'])}\n"
        f"    webhook (2 to TwiML) {spread_text(f['pass_webhook'])}\n"
        f"    worker pick-up (TwiML to create) {spread_text(f['pass_pickup'])}\n"
        f"    floor (SDK calls.create to the mock) {spread_text(f['floor'])}\n"
        f"    {problems}\n"
        f"    {cpu_text(f['cpu_cores'])}; load {f['loadavg_1m']:.2f}",
        flush=True,
    )
    for name in PROBLEMS:
        for problem in f[name][:3]:
            print(f"    {name.replace('_', ' ')}: {problem}", flush=True)


def _target(rounds: list[dict[str, Any]], figure: str, what: str) -> dict[str, Any]:
    p99s = [r[figure]["p99_ms"] for r in rounds]
    p99 = median_round(rounds, figure, "p99_ms")
    met = p99 is not None and p99 <= TARGET_P99_S * 1000
    print(
        f"  target {what} p99 <= {TARGET_P99_S:g} s: {ms_text(p99)}  "
        f"{'met' if met else 'NOT met'} (rounds: " + ", ".join(map(ms_text, p99s)) + ")"
    )
    p50 = median_round(rounds, figure, "p50_ms")
    floor_p50 = median_round(rounds, "floor", "p50_ms")
    floor_p99 = median_round(rounds, "floor", "p99_ms")
    prefix = figure.split("_")[0]
    print(
        f"    p50 {ms_text(p50)}; p99 split: webhook"
        f" {ms_text(median_round(rounds, f'{prefix}_webhook', 'p99_ms'))}, worker pick-up"
        f" {ms_text(median_round(rounds, f'{prefix}_pickup', 'p99_ms'))}; over the floor: p50"
        f" {ratio(p50, floor_p50)}x p99 {ratio(p99, floor_p99)}x"
    )
    return {
        "target": f"{what} p99 <= {TARGET_P99_S:g} s",
        "value_ms": p99,
        "met": met,
        "rounds_ms": p99s,
        "over_floor": {"p50": ratio(p50, floor_p50), "p99": ratio(p99, floor_p99)},
    }


def _report(args: argparse.Namespace, rounds: list[dict[str, Any]], header: dict[str, Any]) -> int:
    loadavg_end = loadavg_now()
    judged = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "1 round"
    print()
    print(
        f"summary ({judged}; load average at start {header['loadavg_start']}, at end {loadavg_end})"
    )
    targets = [
        _target(rounds, "first_ring", "last key to first ring"),
        _target(rounds, "pass_ring", "pass to next ring"),
    ]
    print(
        f"  floor p50 {ms_text(median_round(rounds, 'floor', 'p50_ms'))}"
        f" p99 {ms_text(median_round(rounds, 'floor', 'p99_ms'))}"
    )
    disturbance = note_disturbance(rounds, header["cores"])
    broken = sum(_problems(r) for r in rounds)
    if broken:
        print(
            f"  WRONG: {broken} escalation(s) not raised, not rung, rung twice or rung at the"
            " wrong phone (or a walk failed); see the rounds"
        )
    write_results(
        "escalation-ring",
        {
            **header,
            "loadavg_end": loadavg_end,
            "load": {
                "customers_per_round": args.customers,
                "interval_s": args.interval,
                "rounds": args.rounds,
                "roster_members": ROSTER_MEMBERS,
                "floor_calls": args.floor_calls,
            },
            "rounds": rounds,
            "targets": targets,
            "max_other_cpu_cores": disturbance,
        },
    )
    return 1 if broken else 0


def run_benchmark(args: argparse.Namespace, database_url: str, workdir: Path) -> int:
    migrate(database_url, workdir)
    engine = create_engine(normalize_url(database_url), pool_size=2)
    with contextlib.ExitStack() as running:
        running.callback(engine.dispose)
        header = run_header(engine)
        catalog = load_catalog(DEFAULT_CONFIG)
        filled = time.monotonic()
        customers = fill_customers(engine, catalog, args.rounds * args.customers)
        managers = add_duty_roster(engine, ROSTER_MEMBERS, region=REGION)
        filled = time.monotonic() - filled
        line = catalog.region(REGION).numbers[0]
        rig = start_rig(running, database_url, workdir, engine)
        print(
            f"{header_line('escalation-ring', header)} · {args.customers} customers a round, one"
            f" every {args.interval:g} s · duty roster {REGION}: {ROSTER_MEMBERS} managers and a"
            f" fallback · {len(customers)} SRs (filled in {filled:.1f} s) · {args.rounds}"
            f" round(s) · load average {header['loadavg_start']}",
            flush=True,
        )
        log(rig.describe())
        rounds = [
            run_round(
                number,
                args,
                customers[(number - 1) * args.customers : number * args.customers],
                managers,
                line,
                rig,
            )
            for number in range(1, args.rounds + 1)
        ]
        return _report(args, rounds, header)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.escalation_ring", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--customers", type=positive, default=20, help="escalations a round")
    parser.add_argument("--rounds", type=positive, default=3, help="the targets use the median")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between customers (and passes)"
    )
    parser.add_argument(
        "--floor-calls", type=positive, default=50, help="direct SDK creates a round"
    )
    args = parser.parse_args(argv)
    return on_throwaway_database(
        "bench.escalation_ring",
        "escalation",
        lambda url, workdir: run_benchmark(args, url, workdir),
    )


if __name__ == "__main__":
    sys.exit(main())
