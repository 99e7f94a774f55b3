"""The webhook registry: its two tables, its settings, and the endpoints and delivery log as
the API and the CLI see them (register, list, remove, page through attempts).

The tables are permanent (they cannot be rebuilt from the log): Alembic migrates them with
the others when a writable Timeline starts (timeline/migrations); reading never creates them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)

from domain.errors import NotFound
from timeline import cursors, migrations
from timeline.application import Timeline
from timeline.egress import EgressPolicy
from timeline.streams.reader import EventFilter
from timeline.streams.webhooks.signing import new_secret

metadata = MetaData()

#: One row per endpoint; `cursor` is the position of the last event it acknowledged (or
#: skipped by its filter). `lease_*` says which worker delivers to it now.
endpoints = Table(
    "timeline_webhook_endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(100), nullable=False),
    Column("filter", Text, nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("lease_owner", String(36)),
    Column("lease_until", Float),
)

#: One row per delivery attempt, successful or not.
deliveries = Table(
    "timeline_webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint_id", String(36), nullable=False, index=True),
    Column("event_id", String(300), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", Float, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("succeeded", Boolean, nullable=False),
    Column("duration_ms", Integer, nullable=False),
)


@dataclass(frozen=True)
class Endpoint:
    """A registered receiver: where to POST, its signing secret, its filter and cursor."""

    id: str
    url: str
    secret: str
    filter: EventFilter
    cursor: int
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One logged delivery attempt and its outcome."""

    id: int
    endpoint_id: str
    event_id: str
    position: int
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    succeeded: bool
    duration_ms: int


def create_tables(engine: Engine) -> None:
    """The tables exist after this: they are migrated with the others (timeline.migrations),
    a no-op once done in this process."""
    migrations.upgrade(engine)


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def endpoint_from_row(row: Any) -> Endpoint:
    """An `endpoints` row as an Endpoint (its filter decoded)."""
    return Endpoint(
        row.id,
        row.url,
        row.secret,
        EventFilter.from_dict(json.loads(row.filter)),
        row.cursor,
        _instant(row.created_at),
    )


def add_endpoint(
    timeline: Timeline,
    url: str,
    event_filter: EventFilter | None = None,
    after: int | None = None,
    policy: EgressPolicy | None = None,
) -> Endpoint:
    """Register an endpoint; it receives events after `after` (default: from now on).
    Its secret (`whsec_...`) is generated here and returned once, for the receiver. The URL
    must pass the egress policy (`policy`, default: from the environment)."""
    (policy or EgressPolicy.from_settings()).check_url(url)
    if after is not None:
        cursors.check_position(after, "after")
    cursor = timeline.head_position() if after is None else after
    endpoint = Endpoint(
        str(uuid.uuid4()),
        url,
        new_secret(),
        event_filter or EventFilter(),
        cursor,
        datetime.now(UTC),
    )
    with timeline.engine.begin() as connection:
        connection.execute(
            insert(endpoints).values(
                id=endpoint.id,
                url=url,
                secret=endpoint.secret,
                cursor=cursor,
                filter=json.dumps(endpoint.filter.to_dict()),
                created_at=endpoint.created_at.timestamp(),
            )
        )
    return endpoint


def list_endpoints(engine: Engine) -> list[Endpoint]:
    """Every endpoint, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(select(endpoints).order_by(endpoints.c.created_at))
        return [endpoint_from_row(row) for row in rows]


def get_endpoint(engine: Engine, endpoint_id: str) -> Endpoint:
    """The endpoint `endpoint_id` (NotFound if there is none)."""
    with engine.connect() as connection:
        row = connection.execute(select(endpoints).where(endpoints.c.id == endpoint_id)).first()
    if row is None:
        raise NotFound("webhook", endpoint_id)
    return endpoint_from_row(row)


def remove_endpoint(engine: Engine, endpoint_id: str) -> None:
    """Delete the endpoint (NotFound if there is none); its delivery log stays."""
    with engine.begin() as connection:
        if connection.execute(delete(endpoints).where(endpoints.c.id == endpoint_id)).rowcount == 0:
            raise NotFound("webhook", endpoint_id)


def list_deliveries(
    engine: Engine, endpoint_id: str | None = None, limit: int = 50, before: int | None = None
) -> list[Delivery]:
    """Delivery attempts, newest first; `before` pages by delivery id."""
    query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if endpoint_id is not None:
        query = query.where(deliveries.c.endpoint_id == endpoint_id)
    if before is not None:
        query = query.where(deliveries.c.id < before)
    with engine.connect() as connection:
        return [
            Delivery(
                r.id,
                r.endpoint_id,
                r.event_id,
                r.position,
                r.attempt,
                _instant(r.attempted_at),
                r.status_code,
                r.error,
                r.succeeded,
                r.duration_ms,
            )
            for r in connection.execute(query)
        ]
