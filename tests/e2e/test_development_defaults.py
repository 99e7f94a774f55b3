"""`TIMELINE_DEVELOPMENT=1` (what `python3 dev.py run` sets) through the real console script:
`timeline serve` says where GraphiQL is, `/` links it, and CORS answers a frontend's dev server
on any localhost port, but no other origin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_cli_serve import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(name="server")
def server_fixture(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    monkeypatch.setenv("TIMELINE_DEVELOPMENT", "1")
    monkeypatch.delenv("TIMELINE_CORS_ORIGINS", raising=False)
    server = Server(sqlite_url, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def preflight(server: Server, origin: str) -> httpx.Response:
    return httpx.options(
        server.base + "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_serve_prints_where_graphiql_is(server: Server) -> None:
    assert f"GraphiQL at http://127.0.0.1:{server.port}/graphql" in server.output()
    home = httpx.get(server.base + "/", follow_redirects=True)  # to the permalink of now
    assert home.status_code == 200
    assert '<a href="/graphql">' in home.text


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000"])
def test_a_localhost_frontend_on_any_port_passes_cors(server: Server, origin: str) -> None:
    response = preflight(server, origin)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://localhost.evil.example", "https://localhost:5173"]
)
def test_other_origins_do_not(server: Server, origin: str) -> None:
    response = preflight(server, origin)
    assert "access-control-allow-origin" not in response.headers
