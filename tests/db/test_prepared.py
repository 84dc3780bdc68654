"""Prepared statements store exactly what ``Connection.execute`` stores, on either path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from db.base import table_of
from db.engine import WriteInSnapshot
from db.prepared import Prepared
from db.transaction import SessionFactory, read_connection, write_connection
from intake.models import Call, Message
from tests.conftest import WEDNESDAY_MORNING

CALLS = table_of(Call)
MESSAGES = table_of(Message)
# Every kind of value a call row holds: text, none, integers, UTC instants, JSON, booleans.
CALL = {
    "region": "de",
    "language": "de-DE",
    "from_number": None,
    "to_number": "+498001006711",
    "started_at": WEDNESDAY_MORNING,
    "last_activity_at": WEDNESDAY_MORNING + timedelta(seconds=3),
    "settle_after": WEDNESDAY_MORNING + timedelta(seconds=93),
    "ended_at": None,
    "status": "in-progress",
    "status_sequence": -1,
    "duration_seconds": None,
    "flow": {"step": "menu", "tries": {"menu": 2}, "quoted": None},
    "turn": 2,
    "customer_number": "4711002",
    "product": None,
    "product_line": "datacenter",
    "is_identified": True,
    "outcome": None,
    "sr_number": None,
    "is_settled": False,
    "version": 1,
}
INSERT_CALL = Prepared(insert(CALLS))
UPDATE_CALL = Prepared(
    update(CALLS).where(
        CALLS.c.call_sid == bindparam("b_call_sid"), CALLS.c.version == bindparam("b_version")
    )
)


def _row(connection: Connection, call_sid: str) -> dict[str, Any]:
    row = connection.execute(select(CALLS).where(CALLS.c.call_sid == call_sid)).mappings().one()
    return {key: value for key, value in row.items() if key != "call_sid"}


def test_a_prepared_insert_and_update_store_what_execute_stores(
    session_factory: SessionFactory,
) -> None:
    changes = {
        "flow": {"step": "name", "tries": {}},
        "is_settled": True,
        "ended_at": WEDNESDAY_MORNING + timedelta(minutes=2),
        "version": 2,
    }
    with write_connection(session_factory) as connection:
        connection.execute(insert(CALLS), {**CALL, "call_sid": "CA-executed"})
        INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA-prepared"})
    with write_connection(session_factory) as connection:
        guard = {"b_version": 1}
        connection.execute(UPDATE_CALL.statement, {**changes, **guard, "b_call_sid": "CA-executed"})
        assert UPDATE_CALL.rowcount(connection, {**changes, **guard, "b_call_sid": "CA-prepared"})
    with read_connection(session_factory) as connection:
        prepared = _row(connection, "CA-prepared")
        assert prepared == _row(connection, "CA-executed")
    assert prepared == {**CALL, **changes}


def test_a_prepared_query_reads_what_execute_reads_in_a_snapshot_and_in_a_write(
    session_factory: SessionFactory, engine: Engine, is_postgres: bool
) -> None:
    ended = WEDNESDAY_MORNING + timedelta(minutes=2)
    with write_connection(session_factory) as connection:
        INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA1", "ended_at": ended})
    # Every kind of value, a label, and a parameter read twice.
    query = select(*(CALLS.c[name] for name in CALL), CALLS.c.call_sid.label("sid")).where(
        CALLS.c.call_sid == bindparam("call_sid")
    )
    load = Prepared(query)
    executed: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        executed.append(statement)

    expected = {**CALL, "ended_at": ended, "sid": "CA1"}
    event.listen(engine, "before_cursor_execute", note)
    try:
        for opened in (read_connection, write_connection):
            with opened(session_factory) as connection:
                assert load.first(connection, {"call_sid": "CA1"}) == expected
                assert load.first(connection, {"call_sid": "CA-none"}) is None
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert len(executed) == (4 if is_postgres else 0)
    with read_connection(session_factory) as connection:
        row = connection.execute(query, {"call_sid": "CA1"}).mappings().one()
        assert dict(row) == expected


def test_a_prepared_update_counts_the_rows_it_changed(session_factory: SessionFactory) -> None:
    with write_connection(session_factory) as connection:
        INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA1"})
        stale = {"turn": 3, "b_call_sid": "CA1", "b_version": 7}
        assert UPDATE_CALL.rowcount(connection, stale) == 0
        assert UPDATE_CALL.rowcount(connection, {**stale, "b_version": 1}) == 1


def test_a_row_returned_by_a_prepared_insert_is_its_id(session_factory: SessionFactory) -> None:
    add = Prepared(insert(MESSAGES).returning(MESSAGES.c.id))
    values = {
        "call_sid": "CA1",
        "kind": "new",
        "region": "de",
        "language": "de-DE",
        "customer_number": None,
        "is_identified": False,
        "product": None,
        "product_line": "datacenter",
        "answer_channel": "phone",
        "requested_at": WEDNESDAY_MORNING,
        "created_at": WEDNESDAY_MORNING,
        "updated_at": WEDNESDAY_MORNING,
        "is_complete": False,
        "is_submitted": False,
    }
    with write_connection(session_factory) as connection:
        INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA1"})
        INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA2"})
        first = add.scalar(connection, values)
        second = add.scalar(connection, {**values, "call_sid": "CA2"})
        stored = connection.execute(select(MESSAGES.c.id).order_by(MESSAGES.c.id)).scalars()
        assert list(stored) == [first, second]


def test_a_duplicate_key_is_an_integrity_error_and_rolls_back_the_write(
    session_factory: SessionFactory,
) -> None:
    with write_connection(session_factory) as connection:
        INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA1"})

    def insert_two() -> None:
        with write_connection(session_factory) as connection:
            INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA2"})
            INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA1"})

    with pytest.raises(IntegrityError):
        insert_two()
    with read_connection(session_factory) as connection:
        assert connection.execute(select(CALLS.c.call_sid)).scalars().all() == ["CA1"]


def test_a_column_left_to_its_default_gets_it(session_factory: SessionFactory) -> None:
    with write_connection(session_factory) as connection:
        INSERT_CALL.rowcount(
            connection, {k: v for k, v in CALL.items() if k != "status"} | {"call_sid": "CA1"}
        )
        assert _row(connection, "CA1")["status"] == "in-progress"


def test_a_prepared_write_in_a_read_snapshot_is_refused(
    session_factory: SessionFactory, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip(
            "SQLite reads a snapshot without the writer lock; PostgreSQL needs no such rule"
        )
    with pytest.raises(WriteInSnapshot), read_connection(session_factory) as connection:
        INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA1"})


def test_on_sqlite_a_prepared_write_goes_straight_to_the_driver(
    session_factory: SessionFactory, engine: Engine, is_postgres: bool
) -> None:
    executed: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        executed.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        with write_connection(session_factory) as connection:
            INSERT_CALL.rowcount(connection, {**CALL, "call_sid": "CA1"})
            assert UPDATE_CALL.rowcount(
                connection, {"turn": 3, "b_call_sid": "CA1", "b_version": 1}
            )
    finally:
        event.remove(engine, "before_cursor_execute", note)
    # PostgreSQL has no writer lock to shorten: its statements take SQLAlchemy's whole path.
    assert len(executed) == (2 if is_postgres else 0)
