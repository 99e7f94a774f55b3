"""The one-statement seal (SQL hashing on both databases) writes the links the Python rule
computes, byte for byte; the SQLite hash function survives a pool reconnect; the Core event
insert stores what the event store's own reader returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from domain import Fact
from timeline import integrity
from timeline.application import Timeline


@dataclass(frozen=True)
class Note:
    """Notification-like input of `integrity.seal`."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def links(timeline: Timeline) -> list[tuple[int, str, str]]:
    table = integrity.log_hashes
    with timeline.engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.position))
        return [(int(r.position), str(r.hash), str(r.previous_hash)) for r in rows]


def python_chain(
    notes: list[Note], previous: str = integrity.GENESIS
) -> list[tuple[int, str, str]]:
    chain = []
    for note in notes:
        row = integrity.StoredRow(
            note.id, note.originator_id, note.originator_version, note.topic, note.state
        )
        digest = integrity.event_hash(previous, row)
        chain.append((note.id, digest, previous))
        previous = digest
    return chain


@pytest.mark.parametrize("batches", [[1], [3], [1, 2], [2, 1, 1]])
def test_seal_in_sql_writes_the_python_hashes(timeline: Timeline, batches: list[int]) -> None:
    """First link hashed in SQL, the rest in Python: every link equals the Python rule,
    for escaped text and for an empty state."""
    notes: list[Note] = []
    position = 0
    for size in batches:
        batch = []
        for _ in range(size):
            position += 1
            state = b"" if position == 2 else f'{{"t":"caf\\u00e9 {position}"}}'.encode()
            batch.append(Note(position, uuid4(), position, "domain.policy:Policy.X", state))
        with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
            head = integrity.seal(session, batch)
        notes.extend(batch)
        assert head == integrity.LogHead(position, python_chain(notes)[-1][1])
    assert links(timeline) == python_chain(notes)


def test_seal_refuses_a_position_not_after_the_head(timeline: Timeline) -> None:
    note = Note(5, uuid4(), 1, "t", b"{}")
    with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
        integrity.seal(session, [note])
    with (
        pytest.raises(RuntimeError, match="not after the chain head"),
        timeline.recorder.transaction(commit=True) as session,  # type: ignore[attr-defined]
    ):
        integrity.seal(session, [Note(5, uuid4(), 1, "t", b"{}")])
    assert [link[0] for link in links(timeline)] == [5]


def test_a_rolled_back_seal_leaves_no_link(timeline: Timeline) -> None:
    """The seal is part of the caller's transaction even when it is its first write (on
    SQLite a statement starting with WITH would run outside it and commit by itself)."""
    with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
        integrity.seal(session, [Note(1, uuid4(), 1, "t", b"{}")])
    with timeline.recorder.transaction(commit=False) as session:  # type: ignore[attr-defined]
        integrity.seal(session, [Note(2, uuid4(), 1, "t", b"{}"), Note(3, uuid4(), 1, "t", b"")])
    assert [link[0] for link in links(timeline)] == [1]
    with timeline.recorder.transaction(commit=True) as session:  # type: ignore[attr-defined]
        integrity.seal(session, [Note(2, uuid4(), 1, "t", b"{}")])
    assert [link[0] for link in links(timeline)] == [1, 2]


def actor(slug: str) -> dict[str, Any]:
    return {"id": slug, "name": slug, "kind": "organisation", "effectiveAt": "2022-03-01T00:00Z"}


def test_commands_seal_after_the_pool_reconnects(timeline: Timeline) -> None:
    """New DBAPI connections get the hash function again (SQLite), and the chain verifies."""
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
