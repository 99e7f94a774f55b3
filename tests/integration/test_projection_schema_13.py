"""Schema 13 of the read models: a clause text is stored once. Its `projection_texts` row is
its search document (SQLite's FTS5 table reads it through the view `projection_search_content`,
PostgreSQL's GIN index is on an expression over the texts); `projection_search` holds the
rows' documents only (titles, summaries, action and statement texts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from projections import search as fulltext
from projections import tables as t
from projections.runner import ProjectionRunner
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings

BASE = datetime(2022, 3, 1, tzinfo=UTC)
CLAUSE = "Calls for violence against Russian soldiers are allowed"
SUMMARY = "what may be said"


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    built.timeline.register_actor(
        {"id": "meta", "name": "Meta", "kind": "organisation", "effectiveAt": BASE.isoformat()}
    )
    for slug in ("meta/one", "meta/two"):  # the same clause text in two policies
        built.timeline.announce_policy(
            {
                "id": slug,
                "title": "Speech",
                "summary": "what may be said",
                "owner": "meta",
                "clauses": [{"id": "a", "heading": "Allowed", "text": CLAUSE}],
                "effectiveAt": BASE.isoformat(),
            }
        )
    built.projections.catch_up()
    try:
        yield built
    finally:
        built.close()


def stored(services: Services) -> tuple[list[str], list[str]]:
    """The texts' bodies and the search table's bodies."""
    with services.timeline.engine.connect() as connection:
        texts = connection.execute(select(t.texts.c.body)).scalars().all()
        documents = connection.execute(select(t.search.c.body)).scalars().all()
    return list(texts), list(documents)


def test_a_clause_text_is_stored_once_and_found(services: Services) -> None:
    engine = services.timeline.engine
    for _ in range(2):  # as projected, and after a rebuild swapped its tables in
        texts, documents = stored(services)
        clauses = [json.loads(body) for body in texts if "heading" in json.loads(body)]
        assert [c["text"] for c in clauses] == [CLAUSE]  # one row for both policies
        assert not [d for d in documents if d and "soldiers" in d]  # and no copy of it
        # the rows' documents are read from the rows: on SQLite the search table names them
        # (the FTS5 table reads their bodies through the view), on PostgreSQL the rows' GIN
        # indexes hold them, the search table is empty
        # (schema 14: the summary is a text too, its document once for both policies)
        if engine.dialect.name == "sqlite":
            assert documents == [None] * 2
            with engine.connect() as connection:
                documents = (
                    connection.execute(text(f"SELECT body FROM {t.FTS_CONTENT} WHERE id >= 0"))
                    .scalars()
                    .all()
                )
            assert sorted(documents) == ["Speech", "Speech"]
        else:
            assert documents == []
        titled = fulltext.search(engine, "what may be said", BASE, kinds=["policy"])
        assert [(h.slug, h.title) for h in titled.items] == [
            ("meta/one", "Speech"),
            ("meta/two", "Speech"),
        ]
        page = fulltext.search(engine, '"russian soldiers"', BASE, kinds=["policy"])
        assert [(h.slug, [s.field for s in h.snippets]) for h in page.items] == [
            ("meta/one", ["clause:a"]),
            ("meta/two", ["clause:a"]),
        ]
        marked = [piece for piece, on in page.items[0].snippets[0].fragments if on]
        assert "Russian" in " ".join(marked)  # the snippet made from the stored text
        if engine.dialect.name == "sqlite":  # the FTS5 table reads the text through the view
            with engine.connect() as connection:
                content = connection.execute(
                    text(f"SELECT body FROM {t.FTS_CONTENT} WHERE id < 0")
                ).scalars()
                # (and the summaries, the feed's actor name among them: schema 14)
                assert sorted(content) == sorted(
                    [t.clause_body("Allowed", CLAUSE), SUMMARY, "Meta"]
                )
        ProjectionRunner(engine, services.timeline).rebuild()
