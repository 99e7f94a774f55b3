"""Hostile HTTP bodies through the real server (issue 12 item 5): each is a 4xx in the
project's error shape naming the body, never a 500, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from test_api_server import ApiServer, default_server

pytestmark = pytest.mark.e2e


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    yield from default_server(sqlite_url)


@pytest.mark.parametrize(
    "body",
    [b'"x"', b"42", b"null", b"true", b"[" * 1200 + b"]" * 1200, b'{"query": "\xff\xfe"}'],
    ids=["string", "number", "null", "true", "nested-1200", "invalid-utf8"],
)
def test_a_body_that_is_not_a_json_object_is_400_naming_the_body(
    api: ApiServer, body: bytes
) -> None:
    head = api.services.timeline.head_position()
    response = httpx.post(
        api.url + "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api.write_token}"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "body"}, error
    assert api.services.timeline.head_position() == head


def test_a_chunked_body_over_the_limit_is_413(api: ApiServer) -> None:
    limit = api.services.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it streams
        yield b'{"query": "{ logHead { position } }", "x": "'
        for _ in range(limit // 65_536 + 2):
            yield b" " * 65_536
        yield b'"}'

    response = httpx.post(
        api.url + "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["errors"][0]["extensions"]["field"] == "body"
    assert httpx.get(api.url + "/healthz").status_code == 200


SUBSCRIPTION = "subscription { events { position } }"


@pytest.mark.parametrize(
    ("method", "accept"),
    [("POST", "application/json"), ("GET", "application/json"), ("POST", "multipart/mixed")],
)
def test_a_subscription_over_http_is_bad_input_pointing_to_the_websocket(
    api: ApiServer, method: str, accept: str
) -> None:
    if method == "GET":
        response = httpx.get(
            api.url + "/graphql", params={"query": SUBSCRIPTION}, headers={"Accept": accept}
        )
    else:
        response = httpx.post(
            api.url + "/graphql", json={"query": SUBSCRIPTION}, headers={"Accept": accept}
        )
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "query"}, error
    assert "graphql-transport-ws" in error["message"]


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "PUT", "PATCH", "DELETE"])
def test_other_methods_on_graphql_are_405_in_the_project_error_shape(
    api: ApiServer, method: str
) -> None:
    response = httpx.request(method, api.url + "/graphql")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST, OPTIONS"
    if method != "HEAD":  # a HEAD answer has no body
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_options_on_graphql_says_what_is_served(api: ApiServer) -> None:
    response = httpx.options(api.url + "/graphql")
    assert response.status_code == 204
    assert response.headers["Allow"] == "GET, POST, OPTIONS"
