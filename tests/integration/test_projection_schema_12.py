"""Schema 12 of the read models: on SQLite an instant is an integer of microseconds since 1970,
not ISO text. A database projected with schema 11 (text instants) has its instants rewritten
in place when the new code starts, so its rows answer the same until the rebuild that the
restart starts, and after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from bench.deep import SLUG
from projections import queries as q
from projections import tables as t
from projections.runner import ProjectionRunner
from tests.factories import deep_history_projected
from timeline.application import Timeline


@pytest.fixture
def projected(sqlite_url: str) -> Iterator[Timeline]:
    """A policy with 30 revisions (retroactive ones and corrections among them), projected."""
    with deep_history_projected(sqlite_url, 30, 5) as app:
        yield app


def instant_columns() -> list[tuple[str, str]]:
    return [
        (table.name, column.name)
        for table in t.READ_MODEL_TABLES
        for column in table.columns
        if isinstance(column.type, t.UTCDateTime)
    ]


def answers(engine: Engine) -> list[Any]:
    versions = q.policy_history(engine, SLUG)
    last = max(v.known_from for v in versions)
    points = [v.valid_from for v in versions]
    return [
        versions,
        [q.policy_at(engine, SLUG, at, 10) for at in points],
        [q.policy_at(engine, SLUG, at, None) for at in points],
        q.policy_history(engine, SLUG, known_at=last),
    ]


def kinds(engine: Engine) -> set[str]:
    """The storage classes of every stored instant (NULLs aside)."""
    found: set[str] = set()
    with engine.connect() as connection:
        for table, column in instant_columns():
            found |= set(
                connection.execute(
                    text(
                        f"SELECT DISTINCT typeof({column}) FROM {table} WHERE {column} IS NOT NULL"
                    )
                ).scalars()
            )
    return found


def to_schema_11(engine: Engine) -> None:
    """Store every instant as schema 11 did: `YYYY-MM-DD HH:MM:SS.ffffff`, naive UTC."""
    with engine.begin() as connection:
        for table, column in instant_columns():
            iso = (
                f"strftime('%Y-%m-%d %H:%M:%S', {column} / 1000000, 'unixepoch')"
                f" || '.' || printf('%06d', {column} % 1000000)"
            )
            connection.execute(text(f"UPDATE {table} SET {column} = {iso}"))
        connection.execute(update(t.tracking).values(schema_version=11))


def test_instants_are_stored_as_microseconds(projected: Timeline) -> None:
    assert kinds(projected.engine) == {"integer"}
    first = datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=UTC)
    assert t.micros_instant(t.instant_micros(first)) == first
    assert t.stored_instant("2001-02-03 04:05:06.000789") == first


def test_fact_payloads_are_stored_deflated(projected: Timeline) -> None:
    with projected.engine.connect() as connection:
        stored = connection.execute(
            text(f"SELECT DISTINCT typeof(data) FROM {t.facts.name}")
        ).scalars()
        assert set(stored) == {"null"}  # schema 14: only a redaction's note is kept (none here)
    payload = json.dumps({"summary": "é" * 300, "sources": []}, sort_keys=True)
    assert t.unpack_json(t.pack_json(payload)) == payload
    assert len(t.pack_json(payload)) < len(payload) / 4
    assert t.unpack_json(payload) == payload  # a text column of an older schema


def test_a_schema_11_database_answers_until_and_after_its_rebuild(projected: Timeline) -> None:
    engine = projected.engine
    expected = answers(engine)
    to_schema_11(engine)
    assert kinds(engine) == {"text"}
    t.create_tables(engine)  # what the new code does first when it starts
    assert kinds(engine) == {"integer"}
    assert answers(engine) == expected
    with engine.connect() as connection:
        assert connection.execute(select(t.tracking.c.schema_version)).scalar() == 11
    ProjectionRunner(engine, projected).catch_up()  # the restart's rebuild
    with engine.connect() as connection:
        assert connection.execute(select(t.tracking.c.schema_version)).scalar() == (
            t.SCHEMA_VERSION
        )
    assert kinds(engine) == {"integer"}
    assert answers(engine) == expected


def test_a_schema_11_instant_keeps_its_second_and_microseconds(projected: Timeline) -> None:
    """SQLite's date functions round a fraction to milliseconds: `06.9996` read through them
    is second 7, an instant that answered a second late until the rebuild (a CI flake of the
    test above, whose record instants are the clock's)."""
    engine = projected.engine
    table, column = t.policy_versions.name, "known_from"
    assert (table, column) in instant_columns()
    to_schema_11(engine)
    late = datetime(2001, 2, 3, 4, 5, 6, 999_600, tzinfo=UTC)
    with engine.begin() as connection:
        row = connection.execute(text(f"SELECT min(rowid) FROM {table}")).scalar()
        connection.execute(
            text(f"UPDATE {table} SET {column} = :at WHERE rowid = :row"),
            {"at": "2001-02-03 04:05:06.999600", "row": row},
        )
    t.create_tables(engine)
    with engine.connect() as connection:
        stored = connection.execute(
            text(f"SELECT {column} FROM {table} WHERE rowid = :row"), {"row": row}
        ).scalar()
    assert stored == t.instant_micros(late)
