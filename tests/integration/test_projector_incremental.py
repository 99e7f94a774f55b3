"""The projector's incremental fold against the tables, on SQLite and PostgreSQL: a runner
whose memo holds almost nothing (every batch reloads its aggregates from the tables and
reconciles them) writes exactly the tables a rebuild with a roomy memo writes, and the open
rows are those of the full refold of each aggregate's facts (`projections.rows`)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from test_projection_oracle import BASE, History, clauses, command, iso, write

from projections import tables as t
from projections.rows import believed_rows
from projections.runner import ProjectionRunner
from timeline.application import Timeline
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    for slug, kind in (("meta", "organisation"), ("rkn", "authority")):
        built.timeline.register_actor(
            {"id": slug, "name": slug.upper(), "kind": kind, "effectiveAt": iso(BASE)}
        )
    try:
        yield built
    finally:
        built.close()


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in t.READ_MODEL_TABLES
        }


def open_rows_match_the_full_refold(timeline: Timeline) -> None:
    engine = timeline.engine
    with engine.connect() as connection:
        stored = connection.execute(
            select(t.facts).order_by(t.facts.c.aggregate_id, t.facts.c.version)
        ).all()
        for aggregate_id, group in itertools.groupby(stored, key=lambda r: r.aggregate_id):
            rows = list(group)
            logged = timeline.logged_stream(connection, aggregate_id, rows[-1].version)
            assert [(e.fact.version, e.position) for e in logged] == [
                (r.version, r.position) for r in rows
            ]
            facts = [e.fact for e in logged]
            kind, slug = rows[0].kind, facts[0].data["slug"]
            positions = {r.version: r.position for r in rows}
            versions, entries = believed_rows(kind, slug, facts, positions)
            table = t.LIVE.versions(kind)
            owned = t.LIVE.parts(kind)  # none of a kind without parts: no rows there
            parts = t.LIVE.policy_parts if owned is None else owned
            # (a frame's summary is its text's, schema 14: put back as the reads do)
            state = t.summarised_state(table, t.texts) if kind == "policy" else table.c.state
            open_versions = connection.execute(
                select(table.c.valid_from, table.c.valid_to, state)
                .where(table.c.aggregate_id == aggregate_id, table.c.known_to.is_(None))
                .order_by(table.c.valid_from)
            ).all()
            assert [tuple(r) for r in open_versions] == [
                (v.valid_from, v.valid_to, v.state) for v in versions if not v.part
            ]
            open_parts = connection.execute(
                select(parts.c.part, parts.c.valid_from, parts.c.valid_to, parts.c.state)
                .where(parts.c.aggregate_id == aggregate_id, parts.c.known_to.is_(None))
                .order_by(parts.c.part, parts.c.valid_from)
            ).all()
            assert [tuple(r) for r in open_parts] == [
                (v.part, v.valid_from, v.valid_to, v.state) for v in versions if v.part
            ]
            feed = t.timeline_entries
            open_entries = connection.execute(
                select(feed.c.position, t.summarised_state(feed, t.texts))
                .where(feed.c.aggregate_id == aggregate_id, feed.c.known_to.is_(None))
                .order_by(feed.c.position)
            ).all()
            assert sorted(tuple(r) for r in open_entries) == sorted(
                (e.position, e.state) for e in entries
            )


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_runner_that_reloads_every_aggregate_writes_the_tables_a_rebuild_writes(
    services: Services, data: st.DataObject
) -> None:
    timeline = services.timeline
    history = History(prefix=f"h{uuid.uuid4().hex[:10]}")
    for name in ("p0", "p1", "p2"):
        body = data.draw(st.lists(clauses(), min_size=1, max_size=3, unique_by=lambda c: c["id"]))
        at = iso(BASE + timedelta(hours=6 * data.draw(st.integers(0, 8))))
        announced = {"id": history.slug(name), "title": "p", "owner": "meta", "clauses": body}
        write(services, history, "announce_policy", {**announced, "effectiveAt": at})
    write(
        services,
        history,
        "register_actor",
        {"id": history.slug("actor"), "name": "first", "kind": "person", "effectiveAt": iso(BASE)},
    )
    for _ in range(data.draw(st.integers(10, 40), label="commands")):
        name, body = data.draw(st.composite(lambda draw: command(draw, history))(), label="command")
        write(services, history, name, body)

    forgetful = ProjectionRunner(timeline.engine, timeline, batch_size=3, memo_size=1, memo_facts=1)
    assert forgetful.catch_up() == timeline.head_position()
    reloaded = dump(timeline.engine)
    open_rows_match_the_full_refold(timeline)

    roomy = ProjectionRunner(timeline.engine, timeline, batch_size=50)
    assert roomy.rebuild() == timeline.head_position()
    assert dump(timeline.engine) == reloaded
    assert len(reloaded["projection_facts"]) == timeline.head_position()
