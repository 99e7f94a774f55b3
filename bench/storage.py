"""Bytes on disk of the read models and of the event log, tables and their indexes, measured
the same way on both databases (SQLite's `dbstat`, PostgreSQL's `pg_total_relation_size`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table
from sqlalchemy import Engine, text

from bench.measure import console
from projections import tables as t
from timeline import eventstore
from timeline.application import Timeline


def table_bytes(engine: Engine, names: Iterable[str]) -> int:
    """Bytes of these tables with their indexes (and, on PostgreSQL, their TOAST)."""
    names = sorted(set(names))
    if not names:
        return 0
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            total = 0
            for name in names:
                found = connection.execute(
                    text("SELECT pg_total_relation_size(to_regclass(:name))"), {"name": name}
                ).scalar()
                total += int(found or 0)
            return total
        objects = connection.execute(
            text(
                "SELECT name FROM sqlite_master WHERE tbl_name IN ("
                + ",".join(f":n{i}" for i in range(len(names)))
                + ")"
            ),
            {f"n{i}": name for i, name in enumerate(names)},
        ).scalars()
        wanted = set(objects)
        # A virtual table keeps its pages in shadow tables named after it: an R*Tree its
        # nodes, an FTS5 table its index (the text is the search table's, counted with it).
        shadow = connection.execute(text("SELECT name FROM sqlite_master")).scalars()
        virtual = {f"{n}_{part}" for n in names for part in _SHADOW_PARTS}
        wanted |= {s for s in shadow if s in virtual}
        total = 0
        for name, size in connection.execute(
            text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
        ):
            if name in wanted:
                total += int(size)
        return total


def breakdown(engine: Engine) -> list[tuple[str, str, int]]:
    """Every object of the database with its bytes, (table, object, bytes), largest first:
    on SQLite each b-tree (`dbstat`: tables, indexes, virtual tables' shadow tables), on
    PostgreSQL each table's heap with its TOAST and each index."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.execute(
                text(
                    "SELECT t.relname, t.relname, pg_table_size(t.oid) FROM pg_class t"
                    " WHERE t.relkind = 'r' AND t.relnamespace = current_schema()::regnamespace"
                    " UNION ALL SELECT t.relname, i.relname, pg_relation_size(i.oid)"
                    " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                    " JOIN pg_class t ON t.oid = x.indrelid"
                    " WHERE t.relnamespace = current_schema()::regnamespace"
                )
            )
        else:
            rows = connection.execute(
                text(
                    "SELECT coalesce(m.tbl_name, d.name), d.name, sum(d.pgsize) FROM dbstat d"
                    " LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY d.name"
                )
            )
        found = [(str(a), str(b), int(c or 0)) for a, b, c in rows]
    return sorted(found, key=lambda r: -r[2])


#: The suffixes of a SQLite virtual table's shadow tables (R*Tree, FTS5).
_SHADOW_PARTS = ("node", "rowid", "parent", "data", "idx", "docsize", "config", "content")


def owner(name: str, tables: Iterable[str]) -> str:
    """The read-model (or log) table an object of `breakdown` belongs to: a virtual table's
    shadow tables (`x_rtree_node`, `x_fts_data`) belong to `x`."""
    known = set(tables)
    for part in _SHADOW_PARTS:
        if name.endswith(f"_{part}"):
            name = name[: -len(part) - 1]
            break
    for suffix in ("_rtree", "_fts"):
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def read_model_breakdown(timeline: Timeline) -> list[dict[str, Any]]:
    """The read models' and the log's objects with their bytes, largest first: each table's
    heap (PostgreSQL: with its TOAST), each index, each virtual table's shadow tables, by the
    table they serve (what figure 8 and 7 add up, so that cuts are chosen by measurement)."""
    log = set(event_log_names(timeline))
    tables = {table.name for table in t.READ_MODEL_TABLES} | log
    found = []
    for table, name, size in breakdown(timeline.engine):
        home = owner(table, tables)
        if home in tables:
            part = "log" if home in log else "read model"
            found.append({"table": home, "object": name, "bytes": size, "part": part})
    return found


def print_breakdown(label: str, rows: list[dict[str, Any]]) -> None:
    """The breakdown as a table on the console, each object's share of the read models."""
    total = sum(r["bytes"] for r in rows if r["part"] == "read model") or 1
    shown = Table(title=f"storage breakdown: {label}")
    for column in ("table", "object", "kB", "share of read models"):
        shown.add_column(column)
    page = min((r["bytes"] for r in rows), default=0)
    small = [r for r in rows if r["bytes"] <= page and r["part"] == "read model"]
    for r in rows:
        if r in small:
            continue
        share = f"{r['bytes'] / total:.1%}" if r["part"] == "read model" else "(log)"
        shown.add_row(r["table"], r["object"], f"{r['bytes'] / 1e3:,.1f}", share)
    if small:  # each empty or tiny object still takes a page
        size = sum(r["bytes"] for r in small)
        label = f"{len(small)} objects of one page"
        shown.add_row("(others)", label, f"{size / 1e3:,.1f}", f"{size / total:.1%}")
    console.print(shown)


def read_model_names() -> list[str]:
    """The live read-model tables (the facts' table included) with their
    indexes, and on SQLite the virtual tables beside them: the R*Trees (`tables.STABBED`) and
    the search's FTS5 index (PostgreSQL has neither: its GiST and GIN indexes are the tables'
    own, counted with them)."""
    tables = t.READ_MODEL_TABLES
    return (
        [table.name for table in tables]
        + [t.rtree_name(table) for table in tables if table.name in t.STABBED]
        + [t.fts_name(t.search)]
    )


def event_log_names(timeline: Timeline) -> list[str]:
    """The event log: the recorder's stored events with their indexes (what a rebuild
    reads). The log's Merkle tree (`tree_names`) is not counted as log: nothing is rebuilt
    from it, and the target compares the read models with what they are derived from."""
    return [eventstore.events_table_name(timeline.recorder)]


#: The log's Merkle tree (docs/evidence.md): its leaves and nodes, measured apart.
TREE_NAMES = ("timeline_log_leaves", "timeline_log_nodes")


def storage(timeline: Timeline) -> dict[str, int]:
    """Bytes of the read models, of the event log and of the log's Merkle tree, with their
    indexes."""
    return {
        "read_models": table_bytes(timeline.engine, read_model_names()),
        "event_log": table_bytes(timeline.engine, event_log_names(timeline)),
        "log_tree": table_bytes(timeline.engine, TREE_NAMES),
    }
