"""PostgreSQL restarted under write load (`pg_ctlcluster` stop, a second, start) while writers
keep calling the API: clients get a clear, retryable UNAVAILABLE error (never a 500), the service
recovers by itself, every acknowledged write is in the log, and an unacknowledged one is
either whole or absent: retrying it with its idempotency key stores it exactly once.

Restarting the cluster disturbs anything else using it, so this runs only against the local
cluster (`pg_lsclusters`) and always leaves it running."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import POSTGRES_DSN, postgres_available
from sqlalchemy import select
from test_api_server import ApiServer, serve

from timeline import integrity, store
from timeline.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

REGISTER = "mutation($i: RegisterActorInput!) { registerActor(input: $i) { id position } }"
WRITERS, BEFORE_RESTART, AFTER_RESTART = 2, 10, 5


def local_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster serving the test DSN's port, if any."""
    if shutil.which("pg_lsclusters") is None or shutil.which("pg_ctlcluster") is None:
        return None
    if not re.search(r"@(127\.0\.0\.1|localhost)(:|/)", POSTGRES_DSN):
        return None
    port = (re.search(r":(\d+)/", POSTGRES_DSN) or re.search("()", "")).group(1) or "5432"
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == port:
            return parts[0], parts[1]
    return None


def pg_ctl(cluster: tuple[str, str], action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ensure_running(cluster: tuple[str, str]) -> None:
    """Start the cluster if it is down, and wait until it accepts connections."""
    deadline = time.monotonic() + 90
    while not postgres_available():
        pg_ctl(cluster, "start")
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not come back")
        time.sleep(1)


@pytest.fixture(name="cluster")
def cluster_fixture() -> Iterator[tuple[str, str]]:
    cluster = local_cluster()
    if cluster is None or not postgres_available():
        pytest.skip("needs the local PostgreSQL cluster and pg_ctlcluster to restart it")
    try:
        yield cluster
    finally:
        ensure_running(cluster)


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


def test_a_postgresql_restart_under_write_load_loses_nothing_and_recovers_by_itself(
    cluster: tuple[str, str], postgres_url: str
) -> None:
    with serve(Settings(database_url=postgres_url)) as api:
        writers = [Writer(api, n) for n in range(WRITERS)]
        threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
        for thread in threads:
            thread.start()
        try:
            wait_until(
                lambda: all(len(w.acknowledged) >= BEFORE_RESTART for w in writers),
                60,
                "writes before the restart",
            )
            # Stopped for a full second, not restarted in one go: a fast restart can fall
            # between two quick writes, and the test must exercise an outage every time.
            stopped = pg_ctl(cluster, "stop")
            assert stopped.returncode == 0, stopped.stderr
            time.sleep(1.0)
            restarted = pg_ctl(cluster, "start")
            assert restarted.returncode == 0, restarted.stderr
            marks = [len(w.acknowledged) for w in writers]
            wait_until(
                lambda: all(
                    len(w.acknowledged) >= m + AFTER_RESTART
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
            ensure_running(cluster)

        errors = [e for w in writers for e in w.errors]
        assert errors, "no writer saw the restart: the test did not exercise an outage"
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
