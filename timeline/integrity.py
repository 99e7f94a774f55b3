"""A hash chain over the event log, so that an event altered or removed in the database is
detected (`timeline verify`) and an export can cite the log's head (position, hash).

Each event's hash is sha256(previous hash + canonical JSON of the event as stored): its
position, aggregate id, version, topic and state bytes (hex). The chain rows are written by
`seal` in the same transaction as the events, so the chain never lags the log: on PostgreSQL
the event store locks its table for inserts, so positions commit in order and the previous
hash read after the insert is the true predecessor; on SQLite the write lock serialises.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    text,
)

if TYPE_CHECKING:  # the ORM only types `seal`; reading the head needs SQLAlchemy Core alone
    from sqlalchemy.orm import Session

#: The hash before the first event.
GENESIS = "0" * 64

metadata = MetaData()

#: One row per event, written in the event's own transaction.
log_hashes = Table(
    "timeline_log_hashes",
    metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("hash", String(64), nullable=False),
    Column("previous_hash", String(64), nullable=False),
)


@dataclass(frozen=True)
class StoredRow:
    """An event row as the store holds it; what the hash covers."""

    position: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class LogHead:
    """The latest sealed position and its hash (position 0 and GENESIS for an empty log)."""

    position: int
    hash: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of a walk of the chain: `bad_position` is the first problem, if any."""

    checked: int
    head: LogHead
    bad_position: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_position is None


def event_hash(previous: str, row: StoredRow) -> str:
    """sha256 over the previous hash and the canonical JSON of the stored event."""
    return hashlib.sha256((previous + _canonical(row)).encode()).hexdigest()


def _canonical(row: StoredRow) -> str:
    """The canonical JSON of a stored event (ASCII: its UTF-8 is itself)."""
    return json.dumps(
        {
            "position": row.position,
            "aggregateId": str(row.aggregate_id),
            "version": row.version,
            "topic": row.topic,
            "state": bytes(row.state).hex(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _seal_first(digest: str) -> Any:
    """The statement that links the first new event to the head it reads, in one round trip
    instead of two: `digest(text)` is the same sha256(previous + canonical JSON) as in Python
    (PostgreSQL's own, or on SQLite a Python function registered on the connection).

    It starts with INSERT, not WITH: Python's sqlite3 opens its implicit transaction only
    before a statement that starts with INSERT/UPDATE/DELETE/REPLACE, so a leading WITH
    would run (and commit) on its own outside the command's transaction."""
    return text(
        f"""
        INSERT INTO {log_hashes.name} (position, hash, previous_hash)
        WITH head AS (
            SELECT position, hash FROM {log_hashes.name} ORDER BY position DESC LIMIT 1
        ), previous AS (
            SELECT COALESCE((SELECT position FROM head), 0) AS position,
                   COALESCE((SELECT hash FROM head), :genesis) AS hash
        )
        SELECT :position, {digest.format("previous.hash || :body")}, previous.hash
        FROM previous WHERE previous.position < :position
        RETURNING hash
        """
    )


#: Built once per dialect: SQLAlchemy then reuses their compiled form.
_SEAL_FIRST = {
    "postgresql": _seal_first("encode(sha256(convert_to({}, 'UTF8')), 'hex')"),
    "sqlite": _seal_first("timeline_sha256({})"),
}


def _sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _with_hash_function(connection: Connection) -> Connection:
    """Register `timeline_sha256` on this SQLite connection once (remembered in the pool's
    per-DBAPI-connection info, which lives as long as the DBAPI connection)."""
    fairy = connection.connection
    if "timeline_sha256" not in fairy.info:
        driver = fairy.driver_connection
        assert driver is not None
        driver.create_function("timeline_sha256", 1, _sha256_hex, deterministic=True)
        fairy.info["timeline_sha256"] = True
    return connection


def seal(session: Session, notifications: Sequence[Any]) -> LogHead:
    """Chain the events just inserted in this transaction (Notification-like objects with
    id, originator_id, originator_version, topic, state). Returns the new head."""
    connection = session.connection()  # Core on the session's connection: no ORM overhead
    stored = [
        StoredRow(
            int(note.id),
            note.originator_id,
            int(note.originator_version),
            str(note.topic),
            bytes(note.state),
        )
        for note in sorted(notifications, key=lambda n: int(n.id))
    ]
    seal_first = _SEAL_FIRST.get(connection.dialect.name)
    if stored and seal_first is not None:
        if connection.dialect.name == "sqlite":
            _with_hash_function(connection)
        first = stored.pop(0)
        digest = connection.execute(
            seal_first,
            {"genesis": GENESIS, "position": first.position, "body": _canonical(first)},
        ).scalar()
        if digest is None:
            position = _head(connection).position
            raise RuntimeError(f"position {first.position} is not after the chain head {position}")
        previous, position = str(digest), first.position
    else:
        last = _head(connection)
        previous, position = last.hash, last.position
    rows = []
    for row in stored:
        if row.position <= position:
            raise RuntimeError(f"position {row.position} is not after the chain head {position}")
        digest = event_hash(previous, row)
        rows.append({"position": row.position, "hash": digest, "previous_hash": previous})
        previous, position = digest, row.position
    if rows:
        connection.execute(_LINK, rows)
    return LogHead(position, previous)


def head(engine: Engine) -> LogHead:
    """The chain's head as committed now."""
    with engine.connect() as connection:
        return _head(connection)


#: Built once: SQLAlchemy then reuses its compiled form without recomputing a cache key.
_HEAD = (
    select(log_hashes.c.position, log_hashes.c.hash).order_by(log_hashes.c.position.desc()).limit(1)
)
_LINK = insert(log_hashes)


def _head(connection: Connection) -> LogHead:
    row = connection.execute(_HEAD).first()
    return LogHead(0, GENESIS) if row is None else LogHead(int(row.position), str(row.hash))


def _pages(
    connection: Connection, table: Table, key: str, after: int, stop: int | None, batch: int
) -> Iterator[Any]:
    """Rows of `table` ordered by `key`, read in pages (keyset pagination)."""
    column = table.c[key]
    while True:
        query = select(table).where(column > after).order_by(column).limit(batch)
        if stop is not None:
            query = query.where(column <= stop)
        page = connection.execute(query).all()
        yield from page
        if len(page) < batch:
            return
        after = getattr(page[-1], key)


def verify(
    engine: Engine, events: Table, batch: int = 1000, expect: LogHead | None = None
) -> Verdict:
    """Walk the log and the chain together, recompute every hash and report the first
    position where they disagree: an altered event, a removed one, an event not sealed by
    the service, a broken link. With `expect`, a head cited earlier must still be on the chain.
    """
    with engine.connect() as connection:
        sealed = _head(connection)  # walk up to here; later commits seal themselves
        verdict = _walk(connection, events, sealed, batch)
        if verdict.ok:
            verdict = _unsealed_tail(connection, events, sealed, verdict)
    if verdict.ok and expect is not None:
        verdict = _check_cited(engine, expect, verdict)
    return verdict


def _walk(connection: Connection, events: Table, sealed: LogHead, batch: int) -> Verdict:
    chain = _pages(connection, log_hashes, "position", 0, sealed.position, batch)
    stored = _pages(connection, events, "id", 0, sealed.position, batch)
    previous, checked = GENESIS, 0
    event = next(stored, None)
    for link in chain:
        position = int(link.position)
        if event is not None and int(event.id) < position:
            return _bad(
                checked,
                sealed,
                int(event.id),
                "the event is not in the hash chain (written to the database outside the service)",
            )
        if link.previous_hash != previous:
            return _bad(
                checked,
                sealed,
                position,
                "the chain link does not follow the one "
                "before it (an earlier event or its hash was removed or rewritten)",
            )
        if event is None or int(event.id) != position:
            return _bad(checked, sealed, position, "the event was removed from the database")
        row = StoredRow(
            position,
            event.originator_id,
            int(event.originator_version),
            str(event.topic),
            bytes(event.state),
        )
        if event_hash(previous, row) != link.hash:
            return _bad(
                checked,
                sealed,
                position,
                "the event was altered in the database (its content no longer matches its hash)",
            )
        previous, checked = str(link.hash), checked + 1
        event = next(stored, None)
    if event is not None:
        return _bad(
            checked,
            sealed,
            int(event.id),
            "the event is not in the hash chain (written to the database outside the service)",
        )
    return Verdict(checked, sealed)


def _unsealed_tail(
    connection: Connection, events: Table, sealed: LogHead, verdict: Verdict
) -> Verdict:
    """Events after the walked head must be sealed too; the events are read before the
    chain rows so that a write committing meanwhile is seen with its seal."""
    positions = (
        connection.execute(
            select(events.c.id).where(events.c.id > sealed.position).order_by(events.c.id)
        )
        .scalars()
        .all()
    )
    if not positions:
        return verdict
    chained = set(
        connection.execute(
            select(log_hashes.c.position).where(log_hashes.c.position > sealed.position)
        )
        .scalars()
        .all()
    )
    for position in positions:
        if position not in chained:
            return _bad(
                verdict.checked,
                sealed,
                int(position),
                "the event is not in the hash chain (written to the database outside the service)",
            )
    return verdict


def _check_cited(engine: Engine, expect: LogHead, verdict: Verdict) -> Verdict:
    with engine.connect() as connection:
        found = connection.execute(
            select(log_hashes.c.hash).where(log_hashes.c.position == expect.position)
        ).scalar()
    if found != expect.hash:
        return _bad(
            verdict.checked,
            verdict.head,
            expect.position,
            "the cited head is not on the chain (the log was rewritten after it was cited)"
            if found
            else "the cited head's position is not in the chain",
        )
    return verdict


def _bad(checked: int, sealed: LogHead, position: int, reason: str) -> Verdict:
    return Verdict(checked, sealed, position, reason)
