"""Figure 9: `/healthz` while hostile clients send the refused requests of issue 12, against
`/healthz` on the same idle server in the same run (the floor).

The attackers send, in a loop and concurrently, the documents that once froze or slowed the
service: a 39-level fragment chain, 499 copies of one field, a ~1 MB document, bare JSON
values, JSON nested 1,200 levels. Every answer must be a refusal (4xx or a GraphQL error):
an accepted or crashed attack stops the benchmark rather than being timed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.database import fresh_database
from bench.measure import Figure, Report, console, percentile
from bench.server import running

ATTACKERS = 4
SAMPLES = 200


def fragment_chain(levels: int) -> str:
    """The issue's fragment bomb: each fragment spreads the previous one twice."""
    parts = ["fragment G1 on Query { logHead { position } }"]
    parts += [f"fragment G{i} on Query {{ ...G{i - 1} ...G{i - 1} }}" for i in range(2, levels + 1)]
    return " ".join(parts) + f" query {{ ...G{levels} }}"


def hostile_requests() -> list[dict[str, Any]]:
    """Keyword arguments of `httpx.AsyncClient.post` for each attack."""
    return [
        {"json": {"query": fragment_chain(39)}},
        {"json": {"query": "{ " + " ".join(["logHead { position }"] * 499) + " }"}},
        {"json": {"query": "{ logHead { position } }", "pad": "x" * 1_000_000}},
        {"content": b'"x"', "headers": {"Content-Type": "application/json"}},
        {"content": b"[" * 1200 + b"]" * 1200, "headers": {"Content-Type": "application/json"}},
    ]


async def _attack(client: httpx.AsyncClient, stop: asyncio.Event, sent: list[int]) -> None:
    requests = hostile_requests()
    while not stop.is_set():
        for request in requests:
            response = await client.post("/graphql", **request)
            refused = response.status_code >= 400 or "errors" in response.json()
            if not refused or response.status_code >= 500:
                raise RuntimeError(f"an attack was not refused: {response.status_code}")
            sent[0] += 1


async def _healthz(client: httpx.AsyncClient, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        response = await client.get("/healthz")
        samples.append(time.perf_counter() - start)
        response.raise_for_status()
        await asyncio.sleep(0.005)
    return samples


async def _measure(url: str) -> tuple[list[float], list[float], int]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as probe:
        await _healthz(probe, 20)  # warm-up
        idle = await _healthz(probe, SAMPLES)
        stop, sent = asyncio.Event(), [0]
        clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(ATTACKERS)]
        attackers = [asyncio.create_task(_attack(c, stop, sent)) for c in clients]
        try:
            await asyncio.sleep(0.5)
            attacked = await _healthz(probe, SAMPLES)
        finally:
            stop.set()
            await asyncio.gather(*attackers)
            for client in clients:
                await client.aclose()
    return idle, attacked, sent[0]


def hostile_figure(report: Report, database: str) -> None:
    """Figure 9 on a fresh database of `database`'s kind."""
    with fresh_database(database, "bench_hostile") as url, running(url) as server:
        idle, attacked, sent = asyncio.run(_measure(server.url))
    idle_p50, attacked_p50 = percentile(idle, 50), percentile(attacked, 50)
    ratio = attacked_p50 / idle_p50
    console.print(
        f"figure 9: /healthz p50 idle {idle_p50 * 1e3:.2f} ms, under attack "
        f"{attacked_p50 * 1e3:.2f} ms (p99 {percentile(attacked, 99) * 1e3:.2f} ms), "
        f"{sent} hostile requests refused"
    )
    report.add(
        Figure(
            figure="9",
            name=f"/healthz p50 while {ATTACKERS} clients send refused attacks",
            value=attacked_p50 * 1e3,
            unit="ms",
            baseline_name="/healthz p50 idle, same server",
            baseline=idle_p50 * 1e3,
            ratio=ratio,
            target="p99 under attack < 250 ms (answers while refusing)",
            met=percentile(attacked, 99) < 0.25,
            extra={
                "attacked_p99_ms": percentile(attacked, 99) * 1e3,
                "idle_p99_ms": percentile(idle, 99) * 1e3,
                "hostile_requests": sent,
            },
        )
    )
