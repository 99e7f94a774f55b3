"""The log's Merkle tree: sealed in the events' own transaction, recomputable by anyone from
the stored rows, and `timeline verify` names the first event altered, removed or written
outside the service, and tells a mistyped citation from a rewritten log, on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import delete, insert, select, update

from domain.errors import TimelineError
from timeline import integrity, store
from timeline.application import Timeline
from timeline.demo import load_demo
from timeline.settings import Settings

TIMELINE = shutil.which("timeline", path=str(Path(sys.executable).parent)) or "timeline"


def events_table(timeline: Timeline) -> Any:
    return timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]


def run_verify(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `timeline verify` console script against `database_url`."""
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url}
    env.pop("TIMELINE_DEBUG", None)
    return subprocess.run(
        [TIMELINE, "verify", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def actor(slug: str) -> dict[str, Any]:
    return {
        "id": slug,
        "name": slug.title(),
        "kind": "organisation",
        "effectiveAt": "2022-03-01T00:00:00+00:00",
    }


def stored_rows(timeline: Timeline) -> list[Any]:
    with timeline.engine.connect() as connection:
        return list(
            connection.execute(select(events_table(timeline)).order_by(events_table(timeline).c.id))
        )


def leaf_rows(timeline: Timeline) -> list[Any]:
    with timeline.engine.connect() as connection:
        table = integrity.log_leaves
        return list(connection.execute(select(table).order_by(table.c.position)))


def test_every_event_has_a_leaf_in_order_and_the_head_is_the_last_event(
    timeline: Timeline,
) -> None:
    load_demo(timeline)
    events, leaves = stored_rows(timeline), leaf_rows(timeline)
    assert [e.id for e in events] == [leaf.position for leaf in leaves]
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(events)))
    head = integrity.head(timeline.engine)
    assert (head.tree_size, head.position) == (len(events), timeline.head_position())
    assert head.root == bytes(leaves[-1].root)


def _mth(hashes: list[bytes]) -> bytes:
    """RFC 9162's MTH, written out here independently of timeline/merkle.py."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def test_the_root_can_be_recomputed_from_the_stored_rows_by_the_documented_rule(
    timeline: Timeline,
) -> None:
    """The leaf of docs/evidence.md, written out independently of timeline/integrity.py."""
    load_demo(timeline)
    streams = {r.aggregate_id: f"{r.kind}:{r.slug}" for r in stream_rows(timeline)}
    salts = {r.position: bytes(r.salt) for r in leaf_rows(timeline)}
    hashes = []
    for row in stored_rows(timeline):
        state = bytes(row.state)
        stamp = json.loads(state)["timestamp"]["_data_"]
        leaf = json.dumps(
            {
                "position": row.id,
                "stream": streams[row.originator_id],
                "aggregateId": str(row.originator_id),
                "version": row.originator_version,
                "topic": row.topic,
                "recordedAt": stamp,
                "payloadDigest": hashlib.sha256(salts[row.id] + state).hexdigest(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        hashes.append(hashlib.sha256(b"\x00" + leaf.encode()).digest())
    assert integrity.head(timeline.engine).root == _mth(hashes)


def stream_rows(timeline: Timeline) -> list[Any]:
    with timeline.engine.connect() as connection:
        return list(connection.execute(select(store.streams)))


def test_an_untouched_log_verifies(timeline: Timeline) -> None:
    load_demo(timeline)
    verdict = integrity.verify(timeline.engine, events_table(timeline), batch=7)
    assert verdict.ok, verdict.reason
    assert verdict.checked == len(stored_rows(timeline))


def test_a_refused_command_leaves_no_leaf_and_the_tree_still_verifies(timeline: Timeline) -> None:
    timeline.register_actor(actor("meta"))
    before = leaf_rows(timeline)
    with pytest.raises(TimelineError):
        timeline.register_actor(actor("meta"))  # already exists: refused, rolled back
    timeline.register_actor(actor("instagram"))
    assert leaf_rows(timeline)[: len(before)] == before
    assert len(leaf_rows(timeline)) == len(before) + 1
    assert integrity.verify(timeline.engine, events_table(timeline)).ok


def test_an_event_altered_in_the_database_is_named_by_verify(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    victim = stored_rows(timeline)[5]
    altered = bytes(victim.state).replace(b"20", b"19", 1)
    assert altered != bytes(victim.state)
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(update(table).where(table.c.id == victim.id).values(state=altered))
    result = run_verify(database_url)
    assert result.returncode == 5, result.stdout + result.stderr
    assert f"position {victim.id}: the event was altered" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("column", ["state", "topic", "originator_version", "originator_id"])
def test_a_change_to_any_stored_column_is_detected(timeline: Timeline, column: str) -> None:
    load_demo(timeline)
    victim = stored_rows(timeline)[7]
    changed = {
        "state": bytes(victim.state) + b" ",
        "topic": victim.topic + "x",
        "originator_version": victim.originator_version + 1000,
        "originator_id": uuid4(),
    }[column]
    table = events_table(timeline)
    with timeline.engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == victim.id).values({column: changed}))
    verdict = integrity.verify(timeline.engine, table)
    assert (verdict.ok, verdict.bad_position) == (False, victim.id)
    assert "altered" in verdict.reason


@pytest.mark.parametrize("column", ["stream", "salt", "root"])
def test_a_change_to_the_tree_itself_is_detected(timeline: Timeline, column: str) -> None:
    load_demo(timeline)
    victim = leaf_rows(timeline)[6]
    changed = {"stream": "policy:forged", "salt": b"\x00" * 16, "root": b"\x00" * 32}[column]
    table = integrity.log_leaves
    with timeline.engine.begin() as connection:
        connection.execute(
            update(table).where(table.c.position == victim.position).values({column: changed})
        )
    verdict = integrity.verify(timeline.engine, events_table(timeline))
    assert (verdict.ok, verdict.bad_position) == (False, victim.position)


def test_an_altered_node_is_detected(timeline: Timeline) -> None:
    load_demo(timeline)
    nodes = integrity.log_nodes
    with timeline.engine.begin() as connection:
        connection.execute(
            update(nodes).where(nodes.c.level == 1, nodes.c.idx == 2).values(hash=b"\x01" * 32)
        )
    verdict = integrity.verify(timeline.engine, events_table(timeline))
    assert not verdict.ok
    assert "node at level 1 index 2" in verdict.reason


def test_an_event_removed_from_the_database_is_named_by_verify(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    victim = stored_rows(timeline)[3]
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(delete(table).where(table.c.id == victim.id))
    result = run_verify(database_url)
    assert result.returncode == 5
    assert f"position {victim.id}: the event was removed" in result.stderr


def test_an_event_removed_with_its_leaf_is_caught_at_the_next_event(timeline: Timeline) -> None:
    load_demo(timeline)
    rows = stored_rows(timeline)
    victim, following = rows[3], rows[4]
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(delete(table).where(table.c.id == victim.id))
        leaves = integrity.log_leaves
        connection.execute(delete(leaves).where(leaves.c.position == victim.id))
    verdict = integrity.verify(timeline.engine, events_table(timeline))
    assert verdict.bad_position == following.id
    assert "an earlier event was removed with its leaf" in verdict.reason


def test_an_event_inserted_outside_the_service_is_named_by_verify(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    last = stored_rows(timeline)[-1]
    forged = last.id + 1
    with timeline.engine.begin() as connection:
        connection.execute(
            insert(events_table(timeline)).values(
                id=forged,
                originator_id=last.originator_id,
                originator_version=last.originator_version + 1,
                topic=last.topic,
                state=bytes(last.state),
            )
        )
    result = run_verify(database_url)
    assert result.returncode == 5
    assert f"position {forged}: the event has no leaf in the tree" in result.stderr


def remove_last_event_with_its_tree(timeline: Timeline, head: integrity.TreeHead) -> None:
    """What a careful forger does: the event, its leaf and the nodes it completed."""
    leaves, nodes = integrity.log_leaves, integrity.log_nodes
    index = head.tree_size - 1
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(delete(table).where(table.c.id == head.position))
        connection.execute(delete(leaves).where(leaves.c.position == head.position))
        for level in range(integrity.MAX_LEVEL):
            if (index + 1) % (1 << level) == 0:
                connection.execute(
                    delete(nodes).where(nodes.c.level == level, nodes.c.idx == index >> level)
                )


def test_a_removed_tail_is_caught_against_a_cited_head(
    timeline: Timeline, database_url: str
) -> None:
    """Removing the last event with its leaf and nodes leaves a smaller but consistent
    tree; a head cited earlier (as `logHead` with an answer) is what exposes it."""
    load_demo(timeline)
    cited = integrity.head(timeline.engine)
    remove_last_event_with_its_tree(timeline, cited)
    assert run_verify(database_url).returncode == 0
    result = run_verify(database_url, "--expect-head", f"{cited.position}:{cited.hash}")
    assert result.returncode == 5
    assert f"position {cited.position}: the cited position is beyond the log" in result.stderr


def test_a_mistyped_citation_is_told_from_a_rewritten_log(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    head = integrity.head(timeline.engine)
    typo = head.hash[:10] + ("0" if head.hash[10] != "0" else "1") + head.hash[11:]
    result = run_verify(database_url, "--expect-head", f"{head.position}:{typo}")
    assert result.returncode == 5
    assert "mistyped citation" in result.stderr and head.hash in result.stderr
    other = hashlib.sha256(b"another log").hexdigest()
    result = run_verify(database_url, "--expect-head", f"{head.position}:{other}")
    assert result.returncode == 5
    assert "the log was rewritten after it was cited" in result.stderr
    gap = run_verify(database_url, "--expect-head", f"{head.position + 50}:{head.hash}")
    assert "beyond the log" in gap.stderr and "mistyped citation" in gap.stderr


def test_verify_reports_the_head_and_checks_a_cited_head(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    head = integrity.head(timeline.engine)
    plain = run_verify(database_url)
    assert plain.returncode == 0, plain.stderr
    assert f"head position {head.position} hash {head.hash}" in plain.stdout
    cited = run_verify(database_url, "--json", "--expect-head", f"{head.position}:{head.hash}")
    assert cited.returncode == 0
    assert json.loads(cited.stdout)["head"] == {"position": head.position, "hash": head.hash}
    bad = run_verify(database_url, "--expect-head", "12:nothex")
    assert bad.returncode == 1
    assert "--expect-head" in bad.stderr


def test_an_import_in_one_transaction_is_sealed_event_by_event(timeline: Timeline) -> None:
    with timeline.recorder.transaction(commit=True):  # type: ignore[attr-defined]
        for slug in ("meta", "instagram", "roskomnadzor"):
            timeline.register_actor(actor(slug))
    assert len(leaf_rows(timeline)) == 3
    assert integrity.verify(timeline.engine, events_table(timeline)).ok


def test_a_log_from_before_the_tree_gets_its_leaves(timeline: Timeline) -> None:
    """Migration 0002 adds the leaves of an existing log (here: the tree emptied)."""
    load_demo(timeline)
    before = integrity.head(timeline.engine)
    with timeline.engine.begin() as connection:
        connection.execute(delete(integrity.log_leaves))
        connection.execute(delete(integrity.log_nodes))
        added = integrity.backfill(connection, events_table(timeline), store.streams, batch=5)
    assert added == before.tree_size
    after = integrity.head(timeline.engine)
    assert (after.tree_size, after.position) == (before.tree_size, before.position)
    assert integrity.verify(timeline.engine, events_table(timeline)).ok


@pytest.mark.postgres
def test_concurrent_writers_on_postgresql_keep_one_consistent_tree(postgres_url: str) -> None:
    """Four processes' worth of writers (separate applications, separate pools) at once."""
    apps = [Timeline(Settings(database_url=postgres_url)) for _ in range(4)]
    failures: list[BaseException] = []

    def write(app: Timeline, worker: int) -> None:
        try:
            for n in range(8):
                app.register_actor(actor(f"w{worker}-a{n}"))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(app, i)) for i, app in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not failures, failures
        verdict = integrity.verify(apps[0].engine, events_table(apps[0]))
        assert verdict.ok, verdict.reason
        assert verdict.checked == 32
    finally:
        for app in apps:
            app.close()
