"""Read, decide, write: a row changed in between makes the request decide again, locked."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, insert, select, update
from sqlalchemy.orm import Session

from db.base import table_of
from db.engine import SNAPSHOT_OPTION, WriteInSnapshot
from db.transaction import SessionFactory, read_connection, transaction
from db.unit_of_work import (
    Conflict,
    Done,
    Reading,
    Statements,
    Write,
    decide_locked,
    read_then_write,
)
from db.work import WorkerHeartbeat
from tests.conftest import WEDNESDAY_MORNING

# Any row will do: the guard is a WHERE on the value read that must match exactly one row.
BEATS = table_of(WorkerHeartbeat)
SECOND = timedelta(seconds=1)


def _seed(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        session.execute(
            insert(BEATS).values(
                worker_id="w1", started_at=WEDNESDAY_MORNING, last_tick_at=WEDNESDAY_MORNING
            )
        )


def _tick(reader: Connection) -> datetime:
    return reader.execute(select(BEATS.c.last_tick_at)).scalar_one()  # type: ignore[no-any-return]


def _tick_now(factory: SessionFactory) -> datetime:
    with read_connection(factory) as reader:
        return _tick(reader)


class Advance:
    """A request that moves the tick one second on from what it read, guarded by the value."""

    def __init__(self, factory: SessionFactory, *, meddle: int = 0, plain: bool = False) -> None:
        self.factory = factory
        self.meddle = meddle  # how many times another request moves the tick after our read
        self.plain = plain  # written as plain statements on a connection, without a session
        self.readings: list[Reading] = []

    def __call__(self, reading: Reading) -> Write[str] | Statements[str]:
        self.readings.append(reading)
        seen = _tick(reading.connection)
        if self.meddle:
            self.meddle -= 1
            with transaction(self.factory) as other:
                other.execute(update(BEATS).values(last_tick_at=seen + timedelta(hours=1)))

        def write(executor: Session | Connection) -> str:
            moved = executor.execute(
                update(BEATS)
                .where(BEATS.c.last_tick_at == seen)
                .values(last_tick_at=seen + SECOND, started_at=seen)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("tick")
            return "locked" if reading.is_locked else "unlocked"

        return Statements(write) if self.plain else write


def test_a_decision_is_written_when_nothing_changed(session_factory: SessionFactory) -> None:
    _seed(session_factory)
    request = Advance(session_factory)
    assert read_then_write(session_factory, request) == "unlocked"
    assert _tick_now(session_factory) == WEDNESDAY_MORNING + SECOND
    assert [r.is_locked for r in request.readings] == [False]


@pytest.mark.parametrize("plain", [False, True], ids=["session", "statements"])
def test_a_row_changed_after_the_read_is_decided_again_locked_on_what_is_there_now(
    session_factory: SessionFactory, plain: bool
) -> None:
    _seed(session_factory)
    request = Advance(session_factory, meddle=1, plain=plain)
    assert read_then_write(session_factory, request) == "locked"
    # Moved on from the other request's value, not from the stale one.
    assert _tick_now(session_factory) == WEDNESDAY_MORNING + timedelta(hours=1) + SECOND
    assert [r.is_locked for r in request.readings] == [False, True]


def test_plain_statements_are_written_without_a_session(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(session_factory)
    request = Advance(session_factory, plain=True)
    sessions: list[Session] = []
    monkeypatch.setattr(session_factory, "class_", _Counted.of(sessions))
    assert read_then_write(session_factory, request) == "unlocked"
    assert _tick_now(session_factory) == WEDNESDAY_MORNING + SECOND
    assert sessions == []


def test_plain_statements_read_and_write_on_one_checked_out_connection(
    session_factory: SessionFactory, engine: Engine, is_postgres: bool
) -> None:
    _seed(session_factory)
    checkouts: list[object] = []
    begun: list[bool] = []

    def checked_out(dbapi_connection: Any, *_args: Any) -> None:
        checkouts.append(dbapi_connection)

    def began(connection: Connection) -> None:
        begun.append(bool(connection.get_execution_options().get(SNAPSHOT_OPTION)))

    event.listen(engine.pool, "checkout", checked_out)
    event.listen(engine, "begin", began)
    try:
        assert read_then_write(session_factory, Advance(session_factory, plain=True)) == "unlocked"
    finally:
        event.remove(engine.pool, "checkout", checked_out)
        event.remove(engine, "begin", began)
    assert len(checkouts) == 1
    # SQLite: a snapshot read, then a write on the same connection, no longer a snapshot.
    assert begun == ([False, False] if is_postgres else [True, False])
    assert _tick_now(session_factory) == WEDNESDAY_MORNING + SECOND


class _Counted(Session):
    """A session class that notes every session made."""

    made: list[Session]

    @classmethod
    def of(cls, made: list[Session]) -> type[Session]:
        return type("Counted", (cls,), {"made": made})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.made.append(self)


def test_a_refused_write_leaves_none_of_its_statements(session_factory: SessionFactory) -> None:
    _seed(session_factory)

    def decide(reading: Reading) -> Write[str]:
        def write(session: Session) -> str:
            if reading.is_locked:
                return "locked"
            session.execute(update(BEATS).values(started_at=WEDNESDAY_MORNING - SECOND))
            raise Conflict("refused after a first statement")

        return write

    assert read_then_write(session_factory, decide) == "locked"
    with read_connection(session_factory) as reader:
        assert reader.execute(select(BEATS.c.started_at)).scalar_one() == WEDNESDAY_MORNING


def test_a_row_inserted_meanwhile_is_found_by_the_locked_try(
    session_factory: SessionFactory,
) -> None:
    seen: list[int] = []

    def decide(reading: Reading) -> Write[str]:
        count = len(reading.connection.execute(select(BEATS.c.worker_id)).all())
        seen.append(count)
        if count == 0 and not reading.is_locked:
            _seed(session_factory)  # another request stores the row first

        def write(session: Session) -> str:
            if count == 0:
                session.execute(
                    insert(BEATS).values(
                        worker_id="w1",
                        started_at=WEDNESDAY_MORNING,
                        last_tick_at=WEDNESDAY_MORNING,
                    )
                )
                return "inserted"
            return "found"

        return write

    assert read_then_write(session_factory, decide) == "found"
    assert seen == [0, 1]


def test_a_conflict_that_outlasts_the_locked_tries_is_raised(
    session_factory: SessionFactory,
) -> None:
    def decide(reading: Reading) -> Write[str]:
        def write(session: Session) -> str:
            raise Conflict("always")

        return write

    with pytest.raises(Conflict):
        read_then_write(session_factory, decide)


def test_a_decision_with_nothing_to_write_takes_no_write_transaction(
    session_factory: SessionFactory,
) -> None:
    readings: list[Reading] = []

    def decide(reading: Reading) -> Done[str]:
        readings.append(reading)
        return Done("read only")

    assert read_then_write(session_factory, decide) == "read only"
    assert len(readings) == 1


@pytest.mark.parametrize("plain", [False, True], ids=["session", "statements"])
def test_a_job_decides_inside_its_own_transaction(
    session_factory: SessionFactory, plain: bool
) -> None:
    _seed(session_factory)
    request = Advance(session_factory, plain=plain)
    with transaction(session_factory) as session:
        assert decide_locked(session, request) == "locked"
    assert _tick_now(session_factory) == WEDNESDAY_MORNING + SECOND


def test_a_decision_is_only_read_on_sqlite(
    session_factory: SessionFactory, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip(
            "SQLite reads a snapshot without the writer lock; PostgreSQL needs no such rule"
        )
    _seed(session_factory)

    def decide(reading: Reading) -> Done[str]:
        reading.connection.execute(update(BEATS).values(started_at=WEDNESDAY_MORNING + SECOND))
        return Done("never")

    with pytest.raises(WriteInSnapshot):
        read_then_write(session_factory, decide)
    with read_connection(session_factory) as reader:
        assert reader.execute(select(BEATS.c.started_at)).scalar_one() == WEDNESDAY_MORNING
