"""PostgreSQL stopped (or killed, as a crash) under write load and started again while writers
keep calling the API: clients get a clear, retryable UNAVAILABLE error (never a 500), the service
recovers by itself, every acknowledged write is in the log, and an unacknowledged one is
either whole or absent: retrying it with its idempotency key stores it exactly once.

The server is a throwaway one of the test's own (tests/support/postgres_server.py), never the
machine's. It stays down until every writer has seen a write fail, so each run exercises the
outage: the test cannot pass, or fail, by the luck of where the outage falls between writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support.postgres_server import (
    PostgresServer,
    require_postgres_binaries,
    throwaway_postgres,
)
from test_api_server import ApiServer, serve

from timeline import integrity, store
from timeline.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

REGISTER = "mutation($i: RegisterActorInput!) { registerActor(input: $i) { id position } }"
WRITERS, BEFORE_OUTAGE, AFTER_OUTAGE = 2, 10, 5


@pytest.fixture(name="postgres")
def postgres_fixture() -> Iterator[PostgresServer]:
    """A server of this test's own, to stop and kill; deleted afterwards."""
    bindir = require_postgres_binaries()
    with throwaway_postgres(bindir) as server:
        yield server


@dataclass
class Writer:
    """Registers actors one after another, each with an idempotency key; notes outcomes."""

    api: ApiServer
    number: int
    acknowledged: dict[str, int] = field(default_factory=dict)  # key -> position
    unacknowledged: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def data(self, key: str) -> dict[str, Any]:
        return {
            "id": key,
            "name": key,
            "kind": "organisation",
            "idempotencyKey": key,
            "effectiveAt": "2022-03-01T00:00:00+00:00",
        }

    def send(self, client: httpx.Client, key: str) -> dict[str, Any] | None:
        try:
            response = client.post(
                "/graphql", json={"query": REGISTER, "variables": {"i": self.data(key)}}
            )
        except httpx.HTTPError:
            return None
        self.statuses.append(response.status_code)
        body: dict[str, Any] = response.json()
        return body

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.api.write_token}"}
        with httpx.Client(base_url=self.api.url, headers=headers, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                key = f"w{self.number}-{n}"
                n += 1
                body = self.send(client, key)
                if body and not body.get("errors"):
                    self.acknowledged[key] = body["data"]["registerActor"]["position"]
                else:
                    self.unacknowledged.append(key)
                    self.errors.extend((body or {}).get("errors") or [{"transport": True}])
                    time.sleep(0.05)


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_a_postgresql_restart_under_write_load_loses_nothing_and_recovers_by_itself(
    postgres: PostgresServer, outage: str
) -> None:
    with serve(Settings(database_url=postgres.url)) as api:
        writers = [Writer(api, n) for n in range(WRITERS)]
        threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
        for thread in threads:
            thread.start()
        try:
            wait_until(
                lambda: all(len(w.acknowledged) >= BEFORE_OUTAGE for w in writers),
                60,
                "writes before the outage",
            )
            # "stop" is a clean shutdown (sessions ended, checkpoint), "kill" a crash (no
            # checkpoint: the start replays the WAL). Down until every writer saw it.
            if outage == "stop":
                postgres.stop()
            else:
                postgres.kill()
            wait_until(
                lambda: all(w.unacknowledged for w in writers),
                60,
                "every writer to see a write fail during the outage",
            )
            postgres.start()
            marks = [len(w.acknowledged) for w in writers]
            wait_until(
                lambda: all(
                    len(w.acknowledged) >= m + AFTER_OUTAGE
                    for w, m in zip(writers, marks, strict=True)
                ),
                90,
                "the service to recover by itself",
            )
        finally:
            for writer in writers:
                writer.stop.set()
            for thread in threads:
                thread.join(60)

        errors = [e for w in writers for e in w.errors]
        assert all(w.errors for w in writers), "a writer did not see the outage"
        assert all(status < 500 for w in writers for status in w.statuses), [
            s for w in writers for s in w.statuses if s >= 500
        ]
        for error in errors:
            assert error.get("extensions", {}).get("code") == "UNAVAILABLE", error
            assert "retry" in error["message"]
        check_every_write_is_whole(api, writers)
        assert api.services.wait_for(api.services.timeline.head_position(), 60)
        assert httpx.get(api.url + "/readyz", timeout=30).status_code == 200


def check_every_write_is_whole(api: ApiServer, writers: list[Writer]) -> None:
    """Acknowledged writes are in the log at their positions; unacknowledged ones, retried
    with their key, are stored exactly once; the chain verifies."""
    timeline = api.services.timeline
    logged = {entry.position: entry for entry in timeline.iter_log()}
    for writer in writers:
        for key, position in writer.acknowledged.items():
            assert position in logged and logged[position].fact.data.get("slug", key) == key
        headers = {"Authorization": f"Bearer {api.write_token}"}
        for key in writer.unacknowledged:
            body = httpx.post(
                api.url + "/graphql",
                headers=headers,
                timeout=30,
                json={"query": REGISTER, "variables": {"i": writer.data(key)}},
            ).json()
            assert "errors" not in body, body
    with timeline.engine.connect() as connection:
        streams = {
            row.slug: row.aggregate_id
            for row in connection.execute(
                select(store.streams.c.slug, store.streams.c.aggregate_id)
            )
        }
    every_key = [k for w in writers for k in [*w.acknowledged, *w.unacknowledged]]
    for key in every_key:
        assert len(timeline.facts_of("actor", key)) == 1, key
        assert key in streams
    table = timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    verdict = integrity.verify(timeline.engine, table)
    assert verdict.ok, verdict.reason
    assert verdict.checked == len(every_key)
