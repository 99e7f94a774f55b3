"""Schema 14 of the read models: on SQLite a UUID (every `aggregate_id`) and a text's content
address (`projection_texts.ref`) are stored as their 16 bytes, not as 32 hex characters. A
database projected with schema 13 (hex text) has them rewritten in place when the new code
starts, so its rows answer the same until the rebuild that the restart starts, and after it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, Uuid, select, text, update

from bench.deep import SLUG, DeepHistory
from projections import queries as q
from projections import search as fulltext
from projections import tables as t
from projections.runner import ProjectionRunner
from tests import factories as f
from tests.integration.test_projection_schema_12 import answers as deep_answers
from timeline.application import Timeline
from timeline.settings import Settings

ACTORS = ["acme", "regulator", "spokesperson", "deep-org"]


@pytest.fixture
def projected(sqlite_url: str) -> Iterator[Timeline]:
    """A policy with 30 revisions (retroactive ones and corrections among them), and a cast
    with a policy, an action and a statement of its own, projected."""
    app = Timeline(Settings(database_url=sqlite_url))
    try:
        for name, data in DeepHistory(30, seed=5).commands():
            app.execute(name, data)
        f.world(app)
        app.announce_policy(f.policy())
        app.revise_policy(f.revision())
        app.announce_regulatory_action(f.action())
        app.record_statement(f.statement())
        ProjectionRunner(app.engine, app).catch_up()
        yield app
    finally:
        app.close()


def key_columns() -> list[tuple[str, str]]:
    return [
        (table.name, column.name)
        for table in t.READ_MODEL_TABLES
        for column in table.columns
        if isinstance(column.type, t.CompactUuid | t.CompactDigest)
    ]


def answers(engine: Engine) -> list[Any]:
    """Schema 12's answers of the deep history, plus the cast's and a clause's search."""
    return [
        *deep_answers(engine),
        q.corrections_at(engine, SLUG, q.policy_history(engine, SLUG)[-1].valid_from, 40),
        q.policy_history(engine, "acme/conduct"),
        q.regulatory_action_history(engine, "regulator/fine"),
        q.statement_at(engine, "spokesperson/reply"),
        q.actors_at(engine, ACTORS),
        q.timeline_page(engine, first=200),
        fulltext.search(engine, "kind", f.at("2022-06-01T00:00:00+00:00")),
    ]


def kinds(engine: Engine) -> set[tuple[str, int]]:
    """The storage classes and lengths of every stored UUID and ref."""
    found: set[tuple[str, int]] = set()
    with engine.connect() as connection:
        for table, column in key_columns():
            rows = connection.execute(
                text(f"SELECT DISTINCT typeof({column}), length({column}) FROM {table}")
            )
            found |= {(kind, length) for kind, length in rows}
    return found


def rtrees(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as connection:
        return {
            name: sorted(connection.execute(select(t.rtree_table(table))).all())
            for table in t.READ_MODEL_TABLES
            if (name := t.rtree_name(table)) and table.name in t.STABBED
        }


def to_schema_13(engine: Engine) -> None:
    """Store every UUID and ref as schema 13 did (32 lower-case hex characters), and empty one
    R*Tree (a table of an older schema may have none: the start fills it from the rows)."""
    with engine.begin() as connection:
        for table, column in key_columns():
            connection.execute(text(f"UPDATE {table} SET {column} = lower(hex({column}))"))
        connection.execute(text(f"DELETE FROM {t.rtree_name(t.policy_versions)}"))
        connection.execute(update(t.tracking).values(schema_version=13))


def test_uuids_and_refs_are_stored_as_sixteen_bytes(projected: Timeline) -> None:
    # the six version tables, the feed, the facts and the counter's nodes and changes, and
    # the texts' ref; no other UUID column
    assert len(key_columns()) == 11
    assert not [
        c for table in t.READ_MODEL_TABLES for c in table.columns if isinstance(c.type, Uuid)
    ]
    assert kinds(projected.engine) == {("blob", 16)}
    with projected.engine.connect() as connection:
        ids = connection.execute(select(t.facts.c.aggregate_id)).scalars().all()
        refs = connection.execute(select(t.texts.c.ref)).scalars().all()
    assert ids and all(isinstance(i, UUID) for i in ids)
    assert refs and all(len(r) == 32 and int(r, 16) >= 0 for r in refs)  # read back as hex
    dialect = projected.engine.dialect  # and an older database's text as it is
    assert t.CompactUuid().process_result_value(ids[0].hex, dialect) == ids[0]
    assert t.CompactDigest().process_result_value(refs[0], dialect) == refs[0]


def test_the_rtrees_filled_in_sql_hold_the_boxes_the_projector_wrote(projected: Timeline) -> None:
    engine = projected.engine
    written = rtrees(engine)
    assert all(written.values())
    with engine.begin() as connection:
        for table in t.READ_MODEL_TABLES:
            if table.name in t.STABBED:
                connection.execute(text(f"DELETE FROM {t.rtree_name(table)}"))
                t.fill_rtree(connection, table)
    assert rtrees(engine) == written


def test_a_schema_13_database_answers_until_and_after_its_rebuild(projected: Timeline) -> None:
    engine = projected.engine
    expected, boxes = answers(engine), rtrees(engine)
    to_schema_13(engine)
    assert kinds(engine) == {("text", 32)}
    t.create_tables(engine)  # what the new code does first when it starts
    assert (kinds(engine), schema_version(engine)) == ({("blob", 16)}, 13)
    assert rtrees(engine) == boxes  # the emptied one filled again from the 16 bytes
    assert answers(engine) == expected
    ProjectionRunner(engine, projected).catch_up()  # the restart's rebuild
    assert (kinds(engine), schema_version(engine)) == ({("blob", 16)}, t.SCHEMA_VERSION)
    assert answers(engine) == expected


def schema_version(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(t.tracking.c.schema_version)).scalar_one())
