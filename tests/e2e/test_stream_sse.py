"""Server-Sent Events at /events/stream and NDJSON at /events, against the real server.

The server runs in its own process; the writer records facts in the same database from the
test process, so live events reach the stream through the cross-process wake-up (poll on
SQLite, LISTEN/NOTIFY on PostgreSQL).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse
from stream_support import Writer, running_server, sse_events

from timeline import tokens

pytestmark = pytest.mark.e2e


@pytest.fixture
def writer(database_url: str) -> Iterator[Writer]:
    w = Writer(database_url)
    try:
        yield w
    finally:
        w.close()


def take(events: Iterator[ServerSentEvent], n: int, guard: float = 60) -> list[ServerSentEvent]:
    """The next `n` events (the guard only stops a broken stream from hanging the suite)."""
    deadline = time.monotonic() + guard
    taken = []
    for event in events:
        taken.append(event)
        if len(taken) == n or time.monotonic() > deadline:
            break
    return taken


def positions(events: list[ServerSentEvent]) -> list[int]:
    return [int(e.id) for e in events]


def test_sse_streams_the_backlog_after_the_cursor_then_live_events_in_log_order(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(5)  # positions 1..7 (two actors first)
    with (
        running_server(database_url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
        connect_sse(client, "GET", "/events/stream", params={"after": "3"}) as source,
    ):
        events = sse_events(source)
        backlog = take(events, 4)
        live_positions = writer.statements(5)
        live = take(events, 5)

    assert positions(backlog) == [4, 5, 6, 7]
    assert positions(live) == live_positions == [8, 9, 10, 11, 12]
    for event in backlog + live:
        envelope = json.loads(event.data)
        assert envelope["specversion"] == "1.0"
        assert envelope["position"] == int(event.id)
        assert envelope["type"] == "org.policy-timeline.StatementRecorded"
        assert envelope["subject"].startswith("statement:meta/statement-")


def test_sse_reconnect_with_last_event_id_resumes_exactly_after_it(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(4)  # 1..6
    with (
        running_server(database_url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        with connect_sse(client, "GET", "/events/stream") as source:
            first = take(sse_events(source), 4)
        last_id = first[-1].id
        writer.statements(3)  # 7..9, written while disconnected
        # As a browser's EventSource reconnects: the same URL, plus Last-Event-ID.
        with connect_sse(
            client,
            "GET",
            "/events/stream",
            params={"after": "0"},
            headers={"Last-Event-ID": last_id},
        ) as source:
            events = sse_events(source)
            resumed = take(events, 5)
            writer.statements(1)  # 10, live
            resumed += take(events, 1)

    assert positions(first) == [1, 2, 3, 4]
    assert positions(resumed) == [5, 6, 7, 8, 9, 10]


def test_sse_sends_keep_alive_comments_while_idle(sqlite_url: str, tmp_path: Path) -> None:
    with (
        running_server(
            sqlite_url, tmp_path / "server.log", TIMELINE_STREAM_KEEPALIVE="0.2"
        ) as server,
        httpx.stream("GET", server.url + "/events/stream", timeout=30) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        comment = next(line for line in response.iter_lines() if line.startswith(":"))
    assert comment.startswith(": ping")


def test_keep_alives_between_events_are_not_read_as_repeated_positions(
    sqlite_url: str, tmp_path: Path
) -> None:
    """httpx-sse hands the blank line after a mid-stream `: ping` over as an event carrying
    the last id; the suite's reader drops it (the CI flake of the slow-subscriber test)."""
    writer = Writer(sqlite_url)  # 1, 2: actors
    with (
        running_server(
            sqlite_url, tmp_path / "server.log", TIMELINE_STREAM_KEEPALIVE="0.2"
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
        connect_sse(client, "GET", "/events/stream", params={"after": "0"}) as source,
    ):
        raw = source.iter_sse()
        assert [int(e.id) for e in take(raw, 2)] == [1, 2]
        time.sleep(1)  # several keep-alives
        phantom = next(raw)
        assert (phantom.data, phantom.id) == ("", "2")  # the library's reading of a ping
        time.sleep(1)  # more of them, now before the next event
        written = writer.statements(1)
        later = take(sse_events(raw), 1)
    writer.close()
    assert positions(later) == written == [3]


def test_sse_filters_by_type_and_jurisdiction(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(2)
    ru = writer.restriction("roskomnadzor/instagram", "RU")
    writer.restriction("ofcom/instagram", "GB")
    with (
        running_server(database_url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
        connect_sse(
            client,
            "GET",
            "/events/stream",
            params={"type": "RegulatoryActionAnnounced", "jurisdiction": "RU"},
        ) as source,
    ):
        events = sse_events(source)
        backlog = take(events, 1)
        writer.restriction("ofcom/facebook", "GB")
        live_ru = writer.restriction("roskomnadzor/facebook", "RU")
        live = take(events, 1)
    assert positions(backlog) == [ru]
    assert positions(live) == [live_ru]


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_ndjson_export_pages_through_the_log_by_after_and_limit(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(6)  # 1..8
    with (
        running_server(database_url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        first = ndjson(client.get("/events", params={"after": "2", "limit": "3"}))
        rest = ndjson(client.get("/events", params={"after": str(first[-1]["position"])}))
        by_actor = ndjson(client.get("/events", params={"actor": "roskomnadzor"}))

    assert [e["position"] for e in first] == [3, 4, 5]
    assert [e["position"] for e in rest] == [6, 7, 8]
    assert [e["id"] for e in first] == [f"statement:meta/statement-{n}@1" for n in (1, 2, 3)]
    assert first[0]["data"]["payload"]["text"] == "statement 1"
    assert [e["id"] for e in by_actor] == ["actor:roskomnadzor@1"]


def test_ndjson_export_says_where_the_next_page_starts_when_it_stops_at_its_limit(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    writer.statements(6)  # 1, 2: actors; 3..8: statements by meta
    pages: list[list[int]] = []
    with (
        running_server(database_url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        url: str | None = "/events?limit=4&actors=meta&types=StatementRecorded"
        while url is not None:
            response = client.get(url)
            assert response.status_code == 200, response.text
            pages.append([e["position"] for e in ndjson(response)])
            last = int(response.headers["Timeline-Last-Position"])
            assert last >= max(pages[-1], default=0)
            link = response.links.get("next", {}).get("url")
            if link is not None:
                assert f"after={last}" in link and "actors=meta" in link
            url = link
        plain = client.get("/events", params={"actors": "meta", "types": "StatementRecorded"})
    # the first page stopped at its limit and linked on; the second ran to the head
    assert pages == [[3, 4, 5, 6], [7, 8]]
    assert "next" not in plain.links and plain.headers["Timeline-Last-Position"] == "8"


BAD_PARAMETERS: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("/events", {"after": "yesterday"}, {}, "after"),
    ("/events", {"limit": "0"}, {}, "limit"),
    ("/events", {"limit": "+5"}, {}, "limit"),  # int() takes these; ASCII digits only
    ("/events", {"limit": " 5"}, {}, "limit"),
    ("/events", {"limit": "\u0665"}, {}, "limit"),
    ("/events", {"after": ["1", "2"]}, {}, "after"),  # a single value given twice
    # a filter value is named by the parameter as sent (the GraphQL EventFilter's names)
    ("/events", {"jurisdiction": "Russia"}, {}, "jurisdiction"),
    ("/events", {"jurisdictions": ["RU", "Russia"]}, {}, "jurisdictions"),
    ("/events", {"jurisdiction": "\u00df"}, {}, "jurisdiction"),  # upper(): SS
    ("/events", {"aggregate": "policy:meta@" + "1" * 5000}, {}, "aggregate"),
    ("/events", {"aggregateKinds": "treaty"}, {}, "aggregateKinds"),
    ("/events", {"actors": "Not A Slug"}, {}, "actors"),
    # an unknown parameter (a typo) would have widened the answer to the whole log
    ("/events", {"jurisdictionz": "RU"}, {}, "jurisdictionz"),
    ("/events/stream", {"actorz": "meta"}, {}, "actorz"),
    ("/events/stream", {"limit": "5"}, {}, "limit"),  # /events only
    # a cursor past the head names no event of this log: refused, never waited on
    ("/events", {"after": "99"}, {}, "after"),
    ("/events/stream", {"after": "99"}, {}, "after"),
    ("/events/stream", {}, {"Last-Event-ID": "99"}, "Last-Event-ID"),
    ("/events/stream", {"after": "-1"}, {}, "after"),
    ("/events/stream", {"after": "x"}, {"Last-Event-ID": "3"}, "after"),  # both are read
    ("/events/stream", {"type": "NoSuchEvent"}, {"Last-Event-ID": "3"}, "type"),
    ("/events/stream", {"types": "NoSuchEvent"}, {}, "types"),
]


def test_bad_stream_parameters_are_refused_naming_the_field(
    sqlite_url: str, tmp_path: Path
) -> None:
    with running_server(sqlite_url, tmp_path / "server.log") as server:
        for path, params, headers, field in BAD_PARAMETERS:
            response = httpx.get(server.url + path, params=params, headers=headers, timeout=30)
            assert response.status_code == 400, (path, params, response.text[:300])
            error = response.json()["error"]
            assert error["code"] == "BAD_INPUT"
            assert error["field"] == field
            assert "Traceback" not in response.text


def read_raw_sse(sock: socket.socket) -> tuple[list[int], dict[str, Any]]:
    """Everything the server sent on a raw connection until it ended the response: the event
    ids, and the `error` event's data (empty if none)."""
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    ids: list[int] = []
    error: dict[str, Any] = {}
    for block in data.decode().split("\r\n\r\n"):
        lines = block.splitlines()
        if "event: error" in lines:
            error = json.loads(next(x for x in lines if x.startswith("data: "))[6:])
        ids += [int(x[4:]) for x in lines if x.startswith("id: ")]
    return ids, error


def test_a_slow_sse_subscriber_is_ended_with_a_clear_reason_and_resumes_from_its_cursor(
    sqlite_url: str, tmp_path: Path
) -> None:
    writer = Writer(sqlite_url)  # 1, 2: actors
    count = 500
    with running_server(
        sqlite_url, tmp_path / "server.log", TIMELINE_STREAM_BUFFER="150"
    ) as server:
        # The slow subscriber asks for the stream and then does not read: with a small
        # receive buffer, the server's sends back up and its fan-out buffer fills.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        slow.sendall(b"GET /events/stream?after=2 HTTP/1.1\r\nHost: test\r\n\r\n")
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=60) as client:

            def fast() -> list[int]:
                with connect_sse(client, "GET", "/events/stream", params={"after": "2"}) as source:
                    return positions(take(sse_events(source), count, guard=240))

            fast_positions = pool.submit(fast)
            time.sleep(0.5)  # both subscribers are connected before the burst
            written = writer.statements(count, "x" * 60_000)
            fast_result = fast_positions.result(timeout=300)
        slow.settimeout(60)
        slow_positions, error = read_raw_sse(slow)
        slow.close()
        with (
            httpx.Client(base_url=server.url, timeout=60) as client,
            connect_sse(
                client, "GET", "/events/stream", headers={"Last-Event-ID": error["cursor"]}
            ) as source,
        ):
            resumed = positions(take(sse_events(source), written[-1] - int(error["cursor"])))
    writer.close()

    assert fast_result == written  # the others got every event, in order
    assert error["code"] == "SLOW_SUBSCRIBER"
    assert "too slow" in error["message"]
    assert error["cursor"] == str(slow_positions[-1])
    assert len(slow_positions) < count  # it was cut off...
    assert slow_positions + resumed == written  # ...and resuming lost and repeated nothing


def test_closed_reads_need_a_read_token_on_the_rest_streams(
    sqlite_url: str, tmp_path: Path
) -> None:
    writer = Writer(sqlite_url)
    token, _ = tokens.create_token(writer.timeline.engine, ["read"], "tests")
    writer.close()
    with (
        running_server(
            sqlite_url, tmp_path / "server.log", TIMELINE_READ_REQUIRES_TOKEN="true"
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        anonymous = client.get("/events")
        stream_anonymous = client.get("/events/stream")
        bad = client.get("/events", headers={"Authorization": "Bearer not-a-token"})
        allowed = client.get("/events", headers={"Authorization": f"Bearer {token}"})
    assert anonymous.status_code == stream_anonymous.status_code == bad.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHENTICATED"
    assert [e["id"] for e in ndjson(allowed)] == ["actor:meta@1", "actor:roskomnadzor@1"]
