"""Schema 2 of the read models (policy clauses and sources stored once, by content address):
a database projected with schema 1 is migrated by a rebuild from the log, whether asked for
(`timeline project --rebuild`) or found at a plain restart; until then its old rows are read
as they are. A clause text shared by many versions is stored once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update

from bench.deep import SLUG, DeepHistory
from projections import queries as q
from projections import tables as t
from projections.models import PolicyVersion
from projections.runner import ProjectionRunner
from timeline.application import Timeline
from timeline.bootstrap import bootstrap
from timeline.settings import Settings

TIMELINE = str(Path(sys.executable).parent / "timeline")


@pytest.fixture
def projected(database_url: str) -> Iterator[Timeline]:
    """A policy with 40 revisions (retroactive ones and corrections among them), projected."""
    app = Timeline(Settings(database_url=database_url))
    try:
        for name, data in DeepHistory(40, seed=11).commands():
            app.execute(name, data)
        ProjectionRunner(app.engine, app).catch_up()
        yield app
    finally:
        app.close()


def history(engine: Engine) -> list[PolicyVersion]:
    return q.policy_history(engine, SLUG)


def to_schema_1(engine: Engine) -> None:
    """Rewrite the tables as schema 1 stored them: whole clause and source texts in every
    version row, no texts table, schema version 1 in the tracking row."""
    pv = t.policy_versions
    with engine.begin() as connection:
        bodies = dict(connection.execute(select(t.texts.c.ref, t.texts.c.body)).tuples().all())
        for row in connection.execute(select(pv.c.opened_by, pv.c.seq, pv.c.state)).all():
            state = json.loads(row.state)
            state["clauses"] = [json.loads(bodies[c["ref"]]) for c in state["clauses"]]
            state["sources"] = [json.loads(bodies[ref]) for ref in state["sources"]]
            connection.execute(
                update(pv)
                .where(pv.c.opened_by == row.opened_by, pv.c.seq == row.seq)
                .values(state=json.dumps(state, sort_keys=True, separators=(",", ":")))
            )
        connection.execute(text(f"DROP TABLE {t.texts.name}"))
        connection.execute(update(t.tracking).values(schema_version=1))


def assert_schema_2(engine: Engine) -> None:
    pv = t.policy_versions
    with engine.connect() as connection:
        assert connection.execute(select(t.tracking.c.schema_version)).scalar() == 2
        states = [json.loads(s) for s in connection.execute(select(pv.c.state)).scalars()]
        assert states and all("ref" in c for s in states for c in s["clauses"])
        assert connection.execute(select(func.count()).select_from(t.texts)).scalar()


@pytest.mark.parametrize(
    "args", [("project", "--rebuild", "--once"), ("project", "--once")], ids=["rebuild", "restart"]
)
def test_a_schema_1_database_is_migrated_by_the_worker(
    projected: Timeline, database_url: str, args: tuple[str, ...]
) -> None:
    engine = projected.engine
    expected = history(engine)
    to_schema_1(engine)
    assert history(engine) == expected  # the old rows still answer until the swap
    worker = subprocess.run(
        [TIMELINE, *args],
        env={**os.environ, "TIMELINE_DATABASE_URL": database_url},
        timeout=300,
        capture_output=True,
        text=True,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    assert_schema_2(engine)
    assert history(engine) == expected


def test_a_schema_1_database_is_migrated_when_the_service_starts(
    projected: Timeline, database_url: str
) -> None:
    engine = projected.engine
    expected = history(engine)
    to_schema_1(engine)
    services = bootstrap(Settings(database_url=database_url))
    try:
        services.projections.catch_up()
        assert_schema_2(services.timeline.engine)
        assert history(services.timeline.engine) == expected
    finally:
        services.close()


def test_a_clause_text_shared_by_many_versions_is_stored_once(projected: Timeline) -> None:
    engine = projected.engine
    pv = t.policy_versions
    with engine.connect() as connection:
        bodies = connection.execute(select(t.texts.c.body)).scalars().all()
        versions = connection.execute(select(func.count()).select_from(pv)).scalar()
    clauses = [json.loads(b) for b in bodies]
    assert len(bodies) == len(set(bodies))
    # 20 announced clauses and at most one new text per revision, however many versions
    # (with their retroactive copies) share them.
    assert len(clauses) <= 20 + 40 < (versions or 0) * 20
