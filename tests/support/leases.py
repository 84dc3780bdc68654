"""Time passing for work leases without waiting for it.

On SQLite leases run on the injected clock, so advancing the fake clock is enough. On
PostgreSQL they run on the database's clock (db.work), which a test cannot move: there every
held lease is moved back by the same amount instead, which is what the passing of that time
would look like to the next claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Interval, func, literal, select, update

from db.transaction import SessionFactory, transaction
from db.work import WorkItem
from tests.support.fakes import FakeClock


def let_time_pass(session_factory: SessionFactory, clock: FakeClock, delta: timedelta) -> None:
    """``delta`` passes for the injected clock and, on PostgreSQL, for the leases held."""
    clock.advance(delta)
    with transaction(session_factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                update(WorkItem)
                .where(WorkItem.lease_until.is_not(None))
                .values(lease_until=WorkItem.lease_until - literal(delta, Interval()))
                .execution_options(synchronize_session=False)
            )


def lease_clock_now(session_factory: SessionFactory, clock: FakeClock) -> datetime:
    """What leases are judged against now: the database's clock on PostgreSQL, else ours."""
    with transaction(session_factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            return session.execute(select(func.clock_timestamp())).scalar_one()
    return clock.now()


def lease_left(session_factory: SessionFactory, clock: FakeClock, key: str) -> timedelta:
    """How long the lease on ``key``'s row still holds."""
    with transaction(session_factory) as session:
        until = session.scalar(select(WorkItem.lease_until).where(WorkItem.key == key))
    assert until is not None
    return until - lease_clock_now(session_factory, clock)
