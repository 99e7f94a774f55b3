"""The fan-out under load and across processes: many websocket subscribers on one process, two
API processes on one PostgreSQL database, and the in-process wake-up after a write."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from stream_support import Server, Writer, running_server
from websockets.asyncio.client import connect

from timeline import tokens

pytestmark = pytest.mark.e2e

POSITIONS = "subscription($after: String) { events(after: $after) { position } }"


async def subscribe(url: str, after: int, ready: asyncio.Event | None = None) -> Any:
    """A graphql-transport-ws client (the `websockets` library) subscribed to positions.

    The client sends no keep-alive pings: 200 clients share this test's one event loop, which
    falls behind its own pong deadlines on a busy machine; the server's pings still run."""
    socket = await connect(
        url, subprotocols=["graphql-transport-ws"], max_size=None, ping_interval=None
    )
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": POSITIONS, "variables": {"after": str(after)}},
            }
        )
    )
    return socket


async def collect(socket: Any, count: int) -> list[int]:
    """The next `count` positions (or whatever arrived before an error or completion)."""
    positions: list[int] = []
    while len(positions) < count:
        message = json.loads(await socket.recv())
        if message["type"] != "next" or "errors" in message["payload"]:
            break
        positions.append(message["payload"]["data"]["events"]["position"])
    await socket.close()
    return positions


@pytest.mark.slow
def test_200_websocket_subscribers_on_one_process_each_receive_every_event_of_a_burst(
    sqlite_url: str, tmp_path: Path
) -> None:
    writer = Writer(sqlite_url)
    start = writer.head()
    burst = 1_000

    async def scenario(url: str) -> tuple[list[int], list[list[int]]]:
        sockets = [await subscribe(url, start) for _ in range(200)]
        receiving = [asyncio.create_task(collect(s, burst)) for s in sockets]
        written = await asyncio.to_thread(writer.statements, burst)
        return written, list(await asyncio.gather(*receiving))

    with running_server(sqlite_url, tmp_path / "server.log") as server:
        written, received = asyncio.run(asyncio.wait_for(scenario(server.ws_url), 600))
    writer.close()

    assert len(written) == burst
    assert len(received) == 200
    for positions in received:
        assert positions == written


@pytest.mark.postgres
def test_two_api_processes_on_one_postgres_database_each_see_every_event(
    postgres_url: str, tmp_path: Path
) -> None:
    # Polling is set to ten minutes: only LISTEN/NOTIFY can wake the processes in time.
    quiet = {"TIMELINE_STREAM_POSTGRES_POLL_INTERVAL": "600"}
    writer = Writer(postgres_url)
    start = writer.head()

    async def scenario(urls: list[str]) -> tuple[list[int], list[list[int]]]:
        sockets = [await subscribe(url, start) for url in urls for _ in range(2)]
        receiving = [asyncio.create_task(collect(s, 30)) for s in sockets]
        written = []
        for _ in range(3):  # in bursts, each waking both processes
            written += await asyncio.to_thread(writer.statements, 10)
            await asyncio.sleep(0.2)
        return written, list(await asyncio.gather(*receiving))

    with (
        running_server(postgres_url, tmp_path / "one.log", **quiet) as one,
        running_server(postgres_url, tmp_path / "two.log", **quiet) as two,
    ):
        written, received = asyncio.run(asyncio.wait_for(scenario([one.ws_url, two.ws_url]), 120))
    writer.close()

    assert len(received) == 4
    for positions in received:
        assert positions == written


RECORD = """mutation($input: RecordStatementInput!) { recordStatement(input: $input) {
  position } }"""


def test_a_write_through_the_server_wakes_its_subscribers_without_polling(
    sqlite_url: str, tmp_path: Path
) -> None:
    writer = Writer(sqlite_url)
    token, _ = tokens.create_token(writer.timeline.engine, ["write"], "tests")
    start = writer.head()
    writer.close()

    async def scenario(server: Server) -> tuple[list[int], list[int]]:
        socket = await subscribe(server.ws_url, start)
        receiving = asyncio.create_task(collect(socket, 3))
        written = []
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for n in range(3):
                response = await client.post(
                    "/graphql",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "query": RECORD,
                        "variables": {
                            "input": {
                                "id": f"meta/post-{n}",
                                "actor": "meta",
                                "text": "hello",
                                "effectiveAt": "2022-03-11T10:00:00+00:00",
                            }
                        },
                    },
                )
                written.append(response.json()["data"]["recordStatement"]["position"])
        return written, await receiving

    # Polling is set to ten minutes: only the in-process notification can wake the fan-out.
    with running_server(
        sqlite_url, tmp_path / "server.log", TIMELINE_STREAM_POLL_INTERVAL="600"
    ) as server:
        written, received = asyncio.run(asyncio.wait_for(scenario(server), 120))
    assert received == written
