"""Statements run while SQLite's writer lock is held, at the cost of the statement alone.

Every writer queues behind the one holding SQLite's writer lock (``db.transaction``), so what
a write transaction does costs all of them. ``Connection.execute`` spends about a hundred
Python calls on each statement around the driver's own work (the compiled form looked up by
its cache key, an execution context, each parameter processed through the type system, a
result object); a webhook turn writes three or four rows. A ``Prepared`` statement is
compiled once for each set of parameter names, with its parameters' type processors, and on
a SQLite write connection runs on the driver's connection directly, as the ``BEGIN
IMMEDIATE`` of ``db.engine`` already does.

Anything that path would get wrong takes ``Connection.execute``: PostgreSQL (no writer lock
there, and its silence watchdog listens to every statement), a read snapshot (whose listener
refuses writes), a connection not in a transaction yet, and a statement with a value of its
own (a column default, a literal, an expanding list). The driver's errors are wrapped as
SQLAlchemy wraps them (an ``IntegrityError`` stays one), parameters hidden.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

from db.engine import SNAPSHOT_OPTION


@dataclass(frozen=True)
class _Form:
    """The statement compiled for one set of parameter names: SQL, names in order, processors."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

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

    def _form(self, connection: Connection, params: Mapping[str, Any]) -> _Form | None:
        dialect = connection.dialect
        if (
            dialect.name != "sqlite"
            or not connection.in_transaction()  # the full path begins one (BEGIN IMMEDIATE)
            or connection.get_execution_options().get(SNAPSHOT_OPTION)
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
    return _Form(compiled.string, order, processors)


def _run(connection: Connection, form: _Form, params: Mapping[str, Any]) -> sqlite3.Cursor:
    values = form.values(params)
    driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        return driver.execute(form.sql, values)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(
            form.sql, values, exc, sqlite3.Error, hide_parameters=True, dialect=connection.dialect
        ) from exc
