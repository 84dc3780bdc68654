"""Decide on a read, write briefly: a row changed in between sends the request to the lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from db.base import table_of
from db.engine import WriteInSnapshot
from db.transaction import (
    NeedsLock,
    Planned,
    SessionFactory,
    Write,
    apply_planned,
    decide_then_write,
    read_connection,
    transaction,
)
from db.work import WorkerHeartbeat
from tests.conftest import WEDNESDAY_MORNING

# Any row will do: the guard is a WHERE that must match exactly one row.
BEATS = table_of(WorkerHeartbeat)
SECOND = timedelta(seconds=1)


def _seed(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        session.execute(
            insert(BEATS).values(
                worker_id="w1", started_at=WEDNESDAY_MORNING, last_tick_at=WEDNESDAY_MORNING
            )
        )


def _tick(reader: Connection | Session) -> datetime:
    return reader.execute(select(BEATS.c.last_tick_at)).scalar_one()  # type: ignore[no-any-return]


def _tick_now(factory: SessionFactory) -> datetime:
    with read_connection(factory) as reader:
        return _tick(reader)


def _move_tick(expected: datetime, new: datetime) -> Write:
    """Move the tick to ``new`` if it is still ``expected`` (the guard)."""
    statement = (
        update(BEATS)
        .where(BEATS.c.worker_id == "w1", BEATS.c.last_tick_at == bindparam("b_expected"))
        .values(last_tick_at=bindparam("b_new"))
    )
    return Write(statement, {"b_expected": expected, "b_new": new}, guarded=True)


def _locked() -> tuple[list[datetime], Callable[[Session], str]]:
    """A locked path that records the tick it saw."""
    seen: list[datetime] = []

    def locked(session: Session) -> str:
        seen.append(_tick(session))
        return "locked"

    return seen, locked


def test_a_planned_write_is_applied_when_nothing_changed(session_factory: SessionFactory) -> None:
    _seed(session_factory)
    seen, locked = _locked()

    def decide(reader: Connection) -> Planned[str]:
        tick = _tick(reader)
        return Planned("planned", (_move_tick(tick, tick + SECOND),))

    assert decide_then_write(session_factory, decide, locked) == "planned"
    assert _tick_now(session_factory) == WEDNESDAY_MORNING + SECOND
    assert seen == []


def test_a_row_changed_after_the_read_rolls_back_every_write_and_runs_the_locked_path(
    session_factory: SessionFactory,
) -> None:
    _seed(session_factory)
    seen, locked = _locked()
    # An unguarded write goes first here: it must be rolled back with the refused one.
    first = Write(update(BEATS).values(started_at=WEDNESDAY_MORNING - SECOND), {})
    stale = Planned("planned", (first, _move_tick(WEDNESDAY_MORNING - SECOND, WEDNESDAY_MORNING)))

    assert apply_planned(session_factory, stale, locked) == "locked"
    assert seen == [WEDNESDAY_MORNING]
    with read_connection(session_factory) as reader:
        assert reader.execute(select(BEATS.c.started_at)).scalar_one() == WEDNESDAY_MORNING


def test_a_write_that_collides_runs_the_locked_path(session_factory: SessionFactory) -> None:
    _seed(session_factory)
    seen, locked = _locked()
    values = {"worker_id": "w1", "started_at": WEDNESDAY_MORNING, "last_tick_at": WEDNESDAY_MORNING}
    duplicate = Planned("planned", (Write(insert(BEATS), values),))

    assert apply_planned(session_factory, duplicate, locked) == "locked"
    assert seen == [WEDNESDAY_MORNING]


def test_a_decision_that_needs_the_lock_runs_the_locked_path(
    session_factory: SessionFactory,
) -> None:
    _seed(session_factory)
    seen, locked = _locked()

    def decide(reader: Connection) -> Planned[str]:
        raise NeedsLock()

    assert decide_then_write(session_factory, decide, locked) == "locked"
    assert seen == [WEDNESDAY_MORNING]


def test_a_decision_with_nothing_to_write_is_returned_as_it_is(
    session_factory: SessionFactory,
) -> None:
    _seed(session_factory)
    seen, locked = _locked()

    assert decide_then_write(session_factory, lambda reader: "read only", locked) == "read only"
    assert seen == []


def test_a_decision_is_only_read_on_sqlite(
    session_factory: SessionFactory, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip(
            "SQLite reads a snapshot without the writer lock; PostgreSQL needs no such rule"
        )
    _seed(session_factory)
    seen, locked = _locked()

    def decide(reader: Connection) -> Planned[str]:
        reader.execute(update(BEATS).values(started_at=WEDNESDAY_MORNING + SECOND))
        return Planned("planned", ())

    with pytest.raises(WriteInSnapshot):
        decide_then_write(session_factory, decide, locked)
    assert seen == []
    with read_connection(session_factory) as reader:
        assert reader.execute(select(BEATS.c.started_at)).scalar_one() == WEDNESDAY_MORNING
