"""Schema 9 of the read models (an action version is a frame plus parts; an actor row holds
neither its former names nor its corrections): a database projected with schema 8 (one whole
state per action or actor row) still answers from its old rows until the rebuild that a
restart starts, and answers the same after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, Text, select, text, update

from domain.values import aggregate_uuid, to_json
from projections import queries as q
from projections import tables as t
from projections.runner import ProjectionRunner
from tests import factories as f
from timeline.application import Timeline
from timeline.bootstrap import bootstrap
from timeline.settings import Settings

START = datetime(2022, 1, 1, tzinfo=UTC)
ACTION = "rkn/restriction"


@pytest.fixture
def projected(database_url: str) -> Iterator[Timeline]:
    """An action amended and corrected, an actor renamed, projected with this schema."""
    app = Timeline(Settings(database_url=database_url))
    try:
        for slug, kind in (("rkn", "authority"), ("instagram", "platform")):
            app.execute("registerActor", f.actor(slug, slug, kind, START.isoformat()))
        announced = f.action(ACTION, "rkn", effective_at=(START + timedelta(days=2)).isoformat())
        app.execute(
            "announceRegulatoryAction",
            {**announced, "targets": ["instagram"], "text": "t", "announcedAt": START.isoformat()},
        )
        for n in range(3):
            at = (START + timedelta(days=3 + n)).isoformat()
            app.execute("amendRegulatoryAction", {"id": ACTION, "text": f"v{n}", "effectiveAt": at})
            app.execute("renameActor", {"id": "rkn", "name": f"RKN {n}", "effectiveAt": at})
        app.execute(
            "correctEvent",
            {
                "event": f"regulatory-action:{ACTION}@2",
                "changes": {"text": "v0!"},
                "reason": "typo",
            },
        )
        ProjectionRunner(app.engine, app).catch_up()
        yield app
    finally:
        app.close()


def answers(engine: Engine) -> list[Any]:
    found: list[Any] = [q.regulatory_action_history(engine, ACTION)]
    for days in (0, 2.5, 4, 9):
        at = START + timedelta(days=days)
        found.append(q.regulatory_action_at(engine, ACTION, at))
        found.append(q.actors_at(engine, ["rkn"], at))
    return found


def whole(version: Any, *dropped: str) -> str:
    """A version as a schema 8 row stored it: its whole state as canonical JSON."""
    state = {
        name: getattr(version, name)
        for name in version.__dataclass_fields__
        if name not in ("valid_from", "valid_to", "known_from", "known_to", *dropped)
    }
    return json.dumps(to_json(state), sort_keys=True, separators=(",", ":"))


def to_schema_8(engine: Engine) -> None:
    """Rewrite the action and actor tables as schema 8 stored them, schema version 8."""
    actions = q.regulatory_action_history(engine, ACTION)
    now = datetime.now(UTC)
    actors = [q.actors_at(engine, ["rkn"], START + timedelta(days=d))["rkn"] for d in (0, 3, 4, 5)]
    old = MetaData()
    frame = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in t.action_versions.columns
        if c.name not in ("status", "state")
    ]
    av = Table(
        t.action_versions.name,
        old,
        *frame,
        Column("authority", String(200), nullable=False),
        Column("jurisdiction", String(8), nullable=False),
        Column("targets", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("state", Text, nullable=False),
    )
    with engine.begin() as connection:
        for table in (t.action_parts, t.action_versions):
            connection.execute(text(f"DROP TABLE {table.name}"))
            if connection.dialect.name == "sqlite":
                connection.execute(text(f"DROP TABLE {t.rtree_name(table)}"))
        old.create_all(connection)
        common = {"known_from": now, "known_to": None, "closed_by": None}
        for seq, v in enumerate(actions):
            connection.execute(
                av.insert().values(
                    opened_by=1,
                    seq=seq,
                    aggregate_id=aggregate_uuid("regulatory-action", ACTION),
                    slug=ACTION,
                    valid_from=v.valid_from,
                    valid_to=v.valid_to,
                    authority=v.authority,
                    jurisdiction=v.jurisdiction,
                    targets=",instagram,",
                    status=v.status,
                    state=whole(v),
                    **common,
                )
            )
        ac = t.actor_versions
        rkn = aggregate_uuid("actor", "rkn")
        connection.execute(ac.delete().where(ac.c.aggregate_id == rkn))
        for seq, v in enumerate(actors):
            connection.execute(
                ac.insert().values(
                    opened_by=0,  # (no event has position 0)
                    seq=seq,
                    aggregate_id=rkn,
                    slug="rkn",
                    valid_from=v.valid_from,
                    valid_to=v.valid_to,
                    name=v.name,
                    state=whole(v),
                    **common,
                )
            )
        connection.execute(update(t.tracking).values(schema_version=8))


def test_a_schema_8_database_answers_from_its_old_rows_then_is_rebuilt(
    projected: Timeline, database_url: str
) -> None:
    expected = answers(projected.engine)
    to_schema_8(projected.engine)
    # what the new code does first when it starts (the parts table); the old rows answer
    t.create_tables(projected.engine)
    assert _strip_known_from(answers(projected.engine)) == _strip_known_from(expected)
    services = bootstrap(Settings(database_url=database_url))
    try:
        services.projections.catch_up()  # the restart's rebuild, then the swap
        engine = services.timeline.engine
        with engine.connect() as connection:
            version = connection.execute(select(t.tracking.c.schema_version)).scalar()
            states = connection.execute(select(t.action_versions.c.state)).scalars().all()
        assert version == t.SCHEMA_VERSION
        assert states and all('"authority"' not in s for s in states)
        assert answers(engine) == expected
    finally:
        services.close()


def _strip_known_from(found: Any) -> Any:
    """`found` with every version's knownFrom dropped (the rewritten rows' differ)."""
    if isinstance(found, list):
        return [_strip_known_from(x) for x in found]
    if isinstance(found, dict):
        return {k: _strip_known_from(v) for k, v in found.items()}
    if hasattr(found, "__dataclass_fields__"):
        return {k: getattr(found, k) for k in found.__dataclass_fields__ if k != "known_from"}
    return found
