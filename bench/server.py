"""Figures 2 (HTTP part), 5 and 6 against the real API: uvicorn in a subprocess on the loaded
database, httpx for GraphQL over HTTP, websockets speaking graphql-transport-ws."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.lookups import Lookup, summarise
from bench.measure import console, percentile

ROOT = Path(__file__).resolve().parents[1]
POLICY = """query Policy($id: ID!, $validAt: DateTime, $knownAtPosition: Int) {
  policy(id: $id, validAt: $validAt, knownAtPosition: $knownAtPosition) {
    id title status version validFrom validTo clauses { id heading text scope }
  }
}"""
RECORD = """mutation Record($input: RecordStatementInput!) {
  recordStatement(input: $input) { position }
}"""
EVENTS = "subscription Events($after: String) { events(after: $after) { position recordedAt } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    """`uvicorn entrypoints.asgi:create_app --factory` on `database_url`, as `timeline serve`
    runs it."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.port = _free_port()
        self.log = Path(tempfile.mkstemp(prefix="bench-api-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        env = {**os.environ, "TIMELINE_DATABASE_URL": self.database_url}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "entrypoints.asgi:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"the API did not start: {self.log.read_text()[-2000:]}")

    def memory(self) -> dict[str, float]:
        """Resident set size now and at its peak (VmHWM), in MB, from /proc."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        values = {}
        for line in status.splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
        return values

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.log.unlink(missing_ok=True)


@contextlib.contextmanager
def running(database_url: str) -> Iterator[ApiServer]:
    server = ApiServer(database_url).start()
    try:
        yield server
    finally:
        server.stop()


def _variables(q: Lookup) -> dict[str, Any]:
    return {
        "id": q.slug,
        "validAt": q.valid_at.isoformat(),
        "knownAtPosition": q.known_at,
    }


def time_graphql(server: ApiServer, lookups: list[Lookup], repeats: int) -> dict[str, float]:
    """p50/p99 of the HTTP round trip of `policy(id, validAt, knownAtPosition)`; medians of runs.
    Every answer is checked: errors or a missing policy stop the benchmark."""
    runs = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for q in lookups[:20]:  # warm-up: connection, schema, caches
            _check(client.post("/graphql", json={"query": POLICY, "variables": _variables(q)}))
        for _ in range(repeats):
            samples = []
            for q in lookups:
                body = {"query": POLICY, "variables": _variables(q)}
                start = time.perf_counter()
                response = client.post("/graphql", json=body)
                samples.append(time.perf_counter() - start)
                _check(response)
            runs.append(samples)
    return summarise(runs)


def _check(response: httpx.Response) -> None:
    payload = response.json()
    if response.status_code != 200 or payload.get("errors"):
        raise RuntimeError(f"GraphQL lookup failed: {response.status_code} {payload}")


class ApiWriter:
    """Writes through the API's own `recordStatement` mutation (a bearer token with the
    write scope), so the server's fan-out is woken in-process by its commit."""

    def __init__(self, server: ApiServer, token: str, actor: str) -> None:
        self.client = httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        self.actor = actor
        self.count = 0
        self.run = uuid.uuid4().hex[:8]  # a kept database is measured again on later runs

    def __call__(self) -> int:
        self.count += 1
        variables = {
            "input": {
                "id": f"{self.actor}/bench-statement-{self.run}-{self.count}",
                "actor": self.actor,
                "text": f"statement {self.count}",
                "effectiveAt": datetime.now(UTC).isoformat(),
            }
        }
        response = self.client.post("/graphql", json={"query": RECORD, "variables": variables})
        _check(response)
        return int(response.json()["data"]["recordStatement"]["position"])

    def close(self) -> None:
        self.client.close()


# -- figure 5: commit -> subscriber --------------------------------------------------------------


#: position -> (arrival time, recordedAt as sent); latencies are computed after the run so
#: that the 200 clients in this process do as little as possible per message.
Arrivals = dict[int, tuple[float, str]]


async def _subscribe(
    url: str, after: int, received: Arrivals, ready: asyncio.Event, want: int
) -> None:
    """One graphql-transport-ws subscriber: record when each position arrives."""
    async with connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_queue=None,
        open_timeout=60,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": EVENTS, "variables": {"after": str(after)}},
                }
            )
        )
        ready.set()
        await _receive(ws, received, want)


async def _receive(ws: ClientConnection, received: Arrivals, want: int) -> None:
    while len(received) < want:
        text = await ws.recv()
        now = time.time()  # before parsing: the client's own work is not the server's latency
        message = json.loads(text)
        if message.get("type") == "next":
            event = message["payload"]["data"]["events"]
            received[int(event["position"])] = (now, event["recordedAt"])
        elif message.get("type") in ("error", "complete"):
            raise RuntimeError(f"subscription ended: {message}")


async def subscription_latency(
    server: ApiServer,
    subscribers: int,
    events: int,
    head: int,
    write: Callable[[], int],
    interval: float = 0.2,
) -> dict[str, float]:
    """Open `subscribers` subscriptions after `head`, write `events` events (one every
    `interval` s) in this process, and measure recordedAt -> arrival at each subscriber.
    The collector is off while they listen: a full collection of this process's heap (the
    loaded history) would stall the clients and be counted as the server's latency."""
    gc.collect()
    gc.disable()
    try:
        return await _listen_and_write(server, subscribers, events, head, write, interval)
    finally:
        gc.enable()


async def _listen_and_write(
    server: ApiServer,
    subscribers: int,
    events: int,
    head: int,
    write: Callable[[], int],
    interval: float,
) -> dict[str, float]:
    url = server.url.replace("http://", "ws://") + "/graphql"
    want = events + 1  # the first event is a warm-up: every subscriber is live after it
    received: list[Arrivals] = [{} for _ in range(subscribers)]
    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = []
    for i in range(subscribers):
        tasks.append(asyncio.create_task(_subscribe(url, head, received[i], readies[i], want)))
        if i % 20 == 19:
            await asyncio.sleep(0.05)  # do not open 200 connections in one burst
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    await asyncio.sleep(1.0)
    first = await asyncio.to_thread(write)
    await _until(lambda: all(first in r for r in received), tasks, 60)
    positions = []
    for _ in range(events):
        positions.append(await asyncio.to_thread(write))
        await asyncio.sleep(interval)
    await _until(lambda: all(len(r) >= want for r in received), tasks, 120)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    recorded = {p: datetime.fromisoformat(r[p][1]).timestamp() for r in received for p in r}
    samples = [r[p][0] - recorded[p] for r in received for p in positions if p in r]
    missing = events * subscribers - len(samples)
    if missing:
        console.print(f"[yellow]{missing} deliveries did not arrive in time[/]")
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "deliveries": len(samples),
        "missing": missing,
    }


async def _until(done: Callable[[], bool], tasks: list[asyncio.Task[None]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"a subscriber failed: {failed[0].exception()!r}")
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)
