"""The read models' SQLAlchemy Core tables, in their own MetaData, beside the event store.

Every version table is bitemporal: a row holds one state over the valid-time interval
[valid_from, valid_to) as believed over the record-time interval [known_from, known_to);
NULL means open. Rows are keyed by (opened_by, seq): the log position of the event that
opened them and their index among the rows it opened, so a replay gives the same keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.types import DateTime, TypeDecorator

#: Bump when the shape or the meaning of any table below changes: the runner then rebuilds.
SCHEMA_VERSION = 1

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bitemporal(name: str, *columns: Column[Any], key: str = "slug") -> Table:
    """A version table: its own columns plus the bitemporal frame and its lookup index."""
    table = Table(
        name, metadata,
        Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("aggregate_id", Uuid, nullable=False),
        Column("slug", String(200), nullable=False),
        Column("valid_from", UTCDateTime, nullable=False),
        Column("valid_to", UTCDateTime),
        Column("known_from", UTCDateTime, nullable=False),
        Column("known_to", UTCDateTime),
        Column("closed_by", BigInteger),
        *columns,
        Column("state", Text, nullable=False),
    )
    Index(f"ix_{name}_lookup", table.c[key], table.c.valid_from, table.c.known_from)
    Index(f"ix_{name}_open", table.c.aggregate_id, table.c.known_to)
    return table


policy_versions = _bitemporal(
    "projection_policy_versions",
    Column("owner", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("jurisdictions", Text, nullable=False),  # ",RU,UA," — clause scopes, for LIKE
)

action_versions = _bitemporal(
    "projection_action_versions",
    Column("authority", String(200), nullable=False),
    Column("jurisdiction", String(8), nullable=False),
    Column("targets", Text, nullable=False),  # ",instagram,facebook,"
    Column("status", String(16), nullable=False),
)

statement_versions = _bitemporal(
    "projection_statement_versions",
    Column("actor", String(200), nullable=False),
)

actor_versions = _bitemporal(
    "projection_actor_versions",
    Column("name", Text, nullable=False),
)

#: inResponseTo links of action and statement rows to the policies they cite (one per policy).
responses = Table(
    "projection_responses", metadata,
    Column("source_kind", String(32), primary_key=True),
    Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("policy_slug", String(200), primary_key=True),
    Index("ix_projection_responses_policy", "policy_slug", "source_kind"),
)

#: The feed: one row per believed fact, bitemporal in record time only.
timeline_entries = Table(
    "projection_timeline", metadata,
    Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("aggregate_id", Uuid, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("slug", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("effective_at", UTCDateTime, nullable=False),
    Column("announced_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("known_from", UTCDateTime, nullable=False),
    Column("known_to", UTCDateTime),
    Column("closed_by", BigInteger),
    Column("state", Text, nullable=False),  # summary, actors, jurisdictions, policies
    Index("ix_projection_timeline_order", "effective_at", "position", "known_from"),
    Index("ix_projection_timeline_open", "aggregate_id", "known_to"),
)

#: Filter tags of feed rows: `actor:meta`, `jurisdiction:RU`, `policy:meta/hate-speech`.
timeline_tags = Table(
    "projection_timeline_tags", metadata,
    Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("tag", String(240), primary_key=True),
    Index("ix_projection_timeline_tags_tag", "tag", "opened_by", "seq"),
)

#: Every fact seen, by aggregate: what a projector re-folds when that aggregate changes.
facts = Table(
    "projection_facts", metadata,
    Column("aggregate_id", Uuid, primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("type", String(64), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("effective_at", UTCDateTime),
    Column("announced_at", UTCDateTime),
    Column("data", Text, nullable=False),
    Index("ix_projection_facts_recorded", "aggregate_id", "recorded_at"),
)

#: One row per projection: the last log position applied and the schema it was built with.
tracking = Table(
    "projection_tracking", metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("schema_version", Integer, nullable=False),
)

#: The tables a rebuild drops and recreates (everything but the tracking table).
READ_MODEL_TABLES = (policy_versions, action_versions, statement_versions, actor_versions,
                     responses, timeline_entries, timeline_tags, facts)


def create_tables(engine: Engine) -> None:
    """Create the read-model tables that do not exist yet (idempotent)."""
    metadata.create_all(engine)


def drop_read_models(engine: Engine) -> None:
    """Drop the read-model tables (not the tracking table); a rebuild recreates them."""
    metadata.drop_all(engine, tables=list(READ_MODEL_TABLES))
