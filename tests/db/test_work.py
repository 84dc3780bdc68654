"""The work table on a real database: enqueue once, claim with a lease, finish only if held."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from db.transaction import SessionFactory, make_session_factory, transaction
from db.work import (
    DEFAULT_LEASE,
    Alert,
    GivenUp,
    WorkItem,
    WorkState,
    claim,
    complete,
    enqueue,
    fail,
    release_expired_leases,
    renew,
    retry,
)
from db.work_health import record_heartbeat, worker_health
from tests.support.fakes import FakeClock
from tests.support.leases import lease_left, let_time_pass

KIND = "test.effect"


def add(
    factory: SessionFactory,
    clock: FakeClock,
    key: str,
    *,
    due_in: timedelta = timedelta(0),
    priority: int = 100,
    max_attempts: int = 3,
) -> bool:
    with transaction(factory) as session:
        return enqueue(
            session,
            kind=KIND,
            key=key,
            due_at=clock.now() + due_in,
            now=clock.now(),
            payload={"key": key},
            priority=priority,
            max_attempts=max_attempts,
        )


def take(factory: SessionFactory, clock: FakeClock, worker: str, limit: int = 20) -> list[str]:
    with transaction(factory) as session:
        return [item.key for item in claim(session, worker_id=worker, now=clock.now(), limit=limit)]


def row(factory: SessionFactory, key: str) -> WorkItem:
    with transaction(factory) as session:
        found = session.scalar(select(WorkItem).where(WorkItem.key == key))
        assert found is not None
        return found


def item_id(factory: SessionFactory, key: str) -> int:
    return row(factory, key).id


def alerts(factory: SessionFactory) -> list[Alert]:
    with transaction(factory) as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_enqueue_is_idempotent_by_key(session_factory: SessionFactory, clock: FakeClock) -> None:
    assert add(session_factory, clock, "confirmation:1:sms") is True
    assert add(session_factory, clock, "confirmation:1:sms", due_in=timedelta(hours=1)) is False

    with transaction(session_factory) as session:
        rows = session.scalars(select(WorkItem)).all()
    assert [(r.key, r.due_at) for r in rows] == [("confirmation:1:sms", clock.now())]


def test_claim_takes_only_due_rows_by_priority_then_due_time(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "future", due_in=timedelta(seconds=1))
    add(session_factory, clock, "late-low", due_in=timedelta(minutes=-5), priority=100)
    add(session_factory, clock, "now-urgent", priority=10)
    add(session_factory, clock, "late-urgent", due_in=timedelta(minutes=-1), priority=10)

    assert take(session_factory, clock, "w1") == ["late-urgent", "now-urgent", "late-low"]
    claimed = row(session_factory, "late-low")
    assert (claimed.state, claimed.claimed_by, claimed.attempts) == ("running", "w1", 1)
    assert lease_left(session_factory, clock, "late-low") == pytest.approx(
        timedelta(seconds=10), abs=timedelta(seconds=1)
    )
    assert row(session_factory, "future").state == WorkState.DUE


def test_claim_hands_out_at_most_the_limit_in_order(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    for n in range(5):
        add(session_factory, clock, f"k{n}", due_in=timedelta(seconds=-n))

    assert take(session_factory, clock, "w1", limit=2) == ["k4", "k3"]
    assert take(session_factory, clock, "w2", limit=2) == ["k2", "k1"]


def test_a_claimed_row_is_not_claimed_again_while_its_lease_holds(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "k")
    assert take(session_factory, clock, "w1") == ["k"]

    let_time_pass(session_factory, clock, timedelta(seconds=9.5))
    assert take(session_factory, clock, "w2") == []


def test_an_expired_lease_is_claimed_by_another_worker(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "k")
    assert take(session_factory, clock, "w1") == ["k"]

    let_time_pass(session_factory, clock, timedelta(seconds=10.1))
    assert take(session_factory, clock, "w2") == ["k"]
    taken = row(session_factory, "k")
    assert (taken.claimed_by, taken.attempts) == ("w2", 2)
    assert "lease expired" in (taken.last_error or "")
    # The first worker wakes up late: its outcome no longer counts.
    with transaction(session_factory) as session:
        assert not complete(session, item_id=taken.id, worker_id="w1", now=clock.now())
    assert row(session_factory, "k").state == WorkState.RUNNING


def test_renew_extends_the_lease_of_the_holder_only(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "k")
    take(session_factory, clock, "w1")
    key_id = item_id(session_factory, "k")

    let_time_pass(session_factory, clock, timedelta(seconds=8))
    with transaction(session_factory) as session:
        assert renew(session, item_ids=[key_id], worker_id="w2", now=clock.now()) == 0
        assert renew(session, item_ids=[key_id], worker_id="w1", now=clock.now()) == 1
    let_time_pass(session_factory, clock, timedelta(seconds=8))  # 16 s after the claim

    assert take(session_factory, clock, "w2") == []
    assert lease_left(session_factory, clock, "k") == pytest.approx(
        timedelta(seconds=2), abs=timedelta(seconds=1)
    )


def test_complete_acts_only_for_the_holder_and_is_idempotent_for_it(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "k")
    take(session_factory, clock, "w1")
    key_id = item_id(session_factory, "k")

    with transaction(session_factory) as session:
        assert not complete(session, item_id=key_id, worker_id="w2", now=clock.now())
    assert row(session_factory, "k").state == WorkState.RUNNING
    with transaction(session_factory) as session:
        assert complete(session, item_id=key_id, worker_id="w1", now=clock.now())
        assert complete(session, item_id=key_id, worker_id="w1", now=clock.now())
    done = row(session_factory, "k")
    assert (done.state, done.claimed_by, done.finished_at) == ("done", "w1", clock.now())

    clock.advance(minutes=5)
    assert take(session_factory, clock, "w2") == []


def test_retry_acts_only_for_the_holder_and_records_error_and_next_try(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "k")
    take(session_factory, clock, "w1")
    key_id = item_id(session_factory, "k")
    next_try = clock.now() + timedelta(seconds=15)

    with transaction(session_factory) as session:
        assert not retry(
            session,
            item_id=key_id,
            worker_id="w2",
            now=clock.now(),
            error="x",
            next_try_at=next_try,
        )
        assert retry(
            session,
            item_id=key_id,
            worker_id="w1",
            now=clock.now(),
            error="SendError: 503",
            next_try_at=next_try,
        )
    again = row(session_factory, "k")
    assert (again.state, again.due_at, again.last_error, again.attempts) == (
        "due",
        next_try,
        "SendError: 503",
        1,
    )
    assert take(session_factory, clock, "w2") == []
    clock.advance(seconds=15)
    assert take(session_factory, clock, "w2") == ["k"]


def test_fail_acts_only_for_the_holder_and_raises_an_alert(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "confirmation:SR1:sms")
    take(session_factory, clock, "w1")
    key_id = item_id(session_factory, "confirmation:SR1:sms")

    with transaction(session_factory) as session:
        assert not fail(session, item_id=key_id, worker_id="w2", now=clock.now(), error="x")
    assert alerts(session_factory) == []
    with transaction(session_factory) as session:
        assert fail(
            session, item_id=key_id, worker_id="w1", now=clock.now(), error="SendRejected: 21211"
        )

    failed = row(session_factory, "confirmation:SR1:sms")
    assert (failed.state, failed.last_error) == ("failed", "SendRejected: 21211")
    [alert] = alerts(session_factory)
    assert (alert.kind, alert.subject, alert.message) == (
        f"work_failed:{KIND}",
        "confirmation:SR1:sms",
        "SendRejected: 21211",
    )


def test_work_whose_last_attempt_never_finished_fails_with_an_alert_instead_of_looping(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    add(session_factory, clock, "poison", max_attempts=2)
    for worker in ("w1", "w2"):
        assert take(session_factory, clock, worker) == ["poison"]
        let_time_pass(session_factory, clock, timedelta(seconds=11))  # each worker dies mid-work

    assert take(session_factory, clock, "w3") == []
    dead = row(session_factory, "poison")
    assert (dead.state, dead.attempts) == ("failed", 2)
    [alert] = alerts(session_factory)
    assert alert.subject == "poison"
    assert "lease expired" in alert.message


def test_concurrent_claims_on_postgresql_skip_rows_another_claim_holds(
    engine: Engine, session_factory: SessionFactory, clock: FakeClock, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises claims with BEGIN IMMEDIATE")
    for n in range(6):
        add(session_factory, clock, f"k{n}", due_in=timedelta(seconds=-n))
    first = make_session_factory(engine)()
    try:
        with first.begin():
            held = claim(first, worker_id="w1", now=clock.now(), limit=3)
            # w1 has not committed: its rows are locked, and w2 neither waits nor takes them.
            second = take(session_factory, clock, "w2", limit=10)
    finally:
        first.close()

    assert [i.key for i in held] == ["k5", "k4", "k3"]
    assert second == ["k2", "k1", "k0"]


def test_claim_on_postgresql_walks_the_claim_index_past_many_future_rows(
    engine: Engine, session_factory: SessionFactory, clock: FakeClock, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("the plan is checked on PostgreSQL, where the benchmark runs")
    now = clock.now()
    rows = [
        {
            "kind": KIND,
            "key": f"future-{n}",
            "payload": {},
            "state": "due",
            "priority": 10,
            "due_at": now + timedelta(seconds=1 + n),
            "attempts": 0,
            "max_attempts": 8,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(20_000)
    ]
    with transaction(session_factory) as session:
        session.execute(insert(WorkItem), rows)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE work_items"))
        plan = "\n".join(
            connection.execute(
                text(
                    "EXPLAIN SELECT id FROM work_items WHERE state = 'due' AND due_at <= :now"
                    " AND kind IN ('test.effect') ORDER BY priority, due_at LIMIT 20"
                    " FOR UPDATE SKIP LOCKED"
                ),
                {"now": now},
            ).scalars()
        )

    assert "ix_work_items_claim" in plan, plan
    assert "Sort" not in plan, plan
    assert take(session_factory, clock, "w1") == []


def test_worker_health_is_never_then_ok_then_stale_as_the_last_tick_ages(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    stale_after = timedelta(seconds=30)
    with transaction(session_factory) as session:
        never = worker_health(session, now=clock.now(), stale_after=stale_after)
        record_heartbeat(session, worker_id="w1", now=clock.now())
    ticked = clock.now()
    clock.advance(seconds=29)
    with transaction(session_factory) as session:
        fresh = worker_health(session, now=clock.now(), stale_after=stale_after)
    clock.advance(seconds=1)
    with transaction(session_factory) as session:
        stale = worker_health(session, now=clock.now(), stale_after=stale_after)

    assert (never.state, never.last_tick_at, never.age_seconds) == ("never", None, None)
    assert (fresh.state, fresh.last_tick_at, fresh.age_seconds) == ("ok", ticked, 29.0)
    assert (stale.state, stale.age_seconds) == ("stale", 30.0)


def test_give_up_hooks_hear_of_work_failed_for_good_but_not_of_work_freed_to_retry(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    told: list[GivenUp] = []

    def hook(_session: Session, work: GivenUp) -> None:
        told.append(work)

    for key, max_attempts in [("failing", 3), ("last-try", 1), ("next-try", 2)]:
        with transaction(session_factory) as session:
            enqueue(
                session,
                kind=KIND,
                key=key,
                due_at=clock.now(),
                now=clock.now(),
                payload={"key": key},
                max_attempts=max_attempts,
            )
    failing = item_id(session_factory, "failing")
    with transaction(session_factory) as session:
        claim(session, worker_id="w1", now=clock.now())
        fail(
            session,
            item_id=failing,
            worker_id="w1",
            now=clock.now(),
            error="boom",
            on_give_up=hook,
        )
    let_time_pass(session_factory, clock, DEFAULT_LEASE + timedelta(seconds=1))
    with transaction(session_factory) as session:
        freed = release_expired_leases(session, now=clock.now(), on_give_up=hook)

    assert freed == 2
    assert [(w.kind, w.key, w.payload, w.error[:13]) for w in told] == [
        (KIND, "failing", {"key": "failing"}, "boom"),
        (KIND, "last-try", {"key": "last-try"}, "lease expired"),
    ]
    assert row(session_factory, "next-try").state == WorkState.DUE


def test_on_postgresql_a_lease_holds_by_the_databases_clock_whatever_the_workers_clocks_say(
    session_factory: SessionFactory, clock: FakeClock, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite is one host: its leases run on the injected clock")
    add(session_factory, clock, "k")
    assert take(session_factory, clock, "slow-clock") == ["k"]
    ahead = FakeClock(clock.now() + timedelta(minutes=5))

    assert take(session_factory, ahead, "fast-clock") == []
    with transaction(session_factory) as session:
        assert release_expired_leases(session, now=ahead.now()) == 0
    # The holder renews from its clock, minutes behind: the lease is still set by the database.
    with transaction(session_factory) as session:
        assert (
            renew(
                session,
                item_ids=[item_id(session_factory, "k")],
                worker_id="slow-clock",
                now=clock.now() - timedelta(minutes=5),
            )
            == 1
        )
    assert lease_left(session_factory, clock, "k") == pytest.approx(
        timedelta(seconds=10), abs=timedelta(seconds=1)
    )
    assert take(session_factory, ahead, "fast-clock") == []
