"""The GraphQL subscription `events(after, filter)` over graphql-transport-ws, with real clients
(gql over websockets, and raw websockets where the test needs to control reading) against the
real server in its own process; the writer records facts from the test process."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from stream_support import Writer, running_server
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e

EVENTS = gql("""
subscription Events($after: String, $filter: EventFilter) {
  events(after: $after, filter: $filter) { id position type aggregateId payload }
}""")
POSITIONS = gql(
    "subscription Positions($after: String, $filter: EventFilter) "
    "{ events(after: $after, filter: $filter) { position } }"
)


@pytest.fixture
def writer(database_url: str) -> Iterator[Writer]:
    w = Writer(database_url)
    try:
        yield w
    finally:
        w.close()


def transport(url: str) -> WebsocketsTransport:
    return WebsocketsTransport(url=url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])


async def receive(
    url: str,
    after: str | None,
    count: int,
    *,
    filter: dict[str, Any] | None = None,
    on: dict[int, Any] | None = None,
    query: Any = EVENTS,
) -> list[dict[str, Any]]:
    """Subscribe with gql and collect `count` events; `on[n]` runs (in a thread) after the
    n-th event, to write while connected."""
    received: list[dict[str, Any]] = []
    async with Client(transport=transport(url)) as session:
        request = GraphQLRequest(query, variable_values={"after": after, "filter": filter})
        async for result in session.subscribe(request):
            received.append(result["events"])
            if on and len(received) in on:
                await asyncio.to_thread(on[len(received)])
            if len(received) == count:
                break
    return received


def run(coroutine: Any, guard: float = 120) -> Any:
    """Run the client; the guard only stops a broken server from hanging the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, guard))


def test_subscription_sends_the_backlog_after_the_cursor_then_live_events_in_order(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(4)  # 1..6
    live: list[int] = []
    with running_server(database_url, tmp_path / "server.log") as server:
        events = run(
            receive(server.ws_url, "2", 4 + 5, on={4: lambda: live.extend(writer.statements(5))})
        )

    assert [e["position"] for e in events] == list(range(3, 12))
    assert [e["position"] for e in events[4:]] == live
    assert events[0] == {
        "id": "statement:meta/statement-1@1",
        "position": 3,
        "type": "StatementRecorded",
        "aggregateId": "meta/statement-1",
        "payload": events[0]["payload"],
    }
    assert events[0]["payload"]["text"] == "statement 1"


def test_subscription_resumes_exactly_from_the_last_cursor_after_a_reconnect(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(3)  # 1..5
    with running_server(database_url, tmp_path / "server.log") as server:
        first = run(receive(server.ws_url, None, 3))
        writer.statements(2)  # 6, 7 while disconnected
        cursor = str(first[-1]["position"])
        resumed = run(receive(server.ws_url, cursor, 5, on={4: lambda: writer.statements(1)}))

    assert [e["position"] for e in first] == [1, 2, 3]
    assert [e["position"] for e in resumed] == [4, 5, 6, 7, 8]


def test_subscription_filter_selects_by_aggregate_kind_and_type(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(2)
    first = writer.restriction("roskomnadzor/instagram", "RU")
    with running_server(database_url, tmp_path / "server.log") as server:
        events = run(
            receive(
                server.ws_url,
                None,
                2,
                filter={
                    "aggregateKinds": ["regulatory-action"],
                    "types": ["RegulatoryActionAnnounced"],
                },
                on={
                    1: lambda: (
                        writer.statements(2),
                        writer.restriction("roskomnadzor/facebook", "RU"),
                    )
                },
            )
        )
    assert [e["id"] for e in events] == [
        "regulatory-action:roskomnadzor/instagram@1",
        "regulatory-action:roskomnadzor/facebook@1",
    ]
    assert events[0]["position"] == first


def test_subscription_filter_selects_by_actor_and_jurisdiction(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.timeline.register_actor(
        {
            "id": "instagram",
            "name": "Instagram",
            "kind": "platform",
            "effectiveAt": "2021-01-01T00:00:00+00:00",
        }
    )
    writer.restriction("roskomnadzor/meta-ban", "RU")
    first = writer.restriction("roskomnadzor/instagram", "RU", targets=("instagram",))
    with running_server(database_url, tmp_path / "server.log") as server:
        events = run(
            receive(
                server.ws_url,
                None,
                2,
                filter={"actors": ["instagram"], "jurisdictions": ["ru"]},
                on={
                    1: lambda: (
                        writer.restriction("kz/instagram", "KZ", targets=("instagram",)),
                        writer.statements(1),
                        writer.restriction(
                            "roskomnadzor/instagram-2", "RU", targets=("instagram",)
                        ),
                    )
                },
            )
        )
    assert [e["id"] for e in events] == [
        "regulatory-action:roskomnadzor/instagram@1",
        "regulatory-action:roskomnadzor/instagram-2@1",
    ]
    assert events[0]["position"] == first


def test_a_bad_cursor_is_refused_naming_the_argument(sqlite_url: str, tmp_path: Path) -> None:
    with (
        running_server(sqlite_url, tmp_path / "server.log") as server,
        pytest.raises(TransportQueryError) as refused,
    ):
        run(receive(server.ws_url, "yesterday", 1))
    error = refused.value.errors[0] if refused.value.errors else {}
    assert "after" in error.get("message", "")
    assert error.get("extensions", {}).get("code") == "BAD_INPUT"


async def open_raw_subscription(url: str, query: str) -> Any:
    """A graphql-transport-ws subscription whose messages the test reads only when it wants:
    a small receive buffer and one queued message, so unread messages back up to the server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock.connect((host, int(port)))
    ws = await connect(
        url, sock=sock, subprotocols=["graphql-transport-ws"], max_queue=1, max_size=None
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    return ws


async def drain(ws: Any) -> tuple[list[int], dict[str, Any]]:
    """Positions received until the operation ended, and the message that ended it."""
    positions: list[int] = []
    ending: dict[str, Any] = {}
    async for raw in ws:
        message = json.loads(raw)
        if message["type"] == "next" and "errors" not in message["payload"]:
            positions.append(message["payload"]["data"]["events"]["position"])
        elif message["type"] in ("next", "error"):
            ending = message
        elif message["type"] == "complete":
            break
    await ws.close()
    return positions, ending


def test_a_slow_subscriber_is_ended_with_a_clear_reason_and_resumes_from_its_cursor(
    sqlite_url: str, tmp_path: Path
) -> None:
    writer = Writer(sqlite_url)  # 1, 2: actors
    count = 500

    def burst() -> list[int]:  # large, incompressible events: unread ones fill the network
        return [writer.statement(secrets.token_urlsafe(45_000)) for _ in range(count)]

    async def scenario(
        url: str,
    ) -> tuple[list[int], list[int], dict[str, Any], list[int], list[int]]:
        slow = await open_raw_subscription(
            url, 'subscription { events(after: "2") { position payload } }'
        )
        fast = asyncio.create_task(receive(url, "2", count, query=POSITIONS))
        await asyncio.sleep(0.5)  # both subscriptions are live before the burst
        written = await asyncio.to_thread(burst)
        fast_positions = [e["position"] for e in await fast]
        slow_positions, ending = await drain(slow)  # only now does it read what it got
        cursor = slow_positions[-1]
        rest = await receive(url, str(cursor), written[-1] - cursor, query=POSITIONS)
        return written, fast_positions, ending, slow_positions, [e["position"] for e in rest]

    with running_server(
        sqlite_url, tmp_path / "server.log", TIMELINE_STREAM_BUFFER="150"
    ) as server:
        written, fast_positions, ending, slow, rest = run(scenario(server.ws_url), 300)
    writer.close()

    assert fast_positions == written  # the others got every event, in order, meanwhile
    errors = ending["payload"]["errors"] if ending["type"] == "next" else ending["payload"]
    assert errors[0]["extensions"]["code"] == "SLOW_SUBSCRIBER"
    assert "too slow" in errors[0]["message"]
    assert f"resume from cursor {slow[-1]}" in errors[0]["message"]
    assert len(slow) < count  # it was cut off before the end...
    assert slow + rest == written  # ...and resuming from its cursor lost and repeated nothing
