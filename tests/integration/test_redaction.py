"""Redaction (issue 16 item 5) on SQLite and PostgreSQL: a statement by a private person is
erased from the store and every read model, the redaction is recorded, every head and
inclusion proof made before still verifies, `verify` reports the redaction and still detects
an altered or deleted row, and hostile commands are refused with nothing stored."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, inspect, select, update

from domain.errors import InvalidInput
from domain.redaction import redactable_fields
from projections import queries, search
from projections import tables as t
from projections.rows import feed_tags
from timeline import eventstore, integrity, merkle, proofs
from timeline.bootstrap import Services, bootstrap
from timeline.demo import load_demo
from timeline.settings import Settings

TIMELINE = shutil.which("timeline", path=str(Path(sys.executable).parent)) or "timeline"
SECRET = "Jane Roe lives at 12 Elm Street"
QUOTE = "quoted: Jane Roe, 12 Elm Street"
SLUG = "jane-roe/2022-03-11-post"
EVENT = f"statement:{SLUG}@1"
REDACTION = f"statement:{SLUG}@2"
T0 = "2022-03-01T00:00:00+00:00"


@pytest.fixture(name="services")
def services_fixture(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    timeline = built.timeline
    timeline.register_actor(
        {"id": "meta", "name": "Meta", "kind": "organisation", "effectiveAt": T0}
    )
    timeline.register_actor(
        {"id": "jane-roe", "name": "J. R.", "kind": "person", "effectiveAt": T0}
    )
    timeline.record_statement(
        {
            "id": SLUG,
            "actor": "jane-roe",
            "summary": f"A post by a private person: {SECRET}",
            "text": SECRET,
            "effectiveAt": "2022-03-11T10:00:00+00:00",
            "sources": [{"url": "https://example.org/post", "title": "Post", "quote": QUOTE}],
        }
    )
    timeline.register_actor(
        {"id": "ofcom", "name": "Ofcom", "kind": "authority", "effectiveAt": T0}
    )
    built.projections.catch_up()
    try:
        yield built
    finally:
        built.close()


def events_table(services: Services) -> Any:
    return eventstore.events_table(services.timeline.recorder)


def redact(services: Services, event: str = EVENT, reason: str = "court order 2026/123") -> Any:
    result = services.timeline.redact_event({"event": event, "reason": reason})
    services.projections.catch_up()
    return result


def every_stored_text(services: Services) -> str:
    """Every row of every table of the database, as text: where a secret could hide."""
    engine = services.timeline.engine
    found = []
    with engine.connect() as connection:
        for name in sorted(inspect(engine).get_table_names()):
            for row in connection.exec_driver_sql(f'SELECT * FROM "{name}"'):
                found.append(repr(tuple(readable(v) for v in row)))
    return "\n".join(found)


def readable(value: Any) -> Any:
    """A stored value as text would show it: the facts' deflated payloads unpacked."""
    if isinstance(value, memoryview | bytes):
        try:
            return t.unpack_json(bytes(value))
        except (ValueError, zlib.error, UnicodeDecodeError):
            return bytes(value)
    return value


def test_a_redaction_leaves_the_feed_tags_of_its_entries_and_no_others(
    services: Services,
) -> None:
    redact(services)
    engine = services.timeline.engine
    feed, tags = t.timeline_entries, t.timeline_tags
    with engine.connect() as connection:
        entries = connection.execute(select(feed.c.opened_by, feed.c.seq, feed.c.state)).all()
        stored = set(connection.execute(select(tags.c.tag, tags.c.opened_by, tags.c.seq)).all())
    derived = {(tag, e.opened_by, e.seq) for e in entries for tag in feed_tags(json.loads(e.state))}
    assert stored == (derived if t.tag_rows_stored(engine.dialect.name) else set())
    assert any(tag == "actor:jane-roe" for tag, _, _ in derived)


def run_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url}
    return subprocess.run(
        [TIMELINE, "verify", "--json"], env=env, text=True, capture_output=True, timeout=120
    )


def test_a_redacted_statement_is_erased_from_the_store_and_every_read_model(
    services: Services,
) -> None:
    engine = services.timeline.engine
    before = queries.statement_at(engine, SLUG)
    assert before is not None and before.text == SECRET
    assert SECRET in every_stored_text(services)
    result = redact(services)
    assert (result.event_type, result.version) == ("EventRedacted", 2)
    stored = every_stored_text(services)
    assert SECRET not in stored and QUOTE not in stored
    mark = f"[redacted by {REDACTION}]"
    now = queries.statement_at(engine, SLUG)
    assert now is not None
    assert (now.text, now.summary, now.sources[0].quote) == (mark, mark, mark)
    assert (now.actor, now.sources[0].url) == ("jane-roe", "https://example.org/post")
    past = queries.statement_at(engine, SLUG, known_at=before.known_from)
    assert past is not None and past.text == mark  # erased from earlier answers too
    (note,) = queries.redactions_of(engine, "statement", SLUG)
    assert (note.event, note.target, note.reason) == (REDACTION, EVENT, "court order 2026/123")
    assert note.fields == ("summary", "text", "sources[0].quote")


def test_verify_passes_and_reports_the_redaction(services: Services, database_url: str) -> None:
    redact(services)
    verdict = integrity.verify(services.timeline.engine, events_table(services))
    assert verdict.ok, verdict.reason
    assert verdict.redacted == ((3, REDACTION),)
    done = run_verify(database_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["redactions"] == [{"position": 3, "redaction": REDACTION}]


def test_heads_and_inclusion_proofs_made_before_still_verify(services: Services) -> None:
    engine, events = services.timeline.engine, events_table(services)
    old_head = proofs.head_for(engine)
    old = {p: proofs.prove_inclusion(engine, events, p) for p in range(1, old_head.position + 1)}
    redact(services)
    for position, proof in old.items():
        again = proofs.prove_inclusion(engine, events, position, old_head.tree_size)
        assert again.stored.leaf == proof.stored.leaf  # the leaf is unchanged
        assert again.path == proof.path
        assert merkle.verify_inclusion(
            proof.stored.leaf_index,
            old_head.tree_size,
            again.stored.leaf.hash(),
            again.path,
            old_head.root,
        )
    assert proofs.head_at_position(engine, old_head.position) == old_head
    new = proofs.head_for(engine)
    consistency = proofs.prove_consistency(engine, old_head.tree_size, new.tree_size)
    assert merkle.verify_consistency(
        old_head.tree_size, new.tree_size, old_head.root, new.root, consistency.path
    )
    redacted = proofs.prove_inclusion(engine, events, 3)
    assert redacted.stored.salt == b""  # wiped: the digest confirms no guess
    assert redacted.stored.redacted_by == REDACTION


def test_a_rebuild_from_the_log_answers_the_same_redacted_statement(services: Services) -> None:
    redact(services)
    answer = queries.statement_at(services.timeline.engine, SLUG)
    services.projections.rebuild()
    assert queries.statement_at(services.timeline.engine, SLUG) == answer
    assert SECRET not in every_stored_text(services)


def test_a_process_that_cached_the_statement_reads_it_redacted(database_url: str) -> None:
    with_cache = bootstrap(Settings(database_url=database_url))
    other = bootstrap(Settings(database_url=database_url))
    try:
        timeline = with_cache.timeline
        timeline.register_actor(
            {"id": "jane-roe", "name": "J", "kind": "person", "effectiveAt": T0}
        )
        timeline.record_statement(
            {"id": SLUG, "actor": "jane-roe", "text": SECRET, "effectiveAt": T0}
        )
        assert timeline.facts_of("statement", SLUG)[0].data["text"] == SECRET  # now cached
        other.timeline.redact_event({"event": EVENT, "reason": "data protection"})
        assert timeline.facts_of("statement", SLUG)[0].data["text"] == f"[redacted by {REDACTION}]"
    finally:
        with_cache.close()
        other.close()


def test_an_altered_tombstone_or_a_deleted_redacted_row_is_still_detected(
    services: Services,
) -> None:
    redact(services)
    engine, events = services.timeline.engine, events_table(services)
    with engine.connect() as connection:
        state = connection.execute(select(events.c.state).where(events.c.id == 3)).scalar_one()
    forged = bytes(state).replace(b'"jane-roe"', b'"john-doe"')
    with engine.begin() as connection:
        connection.execute(update(events).where(events.c.id == 3).values(state=forged))
    verdict = integrity.verify(engine, events)
    assert (verdict.bad_position, verdict.reason) == (3, integrity.TOMBSTONE_ALTERED)
    with engine.begin() as connection:
        connection.execute(delete(events).where(events.c.id == 3))
    verdict = integrity.verify(engine, events)
    assert (verdict.bad_position, verdict.reason) == (3, integrity.REMOVED)


def test_a_wiped_salt_without_a_redaction_is_tampering(services: Services) -> None:
    engine, events = services.timeline.engine, events_table(services)
    with engine.begin() as connection:
        connection.execute(
            update(integrity.log_leaves)
            .where(integrity.log_leaves.c.position == 3)
            .values(salt=b"")
        )
    verdict = integrity.verify(engine, events)
    assert (verdict.bad_position, verdict.reason) == (3, integrity.ALTERED)


@pytest.mark.parametrize(
    ("command", "field", "reason"),
    [
        ({"event": f"statement:{SLUG}@9", "reason": "x"}, "event", "has no event 9"),
        ({"event": "statement:nobody/x@1", "reason": "x"}, "event", "no statement"),
        ({"event": f"statement:{SLUG}", "reason": "x"}, "event", "must name an event version"),
        ({"event": EVENT, "reason": ""}, "reason", ""),
        ({"event": EVENT}, "reason", ""),
        ({"event": EVENT, "reason": "x" * 1001}, "reason", ""),
        ({"event": EVENT, "reason": "x", "fields": ["text"]}, "fields", ""),
        ({"event": "actor:ofcom@1", "reason": "x"}, "event", "holds no text to redact"),
    ],
)
def test_hostile_redactions_are_refused_naming_the_field_and_store_nothing(
    services: Services, command: dict[str, Any], field: str, reason: str
) -> None:
    before = every_stored_text(services)
    with pytest.raises(InvalidInput) as refused:
        services.timeline.redact_event(command)
    assert refused.value.field == field and reason in refused.value.reason
    assert every_stored_text(services) == before


def test_a_second_redaction_and_a_redaction_of_a_redaction_are_refused(
    services: Services,
) -> None:
    redact(services)
    before = services.timeline.head_position()
    with pytest.raises(InvalidInput, match="already redacted"):
        services.timeline.redact_event({"event": EVENT, "reason": "again"})
    with pytest.raises(InvalidInput, match="is a redaction"):
        services.timeline.redact_event({"event": REDACTION, "reason": "again"})
    assert services.timeline.head_position() == before


def test_a_redacted_correction_and_source_quotes_of_a_policy(services: Services) -> None:
    timeline = services.timeline
    timeline.correct_event(
        {"event": EVENT, "changes": {"text": SECRET + " (corrected)"}, "reason": "typo"}
    )
    timeline.announce_policy(quoting_policy(QUOTE + " (policy)"))
    services.projections.catch_up()
    redact(services, f"statement:{SLUG}@2")  # the correction holds the text too
    redact(services, "policy:meta/p@1")
    redact(services)
    stored = every_stored_text(services)
    assert SECRET not in stored and QUOTE not in stored
    policy = queries.policy_at(timeline.engine, "meta/p")
    assert policy is not None
    assert policy.sources[0].quote == "[redacted by policy:meta/p@2]"
    assert policy.clauses[0].text == "Clause text"  # clause texts are not erased
    (note,) = queries.redactions_of(timeline.engine, "policy", "meta/p")
    assert (note.target, note.fields) == ("policy:meta/p@1", ("sources[0].quote",))
    assert integrity.verify(timeline.engine, events_table(services)).ok


def quoting_policy(quote: str) -> dict[str, Any]:
    """The announcement of policy `meta/p`, one clause, whose one source quotes `quote`."""
    return {
        "id": "meta/p",
        "title": "P",
        "owner": "meta",
        "clauses": [{"id": "c1", "heading": "H", "text": "Clause text"}],
        "effectiveAt": T0,
        "sources": [{"url": "https://example.org/p", "quote": quote}],
    }


def test_every_text_of_the_demo_redacted_keeps_every_proof_and_rebuilds_alike(
    database_url: str,
) -> None:
    built = bootstrap(Settings(database_url=database_url))
    try:
        timeline, engine = built.timeline, built.timeline.engine
        load_demo(timeline)
        built.projections.catch_up()
        events = events_table(built)
        old_head = proofs.head_for(engine)
        old = {
            p: proofs.prove_inclusion(engine, events, p) for p in range(1, old_head.position + 1)
        }
        redacted = 0
        for logged in list(timeline.iter_log()):
            fact = logged.fact
            if fact.type == "EventRedacted" or not redactable_fields(fact.data):
                continue
            slug = fact.data.get("slug") or timeline_slug(built, logged.fact.aggregate_id)
            timeline.redact_event(
                {"event": f"{logged.kind}:{slug}@{fact.version}", "reason": "test"}
            )
            redacted += 1
        built.projections.catch_up()
        verdict = integrity.verify(engine, events)
        assert verdict.ok, verdict.reason
        assert len(verdict.redacted) == redacted > 5
        for position, proof in old.items():
            again = proofs.prove_inclusion(engine, events, position, old_head.tree_size)
            assert again.stored.leaf.hash() == proof.stored.leaf.hash()
            assert merkle.verify_inclusion(
                proof.stored.leaf_index,
                old_head.tree_size,
                again.stored.leaf.hash(),
                again.path,
                old_head.root,
            )
        live = queries.timeline_page(engine)
        answers = [queries.policy_at(engine, "meta/hate-speech"), live]
        built.projections.rebuild()
        assert [queries.policy_at(engine, "meta/hate-speech"), queries.timeline_page(engine)] == (
            answers
        )
    finally:
        built.close()


def timeline_slug(built: Services, aggregate_id: Any) -> str:
    """The slug of a stream whose event does not carry it (a later event)."""
    from timeline.store import stream_names

    return stream_names(built.timeline.engine, {aggregate_id})[aggregate_id][1]


def test_a_statement_announced_anew_is_redacted_inside_its_announcement(
    services: Services,
) -> None:
    timeline = services.timeline
    timeline.retract_event({"event": EVENT, "reason": "wrong person"})
    timeline.record_statement(
        {"id": SLUG, "actor": "jane-roe", "text": SECRET + " again", "effectiveAt": T0}
    )
    again = timeline.facts_of("statement", SLUG)[-1]
    assert (again.version, again.type) == (3, "StatementRecorded")  # stored as AnnouncedAnew
    redact(services, f"statement:{SLUG}@3")
    redact(services)
    assert SECRET not in every_stored_text(services)
    answer = queries.statement_at(timeline.engine, SLUG)
    assert answer is not None and answer.text == f"[redacted by statement:{SLUG}@4]"
    assert integrity.verify(timeline.engine, events_table(services)).ok


def test_an_old_bundle_still_verifies_after_the_redaction(services: Services) -> None:
    from timeline import evidence, evidence_check

    valid_at = datetime(2022, 3, 12, tzinfo=UTC)
    old = json.loads(evidence.dumps(evidence.build(services.timeline, "statement", SLUG, valid_at)))
    assert old["answer"]["text"] == SECRET
    redact(services)
    assert evidence_check.verify_bundle(old).ok  # its head and proofs are unchanged
    head = proofs.head_at_position(services.timeline.engine, old["head"]["position"])
    assert head.root.hex() == old["head"]["rootHash"]


def test_a_bundle_made_after_the_redaction_verifies_and_answers_redacted(
    services: Services,
) -> None:
    from timeline import evidence, evidence_check

    redact(services)
    valid_at = datetime(2022, 3, 12, tzinfo=UTC)
    bundle = json.loads(
        evidence.dumps(evidence.build(services.timeline, "statement", SLUG, valid_at))
    )
    assert bundle["answer"]["text"] == f"[redacted by {REDACTION}]"
    assert evidence_check.verify_bundle(bundle).ok
    forged = json.loads(json.dumps(bundle))
    forged["events"][0]["payload"] = forged["events"][0]["payload"].replace("jane-roe", "john")
    assert not evidence_check.verify_bundle(forged).ok


def test_redacted_words_are_no_longer_found_by_the_full_text_search(services: Services) -> None:
    """The search documents (and SQLite's FTS5 index) of the rebuilt aggregate go with its
    rows: an erased text is not findable, now or as known before the redaction."""
    engine = services.timeline.engine
    before = queries.statement_at(engine, SLUG)
    assert before is not None
    found = search.search(engine, '"Elm Street"', kinds=["statement"])
    assert [hit.slug for hit in found.items] == [SLUG]
    redact(services)
    assert search.search(engine, '"Elm Street"', kinds=["statement"]).items == ()
    past = search.search(engine, '"Elm Street"', known_at=before.known_from, kinds=["statement"])
    assert past.items == ()
    assert [h.slug for h in search.search(engine, "redacted", kinds=["statement"]).items] == [SLUG]
