"""Webhooks: endpoints with a durable cursor, a delivery log, and the worker that delivers.

Each endpoint receives the events its filter selects, one at a time in log order, as the
CloudEvents JSON envelope signed per Standard Webhooks (`webhook-id` is the event id,
`webhook-timestamp`, `webhook-signature: v1,<HMAC-SHA256>`). A failed attempt is retried with
exponential backoff; the next event waits, so order holds. A 2xx answer advances the
endpoint's cursor in the same transaction that logs it, so a restart resumes after the last
acknowledged event: nothing is lost and nothing acknowledged is sent again. Several processes
may run workers on one database: an endpoint is leased to one worker at a time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field
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
    or_,
    select,
    update,
)
from standardwebhooks.webhooks import Webhook

from domain.errors import NotFound
from timeline import cursors
from timeline.application import Timeline
from timeline.egress import EgressPolicy, EgressSettings
from timeline.egress_http import post, vetted_client
from timeline.event_stream import EventFilter, EventReader, StreamEvent

log = logging.getLogger("timeline.webhooks")
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


class WebhookSettings(EgressSettings):
    """Delivery tuning (`TIMELINE_WEBHOOK_*`), with the egress policy's and caps' settings."""

    backoff_base: float = Field(
        default=1.0, gt=0, description="Seconds before the 1st retry; doubles each attempt."
    )
    backoff_max: float = Field(default=600.0, gt=0, description="Longest wait between tries.")
    timeout: float = Field(
        default=10.0, gt=0, description="Seconds each step (connect, write, read) may wait."
    )
    lease: float = Field(
        default=60.0,
        gt=0,
        description="Seconds an endpoint stays leased to one worker without renewal.",
    )
    poll_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between looks for "
        "new events and endpoints when nothing wakes the worker.",
    )
    batch: int = Field(default=100, ge=1, description="Events read at once per endpoint.")


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    secret: str
    filter: EventFilter
    cursor: int
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
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
    metadata.create_all(engine)


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _endpoint(row: Any) -> Endpoint:
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
        "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        event_filter or EventFilter(),
        cursor,
        datetime.now(UTC),
    )
    create_tables(timeline.engine)
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
    create_tables(engine)
    with engine.connect() as connection:
        rows = connection.execute(select(endpoints).order_by(endpoints.c.created_at))
        return [_endpoint(row) for row in rows]


def get_endpoint(engine: Engine, endpoint_id: str) -> Endpoint:
    with engine.connect() as connection:
        row = connection.execute(select(endpoints).where(endpoints.c.id == endpoint_id)).first()
    if row is None:
        raise NotFound("webhook", endpoint_id)
    return _endpoint(row)


def remove_endpoint(engine: Engine, endpoint_id: str) -> None:
    with engine.begin() as connection:
        if connection.execute(delete(endpoints).where(endpoints.c.id == endpoint_id)).rowcount == 0:
            raise NotFound("webhook", endpoint_id)


def list_deliveries(
    engine: Engine, endpoint_id: str | None = None, limit: int = 50, before: int | None = None
) -> list[Delivery]:
    """Delivery attempts, newest first; `before` pages by delivery id."""
    create_tables(engine)
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


def signed_request(
    endpoint: Endpoint, event: StreamEvent, now: datetime
) -> tuple[dict[str, str], str]:
    """Standard Webhooks headers and the body for one event."""
    body = event.cloudevent_json
    signature = Webhook(endpoint.secret).sign(event.reference, now, body)
    return {
        "webhook-id": event.reference,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }, body


def backoff(settings: WebhookSettings, attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...)."""
    return float(min(settings.backoff_max, settings.backoff_base * 2 ** min(attempt - 1, 30)))


class LeaseLost(Exception):
    """Another worker holds the endpoint now; stop delivering to it."""


class _Ledger:
    """The worker's database side: leases, cursors, the delivery log (sync, run in threads)."""

    def __init__(self, engine: Engine, owner: str, lease: float) -> None:
        self.engine, self.owner, self.lease = engine, owner, lease

    def endpoint_ids(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(endpoints.c.id)).scalars())

    def claim(self, endpoint_id: str) -> Endpoint | None:
        """Take or renew the lease; the endpoint as stored, or None if another worker has it."""
        now = time.time()
        with self.engine.begin() as connection:
            claimed = connection.execute(
                update(endpoints)
                .where(endpoints.c.id == endpoint_id)
                .where(
                    or_(
                        endpoints.c.lease_owner.is_(None),
                        endpoints.c.lease_owner == self.owner,
                        endpoints.c.lease_until < now,
                    )
                )
                .values(lease_owner=self.owner, lease_until=now + self.lease)
            ).rowcount
            if not claimed:
                return None
            row = connection.execute(select(endpoints).where(endpoints.c.id == endpoint_id)).first()
        return None if row is None else _endpoint(row)

    def release(self, endpoint_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(endpoints)
                .where(endpoints.c.id == endpoint_id)
                .where(endpoints.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    def record(
        self,
        endpoint_id: str,
        event: StreamEvent,
        attempt: int,
        started: float,
        status: int | None,
        error: str | None,
        succeeded: bool,
    ) -> None:
        """Log one attempt; a success also moves the cursor, in the same transaction."""
        with self.engine.begin() as connection:
            if succeeded:
                self._advance(connection, endpoint_id, event.position)
            connection.execute(
                insert(deliveries).values(
                    endpoint_id=endpoint_id,
                    event_id=event.reference,
                    position=event.position,
                    attempt=attempt,
                    attempted_at=started,
                    status_code=status,
                    error=error,
                    succeeded=succeeded,
                    duration_ms=int((time.time() - started) * 1000),
                )
            )

    def skip_to(self, endpoint_id: str, position: int) -> None:
        """Move the cursor over events the filter does not select."""
        with self.engine.begin() as connection:
            self._advance(connection, endpoint_id, position)

    def _advance(self, connection: Any, endpoint_id: str, position: int) -> None:
        moved = connection.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .where(endpoints.c.lease_owner == self.owner)
            .where(endpoints.c.cursor < position)
            .values(cursor=position, lease_until=time.time() + self.lease)
        ).rowcount
        if not moved:
            raise LeaseLost(endpoint_id)


class WebhookWorker:
    """Delivers to every endpoint, each in its own task, in order, with backoff."""

    def __init__(self, timeline: Timeline, settings: WebhookSettings | None = None) -> None:
        self.timeline = timeline
        self.settings = settings or WebhookSettings()
        self._ledger = _Ledger(timeline.engine, str(uuid.uuid4()), self.settings.lease)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._waiters: set[asyncio.Event] = set()
        self._generation = 0
        self._client: httpx.AsyncClient | None = None
        self._policy = EgressPolicy.from_settings(self.settings)

    async def start(self) -> None:
        await asyncio.to_thread(create_tables, self.timeline.engine)
        self._client = vetted_client(self._policy, self.settings.timeout)
        self._supervisor = asyncio.create_task(self._supervise(), name="webhooks")

    async def stop(self) -> None:
        """Let in-flight deliveries finish (so none is sent twice), then release leases."""
        self._stopping.set()
        tasks = [t for t in (self._supervisor, *self._tasks.values()) if t is not None]
        _, pending = (
            await asyncio.wait(tasks, timeout=self.settings.deadline + 2)
            if tasks
            else (set(), set())
        )
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()

    def poke(self, *_: Any) -> None:
        """New events may be there: look now (call on the event loop)."""
        self._generation += 1
        for waiter in self._waiters:
            waiter.set()

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                ids = await asyncio.to_thread(self._ledger.endpoint_ids)
            except Exception:
                log.exception("could not list webhook endpoints")
                ids = []
            for endpoint_id in ids:
                task = self._tasks.get(endpoint_id)
                if task is None or task.done():
                    self._tasks[endpoint_id] = asyncio.create_task(self._serve(endpoint_id))
            await self._pause(self.settings.poll_interval)

    async def _pause(self, seconds: float, seen: int | None = None) -> None:
        """Sleep until `seconds` pass, the worker stops or new events arrive (after the
        poke generation `seen`, when given)."""
        if seen is not None and seen != self._generation:
            return
        woken = asyncio.Event()
        self._waiters.add(woken)
        waits = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(woken.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiters.discard(woken)
            for waiter in waits:
                waiter.cancel()

    async def _serve(self, endpoint_id: str) -> None:
        reader: EventReader | None = None
        try:
            while not self._stopping.is_set():
                endpoint = await asyncio.to_thread(self._ledger.claim, endpoint_id)
                if endpoint is None:
                    if not await asyncio.to_thread(self._exists, endpoint_id):
                        return
                    await self._pause(self.settings.lease / 4)
                    continue
                if reader is None:
                    reader = EventReader(self.timeline, tags=endpoint.filter.needs_tags)
                seen = self._generation
                page = await asyncio.to_thread(reader.read, endpoint.cursor, self.settings.batch)
                if not page:
                    await self._pause(self.settings.poll_interval, seen)
                    continue
                await self._deliver_page(endpoint, page)
        except LeaseLost:
            log.warning("webhook %s: lease lost to another worker", endpoint_id)
        except Exception:
            log.exception("webhook %s: worker failed; it restarts", endpoint_id)
        finally:
            if self._stopping.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._ledger.release, endpoint_id)

    def _exists(self, endpoint_id: str) -> bool:
        return endpoint_id in self._ledger.endpoint_ids()

    async def _deliver_page(self, endpoint: Endpoint, page: list[StreamEvent]) -> None:
        for event in page:
            if self._stopping.is_set():
                return
            if endpoint.filter.matches(event):
                await self._deliver(endpoint, event)
        if not endpoint.filter.matches(page[-1]):
            await asyncio.to_thread(self._ledger.skip_to, endpoint.id, page[-1].position)

    async def _deliver(self, endpoint: Endpoint, event: StreamEvent) -> None:
        """POST until a 2xx; wait longer after each failure. Returns early only on stop."""
        assert self._client is not None
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            started = time.time()
            headers, body = signed_request(endpoint, event, datetime.now(UTC))
            outcome = await post(
                self._client,
                self._policy,
                endpoint.url,
                body,
                headers,
                deadline=self.settings.deadline,
                max_response_bytes=self.settings.max_response_bytes,
            )
            await asyncio.to_thread(
                self._ledger.record,
                endpoint.id,
                event,
                attempt,
                started,
                outcome.status,
                outcome.error,
                outcome.succeeded,
            )
            if outcome.succeeded:
                return
            await self._pause_for_retry(backoff(self.settings, attempt))
            if await asyncio.to_thread(self._ledger.claim, endpoint.id) is None:
                raise LeaseLost(endpoint.id)

    async def _pause_for_retry(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
