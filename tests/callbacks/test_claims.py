"""Agents claim, release and settle callbacks; every move is recorded, illegal ones refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from callbacks.claims import (
    SYSTEM,
    Actor,
    CallbackConflict,
    UnknownCallback,
    claim_callback,
    claim_next_callback,
    expire_claims,
    record_disposition,
    release_callback,
    reschedule_callback,
)
from callbacks.lifecycle import Disposition
from callbacks.models import Callback, CallbackEvent, CallbackStatus
from callbacks.queries import callback_history, list_callbacks
from config.dependencies import Dependencies
from db.transaction import transaction
from intake.catalog import Catalog
from intake.models import Role
from tests.support.callback_rows import queued_callback, queued_callbacks, staff
from tests.support.fakes import FakeClock


@pytest.fixture
def team(deps: Dependencies, clock: FakeClock) -> dict[str, object]:
    with transaction(deps.session_factory) as session:
        anna, _ = staff(session, "anna", now=clock.now())
        ben, _ = staff(session, "ben", now=clock.now())
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER)
    return {"anna": anna, "ben": ben, "mia": mia}


def _row(deps: Dependencies, callback_id: int) -> Callback:
    with transaction(deps.session_factory) as session:
        row = session.get(Callback, callback_id)
        assert row is not None
        session.expunge(row)
        return row


def test_an_agent_claims_a_queued_callback_for_the_claim_time(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    row = _row(deps, callback_id)
    assert row.status == CallbackStatus.CLAIMED
    assert row.claimed_by_id == team["anna"].id
    assert row.claim_expires_at == clock.now() + timedelta(minutes=10)
    with transaction(deps.session_factory) as session:
        [event] = callback_history(session, callback_id)
    assert (event.actor, event.action, event.from_status, event.to_status) == (
        "anna",
        "claim",
        "queued",
        "claimed",
    )


def test_a_second_claimer_is_refused_with_the_holders_name(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    with pytest.raises(CallbackConflict) as refused, transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["ben"], now=clock.now(), catalog=catalog)
    assert refused.value.holder == "anna"
    assert refused.value.status is CallbackStatus.CLAIMED
    assert "anna" in refused.value.detail


def test_the_holder_claiming_again_changes_nothing(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    claimed_at = clock.now()
    clock.advance(minutes=1)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
        events = callback_history(session, callback_id)
    row = _row(deps, callback_id)
    assert (row.claimed_by_id, row.claimed_at) == (team["anna"].id, claimed_at)
    assert [e.action for e in events] == ["claim"]


def test_claim_next_takes_the_earliest_promise_first_then_the_first_caller(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    first, second, third = queued_callbacks(deps.session_factory, catalog, clock, 3)
    with transaction(deps.session_factory) as session:
        # The third caller's promise was moved earlier (another time the customer asked for).
        session.get(Callback, third).due_at = clock.now() - timedelta(minutes=1)  # type: ignore[union-attr]
    order = []
    for agent in ("anna", "ben", "mia"):
        with transaction(deps.session_factory) as session:
            got = claim_next_callback(
                session, by=team[agent], region="de", now=clock.now(), catalog=catalog
            )
            assert got is not None
            order.append(got.id)
    assert order == [third, first, second]
    with transaction(deps.session_factory) as session:
        none_left = claim_next_callback(
            session, by=team["anna"], region="de", now=clock.now(), catalog=catalog
        )
    assert none_left is None


def test_claim_next_writes_the_claim_as_claiming_that_callback_does(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    # On PostgreSQL claim_next moves the row and writes its event in its locking statement;
    # the outcome must be the one claim_callback's moves give.
    by_next, by_id = queued_callbacks(deps.session_factory, catalog, clock, 2)
    with transaction(deps.session_factory) as session:
        got = claim_next_callback(
            session, by=team["anna"], region="de", now=clock.now(), catalog=catalog
        )
        assert got is not None
        assert got.id == by_next
        assert (got.status, got.claimed_by_id) == (CallbackStatus.CLAIMED, team["anna"].id)
        claim_callback(session, by_id, by=team["anna"], now=clock.now(), catalog=catalog)

    def written(callback_id: int) -> tuple[object, ...]:
        row = _row(deps, callback_id)
        with transaction(deps.session_factory) as session:
            events = session.scalars(
                select(CallbackEvent).where(CallbackEvent.callback_id == callback_id)
            ).all()
            moves = [
                (e.at, e.user_id, e.actor, e.action, e.from_status, e.to_status, e.reason)
                for e in events
            ]
        holding = (row.claimed_by_id, row.claimed_at, row.claim_expires_at, row.updated_at)
        return row.status, holding, row.attempts, row.not_before, moves

    assert written(by_next) == written(by_id)
    assert written(by_next)[1] == (
        team["anna"].id,
        clock.now(),
        clock.now() + timedelta(minutes=10),
        clock.now(),
    )


def test_claim_next_is_one_statement_on_postgresql(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite makes no round trips: claim_next locks, then moves in Python")
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(deps.engine, "before_cursor_execute", count)
    try:
        with transaction(deps.session_factory) as session:
            got = claim_next_callback(
                session, by=team["ben"], region="de", now=clock.now(), catalog=catalog
            )
            assert got is not None
            assert got.id == callback_id
    finally:
        event.remove(deps.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    with transaction(deps.session_factory) as session:
        [claimed] = callback_history(session, callback_id)
    assert (claimed.actor, claimed.action, claimed.from_status, claimed.to_status) == (
        "ben",
        "claim",
        "queued",
        "claimed",
    )


def test_claim_next_skips_a_retry_not_due_yet_and_other_regions(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        queued_callback(
            session, catalog=catalog, now=clock.now(), region="us", callback_number="+12025550143"
        )
        session.get(Callback, callback_id).not_before = clock.now() + timedelta(minutes=5)  # type: ignore[union-attr]
    with transaction(deps.session_factory) as session:
        assert (
            claim_next_callback(
                session, by=team["anna"], region="de", now=clock.now(), catalog=catalog
            )
            is None
        )
    clock.advance(minutes=5)
    with transaction(deps.session_factory) as session:
        got = claim_next_callback(
            session, by=team["anna"], region="de", now=clock.now(), catalog=catalog
        )
        assert got is not None
        assert got.id == callback_id


def test_an_unworked_claim_expires_back_into_the_queue_once(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    clock.advance(minutes=9, seconds=59)
    with transaction(deps.session_factory) as session:
        assert expire_claims(session, now=clock.now()) == []
    clock.advance(seconds=1)
    with transaction(deps.session_factory) as session:
        assert expire_claims(session, now=clock.now()) == [callback_id]
    with transaction(deps.session_factory) as session:
        assert expire_claims(session, now=clock.now()) == []
        history = callback_history(session, callback_id)
    row = _row(deps, callback_id)
    assert row.status == CallbackStatus.QUEUED
    assert row.claimed_by_id is None
    assert [(e.actor, e.action) for e in history] == [("anna", "claim"), ("system", "expire")]
    assert "anna" in (history[-1].reason or "")


def test_an_expired_claim_is_taken_over_by_the_next_claimer(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    clock.advance(minutes=11)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["ben"], now=clock.now(), catalog=catalog)
        actions = [(e.actor, e.action) for e in callback_history(session, callback_id)]
    assert _row(deps, callback_id).claimed_by_id == team["ben"].id
    assert actions == [("anna", "claim"), ("system", "expire"), ("ben", "claim")]


def test_claim_next_takes_over_an_expired_claim_in_its_place_in_the_queue(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    first, second, third = queued_callbacks(deps.session_factory, catalog, clock, 3)
    with transaction(deps.session_factory) as session:
        claim_callback(session, first, by=team["anna"], now=clock.now(), catalog=catalog)
        claim_callback(session, third, by=team["anna"], now=clock.now(), catalog=catalog)
    clock.advance(minutes=11)  # both of anna's claims expired, nobody returned them yet
    got = []
    for agent in ("ben", "ben", "ben"):
        with transaction(deps.session_factory) as session:
            callback = claim_next_callback(
                session, by=team[agent], region="de", now=clock.now(), catalog=catalog
            )
            assert callback is not None
            got.append(callback.id)
    assert got == [first, second, third]  # queue order, expired claims and queued alike
    with transaction(deps.session_factory) as session:
        actions = [(e.actor, e.action) for e in callback_history(session, third)]
    assert actions == [("anna", "claim"), ("system", "expire"), ("ben", "claim")]
    assert _row(deps, third).claimed_by_id == team["ben"].id


def test_claim_next_leaves_a_claim_that_has_not_expired(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    first, second = queued_callbacks(deps.session_factory, catalog, clock, 2)
    with transaction(deps.session_factory) as session:
        claim_callback(session, first, by=team["anna"], now=clock.now(), catalog=catalog)
    clock.advance(minutes=9)
    with transaction(deps.session_factory) as session:
        callback = claim_next_callback(
            session, by=team["ben"], region="de", now=clock.now(), catalog=catalog
        )
        assert callback is not None
        assert callback.id == second
    with transaction(deps.session_factory) as session:
        assert (
            claim_next_callback(
                session, by=team["ben"], region="de", now=clock.now(), catalog=catalog
            )
            is None
        )
    assert _row(deps, first).claimed_by_id == team["anna"].id


def test_only_the_holder_or_a_manager_releases(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    with pytest.raises(CallbackConflict) as refused, transaction(deps.session_factory) as session:
        release_callback(session, callback_id, by=Actor.of(team["ben"]), now=clock.now())
    assert refused.value.holder == "anna"
    with transaction(deps.session_factory) as session:
        release_callback(
            session, callback_id, by=Actor.of(team["mia"]), now=clock.now(), reason="anna ill"
        )
    assert _row(deps, callback_id).status == CallbackStatus.QUEUED


def test_releasing_a_queued_callback_is_refused_with_its_status(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with pytest.raises(CallbackConflict) as refused, transaction(deps.session_factory) as session:
        release_callback(session, callback_id, by=Actor.of(team["anna"]), now=clock.now())
    assert refused.value.status is CallbackStatus.QUEUED
    assert refused.value.holder is None


def test_an_unknown_callback_is_named(deps: Dependencies, clock: FakeClock, team: dict) -> None:
    with pytest.raises(UnknownCallback, match="4242"), transaction(deps.session_factory) as session:
        release_callback(session, 4242, by=SYSTEM, now=clock.now())


def test_a_reached_customer_closes_the_callback(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
        record_disposition(
            session,
            callback_id,
            by=Actor.of(team["anna"]),
            disposition=Disposition.REACHED_RESOLVED,
            now=clock.now(),
            catalog=catalog,
            note="licence key re-issued",
        )
    row = _row(deps, callback_id)
    assert (row.status, row.disposition, row.closed_at) == ("done", "reached_resolved", clock.now())
    with pytest.raises(CallbackConflict) as refused, transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["ben"], now=clock.now(), catalog=catalog)
    assert refused.value.status is CallbackStatus.DONE


def test_a_customer_not_reached_is_retried_then_closed_unreachable(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    for attempt, disposition in enumerate(
        (Disposition.NO_ANSWER, Disposition.BUSY, Disposition.VOICEMAIL_LEFT), start=1
    ):
        with transaction(deps.session_factory) as session:
            claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
            record_disposition(
                session,
                callback_id,
                by=Actor.of(team["anna"]),
                disposition=disposition,
                now=clock.now(),
                catalog=catalog,
            )
        row = _row(deps, callback_id)
        assert row.attempts == attempt
        if attempt < 3:
            assert row.status == CallbackStatus.QUEUED
            assert row.not_before == clock.now() + timedelta(minutes=10)
            clock.advance(minutes=10)
    assert row.status == CallbackStatus.UNREACHABLE
    assert row.closed_at == clock.now()


def test_another_time_moves_the_promise_to_the_customers_time(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    later = clock.now() + timedelta(hours=3)
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
        with pytest.raises(ValueError, match="another_time"):
            record_disposition(
                session,
                callback_id,
                by=Actor.of(team["anna"]),
                disposition=Disposition.ANOTHER_TIME,
                now=clock.now(),
                catalog=catalog,
            )
        record_disposition(
            session,
            callback_id,
            by=Actor.of(team["anna"]),
            disposition=Disposition.ANOTHER_TIME,
            now=clock.now(),
            catalog=catalog,
            call_again_at=later,
        )
    row = _row(deps, callback_id)
    assert (row.status, row.due_at, row.not_before, row.attempts) == ("queued", later, later, 0)
    assert row.warn_at == later - timedelta(minutes=10)


def test_a_manager_reschedules_and_the_old_due_time_is_kept_in_the_history(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock)
    old_due = _row(deps, callback_id).due_at
    later = clock.now() + timedelta(days=1)
    with transaction(deps.session_factory) as session:
        reschedule_callback(
            session,
            callback_id,
            by=Actor.of(team["mia"]),
            at=later,
            now=clock.now(),
            catalog=catalog,
            reason="customer on holiday",
        )
        [event] = callback_history(session, callback_id)
    assert _row(deps, callback_id).due_at == later
    assert old_due.isoformat() in (event.reason or "")
    assert "holiday" in (event.reason or "")
    with pytest.raises(ValueError, match="future"), transaction(deps.session_factory) as session:
        reschedule_callback(
            session, callback_id, by=SYSTEM, at=clock.now(), now=clock.now(), catalog=catalog
        )


def test_the_list_shows_the_queue_in_order_with_time_left_and_holder(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    first, second = queued_callbacks(deps.session_factory, catalog, clock, 2)
    with transaction(deps.session_factory) as session:
        claim_callback(session, second, by=team["ben"], now=clock.now(), catalog=catalog)
    clock.advance(minutes=5)
    with transaction(deps.session_factory) as session:
        rows = list_callbacks(session, now=clock.now(), region="de")
        closed = list_callbacks(session, now=clock.now(), status="done")
    assert [r.id for r in rows] == [first, second]
    assert rows[0].time_left == timedelta(minutes=30) - timedelta(minutes=5, seconds=60)
    assert rows[1].claimed_by == "ben"
    assert rows[0].company == "Muster Maschinenbau GmbH"
    assert rows[0].description == "Server startet nicht"
    assert closed == []
