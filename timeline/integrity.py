"""The log as an RFC 9162 Merkle tree, so that anyone can check that an event is in a cited
head (inclusion proof) and that a later head only appended to it (consistency proof), and
`timeline verify` detects an event altered, removed or written outside the service.

A leaf commits to an event's metadata and to a salted digest of its stored payload (so that
a payload can be redacted without changing the leaf); its canonical JSON is `Leaf.canonical`.
`seal` adds the leaves of a command's events in that command's transaction, with the perfect
subtrees they complete (timeline/merkle.py): O(log n) per event. Positions commit in order
(PostgreSQL: the event store locks its table for inserts; SQLite: the write lock), so the
last leaf read after the insert is the true one, and a batch whose first position follows
the last one this process committed needs no read at all (docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TextClause,
    and_,
    insert,
    or_,
    select,
    text,
)

if TYPE_CHECKING:  # the ORM only types `seal`; reading the head needs SQLAlchemy Core alone
    from sqlalchemy.orm import Session

from timeline import merkle
from timeline.leaf import WIPED, Leaf, leaf_of, read_tombstone, recorded_at_of, stored_digest

metadata = MetaData()

_POSITION = BigInteger().with_variant(Integer(), "sqlite")

#: One row per event: its place in the tree, its salt, and the root of the tree it ends.
log_leaves = Table(
    "timeline_log_leaves",
    metadata,
    Column("position", _POSITION, primary_key=True, autoincrement=False),
    Column("leaf_index", BigInteger, nullable=False, unique=True),
    Column("stream", String(240), nullable=False),
    Column("salt", LargeBinary(16), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Index("ix_timeline_log_leaves_recorded_at", "recorded_at", "position"),
)

#: Every perfect subtree of the tree: (level, index) covers leaves [index << level, ...).
log_nodes = Table(
    "timeline_log_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

SALT_BYTES = 16
MAX_LEVEL = 48  # 2**48 leaves: far beyond any log this service will hold


@dataclass(frozen=True)
class TreeHead:
    """The tree after log position `position`: its size, root and last event's recordedAt
    (size 0: the empty tree, SHA-256 of nothing, no recordedAt)."""

    tree_size: int
    root: bytes
    position: int
    recorded_at: datetime | None

    @property
    def hash(self) -> str:
        """The root hash in hex: what `--expect-head POSITION:HASH` cites."""
        return self.root.hex()


EMPTY_HEAD = TreeHead(0, merkle.EMPTY_ROOT, 0, None)


@dataclass(frozen=True)
class LogHead:
    """A head as cited (POSITION:HASH): a log position and the hex root of the tree after it."""

    position: int
    hash: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of a walk of the tree: `bad_position` is the first problem, if any."""

    checked: int
    head: TreeHead
    bad_position: int | None = None
    reason: str = ""
    #: The redacted events met, as (position, the redaction's reference), in log order.
    redacted: tuple[tuple[int, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.bad_position is None


_INSERT_LEAVES = insert(log_leaves)
_INSERT_NODES = insert(log_nodes)


def seal(
    session: Session,
    notifications: Sequence[Any],
    stream: str,
    recorded_at: Sequence[datetime],
    notify: str | None = None,
) -> TreeHead:
    """Add the events just inserted in this transaction (Notification-like: id, originator_id,
    originator_version, topic, state; with their stream `kind:slug` and recordedAt, in the
    same order) to the tree. Returns the new head; its frontier is kept for the next seal
    once the transaction commits. `notify`: on PostgreSQL, the NOTIFY channel to signal in
    the same statement (delivered at commit, as the event store's own NOTIFY)."""
    connection = session.connection()  # Core on the session's connection: no ORM overhead
    items = [(note, stream, at) for note, at in zip(notifications, recorded_at, strict=True)]
    if connection.dialect.name != "postgresql":
        notify = None
    built = _append(connection, sorted(items, key=lambda item: int(item[0].id)), None, notify)
    if built.leaves:
        _settle_on_commit(session, connection.engine, built)
    elif notify is not None:
        connection.execute(_PG_NOTIFY, {"channel": notify})
    return built.head


def append_leaves(
    connection: Connection,
    items: Sequence[tuple[Any, str, datetime]],
    salts: Sequence[bytes] | None = None,
) -> TreeHead:
    """Append (event row, stream, recordedAt) in position order. Each leaf gets a fresh random
    salt, or, for a restore, the one given in `salts`."""
    return _append(connection, items, salts).head


def _append(
    connection: Connection,
    items: Sequence[tuple[Any, str, datetime]],
    salts: Sequence[bytes] | None,
    notify: str | None = None,
) -> _Built:
    """The seal's work: no read when the batch's first position directly follows the last one
    this process committed (positions commit in order, so no other leaf came between; a
    rolled-back seal is never kept), else one read of the last leaf and the frontier; then
    the inserts (one statement on PostgreSQL). Bench figure 11 measures what it costs."""
    cached = _frontiers.get(connection.engine)
    if cached is not None and items and int(items[0][0].id) == cached[2] + 1:
        size, position, frontier = cached[0], cached[2], dict(cached[3])
    else:
        size, position, frontier = _read_frontier(connection)
    built = _build(items, size, position, frontier, salts)
    if built is None:
        raise RuntimeError(f"an event's position is not after the tree's last {position}")
    if built.leaves:
        _insert(connection, built, notify)
    return built


@dataclass
class _Built:
    """The rows a batch of leaves adds and the tree they make."""

    leaves: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    head: TreeHead
    frontier: dict[int, bytes]


def _build(
    items: Sequence[tuple[Any, str, datetime]],
    size: int,
    position: int,
    frontier: dict[int, bytes],
    salts: Sequence[bytes] | None,
) -> _Built | None:
    """The leaf and node rows of `items` appended to a tree of `size` leaves ending at
    `position` with `frontier` (changed in place); None if an item is not after `position`."""
    leaves: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    head = EMPTY_HEAD
    for number, (note, stream, at) in enumerate(items):
        if int(note.id) <= position:
            return None
        salt = os.urandom(SALT_BYTES) if salts is None else bytes(salts[number])
        leaf = Leaf(
            int(note.id),
            stream,
            note.originator_id,
            int(note.originator_version),
            str(note.topic),
            at,
            stored_digest(salt, note.state),  # a restored redacted event keeps its digest
        )
        head = grow(frontier, size, leaf.hash(), nodes, position=leaf.position, at=at)
        leaves.append(
            {
                "position": leaf.position,
                "leaf_index": size,
                "stream": stream,
                "salt": salt,
                "recorded_at": at,
                "root": head.root,
            }
        )
        size, position = size + 1, leaf.position
    return _Built(leaves, nodes, head, frontier)


def _insert(connection: Connection, built: _Built, notify: str | None = None) -> None:
    """Insert the leaf and node rows: on PostgreSQL in one statement, with the NOTIFY of
    `notify` (so the tree adds no round trip to a command), elsewhere one executemany per
    table."""
    if connection.dialect.name != "postgresql":
        connection.execute(_INSERT_LEAVES, built.leaves)
        connection.execute(_INSERT_NODES, built.nodes)
        return
    params: dict[str, Any] = {}
    for number, row in enumerate(built.leaves):
        params.update({f"{name}{number}": value for name, value in row.items()})
    for number, row in enumerate(built.nodes):
        params.update({f"{name}{number}": value for name, value in row.items()})
    if notify is not None:
        params["channel"] = notify
    connection.execute(_pg_insert(len(built.leaves), len(built.nodes), notify is not None), params)


_PG_INSERTS: dict[tuple[int, int, bool], TextClause] = {}
#: An unquoted NOTIFY name is folded to lower case; pg_notify takes the name as written.
_PG_NOTIFY = text("SELECT pg_notify(lower(:channel), '')")


def _pg_insert(leaves: int, nodes: int, notify: bool) -> TextClause:
    """Both inserts (and the NOTIFY) as one statement, per shape (a command adds 1 leaf and
    1 to ~log n nodes: a few shapes, each prepared once)."""
    statement = _PG_INSERTS.get((leaves, nodes, notify))
    if statement is None:
        leaf_rows = ", ".join(
            f"(:position{i}, :leaf_index{i}, :stream{i}, :salt{i}, :recorded_at{i}, :root{i})"
            for i in range(leaves)
        )
        node_rows = ", ".join(f"(:level{i}, :idx{i}, :hash{i})" for i in range(nodes))
        inserts = (
            f"leaves AS (INSERT INTO {log_leaves.name} "
            f"(position, leaf_index, stream, salt, recorded_at, root) VALUES {leaf_rows}), "
            f"nodes AS (INSERT INTO {log_nodes.name} (level, idx, hash) VALUES {node_rows})"
        )
        tail = "SELECT pg_notify(lower(:channel), '')" if notify else "SELECT 1"
        statement = text(f"WITH {inserts} {tail}")
        _PG_INSERTS[(leaves, nodes, notify)] = statement
    return statement


_settling: list[bool] = []


def _settle_on_commit(session: Session, engine: Engine, built: _Built) -> None:
    """Keep `built`'s frontier for this process's next seal when `session` commits (and
    forget it when it rolls back)."""
    if not _settling:
        from sqlalchemy import event
        from sqlalchemy.orm import Session as SessionClass

        event.listen(SessionClass, "after_commit", _settled)
        event.listen(SessionClass, "after_rollback", _forget)
        _settling.append(True)
    head = built.head
    session.info[_PENDING] = (
        engine,
        (head.tree_size, head.root, head.position, dict(built.frontier)),
    )


_PENDING = "timeline.integrity.frontier"


def _settled(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        _frontiers[pending[0]] = pending[1]


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def backfill(connection: Connection, events: Table, streams: Table, batch: int = 1000) -> int:
    """Add the events that have no leaf yet (a log from before the tree, migration 0002), in
    position order; returns how many. Their recordedAt is the one in their payload."""
    added, after = 0, 0
    while True:
        rows = connection.execute(
            select(events).where(events.c.id > after).order_by(events.c.id).limit(batch)
        ).all()
        if not rows:
            return added
        items = [_Row(r) for r in rows]
        ids = {item.originator_id for item in items}
        names = {
            s.aggregate_id: f"{s.kind}:{s.slug}"
            for s in connection.execute(select(streams).where(streams.c.aggregate_id.in_(ids)))
        }
        append_leaves(
            connection, [(i, names[i.originator_id], recorded_at_of(i.state)) for i in items]
        )
        added, after = added + len(rows), int(rows[-1].id)


class _Row:
    """An event row read through a reflected table (UUIDs may come back as 16 bytes)."""

    def __init__(self, row: Any) -> None:
        self.id = int(row.id)
        raw = row.originator_id
        self.originator_id = raw if isinstance(raw, UUID) else UUID(bytes=bytes(raw))
        self.originator_version = int(row.originator_version)
        self.topic = str(row.topic)
        self.state = bytes(row.state)


_LAST_LEAF = (
    select(log_leaves.c.leaf_index, log_leaves.c.position, log_leaves.c.root)
    .order_by(log_leaves.c.leaf_index.desc())
    .limit(1)
)
#: Per database: the frontier this process last wrote, as (tree size, root, last position,
#: frontier).
_frontiers: weakref.WeakKeyDictionary[Engine, tuple[int, bytes, int, dict[int, bytes]]] = (
    weakref.WeakKeyDictionary()
)


def _read_frontier(connection: Connection) -> tuple[int, int, dict[int, bytes]]:
    """The tree's size, last position and frontier (level -> node). The last leaf is one
    index lookup; the frontier is this process's own from its last seal when that leaf still
    ends the tree with the same root (a rolled-back seal or another writer fails the check),
    else its O(log n) nodes in one query."""
    row = connection.execute(_LAST_LEAF).first()
    if row is None:
        return 0, 0, {}
    size, position, root = int(row.leaf_index) + 1, int(row.position), bytes(row.root)
    cached = _frontiers.get(connection.engine)
    if cached is not None and cached[0] == size and cached[1] == root:
        return size, position, dict(cached[3])
    keys = merkle.root_nodes(size)
    found = fetch_nodes(connection, keys)
    missing = [node for node in keys if node not in found]
    if missing:
        raise RuntimeError(f"the tree lacks its node {missing[0]}: it was altered")
    return size, position, {level: found[(level, idx)] for level, idx in keys}


def fetch_nodes(connection: Connection, keys: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored nodes named, in one query by primary key."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    if connection.dialect.name == "postgresql":  # one plan: index lookups from two arrays
        found = connection.execute(
            _PG_NODES, {"levels": [k[0] for k in keys], "idxs": [k[1] for k in keys]}
        )
        return {(int(r.level), int(r.idx)): bytes(r.hash) for r in found}
    slots = 1 << (len(keys) - 1).bit_length()  # a few statement shapes, each compiled once
    params: dict[str, int] = {}
    for slot in range(slots):
        level, idx = keys[slot] if slot < len(keys) else (-1, -1)
        params[f"l{slot}"], params[f"i{slot}"] = level, idx
    rows = connection.execute(_node_query(slots), params)
    return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


_NODE_QUERIES: dict[int, TextClause] = {}
_PG_NODES = text(
    f"""
    SELECT n.level, n.idx, n.hash
    FROM unnest(CAST(:levels AS integer[]), CAST(:idxs AS bigint[])) AS k (level, idx)
    JOIN {log_nodes.name} AS n ON n.level = k.level AND n.idx = k.idx
    """
)


def _node_query(slots: int) -> TextClause:
    """`slots` primary-key probes OR'ed (a row-value IN is a full scan on SQLite, and a
    statement of a new shape per proof would be compiled per proof)."""
    query = _NODE_QUERIES.get(slots)
    if query is None:
        where = " OR ".join(f"(level = :l{i} AND idx = :i{i})" for i in range(slots))
        query = text(f"SELECT level, idx, hash FROM {log_nodes.name} WHERE {where}")
        _NODE_QUERIES[slots] = query
    return query


def grow(
    frontier: dict[int, bytes],
    index: int,
    leaf: bytes,
    nodes: list[dict[str, Any]],
    *,
    position: int,
    at: datetime | None,
) -> TreeHead:
    """Add leaf `index` to `frontier` (level -> perfect subtree on the right edge), collect
    the nodes it completes into `nodes`, and return the head it makes (also how a restore
    rebuilds the tree of an export in memory, timeline/backup.py)."""
    completed = merkle.completed_nodes(index, leaf, frontier.__getitem__)
    for (level, idx), digest in completed:
        nodes.append({"level": level, "idx": idx, "hash": digest})
        frontier.pop(level, None)
    top_level = completed[-1][0][0]
    frontier[top_level] = completed[-1][1]
    root = merkle.fold([frontier[level] for level in sorted(frontier, reverse=True)])
    return TreeHead(index + 1, root, position, at)


# -- the head and the walk -------------------------------------------------------------------

_LATEST = (
    select(log_leaves.c.leaf_index, log_leaves.c.position, log_leaves.c.root)
    .add_columns(log_leaves.c.recorded_at)
    .order_by(log_leaves.c.leaf_index.desc())
    .limit(1)
)


def head_of(row: Any) -> TreeHead:
    """The head a leaf row ends (None: the empty tree)."""
    if row is None:
        return EMPTY_HEAD
    at = row.recorded_at
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # SQLite: naive
    return TreeHead(int(row.leaf_index) + 1, bytes(row.root), int(row.position), at)


def head(engine: Engine) -> TreeHead:
    """The tree's head as committed now."""
    with engine.connect() as connection:
        return head_of(connection.execute(_LATEST).first())


def verify(
    engine: Engine, events: Table, batch: int = 1000, expect: LogHead | None = None
) -> Verdict:
    """Walk the log and the tree together, recompute every leaf, node and root, and report
    the first position where they disagree: an altered event, a removed one, an event not
    added by the service, an altered tree. With `expect`, a head cited earlier must be the
    tree's head at its position, and the message tells a mistyped citation from a rewrite."""
    with engine.connect() as connection:
        sealed = head_of(connection.execute(_LATEST).first())  # later commits seal themselves
        verdict = _Walk(connection, events, sealed).run(batch)
        if verdict.ok:
            verdict = _unsealed_tail(connection, events, sealed, verdict)
        if verdict.ok and expect is not None:
            verdict = _check_cited(connection, expect, verdict)
    return verdict


TOMBSTONE_ALTERED = (
    "the redacted event's tombstone was altered in the database (it is not the one its "
    "redaction recorded)"
)
OUTSIDE = "the event has no leaf in the tree (written to the database outside the service)"
REMOVED = "the event was removed from the database"
ALTERED = "the event was altered in the database (its content no longer matches its leaf)"


class _Walk:
    """One pass over leaves, events and nodes in pages of positions, rebuilding the tree."""

    def __init__(self, connection: Connection, events: Table, sealed: TreeHead) -> None:
        self.connection, self.events, self.sealed = connection, events, sealed
        self.frontier: dict[int, bytes] = {}
        self.index = 0
        self.tombstones: list[_Tombstoned] = []

    def run(self, batch: int) -> Verdict:
        after = 0
        while after < self.sealed.position:
            leaves = self.connection.execute(
                select(log_leaves)
                .where(log_leaves.c.position > after, log_leaves.c.position <= self.sealed.position)
                .order_by(log_leaves.c.position)
                .limit(batch)
            ).all()
            last = leaves[-1].position if leaves else self.sealed.position
            problem = self._page(after, int(last), {int(r.position): r for r in leaves})
            if problem is not None:
                return Verdict(self.index, self.sealed, *problem)
            after = int(last)
        problem = self._redactions()
        if problem is not None:
            return Verdict(self.index, self.sealed, *problem)
        redacted = tuple((t.position, t.reference) for t in self.tombstones)
        return Verdict(self.index, self.sealed, redacted=redacted)

    def _redactions(self) -> tuple[int, str] | None:
        """Each tombstone must be the one its redaction event recorded (by SHA-256): that
        event keeps its salt, so a tombstone rewritten after the redaction is detected."""
        for found in self.tombstones:
            row = self.connection.execute(
                select(self.events.c.topic, self.events.c.state).where(
                    self.events.c.originator_id == found.aggregate_id,
                    self.events.c.originator_version == found.redaction_version,
                )
            ).first()
            recorded = _redaction_record(row)
            if recorded is None or recorded != (found.version, found.digest):
                return found.position, TOMBSTONE_ALTERED
        return None

    def _page(self, after: int, last: int, leaves: dict[int, Any]) -> tuple[int, str] | None:
        column = self.events.c.id
        rows = self.connection.execute(
            select(self.events).where(column > after, column <= last).order_by(column)
        ).all()
        events = {int(r.id): r for r in rows}
        stored = self._nodes(self.index, self.index + len(leaves))
        for position in sorted(events.keys() | leaves.keys()):
            if position not in leaves:
                return position, OUTSIDE
            if position not in events:
                return position, REMOVED
            problem = self._check(events[position], leaves[position], stored)
            if problem is not None:
                return position, problem
        return None

    def _check(self, event: Any, row: Any, stored: dict[merkle.Node, bytes]) -> str | None:
        if int(row.leaf_index) != self.index:
            return (
                f"the event's leaf is number {row.leaf_index}, not {self.index}: an earlier "
                "event was removed with its leaf, or the tree was rewritten"
            )
        leaf = leaf_of(event, row).hash()
        completed: list[dict[str, Any]] = []
        head = grow(self.frontier, self.index, leaf, completed, position=0, at=None)
        if stored.get((0, self.index)) != leaf:
            return ALTERED
        for node in completed[1:]:
            if stored.get((node["level"], node["idx"])) != node["hash"]:
                return (
                    f"the tree's node at level {node['level']} index {node['idx']} was altered "
                    "or removed (proofs through it would fail)"
                )
        if head.root != bytes(row.root):
            return "the root recorded with this event was altered in the database"
        if bytes(row.salt) == WIPED:
            tombstoned = _Tombstoned.of(event)
            if tombstoned is None:
                return TOMBSTONE_ALTERED
            self.tombstones.append(tombstoned)
        self.index += 1
        return None

    def _nodes(self, first: int, end: int) -> dict[merkle.Node, bytes]:
        """The stored nodes that leaves [first, end) complete (a superset), in one query."""
        if end <= first:
            return {}
        ranges = []
        for level in range(MAX_LEVEL):
            low, high = first >> level, (end >> level) - 1
            if high < low:
                break
            ranges.append(and_(log_nodes.c.level == level, log_nodes.c.idx.between(low, high)))
        rows = self.connection.execute(select(log_nodes).where(or_(*ranges)))
        return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


@dataclass(frozen=True)
class _Tombstoned:
    """A redacted event met in the walk, to check against its redaction event."""

    position: int
    aggregate_id: UUID
    version: int
    reference: str
    redaction_version: int
    digest: str

    @classmethod
    def of(cls, event: Any) -> _Tombstoned | None:
        state = bytes(event.state)
        note = read_tombstone(state)
        if note is None or "@" not in note.event:
            return None
        version = note.event.rpartition("@")[2]
        if not version.isdigit():
            return None
        raw = event.originator_id
        return cls(
            int(event.id),
            raw if isinstance(raw, UUID) else UUID(bytes=bytes(raw)),
            int(event.originator_version),
            note.event,
            int(version),
            hashlib.sha256(state).hexdigest(),
        )


def _redaction_record(row: Any) -> tuple[int, str] | None:
    """(target, tombstone digest) a stored redaction event records; None if it is not one."""
    if row is None or not str(row.topic).endswith(".EventRedacted"):
        return None
    try:
        data = json.loads(bytes(row.state))
        return int(data["target"]), str(data["tombstone_digest"])
    except (ValueError, KeyError, TypeError):
        return None


def _unsealed_tail(
    connection: Connection, events: Table, sealed: TreeHead, verdict: Verdict
) -> Verdict:
    """Events after the walked head must have leaves too; the events are read before the
    leaves so that a write committing meanwhile is seen with its leaf."""
    positions = (
        connection.execute(
            select(events.c.id).where(events.c.id > sealed.position).order_by(events.c.id)
        )
        .scalars()
        .all()
    )
    if not positions:
        return verdict
    sealed_later = set(
        connection.execute(
            select(log_leaves.c.position).where(log_leaves.c.position > sealed.position)
        )
        .scalars()
        .all()
    )
    for position in positions:
        if position not in sealed_later:
            return Verdict(verdict.checked, sealed, int(position), OUTSIDE)
    return verdict


def _check_cited(connection: Connection, expect: LogHead, verdict: Verdict) -> Verdict:
    """A cited head against the verified tree: the log is self-consistent by now, so a cited
    hash that differs is a typo when it is close to the true one, else a rewritten log."""
    row = connection.execute(
        select(log_leaves.c.root).where(log_leaves.c.position == expect.position)
    ).first()
    sealed = verdict.head
    if row is None:
        if expect.position > sealed.position:
            reason = (
                f"the cited position is beyond the log, which ends at {sealed.position}: a "
                "mistyped citation, or the events after it were removed with their leaves"
            )
        else:
            reason = "no event has the cited position: a mistyped citation (check the position)"
        return Verdict(verdict.checked, sealed, expect.position, reason)
    true = bytes(row.root).hex()
    if true == expect.hash:
        return verdict
    differing = sum(a != b for a, b in zip(true, expect.hash, strict=True))
    if differing <= 4 or sorted(true) == sorted(expect.hash):
        reason = (
            f"mistyped citation: the head at this position is {true}; the cited hash differs "
            f"in {differing} of 64 digits (the log itself verifies)"
        )
    else:
        reason = (
            f"the log was rewritten after it was cited: the tree at this position has root "
            f"{true}, not the cited one (the log verifies, so it was rewritten whole; a head "
            "signed by the service's key proves which is the original)"
        )
    return Verdict(verdict.checked, sealed, expect.position, reason)
