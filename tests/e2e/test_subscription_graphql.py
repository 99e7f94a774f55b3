"""The GraphQL subscription `events(after, filter)` over graphql-transport-ws, with real clients
(gql over websockets, and raw websockets where the test needs to control reading) against the
real server in its own process; the writer records facts from the test process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from stream_support import Writer, running_server

pytestmark = pytest.mark.e2e

EVENTS = gql("""
subscription Events($after: String, $filter: EventFilter) {
  events(after: $after, filter: $filter) { id position type aggregateId payload }
}""")
POSITIONS = gql("subscription Positions($after: String, $filter: EventFilter) "
                "{ events(after: $after, filter: $filter) { position } }")


@pytest.fixture
def writer(database_url: str) -> Iterator[Writer]:
    w = Writer(database_url)
    try:
        yield w
    finally:
        w.close()


def transport(url: str) -> WebsocketsTransport:
    return WebsocketsTransport(url=url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])


async def receive(url: str, after: str | None, count: int, *, filter: dict[str, Any] | None
                  = None, on: dict[int, Any] | None = None, query: Any = EVENTS
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
        database_url: str, writer: Writer, tmp_path: Path) -> None:
    writer.statements(4)  # 1..6
    live: list[int] = []
    with running_server(database_url, tmp_path / "server.log") as server:
        events = run(receive(server.ws_url, "2", 4 + 5,
                             on={4: lambda: live.extend(writer.statements(5))}))

    assert [e["position"] for e in events] == list(range(3, 12))
    assert [e["position"] for e in events[4:]] == live
    assert events[0] == {"id": "statement:meta/statement-1@1", "position": 3,
                         "type": "StatementRecorded", "aggregateId": "meta/statement-1",
                         "payload": events[0]["payload"]}
    assert events[0]["payload"]["text"] == "statement 1"


def test_subscription_resumes_exactly_from_the_last_cursor_after_a_reconnect(
        database_url: str, writer: Writer, tmp_path: Path) -> None:
    writer.statements(3)  # 1..5
    with running_server(database_url, tmp_path / "server.log") as server:
        first = run(receive(server.ws_url, None, 3))
        writer.statements(2)  # 6, 7 while disconnected
        cursor = str(first[-1]["position"])
        resumed = run(receive(server.ws_url, cursor, 5,
                              on={4: lambda: writer.statements(1)}))

    assert [e["position"] for e in first] == [1, 2, 3]
    assert [e["position"] for e in resumed] == [4, 5, 6, 7, 8]


def test_subscription_filter_selects_by_aggregate_kind_and_type(
        database_url: str, writer: Writer, tmp_path: Path) -> None:
    writer.statements(2)
    first = writer.restriction("roskomnadzor/instagram", "RU")
    with running_server(database_url, tmp_path / "server.log") as server:
        events = run(receive(
            server.ws_url, None, 2,
            filter={"aggregateKinds": ["regulatory-action"],
                    "types": ["RegulatoryActionAnnounced"]},
            on={1: lambda: (writer.statements(2),
                            writer.restriction("roskomnadzor/facebook", "RU"))}))
    assert [e["id"] for e in events] == ["regulatory-action:roskomnadzor/instagram@1",
                                         "regulatory-action:roskomnadzor/facebook@1"]
    assert events[0]["position"] == first


def test_a_bad_cursor_is_refused_naming_the_argument(sqlite_url: str, tmp_path: Path) -> None:
    with running_server(sqlite_url, tmp_path / "server.log") as server, \
            pytest.raises(TransportQueryError) as refused:
        run(receive(server.ws_url, "yesterday", 1))
    error = refused.value.errors[0] if refused.value.errors else {}
    assert "after" in error.get("message", "")
    assert error.get("extensions", {}).get("code") == "BAD_INPUT"
