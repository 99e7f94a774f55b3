"""A frontend on another origin, in headless Chromium: a page served by a second tiny HTTP
server opens a graphql-transport-ws subscription (a plain WebSocket in the page's script) to
the real API server and calls it over HTTP (CORS), with the token in `connection_init` when
reads need one; an unlisted origin is refused; an EventSource resumes after a restart with
Last-Event-ID. The writer records events from the test process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page
from stream_support import Server, Writer, running_server
from support.browser import offline_page, page_server
from test_api_server import serve
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin, Subprotocol

from timeline import tokens
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

GUARD_MS = 60_000

#: The frontend: subscribes over a plain WebSocket (graphql-transport-ws) and POSTs a query.
FRONTEND = """<!doctype html>
<html><head><meta charset="utf-8"><title>frontend</title><link rel="icon" href="data:,"></head>
<body><script>
const params = new URLSearchParams(location.search);
const api = params.get("api");
const token = params.get("token");
window.state = "connecting"; window.received = []; window.errors = []; window.http = null;

const socket = new WebSocket(api.replace(/^http/, "ws") + "/graphql", "graphql-transport-ws");
socket.onopen = () => {
  window.state = "open";
  socket.send(JSON.stringify({
    type: "connection_init", payload: token ? {Authorization: "Bearer " + token} : {},
  }));
};
socket.onmessage = (message) => {
  const msg = JSON.parse(message.data);
  if (msg.type === "connection_ack") {
    window.state = "acknowledged";
    socket.send(JSON.stringify({id: "1", type: "subscribe", payload: {
      query: "subscription { events { position type aggregateId } }",
    }}));
  } else if (msg.type === "next") {
    if (msg.payload.errors) window.errors.push(...msg.payload.errors);
    else window.received.push(msg.payload.data.events);
  } else if (msg.type === "error") {
    window.errors.push(...msg.payload);
  }
};
socket.onclose = (event) => {
  window.state = window.state === "connecting" ? "refused" : "closed";
  window.closeCode = event.code;
};

const headers = {"Content-Type": "application/json"};
if (token) headers.Authorization = "Bearer " + token;
fetch(api + "/graphql", {
  method: "POST", headers, body: JSON.stringify({query: "{ logHead { position } }"}),
}).then((r) => r.json()).then((body) => { window.http = body; })
  .catch((error) => { window.http = {failed: String(error)}; });
</script></body></html>
"""

#: An EventSource on /events/stream that records every event id it receives.
EVENT_SOURCE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body><script>
window.ids = []; window.opened = 0;
const source = new EventSource(new URLSearchParams(location.search).get("stream"));
source.onopen = () => { window.opened += 1; };
source.onmessage = (event) => {
  window.ids.push(Number(event.lastEventId));
};
</script></body></html>
"""


@pytest.fixture
def writer(sqlite_url: str) -> Iterator[Writer]:
    w = Writer(sqlite_url)  # positions 1 and 2: two actors
    try:
        yield w
    finally:
        w.close()


def open_frontend(
    page: Page, frontend: str, api: Server, token: str | None = None
) -> dict[str, Any]:
    """Load the frontend page from `frontend` (its origin), talking to `api`."""
    query = {"api": api.url, **({"token": token} if token else {})}
    page.goto(f"{frontend}/?{urlencode(query)}")
    page.wait_for_function(
        "window.state !== 'connecting' && window.state !== 'open'", timeout=GUARD_MS
    )
    page.wait_for_function("window.http !== null", timeout=GUARD_MS)
    state: dict[str, Any] = page.evaluate(
        "({state: window.state, http: window.http, errors: window.errors})"
    )
    return state


def received_positions(page: Page) -> list[int]:
    return [event["position"] for event in page.evaluate("window.received")]


def test_a_page_on_an_allowed_origin_subscribes_with_the_token_in_connection_params(
    sqlite_url: str, writer: Writer, tmp_path: Path
) -> None:
    with page_server(FRONTEND) as port:
        allowed = f"http://127.0.0.1:{port}"
        with running_server(
            sqlite_url,
            tmp_path / "server.log",
            TIMELINE_CORS_ORIGINS=json.dumps([allowed]),
            TIMELINE_READ_REQUIRES_TOKEN="true",
        ) as api:
            read_token, _ = tokens.create_token(writer.timeline.engine, ["read"], "browser")
            with offline_page(allowed, api.url) as (page, record):
                state = open_frontend(page, allowed, api, token=read_token)
                assert state["state"] == "acknowledged", state
                assert state["http"]["data"]["logHead"]["position"] >= 2  # CORS let it read
                # the backlog arrives, then an event written now arrives live
                page.wait_for_function("window.received.length >= 2", timeout=GUARD_MS)
                position = writer.statement("said in the browser")
                page.wait_for_function(
                    f"window.received.some(e => e.position === {position})", timeout=GUARD_MS
                )
                assert received_positions(page) == [1, 2, position]
                assert page.evaluate("window.errors") == []
            assert record.blocked == []


def test_without_the_token_the_subscription_is_unauthenticated(
    sqlite_url: str, writer: Writer, tmp_path: Path
) -> None:
    with page_server(FRONTEND) as port:
        allowed = f"http://127.0.0.1:{port}"
        with (
            running_server(
                sqlite_url,
                tmp_path / "server.log",
                TIMELINE_CORS_ORIGINS=json.dumps([allowed]),
                TIMELINE_READ_REQUIRES_TOKEN="true",
            ) as api,
            offline_page(allowed, api.url) as (page, _),
        ):
            state = open_frontend(page, allowed, api)
            page.wait_for_function("window.errors.length > 0", timeout=GUARD_MS)
            errors = page.evaluate("window.errors")
    assert state["state"] == "acknowledged"
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert page_received_nothing(state)


def page_received_nothing(state: dict[str, Any]) -> bool:
    return "data" not in state["http"] or state["http"]["data"] is None


def test_a_page_on_an_unlisted_origin_is_refused(
    sqlite_url: str, writer: Writer, tmp_path: Path
) -> None:
    """The same page from http://localhost:PORT, which the list does not name (it names the
    127.0.0.1 spelling): the websocket is refused at the handshake, the fetch by CORS."""
    with page_server(FRONTEND) as port:
        allowed, unlisted = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
        with (
            running_server(
                sqlite_url, tmp_path / "server.log", TIMELINE_CORS_ORIGINS=json.dumps([allowed])
            ) as api,
            offline_page(unlisted, api.url) as (page, _),
        ):
            state = open_frontend(page, unlisted, api)
            received = page.evaluate("window.received")
        log = (tmp_path / "server.log").read_text()
    assert state["state"] == "refused"
    assert "failed" in state["http"]  # no Access-Control-Allow-Origin for it
    assert received == []
    assert "Rejected WebSocket connection from origin 'http://localhost:" in log


def test_development_allows_any_localhost_port(
    sqlite_url: str, writer: Writer, tmp_path: Path
) -> None:
    """TIMELINE_DEVELOPMENT=1 with no origins listed: a frontend's dev server on any port of
    localhost may subscribe and call the API."""
    with page_server(FRONTEND) as port:
        frontend = f"http://localhost:{port}"
        with (
            running_server(sqlite_url, tmp_path / "server.log", TIMELINE_DEVELOPMENT="1") as api,
            offline_page(frontend, api.url) as (page, record),
        ):
            state = open_frontend(page, frontend, api)
            page.wait_for_function("window.received.length >= 2", timeout=GUARD_MS)
        assert record.blocked == []
    assert state["state"] == "acknowledged"
    assert state["http"]["data"]["logHead"]["position"] == 2


def test_an_event_source_resumes_with_last_event_id_after_the_server_restarts(
    sqlite_url: str, writer: Writer, tmp_path: Path
) -> None:
    """The browser's EventSource reconnects by itself when the server goes away and sends the
    last id it saw; the events written while the server was down arrive once, in order."""
    writer.statements(2)  # positions 1..4
    with page_server(EVENT_SOURCE) as port:
        origin = f"http://127.0.0.1:{port}"
        server = Server(
            sqlite_url, tmp_path / "server.log", TIMELINE_CORS_ORIGINS=json.dumps([origin])
        ).start()
        try:
            with offline_page(origin, server.url) as (page, _):
                page.goto(f"{origin}/?{urlencode({'stream': server.url + '/events/stream'})}")
                page.wait_for_function("window.ids.length === 4", timeout=GUARD_MS)
                server.stop()
                while_down = writer.statements(3)  # 5..7, written with no server to send them
                server.start()  # the same port: the EventSource's retry finds it
                page.wait_for_function("window.ids.length >= 7", timeout=GUARD_MS)
                live = writer.statement()
                page.wait_for_function(f"window.ids.includes({live})", timeout=GUARD_MS)
                ids = page.evaluate("window.ids")
                opened = page.evaluate("window.opened")
        finally:
            server.stop()
    # The page asks from the start (no `after`): a reconnect without Last-Event-ID would have
    # sent 1..4 again, so each id once proves the browser resumed from the id it last saw
    # (Playwright does not show that header of the EventSource's own reconnect).
    assert ids == [1, 2, 3, 4, *while_down, live]
    assert opened >= 2


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("http://127.0.0.1:3000", True),  # listed
        ("http://127.0.0.1:3001", False),
        ("https://127.0.0.1:3000", False),
        (None, True),  # not a browser: no Origin, nothing ambient to abuse
    ],
)
def test_the_handshake_checks_the_origin_without_a_browser(
    sqlite_url: str, origin: str | None, accepted: bool
) -> None:
    """The same rule as the browser sees, by a plain client sending Origin itself (so it also
    runs where no chromium is installed)."""
    with serve(Settings(database_url=sqlite_url, cors_origins=["http://127.0.0.1:3000"])) as api:
        try:
            with connect(
                api.url.replace("http", "ws") + "/graphql",
                origin=None if origin is None else Origin(origin),
                subprotocols=[Subprotocol("graphql-transport-ws")],
                open_timeout=30,
            ) as socket:
                socket.send(json.dumps({"type": "connection_init", "payload": {}}))
                answer = json.loads(socket.recv(timeout=30))
        except InvalidStatus as refused:
            assert not accepted
            assert refused.response.status_code == 403
        else:
            assert accepted
            assert answer == {"type": "connection_ack"}
