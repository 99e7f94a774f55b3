"""Schema 14 of the read models: `projection_facts` no longer copies the facts' payloads (the
event log holds them); only a redaction's note is kept, for the redactions' list. The
projector reads an aggregate's payloads back from the log, so a reload after an eviction reads
a payload that a later redaction tombstoned, and still writes the rows a rebuild writes. A
schema 13 database (every payload copied) answers until its rebuild, and after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from test_projector_incremental import dump
from test_redaction import QUOTE, SECRET, SLUG, T0, every_stored_text, quoting_policy

from projections import queries
from projections import tables as t
from projections.runner import ProjectionRunner
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings


@pytest.fixture(name="services")
def services_fixture(database_url: str) -> Iterator[Services]:
    """A statement and a policy quoting a private person, each corrected once, then both
    redacted: the log only, nothing projected yet."""
    built = bootstrap(Settings(database_url=database_url))
    timeline = built.timeline
    for slug, kind in (("meta", "organisation"), ("jane-roe", "person")):
        timeline.register_actor({"id": slug, "name": slug, "kind": kind, "effectiveAt": T0})
    timeline.record_statement(
        {"id": SLUG, "actor": "jane-roe", "summary": SECRET, "text": SECRET, "effectiveAt": T0}
    )
    timeline.announce_policy(quoting_policy(QUOTE))
    timeline.correct_event(
        {"event": f"statement:{SLUG}@1", "changes": {"actor": "meta"}, "reason": "who"}
    )
    timeline.correct_event({"event": "policy:meta/p@1", "changes": {"title": "Q"}, "reason": "t"})
    timeline.redact_event({"event": f"statement:{SLUG}@1", "reason": "court order"})
    timeline.redact_event({"event": "policy:meta/p@1", "reason": "court order"})
    try:
        yield built
    finally:
        built.close()


def stored_facts(engine: Engine) -> list[tuple[str, Any]]:
    """Every stored fact's type and its kept payload (None when none), in key order."""
    facts = t.facts
    with engine.connect() as connection:
        rows = connection.execute(
            select(facts.c.type, facts.c.data).order_by(facts.c.aggregate_id, facts.c.version)
        ).all()
    return [(r.type, None if r.data is None else json.loads(r.data)) for r in rows]


def test_the_facts_keep_no_payload_but_the_redactions_notes(services: Services) -> None:
    services.projections.catch_up()
    engine = services.timeline.engine
    for _ in range(2):  # as projected, and as rebuilt from the log
        stored = stored_facts(engine)
        assert len(stored) == services.timeline.head_position()
        notes = [data for kind, data in stored if kind == "EventRedacted"]
        assert sorted((n["target"], n["fields"]) for n in notes) == [
            (1, ["sources[0].quote"]),
            (1, ["summary", "text"]),
        ]
        assert all(data is None for kind, data in stored if kind != "EventRedacted")
        (note,) = queries.redactions_of(engine, "statement", SLUG)
        assert (note.target, note.reason) == (f"statement:{SLUG}@1", "court order")
        services.projections.rebuild()


def test_a_reload_of_a_payload_a_later_redaction_tombstoned_ends_as_a_rebuild(
    services: Services,
) -> None:
    """One event a batch and a memo of one aggregate: each correction reloads its aggregate
    from the log, whose first payload is already the tombstone of the redaction two
    positions on; once the redactions are applied, the tables are a rebuild's."""
    timeline = services.timeline
    forgetful = ProjectionRunner(timeline.engine, timeline, batch_size=1, memo_size=1, memo_facts=1)
    assert forgetful.catch_up(stop_at=6) == 6  # the corrections, reloaded, not the redactions
    statement = queries.statement_at(timeline.engine, SLUG)
    assert statement is not None and statement.actor == "meta"
    assert statement.text == f"[redacted by statement:{SLUG}@3]"  # the log's tombstone
    assert forgetful.catch_up() == timeline.head_position()
    reloaded = dump(timeline.engine)
    stored = every_stored_text(services)
    assert SECRET not in stored and QUOTE not in stored
    roomy = ProjectionRunner(timeline.engine, timeline, batch_size=50)
    assert roomy.rebuild() == timeline.head_position()
    assert dump(timeline.engine) == reloaded


def test_a_schema_13_database_answers_until_and_after_its_rebuild(services: Services) -> None:
    engine = services.timeline.engine
    services.projections.catch_up()
    answers = (
        queries.statement_at(engine, SLUG),
        queries.policy_at(engine, "meta/p"),
        queries.redactions_of(engine, "statement", SLUG),
    )
    with engine.begin() as connection:  # as schema 13 stored them: every payload copied
        for logged in services.timeline.iter_log():
            fact = logged.fact
            connection.execute(
                update(t.facts)
                .where(t.facts.c.aggregate_id == fact.aggregate_id)
                .where(t.facts.c.version == fact.version)
                .values(data=json.dumps(fact.data, sort_keys=True, default=str))
            )
        connection.execute(update(t.tracking).values(schema_version=13))
    t.create_tables(engine)  # what the new code does first when it starts
    assert all(data is not None for _, data in stored_facts(engine))
    assert (
        queries.statement_at(engine, SLUG),
        queries.policy_at(engine, "meta/p"),
        queries.redactions_of(engine, "statement", SLUG),
    ) == answers
    ProjectionRunner(engine, services.timeline).catch_up()  # the restart's rebuild
    with engine.connect() as connection:
        assert connection.execute(select(t.tracking.c.schema_version)).scalar() == t.SCHEMA_VERSION
    assert all(data is None for kind, data in stored_facts(engine) if kind != "EventRedacted")
    assert (
        queries.statement_at(engine, SLUG),
        queries.policy_at(engine, "meta/p"),
        queries.redactions_of(engine, "statement", SLUG),
    ) == answers
