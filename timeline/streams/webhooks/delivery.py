"""Webhook delivery: the worker that POSTs each endpoint's events in order, with leases.

A failed attempt is retried with exponential backoff; the next event waits, so order holds.
A 2xx answer advances the endpoint's cursor in the same transaction that logs it, so a
restart resumes after the last acknowledged event: nothing is lost and nothing acknowledged
is sent again. Several processes may run workers on one database: an endpoint is leased to
one worker at a time (`_Ledger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, insert, or_, select, update

from timeline.application import Timeline
from timeline.egress import EgressPolicy
from timeline.egress_http import post, vetted_client
from timeline.streams.reader import EventReader, StreamEvent
from timeline.streams.settings import WebhookSettings
from timeline.streams.webhooks.registry import (
    Endpoint,
    create_tables,
    deliveries,
    endpoint_from_row,
    endpoints,
)
from timeline.streams.webhooks.signing import signed_request

log = logging.getLogger("timeline.webhooks")


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
        return None if row is None else endpoint_from_row(row)

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
