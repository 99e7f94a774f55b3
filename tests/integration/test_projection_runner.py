"""The runner: past answers are stable, rebuilds are identical, read-your-writes, one active
runner per projection, schema versions, LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text, update

from projections import queries as q
from projections import tables as t
from projections.runner import ProjectionRunner, tracked_position
from timeline.application import Timeline
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings

POLICY = "meta/hate-speech"
ACTION = "rkn/instagram-restriction"
MARCH_11 = datetime(2022, 3, 11, 12, tzinfo=UTC)


def story(timeline: Timeline) -> None:
    """The March 2022 story in miniature: an allowance, its narrowing, a regulator's answer."""
    for slug, kind in (("meta", "organisation"), ("instagram", "platform"), ("rkn", "authority")):
        timeline.register_actor(
            {
                "id": slug,
                "name": slug.upper(),
                "kind": kind,
                "effectiveAt": "2020-01-01T00:00:00+00:00",
            }
        )
    timeline.announce_policy(
        {
            "id": POLICY,
            "title": "Hate Speech",
            "owner": "meta",
            "clauses": [{"id": "tier-1", "text": "No violent speech."}],
            "effectiveAt": "2022-01-01T00:00:00+00:00",
        }
    )
    timeline.revise_policy(
        {
            "id": POLICY,
            "summary": "spirit-of-the-policy allowance",
            "addClauses": [
                {
                    "id": "allowance",
                    "text": "Calls for violence against Russian "
                    "soldiers allowed in the context of the invasion.",
                    "scope": ["UA", "RU", "PL"],
                    "expiresAt": "2022-04-10T00:00:00+00:00",
                }
            ],
            "effectiveAt": "2022-03-10T00:00:00+00:00",
        }
    )
    timeline.announce_regulatory_action(
        {
            "id": ACTION,
            "authority": "rkn",
            "jurisdiction": "RU",
            "targets": ["instagram"],
            "kind": "restriction",
            "inResponseTo": [f"policy:{POLICY}@2"],
            "announcedAt": "2022-03-11T18:00:00+03:00",
            "effectiveAt": "2022-03-14T00:00:00+03:00",
        }
    )


def more_history(timeline: Timeline) -> None:
    """Later writes that change earlier answers: retroactive, corrected, retracted, lifted."""
    timeline.revise_policy(
        {
            "id": POLICY,
            "amendClauses": [
                {
                    "id": "allowance",
                    "text": "Narrowed: never against civilians or Russian soldiers as such.",
                    "scope": ["UA"],
                }
            ],
            "effectiveAt": "2022-03-11T00:00:00+00:00",
        }
    )
    timeline.correct_event(
        {
            "event": f"policy:{POLICY}@1",
            "reason": "real date",
            "changes": {"effectiveAt": "2021-12-01T00:00:00+00:00"},
        }
    )
    timeline.revise_policy(
        {"id": POLICY, "title": "Hate speech (renamed)", "effectiveAt": "2022-02-01T00:00:00+00:00"}
    )
    timeline.retract_event({"event": f"policy:{POLICY}@5", "reason": "never happened"})
    timeline.lift_regulatory_action({"id": ACTION, "effectiveAt": "2023-01-01T00:00:00+00:00"})


def answers(engine: Engine, known_at: datetime) -> dict[str, Any]:
    """Every kind of query, at one knownAt."""
    return {
        "at": [
            q.policy_at(engine, POLICY, v, known_at)
            for v in (datetime(2022, 1, 15, tzinfo=UTC), MARCH_11, datetime(2022, 5, 1, tzinfo=UTC))
        ],
        "on": q.policy_on(engine, POLICY, date(2022, 3, 11), "Europe/Moscow", known_at),
        "history": q.policy_history(engine, POLICY, known_at),
        "diff": q.policy_diff(
            engine, POLICY, datetime(2022, 1, 15, tzinfo=UTC), MARCH_11, known_at
        ),
        "list": q.list_policies(engine, MARCH_11, known_at),
        "action": q.regulatory_action_at(
            engine, ACTION, datetime(2023, 6, 1, tzinfo=UTC), known_at
        ),
        "responses": q.responses_to(engine, [POLICY], MARCH_11, known_at),
        "feed": q.timeline_page(engine, known_at=known_at, first=100),
        "actors": q.actors_at(engine, ["meta", "rkn"], MARCH_11, known_at),
    }


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, in primary-key order."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in t.READ_MODEL_TABLES
        }


def sqlite_side_structures(engine: Engine) -> dict[str, Any]:
    """SQLite's R*Tree entries, and what the FTS5 index finds for every word of the search
    documents (after its integrity check against its content): a rebuild fills both in bulk,
    the incremental run row by row. Empty on PostgreSQL, whose indexes hold no rows of their
    own."""
    if engine.dialect.name != "sqlite":
        return {}
    found: dict[str, Any] = {}
    fts = t.fts_name(t.search)
    with engine.connect() as connection:
        for table in t.READ_MODEL_TABLES:
            if table.name in t.STABBED:
                tree = t.rtree_name(table)
                found[tree] = connection.execute(text(f"SELECT * FROM {tree} ORDER BY id")).all()
        connection.execute(text(f"INSERT INTO {fts} ({fts}, rank) VALUES ('integrity-check', 1)"))
        bodies = connection.execute(text(f"SELECT body FROM {t.FTS_CONTENT}")).scalars()
        words = sorted({w for body in bodies for w in body.lower().split() if w.isalpha()})
        assert words
        for word in words:
            found[f"fts:{word}"] = connection.execute(
                text(f"SELECT rowid FROM {fts} WHERE {fts} MATCH :w ORDER BY rowid"),
                {"w": f'"{word}"'},
            ).all()
    return found


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    try:
        yield built
    finally:
        built.close()


def test_an_answer_for_a_past_known_at_never_changes_when_more_is_recorded(
    services: Services,
) -> None:
    story(services.timeline)
    services.projections.catch_up()
    known_at = datetime.now(UTC)
    before = answers(services.timeline.engine, known_at)
    more_history(services.timeline)
    services.projections.catch_up()
    assert answers(services.timeline.engine, known_at) == before
    assert answers(services.timeline.engine, datetime.now(UTC)) != before


def indexes_of(engine: Engine, table: str) -> set[str]:
    """A table's declared indexes in the database (SQLite's from its catalog: SQLAlchemy's
    reflection leaves out an index on an expression, like the parts' ref)."""
    if engine.dialect.name == "postgresql":
        return {str(i["name"]) for i in inspect(engine).get_indexes(table)}
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
            {"t": table},
        )
        return {str(name) for (name,) in found if not str(name).startswith("sqlite_autoindex")}


def test_rebuild_yields_the_same_tables_as_the_incremental_run(services: Services) -> None:
    runner = services.projections
    runner.batch_size = 1
    story(services.timeline)
    runner.catch_up()
    more_history(services.timeline)
    # A new runner (a restarted process) reloads what it needs from the tables.
    ProjectionRunner(services.timeline.engine, services.timeline, batch_size=2).catch_up()
    incremental = dump(services.timeline.engine)
    side = sqlite_side_structures(services.timeline.engine)
    runner.batch_size = 500
    for _ in range(2):  # the second rebuild finds the swapped-in tables and their indexes
        assert runner.rebuild() == services.timeline.head_position()
        assert dump(services.timeline.engine) == incremental
        assert sqlite_side_structures(services.timeline.engine) == side
    inspector = inspect(services.timeline.engine)
    postgres = services.timeline.engine.dialect.name == "postgresql"
    for table in t.READ_MODEL_TABLES:
        assert indexes_of(services.timeline.engine, table.name) == {
            i.name for i in table.indexes if postgres or i.name not in t.POSTGRES_ONLY
        }
    assert not any(name.endswith("_next") for name in inspector.get_table_names())
    assert len(incremental["projection_facts"]) == services.timeline.head_position()


def test_a_long_catch_up_under_the_lock_rebuilds_in_bulk_and_a_short_one_does_not(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    story(services.timeline)
    more_history(services.timeline)
    engine = services.timeline.engine
    services.projections.catch_up()  # no lock held: incremental, whatever the distance
    incremental = dump(engine)
    side = sqlite_side_structures(engine)
    with engine.begin() as connection:  # as far behind as can be: nothing applied
        connection.execute(update(t.tracking).values(position=0))
    runner = ProjectionRunner(engine, services.timeline, bulk_catch_up=3)
    assert runner.lock.acquire()
    try:
        with caplog.at_level("INFO", logger="projections.runner"):
            assert runner.catch_up() == services.timeline.head_position()
        assert "rebuilding in bulk instead" in caplog.text
        assert dump(engine) == incremental
        assert sqlite_side_structures(engine) == side
        caplog.clear()
        services.timeline.revise_policy(
            {
                "id": POLICY,
                "title": "Hate speech, later",
                "effectiveAt": "2022-06-01T00:00:00+00:00",
            }
        )
        with caplog.at_level("INFO", logger="projections.runner"):
            assert runner.catch_up() == services.timeline.head_position()
        assert "in bulk" not in caplog.text  # one event behind: applied incrementally
        found = q.policy_at(engine, POLICY)
        assert found is not None and found.title == "Hate speech, later"
    finally:
        runner.lock.release()


def test_a_client_that_writes_then_reads_sees_its_write(database_url: str) -> None:
    services = bootstrap(Settings(database_url=database_url), run_projections=True)
    try:
        story(services.timeline)
        result = services.timeline.revise_policy(
            {
                "id": POLICY,
                "title": "Hate speech, March edition",
                "effectiveAt": "2022-03-12T00:00:00+00:00",
            }
        )
        assert services.wait_for(result.position, timeout=30)
        found = q.policy_at(services.timeline.engine, POLICY)
        assert found is not None and found.title == "Hate speech, March edition"
        assert found.aggregate_version == result.version
    finally:
        services.close()


def test_only_one_runner_per_projection_is_active(services: Services) -> None:
    other = ProjectionRunner(services.timeline.engine, services.timeline)
    assert services.projections.lock.acquire()
    try:
        assert not other.lock.acquire()
    finally:
        services.projections.lock.release()
    assert other.lock.acquire()
    other.lock.release()


def test_a_changed_schema_version_rebuilds_the_read_models(services: Services) -> None:
    story(services.timeline)
    services.projections.catch_up()
    expected = dump(services.timeline.engine)
    engine = services.timeline.engine
    with engine.begin() as connection:
        connection.execute(t.policy_versions.delete())
        connection.execute(update(t.tracking).values(schema_version=t.SCHEMA_VERSION - 1))
    assert q.policy_at(engine, POLICY, MARCH_11) is None
    services.projections.catch_up()
    assert dump(engine) == expected
    with engine.connect() as connection:
        assert connection.execute(select(t.tracking.c.schema_version)).scalar() == t.SCHEMA_VERSION


@pytest.mark.postgres
def test_a_running_worker_wakes_on_notify_from_another_writer(postgres_url: str) -> None:
    worker = bootstrap(Settings(database_url=postgres_url), run_projections=True)
    writer = Timeline(Settings(database_url=postgres_url))
    try:
        writer.register_actor(
            {
                "id": "warm-up",
                "name": "W",
                "kind": "person",
                "effectiveAt": "2020-01-01T00:00:00+00:00",
            }
        )
        assert worker.wait_for(1, timeout=30)  # the worker is now listening
        story(writer)
        head = writer.head_position()
        deadline = time.monotonic() + 20  # the fallback catch-up comes only after 30 s
        while tracked_position(writer.engine) < head and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tracked_position(writer.engine) == head
    finally:
        writer.close()
        worker.close()


def test_concurrent_writers_read_their_writes_while_the_embedded_runner_projects(
    database_url: str,
) -> None:
    services = bootstrap(Settings(database_url=database_url), run_projections=True)
    errors: list[BaseException] = []

    def writer(slug: str) -> None:
        try:
            services.timeline.announce_policy(
                {
                    "id": slug,
                    "title": "r0",
                    "owner": "meta",
                    "clauses": [{"id": "c", "text": "x"}],
                    "effectiveAt": "2022-01-01T00:00:00+00:00",
                }
            )
            for n in range(1, 8):
                result = services.timeline.revise_policy(
                    {"id": slug, "title": f"r{n}", "effectiveAt": f"2022-01-{n + 1:02d}T00:00:00Z"}
                )
                assert services.wait_for(result.position, timeout=30)
                found = q.policy_at(services.timeline.engine, slug)
                assert found is not None and found.title == f"r{n}"
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    try:
        services.timeline.register_actor(
            {
                "id": "meta",
                "name": "Meta",
                "kind": "organisation",
                "effectiveAt": "2020-01-01T00:00:00+00:00",
            }
        )
        threads = [threading.Thread(target=writer, args=(f"meta/p{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        services.stop_projector()
        services.projections.catch_up()
        incremental = dump(services.timeline.engine)
        services.projections.rebuild()
        assert dump(services.timeline.engine) == incremental
    finally:
        services.close()


def test_two_runners_racing_without_the_lock_apply_every_event_exactly_once(
    services: Services,
) -> None:
    story(services.timeline)
    more_history(services.timeline)
    runners = [
        ProjectionRunner(services.timeline.engine, services.timeline, batch_size=1)
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def run(runner: ProjectionRunner) -> None:
        try:
            runner.catch_up()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    raced = dump(services.timeline.engine)
    services.projections.rebuild()
    assert dump(services.timeline.engine) == raced


def test_readers_see_the_complete_old_answers_while_a_rebuild_runs(services: Services) -> None:
    story(services.timeline)
    more_history(services.timeline)
    runner = services.projections
    runner.catch_up()
    engine = services.timeline.engine
    known_at = datetime.now(UTC)
    before = answers(engine, known_at)
    seen_during: list[dict[str, Any]] = []
    runner.batch_size = 2
    runner.rebuild(lambda done, total: seen_during.append(answers(engine, known_at)))
    assert len(seen_during) > 1
    assert all(seen == before for seen in seen_during)
    assert answers(engine, known_at) == before


def test_the_cycle_collector_is_held_back_only_while_batches_apply(services: Services) -> None:
    """A run turns automatic collection off (it collects between batches itself) and gives
    the process back the setting it found, after a failed batch too."""
    runner = services.projections
    story(services.timeline)
    seen: list[bool] = []
    runner.on_batch = lambda position: seen.append(gc.isenabled())
    runner.catch_up()
    assert seen == [False] and gc.isenabled()
    runner.rebuild()
    assert gc.isenabled()
    more_history(services.timeline)
    runner.on_batch = lambda position: (_ for _ in ()).throw(RuntimeError("a failed batch"))
    with pytest.raises(RuntimeError):
        runner.catch_up()
    assert gc.isenabled()
    gc.disable()
    try:
        runner.on_batch = None
        runner.catch_up()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
