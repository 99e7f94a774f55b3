"""Schema 15 of the read models, on PostgreSQL: the feed's tags (`actor:meta`,
`jurisdiction:RU`, `policy:meta/hate-speech`) are found in the entries' states by a GIN index,
not stored as rows of `projection_timeline_tags` (which SQLite keeps). A database projected
with schema 14 gets the index when the new code starts, and answers the same until the
rebuild that the restart starts, and after it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update

from projections import queries as q
from projections import tables as t
from projections.models import TimelineEntry
from projections.rows import feed_tags
from projections.runner import ProjectionRunner
from projections.tables import TAG_KEYS
from tests.factories import services_projected
from timeline.bootstrap import Services
from timeline.demo import load_demo

FILTERS = {"actor:": "actor", "jurisdiction:": "jurisdiction", "policy:": "policy"}


@pytest.fixture(name="services")
def demo(database_url: str) -> Iterator[Services]:
    with services_projected(database_url, load_demo) as built:
        yield built


def stored_tags(engine: Engine) -> set[tuple[str, int, int]]:
    """The tags the feed's entries have (`rows.feed_tags` of each state), with the entry."""
    feed = t.timeline_entries
    with engine.connect() as connection:
        entries = connection.execute(select(feed.c.opened_by, feed.c.seq, feed.c.state)).all()
    return {(tag, e.opened_by, e.seq) for e in entries for tag in feed_tags(json.loads(e.state))}


def tag_rows(engine: Engine) -> set[tuple[str, int, int]]:
    tags = t.timeline_tags
    with engine.connect() as connection:
        return set(connection.execute(select(tags.c.tag, tags.c.opened_by, tags.c.seq)).all())


def whole_feed(engine: Engine, **filters: str) -> tuple[list[TimelineEntry], int | None]:
    """Every entry of the feed (paged through) with a filter, and its total count."""
    found: list[TimelineEntry] = []
    after, total = None, None
    while True:
        page = q.timeline_page(engine, first=40, after=after, **filters)  # type: ignore[arg-type]
        found.extend(page.items)
        total = page.total_count
        if not page.has_next_page:
            return found, total
        after = page.end_cursor


def has(entry: TimelineEntry, tag: str) -> bool:
    """Whether a feed entry has `tag`, by the lists the entry reads out of its state."""
    prefix, value = tag.split(":", 1)
    return value in getattr(entry, TAG_KEYS[f"{prefix}:"])


def answers(engine: Engine) -> dict[str, tuple[list[TimelineEntry], int | None]]:
    """The feed filtered by each tag it has (and by one that it has not)."""
    tags = sorted({tag for tag, _, _ in stored_tags(engine)} | {"actor:nobody"})
    return {
        tag: whole_feed(engine, **{FILTERS[tag.split(":")[0] + ":"]: tag.split(":", 1)[1]})
        for tag in tags
    }


def test_each_tag_filters_the_feed_to_the_entries_that_have_it(services: Services) -> None:
    engine = services.timeline.engine
    everything, _ = whole_feed(engine)
    found = answers(engine)
    assert {tag[: tag.index(":") + 1] for tag in found} == set(TAG_KEYS)  # every kind of tag
    for tag, (entries, total) in found.items():
        assert entries == [e for e in everything if has(e, tag)], tag
        assert total == len(entries)
    assert sum(len(entries) for entries, _ in found.values()) > len(everything)
    derived = stored_tags(engine)
    # The tag rows: SQLite's; none on PostgreSQL, whose GIN index finds them in the states.
    assert tag_rows(engine) == (derived if t.tag_rows_stored(engine.dialect.name) else set())


def to_schema_14(engine: Engine) -> None:
    """The feed as schema 14 stored its tags: a row each, on PostgreSQL too, and no GIN
    index of the states."""
    derived = stored_tags(engine)
    with engine.begin() as connection:
        connection.execute(delete(t.timeline_tags))
        connection.execute(
            insert(t.timeline_tags),
            [{"tag": tag, "opened_by": at, "seq": seq} for tag, at, seq in derived],
        )
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"DROP INDEX ix_{t.timeline_entries.name}_tags"))
        connection.execute(update(t.tracking).values(schema_version=14))


def tag_index_exists(engine: Engine) -> bool:
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT count(*) FROM pg_indexes WHERE indexname = :name"),
            {"name": f"ix_{t.timeline_entries.name}_tags"},
        )
        return bool(found.scalar())


def test_an_older_database_answers_until_and_after_its_rebuild(services: Services) -> None:
    engine = services.timeline.engine
    before = answers(engine)
    to_schema_14(engine)
    t.create_tables(engine)  # what the new code does first when it starts
    if engine.dialect.name == "postgresql":
        assert tag_index_exists(engine)
    assert answers(engine) == before
    ProjectionRunner(engine, services.timeline).catch_up()  # the restart's rebuild
    with engine.connect() as connection:
        version = connection.execute(select(func.min(t.tracking.c.schema_version))).scalar()
    assert version == t.SCHEMA_VERSION
    assert answers(engine) == before
    postgres = engine.dialect.name == "postgresql"
    assert tag_rows(engine) == (set() if postgres else stored_tags(engine))
