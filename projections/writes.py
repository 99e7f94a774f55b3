"""Many rows in one DBAPI `executemany`: the projector's writes (and the search documents').

A statement is compiled once per dialect, statement and keys; each value is bound by its
column type's processor for the dialect, as `Connection.execute` binds it, but without its
per-row bookkeeping, which cost more than the writes (docs/benchmarks.md). An instant on
SQLite is bound by one function, `UTCDateTime`'s microseconds since 1970.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Insert, Table, TextClause, Update, and_, bindparam, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.type_api import TypeEngine

from projections import tables as t

Bind = Callable[[Any], Any]
_Step = tuple[str, Bind | None]
_COMPILED: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[_Step], bool]] = {}


def write_many(
    connection: Connection, statement: Insert | Update | TextClause, rows: list[dict[str, Any]]
) -> None:
    """Execute `statement` once for each of `rows` (dicts of the same keys) in one
    `executemany`, in the caller's transaction."""
    if not rows:
        return
    keys = tuple(rows[0])
    if any(len(row) != len(keys) for row in rows):
        connection.execute(statement, rows)  # rows of different keys: the general path
        return
    dialect = connection.dialect
    cache_key = (dialect.name, _statement_key(statement), keys)
    found = _COMPILED.get(cache_key)
    if found is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        steps: list[_Step] = [(name, _binder(compiled.binds[name].type, dialect)) for name in names]
        found = _COMPILED[cache_key] = (compiled.string, steps, bool(compiled.positional))
    sql, steps, positional = found
    if dialect.name == "postgresql" and isinstance(statement, Insert) and _plain(statement):
        _copy(connection, statement, keys, dict(steps), rows)
        return
    params: list[Any]
    if positional:
        params = [
            tuple([row[name] if bind is None else bind(row[name]) for name, bind in steps])
            for row in rows
        ]
    else:
        params = [
            {name: row[name] if bind is None else bind(row[name]) for name, bind in steps}
            for row in rows
        ]
    connection.exec_driver_sql(sql, params)


def _statement_key(statement: Insert | Update | TextClause) -> str:
    """What tells compiled statements apart: a plain INSERT by its table's name (its SQL,
    given the keys, is that of the table's columns; `str()` compiles it: ~1 ms a batch and
    table), any other by its SQL."""
    if isinstance(statement, Insert) and _plain(statement) and not _has_values(statement):
        return "INSERT INTO " + statement.table.fullname
    return str(statement)


def _has_values(statement: Insert) -> bool:
    return bool(statement._values or statement._multi_values)


def _plain(statement: Insert) -> bool:
    """An INSERT of values into one table, no more (no ON CONFLICT, no RETURNING)."""
    return type(statement) is Insert and not statement._returning and statement.select is None


def _copy(
    connection: Connection,
    statement: Insert,
    keys: tuple[str, ...],
    binds: dict[str, Bind | None],
    rows: list[dict[str, Any]],
) -> None:
    """The rows of a plain INSERT on PostgreSQL through `COPY ... FROM STDIN` (psycopg's
    `Copy.write_row`), in the caller's transaction: one stream instead of a statement per
    row, each value bound as the INSERT would bind it."""
    table = statement.table
    quote = connection.dialect.identifier_preparer
    columns = ", ".join(quote.quote(table.c[key].name) for key in keys)
    sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
    steps = [(key, binds.get(key)) for key in keys]
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([row[key] if bind is None else bind(row[key]) for key, bind in steps])


def _binder(type_: TypeEngine[Any], dialect: Dialect) -> Bind | None:
    if dialect.name == "sqlite" and isinstance(type_, t.UTCDateTime):
        return sqlite_instant
    return type_.dialect_impl(dialect).bind_processor(dialect)


def sqlite_instant(value: datetime | None) -> int | None:
    """How an instant is stored on SQLite: microseconds since 1970 (`UTCDateTime`'s bind,
    in one step)."""
    return None if value is None else t.instant_micros(value)


def close_many(connection: Connection, table: Table, closes: list[dict[str, Any]]) -> None:
    """Close rows of a version table: each of `closes` names a row (`b_opened_by`, `b_seq`)
    and its `known_to` and `closed_by`. On PostgreSQL one UPDATE joined to the arrays of
    those values (`unnest`), a single statement whatever their number; elsewhere one
    `executemany`."""
    if not closes:
        return
    if connection.dialect.name != "postgresql":
        statement = (
            update(table)
            .where(
                and_(
                    table.c.opened_by == bindparam("b_opened_by"),
                    table.c.seq == bindparam("b_seq"),
                )
            )
            .values(known_to=bindparam("known_to"), closed_by=bindparam("closed_by"))
        )
        write_many(connection, statement, closes)
        return
    name = connection.dialect.identifier_preparer.format_table(table)
    connection.exec_driver_sql(
        f"UPDATE {name} AS t SET known_to = v.known_to, closed_by = v.closed_by "
        "FROM unnest(%(o)s::bigint[], %(s)s::integer[], %(k)s::timestamptz[], %(c)s::bigint[]) "
        "AS v(opened_by, seq, known_to, closed_by) "
        "WHERE t.opened_by = v.opened_by AND t.seq = v.seq",
        {
            "o": [c["b_opened_by"] for c in closes],
            "s": [c["b_seq"] for c in closes],
            "k": [c["known_to"].astimezone(UTC) for c in closes],
            "c": [c["closed_by"] for c in closes],
        },
    )
