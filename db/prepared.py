"""Statements run on every webhook, at the cost of the statement alone.

Every writer queues behind the one holding SQLite's writer lock (``db.transaction``), so what
a write transaction does costs all of them; and every webhook reads its call before it
writes. ``Connection.execute`` spends about a hundred Python calls on each statement around
the driver's own work (the compiled form looked up by its cache key, an execution context,
each parameter processed through the type system, a result object); a webhook turn reads one
row and writes three or four. A ``Prepared`` statement is compiled once for each set of
parameter names, with its parameters' and result columns' type processors, and on a SQLite
connection in a transaction runs on the driver's connection directly, as the ``BEGIN`` of
``db.engine`` already does.

Anything that path would get wrong takes ``Connection.execute``: PostgreSQL (no writer lock
there, and its silence watchdog listens to every statement), a write in a read snapshot
(whose listener refuses it), a connection not in a transaction yet, and a statement with a
value of its own (a column default, a literal, an expanding list). The driver's errors are
wrapped as SQLAlchemy wraps them (an ``IntegrityError`` stays one), parameters hidden.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Executable, Select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

from db.engine import SNAPSHOT_OPTION


@dataclass(frozen=True)
class _Form:
    """The statement compiled for one set of parameter names: SQL, names in order, processors."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    # A query's result columns: their keys, and each one's processor (None: taken as read).
    columns: tuple[str, ...] = ()
    readers: tuple[Callable[[Any], Any] | None, ...] = ()

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        return [
            params[name] if process is None else process(params[name])
            for name, process in zip(self.names, self.processors, strict=True)
        ]


class Prepared:
    """One Core statement, run with its parameters given by name (all of them, every time)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Per dialect (an engine's), per set of parameter names; None: the full path.
        self._forms: weakref.WeakKeyDictionary[Dialect, dict[frozenset[str], _Form | None]] = (
            weakref.WeakKeyDictionary()
        )

    def rowcount(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run the statement; the number of rows it changed."""
        form = self._form(connection, params)
        if form is None:
            count: int = connection.execute(self.statement, params).rowcount
            return count
        cursor = _run(connection, form, params)
        return cursor.rowcount

    def scalar(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """Run the statement; the first column of the first row it returns (RETURNING), or
        None when it returns none."""
        form = self._form(connection, params)
        if form is None:
            return connection.execute(self.statement, params).scalar()
        rows = _run(connection, form, params).fetchall()  # to the end: the statement is done
        return rows[0][0] if rows else None

    def first(self, connection: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Run the query; its first row by column key, or None when it returns none."""
        form = self._form(connection, params)
        if form is None:
            row = connection.execute(self.statement, params).mappings().first()
            return dict(row) if row is not None else None
        rows = _run(connection, form, params).fetchmany(1)
        if not rows:
            return None
        return {
            key: value if read is None else read(value)
            for key, read, value in zip(form.columns, form.readers, rows[0], strict=True)
        }

    def _form(self, connection: Connection, params: Mapping[str, Any]) -> _Form | None:
        dialect = connection.dialect
        if (
            dialect.name != "sqlite"
            or not connection.in_transaction()  # the full path begins one (BEGIN IMMEDIATE)
            or (
                not isinstance(self.statement, Select)  # a snapshot reads, and only reads
                and connection.get_execution_options().get(SNAPSHOT_OPTION)
            )
        ):
            return None
        forms = self._forms.get(dialect)
        if forms is None:
            forms = self._forms[dialect] = {}
        names = frozenset(params)
        if names not in forms:
            forms[names] = _compiled(self.statement, dialect, names)
        return forms[names]


def _compiled(statement: Executable, dialect: Dialect, names: frozenset[str]) -> _Form | None:
    """The statement's SQL for parameters ``names``; None if it binds any value of its own."""
    compiled = statement.compile(dialect=dialect, column_keys=sorted(names))  # type: ignore[attr-defined]
    if not isinstance(compiled, SQLCompiler) or not compiled.positional:
        return None
    order = tuple(compiled.positiontup or ())
    binds = compiled.binds
    if (
        not set(order) <= names
        or compiled.escaped_bind_names
        or compiled.post_compile_params
        or compiled.literal_execute_params
        or not all(binds[name].required and binds[name].callable is None for name in order)
    ):
        return None
    processors = tuple(
        binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order
    )
    if not isinstance(statement, Select):
        return _Form(compiled.string, order, processors)
    selected = list(statement.selected_columns)
    keys = tuple(column.key for column in selected)
    if not all(isinstance(key, str) for key in keys) or len(set(keys)) != len(keys):
        return None  # a column without a name of its own, or two of one name
    return _Form(
        compiled.string,
        order,
        processors,
        columns=tuple(str(key) for key in keys),
        readers=tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected
        ),
    )


def _run(connection: Connection, form: _Form, params: Mapping[str, Any]) -> sqlite3.Cursor:
    values = form.values(params)
    driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        return driver.execute(form.sql, values)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(
            form.sql, values, exc, sqlite3.Error, hide_parameters=True, dialect=connection.dialect
        ) from exc
