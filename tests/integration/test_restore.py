"""Backup and restore (issue 15 item 5): an export restored into an empty database gives back
the same log (positions, recordedAt, stored bytes, leaves, tree) and every answer, SQLite ->
PostgreSQL -> SQLite; a damaged export is refused whole, naming its line, nothing stored."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from domain.errors import InvalidInput
from projections import queries
from projections.runner import ProjectionRunner
from tests import factories as f
from timeline import backup, eventstore, integrity, store
from timeline.application import Timeline
from timeline.demo import DEMO_COMMANDS, load_demo
from timeline.settings import Settings

pytestmark = pytest.mark.postgres


def open_timeline(url: str, key: Path) -> Timeline:
    return Timeline(Settings(database_url=url, signing_key=key))


def empty_target(database_url: str, tmp_path: Path) -> Timeline:
    """An empty database of the parametrised kind, apart from the demo source's SQLite file."""
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / 'target.db'}"
    return open_timeline(database_url, tmp_path / "target-key.pem")


def generated_history(timeline: Timeline, seed: int = 15) -> None:
    """A few policies, actions and statements with revisions, corrections and retractions,
    retroactive and scheduled facts, in a seeded random order."""
    rng = random.Random(seed)
    f.world(timeline)
    day = datetime(2022, 1, 1, tzinfo=UTC)
    for n in range(4):
        slug = f"acme/policy-{n}"
        timeline.announce_policy(
            f.policy(slug, effective_at=(day + timedelta(days=n)).isoformat(), title=f"P{n}")
        )
        for r in range(rng.randint(1, 4)):
            when = day + timedelta(days=rng.randint(0, 60), hours=r)
            timeline.revise_policy(
                f.revision(
                    slug,
                    effective_at=when.isoformat(),
                    amendClauses=[{"id": "c1", "text": f"Text {n}.{r} {rng.random():.6f}"}],
                )
            )
        if rng.random() < 0.7:
            timeline.correct_event(f.correction(f"policy:{slug}@2", title=f"P{n} corrected"))
    for n in range(3):
        announced = day + timedelta(days=10 * n)
        timeline.announce_regulatory_action(
            f.action(
                f"regulator/measure-{n}",
                announcedAt=announced.isoformat(),
                effective_at=(announced + timedelta(days=3)).isoformat(),
            )
        )
        if n == 1:
            lifted = (announced + timedelta(days=9)).isoformat()
            timeline.lift_regulatory_action({"id": f"regulator/measure-{n}", "effectiveAt": lifted})
    timeline.record_statement(f.statement())
    timeline.record_statement(f.statement("spokesperson/second", text="Again."))
    timeline.correct_event(f.correction("statement:spokesperson/second@1", text="Once more."))
    timeline.retract_event(f.retraction("policy:acme/policy-3@2"))


def export_text(timeline: Timeline) -> str:
    buffer = io.StringIO()
    backup.write_export(timeline, buffer)
    return buffer.getvalue()


def lines_of(text: str) -> Iterator[tuple[int, str]]:
    return enumerate(text.splitlines(keepends=True), start=1)


def project(timeline: Timeline) -> Engine:
    ProjectionRunner(timeline.engine, timeline).catch_up()
    return timeline.engine


def stored_log(timeline: Timeline) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a restore must give back, as plain tuples."""
    events = eventstore.events_table(timeline.recorder)
    with timeline.engine.connect() as connection:
        return {
            "events": [
                (r.id, r.originator_id, r.originator_version, r.topic, bytes(r.state))
                for r in connection.execute(select(events).order_by(events.c.id))
            ],
            "leaves": [
                (r.position, r.leaf_index, r.stream, bytes(r.salt), bytes(r.root))
                for r in connection.execute(
                    select(integrity.log_leaves).order_by(integrity.log_leaves.c.position)
                )
            ],
            "nodes": sorted(
                (r.level, r.idx, bytes(r.hash))
                for r in connection.execute(select(integrity.log_nodes))
            ),
            "streams": sorted(
                (str(r.aggregate_id), r.kind, r.slug)
                for r in connection.execute(select(store.streams))
            ),
        }


def answers(engine: Engine, points: list[tuple[datetime, datetime]]) -> list[Any]:
    """Every read's answer at every (validAt, knownAt) point, and the feed at every knownAt."""
    with engine.connect() as connection:
        slugs = sorted(
            {
                (r.kind, r.slug)
                for r in connection.execute(select(store.streams.c.kind, store.streams.c.slug))
            }
        )
    policies = [slug for kind, slug in slugs if kind == "policy"]
    actions = [slug for kind, slug in slugs if kind == "regulatory-action"]
    statements = [slug for kind, slug in slugs if kind == "statement"]
    actors = [slug for kind, slug in slugs if kind == "actor"]
    found: list[Any] = []
    for valid_at, known_at in points:
        found.append(queries.policies_at(engine, policies, valid_at, known_at))
        found.extend(queries.policy_at(engine, slug, valid_at, known_at) for slug in policies)
        found.extend(
            queries.regulatory_action_at(engine, slug, valid_at, known_at) for slug in actions
        )
        found.extend(queries.statement_at(engine, slug, known_at) for slug in statements)
        found.append(queries.actors_at(engine, actors, valid_at, known_at))
    for known_at in sorted({known for _, known in points}):
        found.append(queries.timeline_page(engine, known_at=known_at, first=200).items)
        found.extend(queries.policy_history(engine, slug, known_at) for slug in policies)
    return found


def points_of(timeline: Timeline) -> list[tuple[datetime, datetime]]:
    """(validAt, knownAt) pairs around every recorded and effective instant of the log."""
    facts = [logged.fact for logged in timeline.iter_log()]
    known = sorted({fact.recorded_at for fact in facts})
    known = [k - timedelta(microseconds=1) for k in known] + known + [datetime.now(UTC)]
    valid = sorted({fact.effective_at for fact in facts if fact.effective_at is not None})
    valid = valid + [v - timedelta(seconds=1) for v in valid]
    rng = random.Random(3)
    return [(rng.choice(valid), k) for k in known for _ in range(3)]


def test_sqlite_to_postgresql_and_back_gives_the_same_log_and_every_answer(
    sqlite_url: str, postgres_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "key.pem"
    source = open_timeline(sqlite_url, key)
    middle = open_timeline(postgres_url, key)
    back = open_timeline(f"sqlite:///{tmp_path / 'back.db'}", key)
    try:
        load_demo(source)
        generated_history(source)
        exported = export_text(source)

        restored = backup.restore(middle, "a.ndjson", lines_of(exported))
        again = export_text(middle)
        backup.restore(back, "b.ndjson", lines_of(again))

        assert restored.events == sum('"leafhash"' in line for line in exported.splitlines())
        assert restored.head == integrity.head(source.engine)
        assert again == exported  # byte for byte: positions, recordedAt, bytes, salts, head
        assert export_text(back) == exported
        assert stored_log(middle) == stored_log(source) == stored_log(back)
        points = points_of(source)
        assert len(points) > 150
        expected = answers(project(source), points)
        assert sum(answer not in (None, {}, []) for answer in expected) > 300
        assert answers(project(middle), points) == expected
        assert answers(project(back), points) == expected
        assert integrity.verify(middle.engine, eventstore.events_table(middle.recorder)).ok
        assert restored.idempotency_keys == len(DEMO_COMMANDS)
        head = integrity.head(back.engine)
        load_demo(back)  # the demo's idempotency keys came back: nothing is stored again
        assert integrity.head(back.engine) == head
    finally:
        for timeline in (source, middle, back):
            timeline.close()


def test_postgresql_to_sqlite_keeps_the_gaps_in_positions_and_appends_after_them(
    sqlite_url: str, postgres_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "key.pem"
    source = open_timeline(postgres_url, key)
    target = open_timeline(sqlite_url, key)
    try:
        f.world(source)
        with source.engine.begin() as connection:  # a position taken and never used
            connection.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('timeline_events', 'id'))"
            )
        source.announce_policy(f.policy())
        exported = export_text(source)
        backup.restore(target, "pg.ndjson", lines_of(exported))
        positions = [row[0] for row in stored_log(target)["events"]]
        assert positions == [row[0] for row in stored_log(source)["events"]]
        assert positions[-1] == positions[-2] + 2  # the gap is kept

        appended = target.revise_policy(f.revision())
        source_appended = source.revise_policy(f.revision())

        assert appended.position == positions[-1] + 1
        assert source_appended.position > positions[-1]
        assert integrity.verify(target.engine, eventstore.events_table(target.recorder)).ok
    finally:
        source.close()
        target.close()


def test_a_restore_into_postgresql_continues_positions_after_the_restored_ones(
    sqlite_url: str, postgres_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "key.pem"
    source = open_timeline(sqlite_url, key)
    target = open_timeline(postgres_url, key)
    try:
        load_demo(source)
        backup.restore(target, "demo.ndjson", lines_of(export_text(source)))
        head = integrity.head(target.engine)

        result = target.revise_policy(
            {"id": "meta/hate-speech", "effectiveAt": "2022-04-01T00:00:00Z", "title": "Later"}
        )

        assert result.position == head.position + 1
        assert integrity.verify(target.engine, eventstore.events_table(target.recorder)).ok
    finally:
        source.close()
        target.close()


# -- refusals ------------------------------------------------------------------------------


@pytest.fixture
def demo_export(sqlite_url: str, tmp_path: Path) -> Iterator[list[str]]:
    source = open_timeline(sqlite_url, tmp_path / "key.pem")
    try:
        load_demo(source)
        yield export_text(source).splitlines(keepends=True)
    finally:
        source.close()


def edited(lines: list[str], number: int, change: dict[str, Any]) -> list[str]:
    """The lines with line `number` (1-based) changed: keys replaced, `data.*` inside data."""
    line = json.loads(lines[number - 1])
    for key, value in change.items():
        if key.startswith("data."):
            line["data"][key[5:]] = value
        else:
            line[key] = value
    return [*lines[: number - 1], json.dumps(line) + "\n", *lines[number:]]


def damaged(demo: list[str]) -> dict[str, tuple[list[str], int, str]]:
    """Each kind of damage: (lines, the line that must be named, a word of the reason)."""
    payload = json.loads(demo[4])["data"]["payload"]
    first = json.loads(demo[0])
    state = first["storedstate"]
    key_line = next(n for n, line in enumerate(demo, 1) if "IdempotencyKey" in line)
    key = json.loads(demo[key_line - 1])
    moved = {**key["data"]["result"], "position": key["data"]["result"]["position"] + 1}
    return {
        "truncated": (demo[:-3], len(demo) - 2, "head line"),
        "cut mid-line": ([*demo[:-2], demo[-2][: len(demo[-2]) // 2]], len(demo) - 1, "JSON"),
        "cut in the events": (demo[:9], 10, "head line"),
        "no head": (demo[:-1], len(demo), "head line"),
        "reordered": ([demo[1], demo[0], *demo[2:]], 1, "leafindex"),
        "line removed": ([demo[0], *demo[2:]], 2, "leafindex"),
        "line repeated": ([demo[0], demo[0], *demo[1:]], 2, "position"),
        "payload edited": (edited(demo, 5, {"data.payload": {**payload, "x": 1}}), 5, "payload"),
        "recordedAt edited": (
            edited(demo, 3, {"data.recordedAt": "2022-01-01T00:00:00+00:00"}),
            3,
            "recordedAt",
        ),
        "stored bytes edited": (
            edited(demo, 1, {"storedstate": state[:-8] + "AAAAAAA="}),
            1,
            "storedstate",
        ),
        "salt edited": (edited(demo, 2, {"salt": "00" * 16}), 2, "leafhash"),
        "leaf and root edited": (
            edited(demo, 2, {"leafhash": "00" * 32}),
            2,
            "leafhash",
        ),
        "head root edited": (
            edited(demo, len(demo), {"data.rootHash": "11" * 32}),
            len(demo),
            "rootHash",
        ),
        "head signature edited": (
            edited(demo, len(demo), {"data.signature": first["leafhash"][:88]}),
            len(demo),
            "signature",
        ),
        "a line after the head": ([*demo, demo[0]], len(demo) + 1, "after the head"),
        "a command": (['{"command": "announcePolicy", "input": {}}\n'], 1, "import"),
        "key moved to another event": (
            edited(demo, key_line, {"data": {**key["data"], "result": moved}}),
            key_line,
            "data.result",
        ),
        "key removed": (
            [*demo[: key_line - 1], *demo[key_line:]],
            len(demo) - 1,
            "idempotencyKeys",
        ),
        "event after the keys": (
            [*demo[:-1], demo[0], demo[-1]],
            len(demo),
            "after the idempotency",
        ),
    }


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "cut mid-line",
        "cut in the events",
        "no head",
        "reordered",
        "line removed",
        "line repeated",
        "payload edited",
        "recordedAt edited",
        "stored bytes edited",
        "salt edited",
        "leaf and root edited",
        "head root edited",
        "head signature edited",
        "a line after the head",
        "a command",
        "key moved to another event",
        "key removed",
        "event after the keys",
    ],
)
def test_a_damaged_export_is_refused_whole_naming_its_line(
    demo_export: list[str], database_url: str, tmp_path: Path, damage: str
) -> None:
    lines, number, word = damaged(demo_export)[damage]
    target = empty_target(database_url, tmp_path)
    try:
        with pytest.raises(InvalidInput) as refused:
            backup.restore(target, "x.ndjson", enumerate(lines, start=1))

        assert refused.value.field == f"x.ndjson line {number}"
        assert word in refused.value.reason
        assert "nothing was restored" in refused.value.reason
        log = stored_log(target)
        assert log == {"events": [], "leaves": [], "nodes": [], "streams": []}
        f.world(target)  # the database still takes writes, from position 1 on
        assert stored_log(target)["events"][0][0] == 1
    finally:
        target.close()


def test_a_restore_into_a_database_that_holds_events_is_refused(
    demo_export: list[str], database_url: str, tmp_path: Path
) -> None:
    target = empty_target(database_url, tmp_path)
    try:
        f.world(target)
        before = stored_log(target)
        with pytest.raises(InvalidInput) as refused:
            backup.restore(target, "x.ndjson", enumerate(demo_export, start=1))
        assert refused.value.field == "database"
        assert "empty database" in refused.value.reason
        assert stored_log(target) == before
    finally:
        target.close()


def test_an_export_after_a_position_is_not_a_restore(
    sqlite_url: str, database_url: str, tmp_path: Path
) -> None:
    source = open_timeline(sqlite_url, tmp_path / "key.pem")
    target = empty_target(database_url, tmp_path)
    try:
        load_demo(source)
        buffer = io.StringIO()
        backup.write_export(source, buffer, after=5)
        with pytest.raises(InvalidInput) as refused:
            backup.restore(target, "tail.ndjson", lines_of(buffer.getvalue()))
        assert refused.value.field == "tail.ndjson line 1"
        assert "--after" in refused.value.reason
    finally:
        source.close()
        target.close()
