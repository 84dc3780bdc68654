"""Fill a migrated database (SQLite or PostgreSQL) with a history of finished calls, fast.

``fill_history`` adds the rows of ``bench._call_history`` for ``calls`` calls in batches: worker
processes make each batch's rows and bind them (the columns' own types, so UTC datetimes and
JSON go in exactly as the app sends them), this process inserts each batch with one
``executemany`` a table, in one transaction. The tables are the models' (``db.base.table_of``):
a column added later with a default gets it here too. Ids continue from what the tables hold,
and on PostgreSQL the id sequences are moved past the rows added.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnDefault,
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Dialect

from bench._call_history import (
    DESCRIPTIONS,
    MESSAGE_CALLS_IN_FIVE,
    NAMES,
    Caller,
    CallRows,
    History,
    Ids,
    caller_pool,
)
from callbacks.models import Callback
from db.base import Base, table_of
from db.work import WorkItem
from intake.catalog import Catalog
from intake.models import Call, CallTurn, Confirmation, Message, ServiceRequest

DEFAULT_BATCH_CALLS = 10_000
TALK_SECONDS = (120, 1500)  # how long the agent calls talk to their agent
LONGEST_CALL = timedelta(minutes=30)  # more than any call of the history lasts


# Parents before children (foreign keys): calls before turns, messages before the rest.
_MODELS: tuple[type[Base], ...] = (
    Call,
    CallTurn,
    Message,
    ServiceRequest,
    Confirmation,
    WorkItem,
    Callback,
)
_ID_TABLES = ("messages", "service_requests", "confirmations", "work_items", "callbacks")


@dataclass(frozen=True)
class FillReport:
    """What ``fill_history`` added, and how long it took."""

    calls: int
    rows: dict[str, int]
    seconds: float
    transactions: int


@dataclass(frozen=True)
class _Plan:
    """Everything a batch needs, so batches can be made in any order, in other processes."""

    history: History
    callers: list[Caller]
    calls: int
    start: datetime
    spacing: timedelta  # between the starts of consecutive calls, on average
    first: dict[str, int]  # the first id each table gives
    seed: int
    batch_calls: int
    dialect: Dialect
    tables: dict[str, Table]

    @property
    def batches(self) -> range:
        return range(-(-self.calls // self.batch_calls))


def _batch_calls(plan: _Plan, number: int) -> Iterator[CallRows]:
    """The calls of batch ``number``, oldest first (the whole run is spread evenly)."""
    rng = random.Random(f"{plan.seed}:{number}")
    begin = number * plan.batch_calls
    spacing = plan.spacing.total_seconds()
    for index in range(begin, min(plan.calls, begin + plan.batch_calls)):
        sid = f"CA{rng.getrandbits(128):032x}"
        caller = rng.choice(plan.callers)
        started = plan.start + timedelta(seconds=spacing * (index + rng.random()))
        if index % 5 >= MESSAGE_CALLS_IN_FIVE:
            talk = timedelta(seconds=rng.randrange(*TALK_SECONDS))
            yield plan.history.agent_call(sid, caller, started, talk)
            continue
        made = index // 5 * MESSAGE_CALLS_IN_FIVE + index % 5  # message calls before this one
        ids = Ids(*(plan.first[name] + made for name in _ID_TABLES))
        name, text = rng.choice(NAMES), rng.choice(DESCRIPTIONS)
        yield plan.history.message_call(sid, caller, started, ids, name=name, text=text)


class _Batch:
    """The rows of a run of calls, as columns by table."""

    def __init__(self, calls: Iterator[CallRows]) -> None:
        self.calls: list[dict[str, Any]] = []
        self.turns: dict[str, list[Any]] = {"call_sid": [], "seq": [], "step": [], "created_at": []}
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in _ID_TABLES}
        turns = self.turns
        for one in calls:
            self.calls.append(one.call)
            count = len(one.turn_steps)
            turns["call_sid"].extend([one.call["call_sid"]] * count)
            turns["seq"].extend(range(count))
            turns["step"].extend(one.turn_steps)
            turns["created_at"].extend(one.turn_times)
            for name, row in one.rows.items():
                self.rows[name].append(row)

    def tables(self) -> Iterator[tuple[str, dict[str, list[Any]], int]]:
        """(table name, columns, row count), parents first."""
        yield "calls", _columns(self.calls), len(self.calls)
        yield "call_turns", self.turns, len(self.turns["seq"])
        for name in _ID_TABLES:
            yield name, _columns(self.rows[name]), len(self.rows[name])


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}


# Bound parameters already made in this batch, by column type and value.
_Memo = dict[type, dict[Any, Any]]


class _Inserter:
    """One table's ``executemany`` statement and its parameters, bound by the column types.

    ``Connection.execute(insert(table), rows)`` spends several times the insert itself on
    per-row parameter handling; here each column's values pass its type's own bind processor
    in one loop (UTC datetimes, JSON: exactly what the app's statements send), a value shared
    by many rows (the steps every call has, a time in several tables) once. A column the rows
    leave out gets its model default, as the app's inserts do.
    """

    def __init__(self, dialect: Dialect, table: Table, keys: list[str]) -> None:
        self.defaults = {
            column.key: column.default
            for column in table.c
            if column.key not in keys and isinstance(column.default, ColumnDefault)
        }
        keys = [*keys, *self.defaults]
        compiled = insert(table).compile(dialect=dialect, column_keys=keys, for_executemany=True)
        self.sql = str(compiled)
        self.positional = bool(dialect.positional)
        self.keys = list(compiled.positiontup or ()) if self.positional else keys
        self.types = {key: table.c[key].type for key in keys}
        self.processors = {
            key: processor
            for key in keys
            if (processor := table.c[key].type.dialect_impl(dialect).bind_processor(dialect))
        }

    def params(self, columns: dict[str, list[Any]], count: int, memo: _Memo) -> list[Any]:
        """The rows' parameters in the driver's paramstyle."""
        bound = [self._column(key, self._values(key, columns, count), memo) for key in self.keys]
        rows: list[Any] = list(zip(*bound, strict=True))
        if self.positional:
            return rows
        return [dict(zip(self.keys, row, strict=True)) for row in rows]

    def _values(self, key: str, columns: dict[str, list[Any]], count: int) -> list[Any]:
        default = self.defaults.get(key)
        if default is None:
            return columns[key]
        if default.is_callable:
            return [default.arg(None) for _ in range(count)]
        return [default.arg] * count

    def _column(self, key: str, values: list[Any], memo: _Memo) -> list[Any]:
        processor = self.processors.get(key)
        if processor is None:
            return values
        type_ = self.types[key]
        if isinstance(type_, JSON):
            # Unhashable: by id (the values stay alive in ``values`` meanwhile).
            by_id = {id(value): value for value in values}
            done = {ident: processor(value) for ident, value in by_id.items()}
            return [done[id(value)] for value in values]
        seen = memo.setdefault(type(type_), {})
        seen.update({value: processor(value) for value in set(values) if value not in seen})
        return [seen[value] for value in values]


# (table name, INSERT statement, its parameters) of one batch, ready for ``executemany``.
_Prepared = list[tuple[str, str, list[Any]]]


def _prepare(plan: _Plan, number: int) -> _Prepared:
    memo: _Memo = {}
    prepared = []
    for name, columns, count in _Batch(_batch_calls(plan, number)).tables():
        if count:
            inserter = _Inserter(plan.dialect, plan.tables[name], list(columns))
            prepared.append((name, inserter.sql, inserter.params(columns, count, memo)))
    return prepared


_adopted: list[_Plan] = []  # the plan of a worker process (inherited by fork, not pickled)


def _adopt(plan: _Plan) -> None:
    _adopted.append(plan)


def _prepare_adopted(number: int) -> _Prepared:
    return _prepare(_adopted[0], number)


def _next_ids(connection: Connection, tables: dict[str, Table]) -> dict[str, int]:
    return {
        name: int(connection.execute(select(func.max(tables[name].c.id))).scalar() or 0) + 1
        for name in _ID_TABLES
    }


def _move_sequences(connection: Connection) -> None:
    """PostgreSQL: the next id the database gives each table follows the rows added here."""
    if connection.dialect.name != "postgresql":
        return
    for name in _ID_TABLES:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT max(id) FROM {name}))"
            )
        )


def fill_history(
    engine: Engine,
    catalog: Catalog,
    *,
    calls: int,
    until: datetime,
    days: float = 180.0,
    batch_calls: int = DEFAULT_BATCH_CALLS,
    workers: int = 2,
    seed: int = 1,
) -> FillReport:
    """Add ``calls`` finished calls (and their rows), spread over ``days`` before ``until``.

    ``workers`` processes make the batches' rows (most of the work: the rows in Python, the
    types' bind processing) while this one inserts them, one transaction a batch.
    """
    began = time.monotonic()
    tables = {table_of(model).name: table_of(model) for model in _MODELS}
    with engine.connect() as connection:
        first = _next_ids(connection, tables)
    plan = _Plan(
        history=History(catalog),
        callers=caller_pool(random.Random(seed)),
        calls=calls,
        start=until - timedelta(days=days),
        # Every call ended before ``until``: none starts in the last half hour.
        spacing=(timedelta(days=days) - LONGEST_CALL) / max(1, calls),
        first=first,
        seed=seed,
        batch_calls=batch_calls,
        dialect=engine.dialect,
        tables=tables,
    )
    counts = dict.fromkeys(tables, 0)

    def insert_batch(prepared: _Prepared) -> None:
        with engine.begin() as connection:
            for name, sql, params in prepared:
                connection.exec_driver_sql(sql, params)
                counts[name] += len(params)

    if workers > 1 and len(plan.batches) > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_adopt, initargs=(plan,)) as pool:
            for prepared in pool.imap(_prepare_adopted, plan.batches):
                insert_batch(prepared)
    else:
        for number in plan.batches:
            insert_batch(_prepare(plan, number))
    with engine.begin() as connection:
        _move_sequences(connection)
    return FillReport(
        calls=calls,
        rows=counts,
        seconds=time.monotonic() - began,
        transactions=len(plan.batches) + 1,
    )


# A bulk load into a file nobody else has open: no fsync, the rollback journal in memory (WAL
# would write every page twice), a page cache that holds the indexes being built.
_BULK_PRAGMAS = ("synchronous=OFF", "journal_mode=MEMORY", "cache_size=-400000")


def fill_sqlite_file(
    path: Path, catalog: Catalog, *, calls: int, until: datetime, workers: int = 2
) -> FillReport:
    """``fill_history`` into the migrated SQLite file ``path``, left in WAL mode as the app's."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _bulk(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in _BULK_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    try:
        report = fill_history(engine, catalog, calls=calls, until=until, workers=workers)
    finally:
        engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    return report
