"""The API served for real (uvicorn on a free port, in a thread of the test process so that a
test can also watch the engine), plus its REST endpoints. Shared helpers for test_api_*.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from support.ports import free_port

from api.app import create_app
from timeline import tokens
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings

pytestmark = pytest.mark.e2e


class ApiServer:
    """A running server over one database, with a write token and a read-only token."""

    def __init__(self, services: Services, server: uvicorn.Server, port: int) -> None:
        self.services = services
        self.server = server
        self.url = f"http://127.0.0.1:{port}"
        self.write_token, _ = tokens.create_token(services.timeline.engine, ["write"], "tests")
        self.read_token, _ = tokens.create_token(services.timeline.engine, ["read"], "tests")

    def client(self, token: str | None = None) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = HTTPXTransport(url=self.url + "/graphql", headers=headers, timeout=30)
        return Client(transport=transport)

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Run one operation with the gql client; errors raise TransportQueryError."""
        with self.client(token) as session:
            result: dict[str, Any] = session.execute(
                GraphQLRequest(query, variable_values=variables or {})
            )
            return result

    def errors(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> list[dict[str, Any]]:
        """The errors of an operation that must fail."""
        with pytest.raises(TransportQueryError) as caught:
            self.execute(query, variables, token)
        return list(caught.value.errors or [])


@contextmanager
def serve(settings: Settings) -> Iterator[ApiServer]:
    """Start uvicorn on the app factory's app in a thread; stop it (lifespan runs) after."""
    services = bootstrap(settings)
    port = free_port()
    config = uvicorn.Config(
        create_app(services), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield ApiServer(services, server, port)
    finally:
        server.should_exit = True
        thread.join(30)
        services.close()


def default_server(sqlite_url: str) -> Iterator[ApiServer]:
    """The server on a fresh SQLite file with the default (safe) settings."""
    with serve(Settings(database_url=sqlite_url)) as server:
        yield server


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    yield from default_server(sqlite_url)


def test_healthz_answers_ok(api: ApiServer) -> None:
    response = httpx.get(api.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_projection_lag(api: ApiServer) -> None:
    response = httpx.get(api.url + "/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["projectionLag"] <= body["maxLag"]


def test_metrics_count_requests_and_report_projection_lag(api: ApiServer) -> None:
    api.execute("{ events(first: 1) { nodes { id } } }")
    text = httpx.get(api.url + "/metrics").text
    assert 'timeline_http_requests_total{method="POST",route="/graphql",status="200"}' in text
    assert "timeline_http_request_duration_seconds_bucket" in text
    assert "timeline_projection_lag_events" in text


def test_openapi_documents_the_rest_endpoints(api: ApiServer) -> None:
    assert httpx.get(api.url + "/docs").status_code == 200
    paths = httpx.get(api.url + "/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/metrics"} <= set(paths)


def test_graphiql_is_off_outside_development(api: ApiServer) -> None:
    """A page request is 406 (not the IDE's HTML), saying which setting serves the IDE."""
    response = httpx.get(api.url + "/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.headers["content-type"].startswith("application/json")
    assert "<html" not in response.text.lower()
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "Accept"}
    assert "TIMELINE_DEVELOPMENT=1" in error["message"]


def test_graphiql_is_served_in_development(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url, development=True)) as server:
        response = httpx.get(server.url + "/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_cors_allows_only_the_configured_origins(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, cors_origins=["https://app.example"])
    with serve(settings) as server:

        def preflight(origin: str) -> httpx.Response:
            return httpx.options(
                server.url + "/graphql",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )

        allowed, other = preflight("https://app.example"), preflight("https://evil.example")
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


def test_a_request_body_over_the_limit_is_refused_with_413(api: ApiServer) -> None:
    limit = api.services.settings.max_body_bytes
    query = "{ events(first: 1) { nodes { id } } }" + " " * limit
    response = httpx.post(api.url + "/graphql", json={"query": query})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_readyz_fails_while_the_projections_lag_beyond_the_bound(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url, readiness_max_lag=0)) as api:
        api.services.stop_projector()
        api.services.timeline.register_actor(
            {
                "id": "meta",
                "name": "Meta",
                "kind": "organisation",
                "effectiveAt": "2021-01-01T00:00:00+00:00",
            }
        )
        behind = httpx.get(api.url + "/readyz")
        lag_metric = [
            line
            for line in httpx.get(api.url + "/metrics").text.splitlines()
            if line.startswith("timeline_projection_lag_events ")
        ]
        api.services.start_projector()
        assert api.services.wait_for(api.services.timeline.head_position(), 10)
        caught_up = httpx.get(api.url + "/readyz")
    assert behind.status_code == 503
    assert behind.json()["projectionLag"] == 1
    assert lag_metric == ["timeline_projection_lag_events 1.0"]
    assert caught_up.status_code == 200
