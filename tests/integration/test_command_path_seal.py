"""The seal adds a command's events to the Merkle tree in its transaction, with the root the
RFC's definition gives; it survives a pool reconnect; the Core event insert stores what the
event store's own reader returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from domain import Fact
from timeline import integrity, merkle
from timeline.application import Timeline


@dataclass(frozen=True)
class Note:
    """Notification-like input of `integrity.seal`."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


T = datetime(2022, 3, 11, 12, 0, tzinfo=UTC)


def leaves(timeline: Timeline) -> list[tuple[int, int]]:
    table = integrity.log_leaves
    with timeline.engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.position))
        return [(int(r.position), int(r.leaf_index)) for r in rows]


def seal(session: Any, batch: list[Note]) -> integrity.TreeHead:
    return integrity.seal(session, batch, "policy:meta/x", [T] * len(batch))


@pytest.mark.parametrize("batches", [[1], [3], [1, 2], [2, 1, 1], [5, 4]])
def test_seal_gives_the_root_of_the_rfc_tree_over_the_leaves(
    timeline: Timeline, batches: list[int]
) -> None:
    """However the events are split into commands, every head is the RFC 9162 root over
    the leaves so far, for escaped text and an empty state too."""
    position = 0
    for size in batches:
        batch = []
        for _ in range(size):
            position += 1
            state = b"" if position == 2 else f'{{"t":"caf\\u00e9 {position}"}}'.encode()
            batch.append(Note(position, uuid4(), position, "domain.policy:Policy.X", state))
        with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
            head = seal(session, batch)
        assert (head.tree_size, head.position) == (position, position)
        hashes = [bytes(h) for h in stored_leaf_hashes(timeline)]
        assert head.root == merkle.root_reference(hashes)
        assert integrity.head(timeline.engine) == head
    assert leaves(timeline) == [(p, p - 1) for p in range(1, position + 1)]


def stored_leaf_hashes(timeline: Timeline) -> list[bytes]:
    table = integrity.log_nodes
    with timeline.engine.connect() as connection:
        query = select(table.c.hash).where(table.c.level == 0).order_by(table.c.idx)
        return list(connection.execute(query).scalars())


def test_seal_refuses_a_position_not_after_the_head(timeline: Timeline) -> None:
    note = Note(5, uuid4(), 1, "t", b"{}")
    with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
        seal(session, [note])
    with (
        pytest.raises(RuntimeError, match="not after the tree's last"),
        timeline.recorder.transaction(commit=True) as session,  # type: ignore[attr-defined]
    ):
        seal(session, [Note(5, uuid4(), 1, "t", b"{}")])
    assert leaves(timeline) == [(5, 0)]


def test_a_rolled_back_seal_leaves_no_leaf(timeline: Timeline) -> None:
    """The seal is part of the caller's transaction."""
    with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
        seal(session, [Note(1, uuid4(), 1, "t", b"{}")])
    with timeline.recorder.transaction(commit=False) as session:  # type: ignore[attr-defined]
        seal(session, [Note(2, uuid4(), 1, "t", b"{}"), Note(3, uuid4(), 1, "t", b"")])
    assert leaves(timeline) == [(1, 0)]
    with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
        seal(session, [Note(2, uuid4(), 1, "t", b"{}")])
    assert leaves(timeline) == [(1, 0), (2, 1)]


def actor(slug: str) -> dict[str, Any]:
    return {"id": slug, "name": slug, "kind": "organisation", "effectiveAt": "2022-03-01T00:00Z"}


def test_commands_seal_after_the_pool_reconnects(timeline: Timeline) -> None:
    """Sealing needs nothing per connection: after a reconnect the tree still verifies."""
    timeline.execute("registerActor", actor("a"))
    timeline.engine.dispose()
    timeline.execute("registerActor", actor("b"))
    timeline.execute("renameActor", {"id": "b", "name": "B", "effectiveAt": "2022-03-02T00:00Z"})
    events = timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    verdict = integrity.verify(timeline.engine, events)
    assert verdict.ok, verdict.reason
    assert verdict.checked == 3


def test_core_insert_stores_what_the_event_store_reads(timeline: Timeline) -> None:
    """Positions returned by commands are the log's; the library's own reader and replay
    give back the facts the commands recorded."""
    results = [
        timeline.execute("registerActor", actor("a")),
        timeline.execute("registerActor", actor("b")),
        timeline.execute(
            "renameActor", {"id": "a", "name": "A2", "effectiveAt": "2022-03-05T00:00Z"}
        ),
    ]
    notifications = timeline.recorder.select_notifications(start=1, limit=10)
    assert [n.id for n in notifications] == [r.position for r in results]
    assert [(n.originator_id, n.originator_version) for n in notifications] == [
        (r.aggregate_id, r.version) for r in results
    ]
    replayed = timeline.repository.get(results[0].aggregate_id)
    assert [Fact.from_event(e).type for e in [*timeline.events.get(replayed.id)]] == [
        "ActorRegistered",
        "ActorRenamed",
    ]
    assert replayed.facts == timeline.facts_of("actor", "a")


def test_two_writers_taking_turns_keep_one_tree(timeline: Timeline) -> None:
    """Each process remembers the frontier it wrote; when another writer has grown the tree
    since, the check on the last leaf fails and the frontier is read from the nodes."""
    other = Timeline(timeline.settings)
    try:
        for n in range(6):
            (timeline if n % 2 else other).execute("registerActor", actor(f"turn-{n}"))
        events = timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        verdict = integrity.verify(timeline.engine, events)
        assert verdict.ok, verdict.reason
        assert verdict.checked == 6
    finally:
        other.close()


def test_the_writer_of_the_last_leaf_seals_without_reading_the_tree(timeline: Timeline) -> None:
    """After its own committed seal, a process appends the next leaf without reading the
    tree back (the cost figure 11 measures); another writer in between makes it read, and
    the tree stays the RFC root either way."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    timeline.execute("registerActor", actor("first"))
    event.listen(timeline.engine, "before_cursor_execute", record)
    try:
        timeline.execute("registerActor", actor("second"))
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert not [s for s in reads if "timeline_log_" in s], reads
        other = Timeline(timeline.settings)
        try:
            other.execute("registerActor", actor("between"))
        finally:
            other.close()
        statements.clear()
        timeline.execute("registerActor", actor("third"))
        assert any(
            "timeline_log_leaves" in s and s.lstrip().upper().startswith("SELECT")
            for s in statements
        ), statements
    finally:
        event.remove(timeline.engine, "before_cursor_execute", record)
    hashes = stored_leaf_hashes(timeline)
    assert integrity.head(timeline.engine).root == merkle.root_reference(hashes)
    events = timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    assert integrity.verify(timeline.engine, events).checked == 4
