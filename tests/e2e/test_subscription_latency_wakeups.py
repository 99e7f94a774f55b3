"""Commit to subscriber through the real server, with the backstop poll out of the way (ten
minutes): a writer in another process reaches websocket subscribers through the SQLite file
watch or PostgreSQL's NOTIFY, every event once and in log order, many subscribers at once.
A wake-up that does not work leaves the subscribers waiting until the hang guard fails it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from stream_support import Writer, running_server
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e

EVENTS = "subscription($after: String) { events(after: $after) { position recordedAt } }"
QUIET = {"TIMELINE_STREAM_POLL_INTERVAL": "600", "TIMELINE_STREAM_POSTGRES_POLL_INTERVAL": "600"}


async def subscribe(url: str, after: int) -> Any:
    socket = await connect(url, subprotocols=["graphql-transport-ws"], max_size=None)
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": EVENTS, "variables": {"after": str(after)}},
            }
        )
    )
    return socket


async def collect(socket: Any, count: int) -> list[dict[str, Any]]:
    """The next `count` messages' events (stops early at anything but a plain `next`)."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        message = json.loads(await socket.recv())
        if message["type"] != "next" or "errors" in message["payload"]:
            break
        events.append(message["payload"]["data"]["events"])
    await socket.close()
    return events


def test_writes_from_another_process_reach_every_subscriber_in_order_without_the_poll(
    database_url: str, tmp_path: Path
) -> None:
    writer = Writer(database_url)
    start = writer.head()

    async def scenario(url: str) -> tuple[list[int], list[list[dict[str, Any]]]]:
        sockets = [await subscribe(url, start) for _ in range(20)]
        first = await asyncio.to_thread(writer.statement)  # every subscriber is live after it
        receiving = [asyncio.create_task(collect(s, 11)) for s in sockets]
        written = [first]
        for _ in range(10):
            written.append(await asyncio.to_thread(writer.statement))
            await asyncio.sleep(0.05)  # separate commits, each needing its own wake-up
        return written, list(await asyncio.gather(*receiving))

    with running_server(database_url, tmp_path / "server.log", **QUIET) as server:
        written, received = asyncio.run(asyncio.wait_for(scenario(server.ws_url), 120))
    writer.close()

    assert len(received) == 20
    for events in received:
        assert [event["position"] for event in events] == written
        assert all(event["recordedAt"] for event in events)
