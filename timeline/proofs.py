"""Reads of the log's Merkle tree for evidence: the head after any position or instant, the
leaf of an event, and RFC 9162 inclusion and consistency proofs, each from O(log n) stored
nodes in one query (timeline/merkle.py names them, timeline/integrity.py stores them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Engine, Table, select

from domain.errors import InvalidInput, NotFound
from timeline import merkle
from timeline.integrity import TreeHead, fetch_nodes, head, head_of, log_leaves
from timeline.leaf import WIPED, Leaf, leaf_of, read_tombstone

_HEAD_COLUMNS = (
    log_leaves.c.leaf_index,
    log_leaves.c.position,
    log_leaves.c.root,
    log_leaves.c.recorded_at,
)


def head_at_position(engine: Engine, position: int) -> TreeHead:
    """The head right after log position `position` (the empty tree before the first)."""
    query = (
        select(*_HEAD_COLUMNS)
        .where(log_leaves.c.position <= position)
        .order_by(log_leaves.c.position.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        return head_of(connection.execute(query).first())


def head_known_at(engine: Engine, known_at: datetime) -> TreeHead:
    """The head after the last event recorded at or before `known_at` (an index lookup)."""
    query = (
        select(*_HEAD_COLUMNS)
        .where(log_leaves.c.recorded_at <= known_at.astimezone(UTC))
        .order_by(log_leaves.c.recorded_at.desc(), log_leaves.c.position.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        return head_of(connection.execute(query).first())


def head_of_size(engine: Engine, tree_size: int) -> TreeHead | None:
    """The head of the tree of `tree_size` leaves; None when the tree is not that large."""
    if tree_size == 0:
        return head_of(None)
    query = select(*_HEAD_COLUMNS).where(log_leaves.c.leaf_index == tree_size - 1)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else head_of(row)


@dataclass(frozen=True)
class StoredLeaf:
    """An event's leaf as stored: its index in the tree, its salt and what it commits to."""

    leaf_index: int
    salt: bytes
    leaf: Leaf
    #: The redaction that erased the payload (its salt is wiped), if any.
    redacted_by: str | None = None


def stored_leaf(engine: Engine, events: Table, position: int) -> StoredLeaf | None:
    """The leaf of the event at `position`, recomputed from its rows (None: no such event)."""
    query = (
        select(log_leaves, events.c.id, events.c.originator_id, events.c.originator_version)
        .add_columns(events.c.topic, events.c.state)
        .join(events, events.c.id == log_leaves.c.position)
        .where(log_leaves.c.position == position)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    salt = bytes(row.salt)
    note = read_tombstone(bytes(row.state)) if salt == WIPED else None
    redacted_by = note.event if note is not None else None
    return StoredLeaf(int(row.leaf_index), salt, leaf_of(row, row), redacted_by)


def nodes(engine: Engine, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored nodes named, in one query."""
    with engine.connect() as connection:
        return fetch_nodes(connection, list(wanted))


def inclusion_proof(engine: Engine, leaf_index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf `leaf_index` in the tree of `tree_size` leaves."""
    ranges = merkle.inclusion_nodes(leaf_index, tree_size)
    return merkle.assemble(ranges, nodes(engine, merkle.needed(ranges)))


def consistency_proof(engine: Engine, first: int, second: int) -> list[bytes]:
    """RFC 9162 consistency proof from the tree of `first` leaves to that of `second`."""
    ranges = merkle.consistency_nodes(first, second)
    return merkle.assemble(ranges, nodes(engine, merkle.needed(ranges)))


# -- what the API and the CLI ask for --------------------------------------------------------


def head_for(
    engine: Engine, known_at: datetime | None = None, known_at_position: int | None = None
) -> TreeHead:
    """The head as known at an instant or right after a position (both: BAD_INPUT; neither:
    now). An instant resolves to the last position recorded at or before it; a position
    beyond the log's head is BAD_INPUT (it has no answer yet, and would have one later)."""
    if known_at is not None and known_at_position is not None:
        raise InvalidInput("knownAtPosition", "give knownAt or knownAtPosition, not both")
    if known_at_position is not None:
        if known_at_position < 0:
            raise InvalidInput("knownAtPosition", "must not be negative")
        found = head_at_position(engine, known_at_position)
        if known_at_position > found.position and known_at_position > head(engine).position:
            raise InvalidInput(
                "knownAtPosition",
                f"{known_at_position} is beyond the log's head (position {found.position})",
            )
        return found
    if known_at is not None:
        return head_known_at(engine, known_at)
    return head(engine)


def position_for(
    engine: Engine, known_at: datetime | None = None, known_at_position: int | None = None
) -> int:
    """The log position a point-in-time read answers at (its basis): the head's position as
    `head_for` resolves it (0: before the first event), so that an instant and the position
    it resolves to give one answer."""
    return head_for(engine, known_at, known_at_position).position


@dataclass(frozen=True)
class InclusionProof:
    """An event's leaf, its place, and the path that takes it to the head of `tree_size`."""

    stored: StoredLeaf
    head: TreeHead
    path: list[bytes]


def prove_inclusion(
    engine: Engine, events: Table, position: int, tree_size: int | None = None
) -> InclusionProof:
    """The inclusion proof of the event at `position` in the tree of `tree_size` leaves
    (default: the current tree)."""
    found = stored_leaf(engine, events, position)
    if found is None:
        raise NotFound("event at position", str(position))
    tree = _tree(engine, tree_size, "treeSize")
    if found.leaf_index >= tree.tree_size:
        raise InvalidInput(
            "treeSize",
            f"the event at position {position} is leaf {found.leaf_index}: not in a tree of "
            f"{tree.tree_size} leaves (ask for a larger treeSize)",
        )
    return InclusionProof(found, tree, inclusion_proof(engine, found.leaf_index, tree.tree_size))


@dataclass(frozen=True)
class ConsistencyProof:
    """The path showing that the tree of `second.tree_size` leaves appends to `first`'s."""

    first: TreeHead
    second: TreeHead
    path: list[bytes]


def prove_consistency(engine: Engine, first: int, second: int | None = None) -> ConsistencyProof:
    """The consistency proof between two tree sizes (`second` default: the current tree)."""
    old = _tree(engine, first, "from")
    new = _tree(engine, second, "to")
    if not 0 < old.tree_size <= new.tree_size:
        raise InvalidInput("from", f"must be between 1 and to ({new.tree_size})")
    return ConsistencyProof(old, new, consistency_proof(engine, old.tree_size, new.tree_size))


def _tree(engine: Engine, tree_size: int | None, field: str) -> TreeHead:
    if tree_size is None:
        return head(engine)
    if tree_size < 0:
        raise InvalidInput(field, "a tree size must not be negative")
    found = head_of_size(engine, tree_size)
    if found is None:
        raise InvalidInput(field, f"the tree has fewer than {tree_size} leaves")
    return found


@dataclass(frozen=True)
class StreamLeaf:
    """An event of one stream with its leaf as stored and the payload bytes it commits to."""

    stored: StoredLeaf
    state: bytes


def stream_leaves(
    engine: Engine, events: Table, aggregate_id: UUID, up_to: int
) -> list[StreamLeaf]:
    """Every event of one stream at or before log position `up_to`, in version order, with
    its leaf (one query): what an evidence bundle carries."""
    query = (
        select(log_leaves, events.c.id, events.c.originator_id, events.c.originator_version)
        .add_columns(events.c.topic, events.c.state)
        .join(events, events.c.id == log_leaves.c.position)
        .where(events.c.originator_id == aggregate_id, log_leaves.c.position <= up_to)
        .order_by(events.c.originator_version)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        StreamLeaf(StoredLeaf(int(r.leaf_index), bytes(r.salt), leaf_of(r, r)), bytes(r.state))
        for r in rows
    ]


def first_recorded(engine: Engine, events: Table, aggregate_id: UUID) -> datetime | None:
    """When the log recorded the first event of the stream `aggregate_id` (None: never)."""
    query = (
        select(log_leaves.c.recorded_at)
        .join(events, events.c.id == log_leaves.c.position)
        .where(events.c.originator_id == aggregate_id, events.c.originator_version == 1)
    )
    with engine.connect() as connection:
        at = connection.execute(query).scalar()
    if at is None:
        return None
    found: datetime = at
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def inclusion_proofs(
    engine: Engine, leaf_indexes: Iterable[int], tree_size: int
) -> list[list[bytes]]:
    """The inclusion proofs of several leaves in one tree, from one query of their nodes."""
    paths = [merkle.inclusion_nodes(index, tree_size) for index in leaf_indexes]
    found = nodes(engine, merkle.needed([r for ranges in paths for r in ranges]))
    return [merkle.assemble(ranges, found) for ranges in paths]
