"""Schema 3 of the read models (a policy version is a frame row plus part rows, each part
over the valid time where it is unchanged): a database projected with schema 2 (one whole
state per version row) is migrated by a rebuild from the log, whether asked for
(`timeline project --rebuild`) or found at a plain restart; until then its old rows are read
as they are. A clause text shared by many versions is stored once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
    update,
)

from bench.deep import SLUG
from domain.values import aggregate_uuid
from projections import queries as q
from projections import tables as t
from projections.models import PolicyVersion
from projections.rows import value_ref
from tests.factories import deep_history_projected
from timeline.application import Timeline
from timeline.bootstrap import bootstrap
from timeline.settings import Settings

TIMELINE = str(Path(sys.executable).parent / "timeline")


@pytest.fixture
def projected(database_url: str) -> Iterator[Timeline]:
    """A policy with 40 revisions (retroactive ones and corrections among them), projected."""
    with deep_history_projected(database_url, 40, 11) as app:
        yield app


def history(engine: Engine) -> list[PolicyVersion]:
    return q.policy_history(engine, SLUG)


def to_schema_2(engine: Engine) -> None:
    """Rewrite the tables as schema 2 stored them: one row per version holding its whole
    state (clause and source refs into the texts table), no part table, schema version 2."""
    versions = history(engine)
    old = MetaData()
    pv = Table(
        t.policy_versions.name,
        old,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in t.policy_versions.columns
            if c.name not in ("status", "state")
        ),
        Column("owner", String(200), nullable=False),
        Column("status", String(16), nullable=False),
        Column("title", Text, nullable=False),
        Column("jurisdictions", Text, nullable=False),
        Column("state", Text, nullable=False),
    )
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {t.policy_parts.name}"))
        connection.execute(text(f"DROP TABLE {t.policy_versions.name}"))
        old.create_all(connection)
        aggregate = aggregate_uuid("policy", SLUG)
        for seq, v in enumerate(versions):
            state = {
                "slug": v.slug,
                "title": v.title,
                "owner": v.owner,
                "summary": v.summary,
                "status": v.status,
                "clauses": [{"id": c.id, "ref": value_ref(c)} for c in v.clauses],
                "sources": [value_ref(x) for x in v.sources],
                "revision": v.revision,
                "changed_by": v.changed_by,
                "change_type": v.change_type,
            }
            scopes = sorted({code for c in v.clauses for code in c.scope})
            connection.execute(
                pv.insert().values(
                    opened_by=1,
                    seq=seq,
                    aggregate_id=aggregate,
                    slug=v.slug,
                    valid_from=v.valid_from,
                    valid_to=v.valid_to,
                    known_from=v.known_from,
                    known_to=None,
                    closed_by=None,
                    owner=v.owner,
                    status=v.status,
                    title=v.title,
                    jurisdictions="," + ",".join(scopes) + ",",
                    state=json.dumps(state, sort_keys=True, separators=(",", ":")),
                )
            )
        connection.execute(update(t.tracking).values(schema_version=2))


def assert_schema_3(engine: Engine) -> None:
    pv, pp = t.policy_versions, t.policy_parts
    with engine.connect() as connection:
        assert connection.execute(select(t.tracking.c.schema_version)).scalar() == t.SCHEMA_VERSION
        states = [json.loads(s) for s in connection.execute(select(pv.c.state)).scalars()]
        assert states and all("clauses" not in s for s in states)
        assert connection.execute(select(func.count()).select_from(pp)).scalar()
        assert connection.execute(select(func.count()).select_from(t.texts)).scalar()


@pytest.mark.parametrize(
    "args", [("project", "--rebuild", "--once"), ("project", "--once")], ids=["rebuild", "restart"]
)
def test_a_schema_2_database_is_migrated_by_the_worker(
    projected: Timeline, database_url: str, args: tuple[str, ...]
) -> None:
    engine = projected.engine
    expected = history(engine)
    to_schema_2(engine)
    t.create_tables(engine)  # what the new code does first when it starts: the part table
    # the old rows still answer until the swap (without the corrections schema 4 added)
    assert history(engine) == [replace(v, corrected_by=()) for v in expected]
    worker = subprocess.run(
        [TIMELINE, *args],
        env={**os.environ, "TIMELINE_DATABASE_URL": database_url},
        timeout=300,
        capture_output=True,
        text=True,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    assert_schema_3(engine)
    assert history(engine) == expected


def test_a_schema_2_database_is_migrated_when_the_service_starts(
    projected: Timeline, database_url: str
) -> None:
    engine = projected.engine
    expected = history(engine)
    to_schema_2(engine)
    services = bootstrap(Settings(database_url=database_url))
    try:
        services.projections.catch_up()
        assert_schema_3(services.timeline.engine)
        assert history(services.timeline.engine) == expected
    finally:
        services.close()


def test_a_clause_text_shared_by_many_versions_is_stored_once(projected: Timeline) -> None:
    engine = projected.engine
    pv = t.policy_versions
    with engine.connect() as connection:
        bodies = connection.execute(select(t.texts.c.body)).scalars().all()
        versions = connection.execute(select(func.count()).select_from(pv)).scalar()
    clauses = [json.loads(b) for b in bodies if not b.startswith('"')]  # (14: summaries)
    assert len(bodies) == len(set(bodies))
    # 20 announced clauses and at most one new text per revision, however many versions
    # (with their retroactive copies) share them.
    assert len(clauses) <= 20 + 40 < (versions or 0) * 20


def test_a_schema_9_database_answers_by_position_until_its_rebuild(projected: Timeline) -> None:
    """Frames without the stored counter (schema 9, the columns added NULL at the start) are
    counted from the feed, so a lookup by position answers as before the rebuild."""
    engine = projected.engine
    with engine.connect() as connection:
        last = connection.execute(select(func.max(t.facts.c.position))).scalar() or 0
    points = [(v.valid_from, k) for v in history(engine) for k in (last // 2, last)]
    expected = [q.policy_at(engine, SLUG, v, k) for v, k in points]
    assert any(e is not None and e.revision > 1 for e in expected)
    with engine.begin() as connection:
        for name in ("counter_day", "counter_base", "counter_at"):
            connection.execute(text(f"ALTER TABLE {t.policy_versions.name} DROP COLUMN {name}"))
        for table in (t.counter_nodes, t.counter_changes):
            connection.execute(text(f"DROP TABLE {table.name}"))
    t.create_tables(engine)  # what the new code does first when it starts
    assert [q.policy_at(engine, SLUG, v, k) for v, k in points] == expected
