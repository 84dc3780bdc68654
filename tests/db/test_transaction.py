"""The SQLite writer queue gives up after a deadline; read transactions never queue."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError

import db.engine
import db.transaction
from db.base import Base
from db.engine import DatabaseTimeouts, WriteInSnapshot, checkpoint, make_engine
from db.transaction import (
    SessionFactory,
    make_session_factory,
    read_statement_connection,
    read_transaction,
    statement_connection,
    transaction,
)
from db.work import WorkerHeartbeat
from db.work_health import last_heartbeat

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Bounds a test's own waiting on a thread: far longer than the patched deadline.
JOIN_SECONDS = 10.0


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    # SQLite only, whichever database the suite runs on: the writer queue is SQLite's.
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(sqlite_engine: Engine) -> SessionFactory:
    return make_session_factory(sqlite_engine)


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db.transaction, "WRITER_WAIT_SECONDS", 0.2)


def _start_writer(factory: SessionFactory) -> tuple[threading.Thread, list[BaseException | None]]:
    """Open a write transaction in a thread; the list holds its error (or None) once done."""
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            with transaction(factory) as session:
                session.execute(text("SELECT 1"))
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread, outcome


def _outcome_in_thread(factory: SessionFactory) -> list[BaseException | None]:
    thread, outcome = _start_writer(factory)
    thread.join(JOIN_SECONDS)
    return outcome


def test_a_writer_gives_up_with_database_is_locked_while_another_process_holds_the_file_lock(
    factory: SessionFactory, sqlite_engine: Engine, short_deadline: None
) -> None:
    path = f"{sqlite_engine.url.database}.writers"
    # Its own open file description: to flock, exactly like another process.
    with open(path, "ab") as other_process:
        fcntl.flock(other_process.fileno(), fcntl.LOCK_EX)
        outcome = _outcome_in_thread(factory)

    assert outcome, "the writer still waits for the file lock after its deadline"
    [error] = outcome
    assert isinstance(error, OperationalError)
    assert "database is locked" in str(error)
    # What it had taken (the thread lock) was given back: the next writer gets through.
    assert _outcome_in_thread(factory) == [None]


def test_a_writer_waiting_for_another_process_gets_the_lock_once_it_is_released(
    factory: SessionFactory, sqlite_engine: Engine
) -> None:
    path = f"{sqlite_engine.url.database}.writers"
    with open(path, "ab") as other_process:
        fcntl.flock(other_process.fileno(), fcntl.LOCK_EX)
        writer, outcome = _start_writer(factory)
        # The writer found the lock taken and waits in a blocking flock of its own thread.
        waiting = threading.Event()
        for _ in range(10_000):
            if any(t.name == "sqlite-writer-wait" for t in threading.enumerate()):
                waiting.set()
                break
            writer.join(0.001)
        assert waiting.is_set()
        assert outcome == []
    writer.join(JOIN_SECONDS)

    assert outcome == [None]


def test_a_writer_gives_up_with_database_is_locked_while_another_thread_writes(
    factory: SessionFactory, short_deadline: None
) -> None:
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with transaction(factory):
            inside.set()
            leave.wait(JOIN_SECONDS)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert inside.wait(JOIN_SECONDS)
    try:
        outcome = _outcome_in_thread(factory)
    finally:
        leave.set()
        holder.join(JOIN_SECONDS)

    assert outcome, "the writer still waits for the thread lock after its deadline"
    [error] = outcome
    assert isinstance(error, OperationalError)
    assert "database is locked" in str(error)
    assert _outcome_in_thread(factory) == [None]


def test_a_read_transaction_reads_while_another_process_holds_the_writer_lock(
    factory: SessionFactory, sqlite_engine: Engine, short_deadline: None
) -> None:
    path = f"{sqlite_engine.url.database}.writers"
    with open(path, "ab") as other_process:
        fcntl.flock(other_process.fileno(), fcntl.LOCK_EX)
        with read_transaction(factory) as session:
            assert last_heartbeat(session) is None


def test_a_read_transaction_refuses_to_write(factory: SessionFactory) -> None:
    with pytest.raises(WriteInSnapshot), read_transaction(factory) as session:
        session.execute(WorkerHeartbeat.__table__.delete())


def test_sqlite_connections_leave_checkpoints_to_the_checkpointer(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0


def test_the_wal_file_shrinks_back_to_its_limit_when_it_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db.engine, "WAL_SIZE_LIMIT_BYTES", 64 * 1024)
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    wal = tmp_path / "wal.db-wal"
    try:
        rows = [
            {"worker_id": f"w{i:05d}" + "x" * 100, "started_at": NOON, "last_tick_at": NOON}
            for i in range(5000)
        ]
        with transaction(factory) as session:
            session.execute(WorkerHeartbeat.__table__.insert(), rows)
        assert wal.stat().st_size > 256 * 1024
        checkpoint(str(tmp_path / "wal.db"))
        with transaction(factory) as session:  # the next writer restarts the log
            session.execute(WorkerHeartbeat.__table__.insert(), [{**rows[0], "worker_id": "new"}])
        assert wal.stat().st_size <= 64 * 1024 + 8 * 4096
    finally:
        engine.dispose()


def test_a_checkpoint_moves_the_log_into_the_database(
    factory: SessionFactory, sqlite_engine: Engine
) -> None:
    path = sqlite_engine.url.database
    assert path is not None
    with transaction(factory) as session:
        session.execute(
            WorkerHeartbeat.__table__.insert(),
            [{"worker_id": f"w{i}", "started_at": NOON, "last_tick_at": NOON} for i in range(200)],
        )
    busy, logged, copied = checkpoint(path)
    assert busy == 0
    assert logged > 0
    assert copied == logged


def test_a_checkpoint_never_creates_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    with pytest.raises(sqlite3.OperationalError):
        checkpoint(str(missing))
    assert not missing.exists()


def test_a_lock_request_whose_file_was_closed_fails_without_stopping_the_waiter(
    tmp_path: Path,
) -> None:
    with open(tmp_path / "x.writers", "ab") as file:
        request = db.transaction._LockRequest(file)
    request.serve()  # what the waiter thread runs: it must return, not raise
    with pytest.raises(OSError, match="closed file"):
        request.wait(0)


def test_a_read_statement_on_postgresql_opens_no_transaction_and_leaves_none_behind(
    session_factory: SessionFactory, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite reads a snapshot (see the read transaction tests)")
    from psycopg.pq import TransactionStatus

    with read_statement_connection(session_factory) as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
        driver = connection.connection.dbapi_connection
        assert driver is not None
        assert driver.info.transaction_status is TransactionStatus.IDLE  # no BEGIN was sent

    def write_then_fail() -> None:
        with transaction(session_factory) as session:
            session.add(WorkerHeartbeat(worker_id="w1", started_at=NOON, last_tick_at=NOON))
            session.flush()
            raise RuntimeError("undo")

    # The pooled connection is transactional again: a write that fails is rolled back.
    with pytest.raises(RuntimeError):
        write_then_fail()
    with read_transaction(session_factory) as session:
        assert last_heartbeat(session) is None


def test_a_statement_connection_on_postgresql_commits_each_statement_by_itself(
    session_factory: SessionFactory, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has none (see the next test)")
    from psycopg.pq import TransactionStatus

    heartbeats = WorkerHeartbeat.__table__
    with statement_connection(session_factory) as connection:
        assert connection is not None
        connection.execute(
            heartbeats.insert().values(worker_id="w1", started_at=NOON, last_tick_at=NOON)
        )
        driver = connection.connection.dbapi_connection
        assert driver is not None
        assert driver.info.transaction_status is TransactionStatus.IDLE  # committed: no BEGIN
    with read_statement_connection(session_factory) as connection:
        assert connection.execute(select(heartbeats.c.worker_id)).scalars().all() == ["w1"]
        driver = connection.connection.dbapi_connection
        assert driver is not None
        assert driver.info.transaction_status is TransactionStatus.IDLE

    def delete_then_fail() -> None:
        with transaction(session_factory) as session:
            session.execute(heartbeats.delete())
            raise RuntimeError("undo")

    # The pooled connection is transactional again: a write that fails is rolled back.
    with pytest.raises(RuntimeError):
        delete_then_fail()
    with read_transaction(session_factory) as session:
        assert last_heartbeat(session) == NOON


def test_sqlite_has_no_statement_connection_and_reads_a_statement_in_a_snapshot(
    factory: SessionFactory,
) -> None:
    with statement_connection(factory) as connection:
        assert connection is None  # its writers take the writer lock in a transaction
    with pytest.raises(WriteInSnapshot), read_statement_connection(factory) as connection:
        connection.execute(WorkerHeartbeat.__table__.delete())


def test_a_read_statement_on_a_connection_pinged_at_checkout_runs_on_postgresql(
    database_url: str, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("only PostgreSQL connections are pinged")
    # Every checkout pings; the ping must leave no transaction open, or the connection cannot
    # be switched to autocommit for the statement.
    engine = make_engine(database_url, timeouts=DatabaseTimeouts(ping_idle_seconds=0))
    try:
        factory = make_session_factory(engine)
        with transaction(factory) as session:  # a connection in the pool, to be pinged
            session.execute(text("SELECT 1"))
        with read_statement_connection(factory) as connection:
            heartbeats = WorkerHeartbeat.__table__
            assert connection.execute(select(heartbeats.c.worker_id)).first() is None
        with transaction(factory) as session:
            assert session.scalar(text("SELECT 2")) == 2
    finally:
        engine.dispose()
