"""What the server prints: a token sent in a query string never reaches its log.

Through the real console script (`timeline serve`, uvicorn's own logging at level info), with
its stdout and stderr captured: plain requests, an SSE stream and a websocket handshake, the
places where uvicorn prints a path with its query string.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from test_cli_serve import Server
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from api.log_redaction import redact

pytestmark = pytest.mark.e2e

SECRET = "pt_0123456789abcdef_s3cr3t-do-not-log"


def test_a_token_in_the_query_string_is_redacted_from_the_server_log(
    sqlite_url: str, tmp_path: Path
) -> None:
    server = Server(sqlite_url, tmp_path)
    try:
        assert httpx.get(f"{server.base}/events?token={SECRET}&limit=1", timeout=30).is_success
        assert httpx.get(f"{server.base}/healthz?access_token={SECRET}", timeout=30).is_success
        assert httpx.get(f"{server.base}/nowhere?Token={SECRET}", timeout=30).status_code == 404
        url = f"{server.base}/events/stream?after=0&token={SECRET}"
        with httpx.stream("GET", url, timeout=30) as response:
            assert response.status_code == 200
        ws_url = server.base.replace("http://", "ws://") + f"/graphql?token={SECRET}"
        with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=30):
            pass
    finally:
        server.stop()  # flushes and closes its log, a file named after its port
    output = (tmp_path / f"serve-{server.port}.log").read_text()
    assert "s3cr3t" not in output
    assert output.lower().count("token=[redacted]") >= 5, output  # 4 requests, 1 handshake
    assert "WebSocket /graphql?token=[redacted]" in output, output


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/events?token=abc&after=3", "/events?token=[redacted]&after=3"),
        ("/events?after=3&TOKEN=abc#x", "/events?after=3&TOKEN=[redacted]#x"),
        ("/events?tokens=abc&mytoken=abc", "/events?tokens=abc&mytoken=abc"),
        ("/events?access_token=abc", "/events?access_token=[redacted]"),
    ],
)
def test_only_token_parameters_are_redacted(path: str, expected: str) -> None:
    assert redact(path) == expected
