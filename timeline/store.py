"""The service's own bookkeeping tables beside the event store: stream names, idempotency keys."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from threading import Lock
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Insert,
    MetaData,
    Select,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from domain.facts import RETRACTED
from timeline import eventstore

metadata = MetaData()

#: One row per aggregate: its kind and slug, written with its first event.
streams = Table(
    "timeline_streams",
    metadata,
    Column("aggregate_id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("slug", String(200), nullable=False),
)

#: One row per idempotency key: the fingerprint of the command and the result it returned.
idempotency_keys = Table(
    "timeline_idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("result", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class CommandResult:
    """What a write returns: the stream, its new version and the event's log position."""

    kind: str
    id: str
    aggregate_id: UUID
    version: int
    position: int
    recorded_at: datetime
    event_type: str

    def to_json(self) -> str:
        data = asdict(self)
        data["aggregate_id"] = str(self.aggregate_id)
        data["recorded_at"] = self.recorded_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> CommandResult:
        data: dict[str, Any] = json.loads(text)
        data["aggregate_id"] = UUID(data["aggregate_id"])
        data["recorded_at"] = datetime.fromisoformat(data["recorded_at"])
        return cls(**data)


def use_wal(engine: Engine) -> None:
    """Put a SQLite file in WAL mode now, while one thread owns it: the event store's library
    switches on its first transaction, where a concurrent reader makes the switch fail with
    "database is locked" (the busy timeout does not cover a journal-mode change)."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")


def find_idempotent(engine: Engine, key: str) -> tuple[str, CommandResult] | None:
    """The fingerprint and result stored under `key`, if any."""
    with engine.connect() as connection:
        row = connection.execute(
            select(idempotency_keys.c.fingerprint, idempotency_keys.c.result).where(
                idempotency_keys.c.key == key
            )
        ).first()
    return None if row is None else (row.fingerprint, CommandResult.from_json(row.result))


def remember(session: Session, key: str, fingerprint: str, result: CommandResult) -> None:
    """Store the key in the same transaction as the events it produced."""
    session.connection().execute(
        insert(idempotency_keys).values(
            key=key,
            fingerprint=fingerprint,
            result=result.to_json(),
            recorded_at=result.recorded_at,
        )
    )


def register_stream(session: Session, aggregate_id: UUID, kind: str, slug: str) -> None:
    session.connection().execute(
        insert(streams).values(aggregate_id=aggregate_id, kind=kind, slug=slug)
    )


def existing_streams(session: Session, aggregate_ids: set[UUID]) -> set[UUID]:
    """Which of the ids have a stream, seen from `session` (so a batch sees its own writes)."""
    if not aggregate_ids:
        return set()
    query = select(streams.c.aggregate_id).where(streams.c.aggregate_id.in_(aggregate_ids))
    return set(session.connection().execute(query).scalars())


def stream_names(engine: Engine, aggregate_ids: set[UUID]) -> dict[UUID, tuple[str, str]]:
    """(kind, slug) of each aggregate id, in one query."""
    if not aggregate_ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(select(streams).where(streams.c.aggregate_id.in_(aggregate_ids)))
        return {row.aggregate_id: (row.kind, row.slug) for row in rows}


def stream_events(
    session: Session, events: Table, aggregate_id: UUID, after: int = 0
) -> list[StoredEvent]:
    """The events of one stream after version `after`, in order, seen from `session`: one
    indexed select on the connection (the library's ORM query costs several times more)."""
    rows = session.connection().execute(
        _stream_query(events), {"aggregate_id": aggregate_id, "after": after}
    )
    return [
        StoredEvent(aggregate_id, row.originator_version, row.topic, bytes(row.state))
        for row in rows
    ]


def positioned_events(
    connection: Connection, events: Table, aggregate_id: UUID, last_version: int
) -> list[tuple[int, StoredEvent]]:
    """The events of one stream up to version `last_version`, in order, each with its log
    position, seen from `connection`: one indexed select (the projector's reload)."""
    query = _POSITIONED_QUERIES.get(id(events))
    if query is None:
        query = _POSITIONED_QUERIES[id(events)] = (
            select(events.c.id, events.c.originator_version, events.c.topic, events.c.state)
            .where(
                events.c.originator_id == bindparam("aggregate_id"),
                events.c.originator_version <= bindparam("last"),
            )
            .order_by(events.c.originator_version)
        )
    rows = connection.execute(query, {"aggregate_id": aggregate_id, "last": last_version})
    return [
        (
            int(row.id),
            StoredEvent(aggregate_id, row.originator_version, row.topic, bytes(row.state)),
        )
        for row in rows
    ]


_POSITIONED_QUERIES: dict[int, Select[Any]] = {}


def insert_events(
    session: Session, recorder: Any, stored_events: Sequence[StoredEvent], *, notify: bool = True
) -> list[Notification]:
    """Insert a command's stored events as the event store does (on PostgreSQL: table lock
    first, NOTIFY after, unless the caller sends it: `notify=False`), with Core inserts on the
    session's connection instead of an ORM flush; the rows and their positions are the same,
    the ORM unit of work is skipped."""
    table = eventstore.events_table(recorder)
    connection = session.connection()
    eventstore.lock_table(recorder, session)  # PostgreSQL: positions commit in insert order
    statement = _insert_statement(table)
    notifications = []
    for event in stored_events:
        row = connection.execute(
            statement,
            {
                "originator_id": event.originator_id,
                "originator_version": event.originator_version,
                "topic": event.topic,
                "state": event.state,
            },
        )
        key = row.inserted_primary_key
        assert key is not None  # an insert's result always has it
        position = key[0]
        notifications.append(
            Notification(
                id=int(position),
                originator_id=event.originator_id,
                originator_version=event.originator_version,
                topic=event.topic,
                state=event.state,
            )
        )
    if notify:
        eventstore.notify(recorder, session)
    return notifications


_INSERTS: dict[int, Insert] = {}


def _insert_statement(events: Table) -> Insert:
    """The event insert for `events`, built once (SQLAlchemy reuses its compiled form)."""
    statement = _INSERTS.get(id(events))
    if statement is None:
        statement = _INSERTS[id(events)] = insert(events)
    return statement


def streams_with_retractions(
    session: Session, events: Table, aggregate_ids: set[UUID]
) -> set[UUID]:
    """Which of the streams hold a retraction, seen from `session`: only those can have no
    believed fact left (one indexed select for all)."""
    if not aggregate_ids:
        return set()
    query = (
        select(events.c.originator_id)
        .where(
            events.c.originator_id.in_(aggregate_ids),
            events.c.topic.like(f"%.{RETRACTED}"),
        )
        .distinct()
    )
    return set(session.connection().execute(query).scalars())


def stream_version(session: Session, events: Table, aggregate_id: UUID) -> int:
    """The latest version of one stream (0 if none), seen from `session`: one indexed select."""
    query = _VERSION_QUERIES.get(id(events))
    if query is None:
        query = _VERSION_QUERIES[id(events)] = select(func.max(events.c.originator_version)).where(
            events.c.originator_id == bindparam("aggregate_id")
        )
    version = session.connection().execute(query, {"aggregate_id": aggregate_id}).scalar()
    return int(version or 0)


_VERSION_QUERIES: dict[int, Select[Any]] = {}
_STREAM_QUERIES: dict[int, Select[Any]] = {}


def _stream_query(events: Table) -> Select[Any]:
    """The stream select for `events`, built once (SQLAlchemy reuses its compiled form)."""
    query = _STREAM_QUERIES.get(id(events))
    if query is None:
        query = (
            select(events.c.originator_version, events.c.topic, events.c.state)
            .where(
                events.c.originator_id == bindparam("aggregate_id"),
                events.c.originator_version > bindparam("after"),
            )
            .order_by(events.c.originator_version)
        )
        _STREAM_QUERIES[id(events)] = query
    return query


@dataclass(frozen=True)
class CachedAggregate:
    """An aggregate and the exact stored form of its last event (its identity in the store)."""

    aggregate: Any
    version: int
    topic: str
    state: bytes

    def ends_with(self, stored: Any) -> bool:
        """Whether `stored` (a StoredEvent) is this aggregate's last event, byte for byte."""
        return (
            stored.originator_version == self.version
            and stored.topic == self.topic
            and bytes(stored.state) == self.state
        )


class AggregateCache:
    """Recently used aggregates by id, so that a command reads only the events newer than
    the cached one instead of replaying the stream.

    An entry is taken out while a command works on it (threads never share one) and put back
    only after its events are saved; the user checks the cached last event against the store
    before trusting an entry, so a rolled-back import or another writer only costs a replay.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[UUID, CachedAggregate] = OrderedDict()
        self._lock = Lock()

    def take(self, aggregate_id: UUID) -> CachedAggregate | None:
        with self._lock:
            return self._entries.pop(aggregate_id, None)

    def put(self, aggregate_id: UUID, entry: CachedAggregate) -> None:
        with self._lock:
            self._entries[aggregate_id] = entry
            self._entries.move_to_end(aggregate_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
