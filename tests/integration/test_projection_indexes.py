"""Every index the read-model tables declare is in the database: after the tables are created,
after a rebuild (which fills its shadow tables without the indexes only reads use and builds
them at the end), and on PostgreSQL the full-text search's GIN index is the one a search's
condition is answered from (until 2026-12-03 it was declared but never created)."""

from __future__ import annotations

from sqlalchemy import Engine, select, text

from projections import search as fulltext
from projections import tables as t
from projections.runner import ProjectionRunner
from tests.factories import policy, world
from timeline.application import Timeline
from timeline.settings import Settings


def declared(engine: Engine) -> set[str]:
    """The live tables' index names this dialect gets (GiST and GIN only on PostgreSQL)."""
    names = {str(i.name) for table in t.READ_MODEL_TABLES for i in table.indexes}
    return names if engine.dialect.name == "postgresql" else names - t.POSTGRES_ONLY


def in_database(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            found = connection.execute(
                text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
            )
        else:
            found = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            )
        return {str(name) for (name,) in found if str(name).startswith("ix_projection_")}


def test_every_declared_index_exists_after_create_and_after_a_rebuild(timeline: Timeline) -> None:
    app = timeline
    world(app)
    app.announce_policy(policy())
    runner = ProjectionRunner(app.engine, app)
    runner.catch_up()
    assert in_database(app.engine) == declared(app.engine)
    runner.rebuild()
    assert in_database(app.engine) == declared(app.engine)
    # the documents are there: on SQLite the search table names them; on PostgreSQL (schema
    # 13) they are the rows', found through the rows' GIN indexes
    if app.engine.dialect.name == "sqlite":
        with app.engine.connect() as connection:
            assert connection.execute(select(t.search.c.id).limit(1)).first() is not None
    assert fulltext.search(app.engine, "conduct").items


def test_postgresql_answers_a_search_condition_from_the_gin_index(postgres_url: str) -> None:
    """SQLite searches through its FTS5 table; PostgreSQL through this index."""
    app = Timeline(Settings(database_url=postgres_url))
    world(app)
    app.announce_policy(policy())
    ProjectionRunner(app.engine, app).catch_up()
    condition = t.search_vector(t.search).op("@@")(
        text("phraseto_tsquery('simple'::regconfig, 'conduct')")
    )
    query = select(t.search.c.id).where(condition)
    with app.engine.connect() as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        sql = str(query.compile(app.engine, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(r[0] for r in connection.execute(text(f"EXPLAIN {sql}")))
    app.close()
    assert "ix_projection_search_fts" in plan, plan


def test_the_gin_index_keeps_a_short_pending_list_after_a_rebuild_too(postgres_url: str) -> None:
    """Its pending list is bounded at 64 kB (the default 4 MB left a projector's index at 12x
    its built size), as created and as a rebuild builds it."""
    app = Timeline(Settings(database_url=postgres_url))
    world(app)
    app.announce_policy(policy())
    runner = ProjectionRunner(app.engine, app)
    runner.catch_up()
    options = text(
        "SELECT reloptions FROM pg_class WHERE relname = 'ix_projection_search_fts'"
        " AND relnamespace = current_schema()::regnamespace"
    )
    with app.engine.connect() as connection:
        created = connection.execute(options).scalar_one()
    runner.rebuild()
    with app.engine.connect() as connection:
        rebuilt = connection.execute(options).scalar_one()
    app.close()
    assert created == rebuilt == ["gin_pending_list_limit=64"]
