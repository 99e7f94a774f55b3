"""Full-text search in time (projections/search.py), on SQLite (FTS5) and PostgreSQL (GIN):
the hits at (validAt, knownAt) are exactly those of a brute-force search over the oracle's
answers (domain/fold.py) for random histories; the demo story; hostile query text; and a
schema 3 database is migrated by a rebuild from the log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from domain import RULES
from domain.errors import InvalidInput, TimelineError
from domain.fold import state_at
from projections import queries as q
from projections import search as fulltext
from projections import tables as t
from projections.runner import ProjectionRunner
from timeline.bootstrap import Services, bootstrap
from timeline.demo import load_demo
from timeline.settings import Settings

BASE = datetime(2022, 3, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
VOCABULARY = ["russian", "soldiers", "ukraine", "allowed", "violence", "speech"]

instants = st.integers(0, 40).map(lambda n: BASE + timedelta(hours=6 * n))
word = st.sampled_from(VOCABULARY).flatmap(
    lambda w: st.sampled_from([w, w.upper(), w.capitalize()])
)
prose = st.lists(word, min_size=1, max_size=6).map(" ".join)
phrase = st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=2).map(" ".join)


def iso(value: datetime) -> str:
    return value.isoformat()


def search_reference(fields: list[str], phrases: fulltext.Phrases) -> bool:
    """Brute force: one field holds every phrase as consecutive words."""
    for body in fields:
        found = fulltext.words(body)
        if all(
            any(tuple(found[i : i + len(p)]) == p for i in range(len(found) - len(p) + 1))
            for p in phrases
        ):
            return True
    return False


def fields_of(kind: str, state: Any) -> list[str]:
    """What the oracle's state says, field by field, as the search indexes it."""
    if kind == "policy":
        return [state.title, state.summary, *(f"{c.heading}\n{c.text}" for c in state.clauses)]
    if kind == "regulatory-action":  # each its own part since schema 9, as a policy's
        return [state.summary, state.text]
    return ["\n".join(x for x in (state.summary, state.text) if x)]


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


@st.composite
def commands(draw: st.DrawFn, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """Policies, an action and a statement with texts of a few words, then revisions,
    corrections and retractions, some recorded retroactively."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name in ("p0", "p1"):
        clauses = [{"id": c, "heading": draw(prose), "text": draw(prose)} for c in "ab"]
        found.append(
            (
                "announce_policy",
                {
                    "id": f"{prefix}/{name}",
                    "title": draw(prose),
                    "summary": draw(prose),
                    "owner": "meta",
                    "clauses": clauses,
                    "effectiveAt": iso(draw(instants)),
                },
            )
        )
    found.append(
        (
            "announce_regulatory_action",
            {
                "id": f"{prefix}/a0",
                "authority": "rkn",
                "jurisdiction": "RU",
                "targets": ["meta"],
                "kind": "restriction",
                "summary": draw(prose),
                "text": draw(prose),
                "effectiveAt": iso(draw(instants)),
            },
        )
    )
    for _ in range(draw(st.integers(2, 8))):
        policy = f"{prefix}/{draw(st.sampled_from(['p0', 'p1']))}"
        op = draw(st.sampled_from(["amend", "title", "withdraw", "correct", "retract", "say"]))
        when = iso(draw(instants))
        if op == "amend":
            body = {"id": draw(st.sampled_from("ab")), "text": draw(prose)}
            found.append(
                ("revise_policy", {"id": policy, "effectiveAt": when, "amendClauses": [body]})
            )
        elif op == "title":
            found.append(
                ("revise_policy", {"id": policy, "effectiveAt": when, "title": draw(prose)})
            )
        elif op == "withdraw":
            found.append(("withdraw_policy", {"id": policy, "effectiveAt": when}))
        elif op == "say":
            found.append(
                (
                    "record_statement",
                    {
                        "id": f"{prefix}/s0",
                        "actor": "meta",
                        "text": draw(prose),
                        "effectiveAt": when,
                    },
                )
            )
        else:
            event = f"policy:{policy}@{draw(st.integers(1, 3))}"
            if op == "retract":
                found.append(("retract_event", {"event": event, "reason": "wrong"}))
            else:
                changes = draw(st.sampled_from([{"effectiveAt": when}, {"summary": draw(prose)}]))
                found.append(
                    ("correct_event", {"event": event, "changes": changes, "reason": "typo"})
                )
    return found


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_search_hits_equal_a_brute_force_search_of_the_oracle(
    services: Services, data: st.DataObject
) -> None:
    prefix = f"h{uuid.uuid4().hex[:10]}"
    recorded: list[datetime] = []
    for name, body in data.draw(commands(prefix), label="commands"):
        try:
            recorded.append(getattr(services.timeline, name)(body).recorded_at)
        except TimelineError:
            continue  # refused by the domain: nothing stored
        if data.draw(st.booleans(), label="catch up now"):
            services.projections.catch_up()
    services.projections.catch_up()
    engine = services.timeline.engine
    streams = [
        ("policy", f"{prefix}/p0"),
        ("policy", f"{prefix}/p1"),
        ("regulatory-action", f"{prefix}/a0"),
        ("statement", f"{prefix}/s0"),
    ]
    facts = {}
    for kind, slug in streams:
        try:
            facts[(kind, slug)] = services.timeline.facts_of(kind, slug)
        except TimelineError:
            facts[(kind, slug)] = []
    known_ats = sorted({*recorded, *(r - TICK for r in recorded)})
    for _ in range(4):
        query_phrases = data.draw(st.lists(phrase, min_size=1, max_size=2), label="phrases")
        query = " ".join(f'"{p}"' for p in query_phrases)
        phrases = fulltext.parse_query("query", query)
        valid_at = data.draw(instants, label="validAt") + timedelta(hours=3)
        known_at = data.draw(st.sampled_from(known_ats), label="knownAt")
        expected = set()
        for (kind, slug), stream in facts.items():
            state = state_at(RULES[kind], stream, valid_at, known_at) if stream else None
            if state is not None and search_reference(fields_of(kind, state), phrases):
                expected.add((kind, slug))
        page = fulltext.search(engine, query, valid_at, known_at, first=1000)
        found = {(h.kind, h.slug) for h in page.items if h.slug.startswith(prefix + "/")}
        assert found == expected, (query, valid_at, known_at)
        ranks = [h.rank for h in page.items]
        assert ranks == sorted(ranks, reverse=True)
        listed = q.list_policies(engine, valid_at, known_at, search=query, first=1000)
        mine = {p.slug for p in listed.items if p.slug.startswith(prefix + "/")}
        assert mine == {slug for kind, slug in expected if kind == "policy"}


@pytest.fixture
def demo(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    load_demo(built.timeline)
    built.projections.catch_up()
    try:
        yield built
    finally:
        built.close()


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text + "+03:00")


def test_the_hate_speech_policy_said_russian_soldiers_on_12_march(demo: Services) -> None:
    page = fulltext.search(demo.timeline.engine, '"Russian soldiers"', msk("2022-03-12T12:00:00"))
    assert [(h.kind, h.slug, h.title) for h in page.items] == [
        ("policy", "meta/hate-speech", "Hate Speech")
    ]
    snippet = page.items[0].snippets[0]
    assert snippet.field.startswith("clause:")
    assert "russian soldiers" in " ".join(p for p, on in snippet.fragments if on).lower()
    assert page.total_count == 1


def test_before_the_allowance_nothing_said_russian_soldiers(demo: Services) -> None:
    page = fulltext.search(demo.timeline.engine, "Russian soldiers", msk("2022-03-01T00:00:00"))
    assert page.items == ()


def test_search_pages_by_cursor_best_rank_first(demo: Services) -> None:
    engine, at = demo.timeline.engine, msk("2022-03-20T00:00:00")
    every = fulltext.search(engine, "Facebook", at, first=100)
    assert every.total_count is not None and every.total_count >= 2
    first = fulltext.search(engine, "Facebook", at, first=1)
    second = fulltext.search(engine, "Facebook", at, first=100, after=first.end_cursor)
    assert [*first.items, *second.items] == list(every.items)
    kinds = fulltext.search(engine, "Facebook", at, kinds=["regulatory-action"], first=100)
    assert kinds.items and {h.kind for h in kinds.items} == {"regulatory-action"}


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        'Russian" OR "x',
        "NEAR(russian soldiers, 2)",
        "russ*",
        "body:russian",
        "title : russian",
        "-russian",
        "^russian",
        "russian AND NOT soldiers",
        "'; DROP TABLE projection_search; --",
        "a:b:c (((",
        "\x00russian\x02\x03",
    ],
)
def test_query_syntax_is_never_interpreted(demo: Services, query: str) -> None:
    """Operators, column filters, prefixes and quotes are words or separators, never syntax:
    the search answers (or finds nothing), never an internal error."""
    page = fulltext.search(demo.timeline.engine, query, msk("2022-03-12T12:00:00"))
    assert page.total_count is not None


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("x" * 10_000, "at most"),
        ("", "at least one word"),
        ('"" *** ::', "at least one word"),
        (" ".join(["w"] * 40), "at most"),
    ],
)
def test_hostile_queries_are_refused_naming_the_field(
    demo: Services, query: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fulltext.search(demo.timeline.engine, query)
    assert refused.value.field == "query" and reason in refused.value.reason
    with pytest.raises(InvalidInput) as listed:
        q.list_policies(demo.timeline.engine, search=query or "***")
    assert listed.value.field == "filter.search"


def test_unknown_kinds_and_cursors_are_refused(demo: Services) -> None:
    with pytest.raises(InvalidInput) as kind:
        fulltext.search(demo.timeline.engine, "x", kinds=["actor"])
    assert kind.value.field == "kinds[0]"
    with pytest.raises(InvalidInput) as cursor:
        fulltext.search(demo.timeline.engine, "x", after="bm90IGEgY3Vyc29y")
    assert cursor.value.field == "after"


def test_a_schema_5_database_is_migrated_by_a_rebuild(demo: Services) -> None:
    """A database of schema 5 has no search documents: the runner finds the old version and
    rebuilds from the log, after which the search answers."""
    engine = demo.timeline.engine
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text(f"DROP TABLE {t.fts_name(t.search)}"))
        connection.execute(text(f"DROP TABLE {t.search.name}"))
        connection.execute(update(t.tracking).values(schema_version=5))
    t.create_tables(engine)  # what the new code does first: an empty search table
    at = msk("2022-03-12T12:00:00")
    assert fulltext.search(engine, "Russian soldiers", at).items == ()
    ProjectionRunner(engine, demo.timeline).catch_up()
    assert [h.slug for h in fulltext.search(engine, "Russian soldiers", at).items] == [
        "meta/hate-speech"
    ]


def test_a_clause_text_has_one_search_document_however_many_rows_name_it(
    services: Services,
) -> None:
    """A clause text reopened by retroactive revisions (and shared by two policies) is one
    search document, joined to the part rows naming it: found where they answer and nowhere
    else, now and as known before the revisions."""
    timeline, engine = services.timeline, services.timeline.engine
    for slug in ("meta/one", "meta/two"):
        timeline.announce_policy(
            {
                "id": slug,
                "title": "Speech",
                "owner": "meta",
                "clauses": [
                    {"id": "a", "heading": "Allowed", "text": "russian soldiers"},
                    {"id": "b", "heading": "Other", "text": "violence"},
                ],
                "effectiveAt": iso(BASE),
            }
        )
    services.projections.catch_up()
    before = q.policy_at(engine, "meta/two")  # known after both announcements
    assert before is not None
    for day in range(5, 0, -1):  # each retroactive: every later row of clause b is rewritten
        revision = {"id": "b", "text": f"violence speech {day}"}
        when = iso(BASE + timedelta(days=day))
        timeline.revise_policy({"id": "meta/one", "effectiveAt": when, "amendClauses": [revision]})
    timeline.revise_policy(
        {
            "id": "meta/one",
            "effectiveAt": iso(BASE + timedelta(days=3)),
            "amendClauses": [{"id": "a", "text": "ukraine"}],
        }
    )
    services.projections.catch_up()
    pp, s = t.policy_parts, t.search
    with engine.connect() as connection:
        clauses = connection.execute(
            select(t.part_ref(pp), pp.c.opened_by, pp.c.seq).where(pp.c.part.startswith("clause:"))
        ).all()
        documents = connection.execute(select(s.c.id)).scalars().all()  # the rows' documents
        refs = sorted(  # the clause texts' (13; a summary's text is a JSON string, 14)
            connection.execute(select(t.texts.c.ref).where(~t.is_summary(t.texts))).scalars()
        )
    assert len(clauses) > len({ref for ref, _, _ in clauses})  # texts named by several rows
    assert refs == sorted({ref for ref, _, _ in clauses})
    clause_rows = {(opened_by << t.RTREE_SEQ_BITS) + seq for _, opened_by, seq in clauses}
    assert not clause_rows & set(documents)

    def found(query: str, valid_at: datetime, known_at: Any = None) -> list[tuple[str, str]]:
        page = fulltext.search(engine, query, valid_at, known_at, kinds=["policy"])
        return [(h.slug, h.snippets[0].field) for h in page.items]

    soldiers = '"russian soldiers"'
    assert found(soldiers, BASE + timedelta(days=2)) == [
        ("meta/one", "clause:a"),
        ("meta/two", "clause:a"),
    ]
    assert found(soldiers, BASE + timedelta(days=4)) == [("meta/two", "clause:a")]
    assert found(soldiers, BASE + timedelta(days=4), before.known_from) == [
        ("meta/one", "clause:a"),
        ("meta/two", "clause:a"),
    ]
    assert found('"speech 2"', BASE + timedelta(days=2, hours=1)) == [("meta/one", "clause:b")]
    assert found('"speech 2"', BASE + timedelta(days=3, hours=1)) == []


def test_the_documents_find_their_rows_by_index(services: Services) -> None:
    """A row's document finds its row by primary key (its id is the row's), a clause text's
    the part rows naming it by the index on their ref: SQLite's plans, and PostgreSQL's once
    a scan is priced out (its planner prefers one for so few rows)."""
    engine = services.timeline.engine
    dialect = engine.dialect.name
    selects = fulltext._matches(dialect, (("soldiers",),), ["policy"], BASE, 10)
    expected = {
        0: "sqlite_autoindex_projection_policy_versions_1 (opened_by=? AND seq=?)"
        if dialect == "sqlite"
        # (PostgreSQL: a frame's own document is an older database's only, schema 14)
        else "One-Time Filter",
        # a summary text's document finds the frames naming it by their index (schema 14)
        len(selects) - 2: f"ix_{t.policy_versions.name}_summary"
        if dialect == "sqlite"
        else f"ix_{t.texts.name}_fts|ix_{t.policy_versions.name}_summary",
        # (PostgreSQL may start from the few part rows on so small a table, and find their
        # texts by the texts' unique ref instead: either way a probe, no scan; schema 13)
        len(selects) - 1: f"ix_{t.policy_parts.name}_ref"
        if dialect == "sqlite"
        else f"_ref on {t.texts.name}|ix_{t.policy_parts.name}_ref",
    }
    for i, index in expected.items():
        compiled = selects[i].compile(engine, compile_kwargs={"literal_binds": True})
        with engine.begin() as connection:
            if dialect == "sqlite":
                plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            else:
                connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
                connection.exec_driver_sql("SET LOCAL enable_hashjoin = off")
                connection.exec_driver_sql("SET LOCAL enable_mergejoin = off")
                plan = connection.exec_driver_sql(f"EXPLAIN {compiled}").all()
        details = " | ".join(str(row[-1]) for row in plan)
        assert any(one in details for one in index.split("|")), details
