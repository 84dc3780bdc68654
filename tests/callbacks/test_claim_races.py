"""Claiming under real concurrency: no callback ever goes to two agents (both databases)."""

from __future__ import annotations

import threading
from collections import Counter

from callbacks.claims import (
    CallbackConflict,
    claim_callback,
    claim_next_callback,
    take_next_callback,
)
from callbacks.queries import callback_history
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


def test_twenty_agents_taking_the_next_callback_at_once_as_the_api_does_get_different_ones(
    deps: Dependencies, catalog: Catalog, clock: FakeClock
) -> None:
    # The API's way: on PostgreSQL one statement on its own for a queued callback, a
    # transaction for an expired claim; both kinds wait at the head of the queue here.
    with transaction(deps.session_factory) as session:
        queued = [queued_callback(session, catalog=catalog, now=clock.now()) for _ in range(30)]
        first_holder = staff(session, "first", now=clock.now())[0]
    with transaction(deps.session_factory) as session:
        for callback_id in queued[:10:2]:
            claim_callback(session, callback_id, by=first_holder, now=clock.now(), catalog=catalog)
    clock.advance(minutes=11)  # those five claims expired, nobody returned them yet
    agents = _agents(deps, clock)
    taking = {
        "factory": deps.session_factory,
        "region": "de",
        "now": clock.now(),
        "catalog": catalog,
    }
    got: list[tuple[str, int | None, str | None]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(AGENTS)

    def press_next(agent: StaffMember) -> None:
        try:
            start.wait()
            for _ in range(2):
                view = take_next_callback(**taking, by=agent)
                got.append(
                    (agent.name, *((None, None) if view is None else (view.id, view.claimed_by)))
                )
        except BaseException as exc:  # reported below, with the thread's agent
            errors.append(exc)

    _run_together([threading.Thread(target=press_next, args=(a,)) for a in agents])
    assert errors == []
    # An agent finds nothing while the rest are locked by others (SKIP LOCKED): what is left
    # once they are done is taken one after the other.
    while (view := take_next_callback(**taking, by=agents[0])) is not None:
        got.append((agents[0].name, view.id, view.claimed_by))
    claimed = [callback_id for _, callback_id, _ in got if callback_id is not None]
    assert len(claimed) == len(set(claimed)) == 30
    assert set(claimed) == set(queued)
    assert all(holder == agent for agent, callback_id, holder in got if callback_id is not None)
    takers = {callback_id: agent for agent, callback_id, _ in got if callback_id is not None}
    with transaction(deps.session_factory) as session:
        for callback_id in queued:
            moves = [(e.actor, e.action) for e in callback_history(session, callback_id)]
            expired = [("first", "claim"), ("system", "expire")]
            before = expired if callback_id in queued[:10:2] else []
            assert moves == [*before, (takers[callback_id], "claim")]


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
