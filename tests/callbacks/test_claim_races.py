"""Claiming under real concurrency: no callback ever goes to two agents (both databases)."""

from __future__ import annotations

import threading
from collections import Counter

from callbacks.claims import CallbackConflict, claim_callback, claim_next_callback
from config.dependencies import Dependencies
from db.transaction import transaction
from intake.catalog import Catalog
from intake.staff import StaffMember
from tests.support.callback_rows import queued_callback, staff
from tests.support.fakes import FakeClock

AGENTS = 20


def _agents(deps: Dependencies, clock: FakeClock) -> list[StaffMember]:
    with transaction(deps.session_factory) as session:
        return [staff(session, f"agent{i}", now=clock.now())[0] for i in range(AGENTS)]


def _run_together(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(timeout=60)
        assert not thread.is_alive()


def test_twenty_agents_pressing_next_at_once_get_twenty_different_callbacks(
    deps: Dependencies, catalog: Catalog, clock: FakeClock
) -> None:
    with transaction(deps.session_factory) as session:
        queued = {queued_callback(session, catalog=catalog, now=clock.now()) for _ in range(30)}
    agents = _agents(deps, clock)
    got: list[int | None] = []
    errors: list[BaseException] = []
    start = threading.Barrier(AGENTS)

    def press_next(agent: StaffMember) -> None:
        try:
            start.wait()
            for _ in range(2):
                with transaction(deps.session_factory) as session:
                    callback = claim_next_callback(
                        session, by=agent, region="de", now=clock.now(), catalog=catalog
                    )
                    got.append(None if callback is None else callback.id)
        except BaseException as exc:  # reported below, with the thread's agent
            errors.append(exc)

    _run_together([threading.Thread(target=press_next, args=(a,)) for a in agents])
    assert errors == []
    claimed = [c for c in got if c is not None]
    assert len(claimed) == len(set(claimed)) == 30
    assert set(claimed) == queued
    assert got.count(None) == 2 * AGENTS - 30


def test_twenty_agents_claiming_the_same_callback_leave_one_holder_and_nineteen_refusals(
    deps: Dependencies, catalog: Catalog, clock: FakeClock
) -> None:
    with transaction(deps.session_factory) as session:
        callback_id = queued_callback(session, catalog=catalog, now=clock.now())
    agents = _agents(deps, clock)
    outcomes: Counter[str] = Counter()
    holders: list[str | None] = []
    start = threading.Barrier(AGENTS)
    lock = threading.Lock()

    def claim(agent: StaffMember) -> None:
        start.wait()
        try:
            with transaction(deps.session_factory) as session:
                claim_callback(session, callback_id, by=agent, now=clock.now(), catalog=catalog)
            with lock:
                outcomes["won"] += 1
        except CallbackConflict as refused:
            with lock:
                outcomes["refused"] += 1
                holders.append(refused.holder)

    _run_together([threading.Thread(target=claim, args=(a,)) for a in agents])
    assert outcomes == Counter(won=1, refused=AGENTS - 1)
    assert len(set(holders)) == 1
    assert holders[0] in {a.name for a in agents}
