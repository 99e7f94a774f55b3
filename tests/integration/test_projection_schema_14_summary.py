"""Schema 14 of the read models: a policy summary is stored once. Its `projection_texts` row
(its body the summary's JSON string) is named by every frame and feed entry that has it
(`summary`, the text's number) and is the summary's search document; the frames' and the
entries' states hold no copy, and the reads put it back. An older database's rows hold it in
their state until the rebuild."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text, update

from projections import queries as q
from projections import search as fulltext
from projections import tables as t
from projections.runner import ProjectionRunner
from tests.factories import services_projected
from timeline.application import Timeline
from timeline.bootstrap import Services

#: Two policies announced with it, on 1 March 2022.
SUMMARY, SECRET = "What may be said about the invasion", "the informant is Jane Roe"
BASE = datetime(2022, 3, 1, tzinfo=UTC)


def announce_two_policies(timeline: Timeline) -> None:
    """meta/one and meta/two with the same summary, meta/one then revised retroactively three
    times (each revision writes every later frame again, with the same summary)."""
    at = BASE.isoformat()
    timeline.register_actor(
        {"id": "meta", "name": "Meta", "kind": "organisation", "effectiveAt": at}
    )
    clauses = [{"id": "a", "heading": "Allowed", "text": "Calls for peace"}]
    for slug in ("meta/one", "meta/two"):
        policy = {"id": slug, "title": "Speech", "summary": SUMMARY, "owner": "meta"}
        timeline.announce_policy({**policy, "clauses": clauses, "effectiveAt": at})
    for day in (3, 2, 1):
        when = (BASE + timedelta(days=day)).isoformat()
        amended = [{"id": "a", "text": f"Calls for peace, day {day}"}]
        timeline.revise_policy({"id": "meta/one", "amendClauses": amended, "effectiveAt": when})


@pytest.fixture(name="services")
def announced(database_url: str) -> Iterator[Services]:
    with services_projected(database_url, announce_two_policies) as built:
        yield built


def summaries(engine: Engine) -> list[str]:
    """The summaries stored in the texts table."""
    with engine.connect() as connection:
        bodies = connection.execute(select(t.texts.c.body).where(t.is_summary(t.texts)))
        return sorted(json.loads(body) for body in bodies.scalars())


def test_a_summary_is_stored_once_however_many_frames_name_it(services: Services) -> None:
    engine = services.timeline.engine
    pv = t.policy_versions
    for _ in range(2):  # as projected, and after a rebuild swapped its tables in
        # (the feed's too: the actor's entry shows its name, a revision without a summary "")
        assert summaries(engine) == ["", "Meta", SUMMARY]
        with engine.connect() as connection:
            frames = connection.execute(select(pv.c.state, pv.c.summary)).all()
            (number,) = connection.execute(
                select(t.text_number(t.texts)).where(t.texts.c.body == json.dumps(SUMMARY))
            ).one()
        assert len(frames) > 2  # both policies' frames, meta/one's written again
        assert all("summary" not in json.loads(state) for state, _ in frames)
        assert {named for _, named in frames} == {number}
        feed = t.timeline_entries  # the feed's entries name their facts' summaries likewise
        with engine.connect() as connection:
            entries = connection.execute(
                select(feed.c.slug, feed.c.state, feed.c.summary).where(feed.c.kind == "policy")
            ).all()
        assert all("summary" not in json.loads(state) for _, state, _ in entries)
        assert {named for slug, _, named in entries if slug == "meta/two"} == {number}
        assert len({named for _, _, named in entries}) == 2  # and meta/one's revisions' ""
        shown = q.timeline_page(engine, policy="meta/two", announcements=False).items
        assert [e.summary for e in shown] == [SUMMARY]
        for day in (0, 1.5, 4):
            found = q.policy_at(engine, "meta/one", BASE + timedelta(days=day))
            assert found is not None and found.summary == SUMMARY
        page = fulltext.search(engine, "invasion", BASE + timedelta(days=2), kinds=["policy"])
        assert [(h.slug, [s.field for s in h.snippets]) for h in page.items] == [
            ("meta/one", ["summary"]),
            ("meta/two", ["summary"]),
        ]
        marked = [piece for piece, on in page.items[0].snippets[0].fragments if on]
        assert marked == ["invasion"]
        ProjectionRunner(engine, services.timeline).rebuild()


def test_a_redacted_summary_is_gone_from_the_texts_and_the_search(services: Services) -> None:
    timeline, engine = services.timeline, services.timeline.engine
    timeline.revise_policy(
        {
            "id": "meta/two",
            "summary": f"{SUMMARY}: {SECRET}",
            "title": "Speech, revised",
            "effectiveAt": (BASE + timedelta(days=5)).isoformat(),
        }
    )
    services.projections.catch_up()
    assert f"{SUMMARY}: {SECRET}" in summaries(engine)
    assert fulltext.search(engine, '"Jane Roe"', BASE + timedelta(days=6)).total_count == 1
    timeline.redact_event({"event": "policy:meta/two@2", "reason": "court order"})
    services.projections.catch_up()
    assert not [s for s in summaries(engine) if SECRET in s]  # nor named by the feed
    assert not [e for e in q.timeline_page(engine, first=100).items if SECRET in e.summary]
    assert fulltext.search(engine, '"Jane Roe"', BASE + timedelta(days=6)).total_count == 0
    found = q.policy_at(engine, "meta/two", BASE + timedelta(days=6))
    assert found is not None and found.summary == "[redacted by policy:meta/two@3]"
    assert summaries(engine) == sorted(["", "Meta", SUMMARY, found.summary])  # the first named


def to_schema_13(engine: Engine) -> None:
    """Frames as schema 13 stored them: the summary in the state, no text named (the
    summary texts left, unnamed; their documents found no frame)."""
    pv = t.policy_versions
    with engine.begin() as connection:
        for table in (pv, t.timeline_entries):
            connection.execute(update(table).values(state=t.summarised_state(table, t.texts)))
            connection.execute(update(table).values(summary=None))
        connection.execute(update(t.tracking).values(schema_version=13))
        if engine.dialect.name == "sqlite":  # schema 13's documents of the frames' summaries
            rows = connection.execute(select(pv.c.opened_by, pv.c.seq, pv.c.state)).all()
            fts = t.fts_name(t.search)
            for row in rows:
                key = (row.opened_by << t.RTREE_SEQ_BITS) + row.seq
                connection.execute(
                    text("INSERT INTO projection_search (id, kind) VALUES (:id, 'policy')"),
                    {"id": key},
                )
                connection.execute(
                    text(f"INSERT INTO {fts} (rowid, body) VALUES (:id, :body)"),
                    {"id": key, "body": json.loads(row.state)["summary"]},
                )


def test_an_older_database_answers_until_its_rebuild(services: Services) -> None:
    engine = services.timeline.engine
    at = BASE + timedelta(days=2)
    before = [q.policy_at(engine, slug, at) for slug in ("meta/one", "meta/two")]
    to_schema_13(engine)
    t.create_tables(engine)  # what the new code does first when it starts
    assert [q.policy_at(engine, slug, at) for slug in ("meta/one", "meta/two")] == before
    assert q.policy_history(engine, "meta/one")[-1].summary == SUMMARY
    feed = q.timeline_page(engine, kinds=["policy"]).items
    assert sorted(e.summary for e in feed) == ["", "", "", SUMMARY, SUMMARY]
    if engine.dialect.name == "sqlite":  # its frames are the documents (PostgreSQL: the
        # index of schema 13 on the frames' state, gone from a database made at 14)
        page = fulltext.search(engine, "invasion", at, kinds=["policy"])
        assert [h.slug for h in page.items] == ["meta/one", "meta/two"]
    ProjectionRunner(engine, services.timeline).catch_up()  # the rebuild migrates it
    with engine.connect() as connection:
        assert connection.execute(select(t.tracking.c.schema_version)).scalar() == t.SCHEMA_VERSION
        named = select(func.count()).where(t.policy_versions.c.summary.is_(None))
        assert connection.execute(named).scalar() == 0
    assert [q.policy_at(engine, slug, at) for slug in ("meta/one", "meta/two")] == before
    assert q.timeline_page(engine, kinds=["policy"]).items == feed
