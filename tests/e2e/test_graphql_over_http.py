"""GraphQL over HTTP as the spec's watershed describes it, against the real server: the media
type a client asks for, request errors (nothing executed) without `data` and as 400 under
`application/graphql-response+json`, field errors as 200 with `data`, 405 for a mutation
over GET and 406 for a page request while GraphiQL is off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_api_server import ApiServer, default_server

pytestmark = pytest.mark.e2e

OURS = "application/graphql-response+json"
HEAD = "{ logHead { position } }"


@pytest.fixture(name="api", scope="module")
def api_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    path = tmp_path_factory.mktemp("over-http") / "timeline.db"
    yield from default_server(f"sqlite:///{path}")


def post(api: ApiServer, body: dict[str, Any], accept: str | None) -> httpx.Response:
    headers = {"Accept": accept} if accept is not None else {}
    return httpx.post(api.url + "/graphql", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (OURS, OURS),
        (f"{OURS}, application/json;q=0.9", OURS),
        (f"application/json, {OURS};q=0.5", "application/json"),
        ("application/json", "application/json"),
        (None, "application/json"),
        ("*/*", "application/json"),
    ],
)
def test_the_answer_has_the_media_type_the_client_prefers(
    api: ApiServer, accept: str | None, media_type: str
) -> None:
    response = post(api, {"query": HEAD}, accept)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.json() == {"data": {"logHead": {"position": 0}}}


REQUEST_ERRORS = {
    "parse": {"query": "{ logHead { position }"},
    "validation": {"query": "{ logHead { nope } }"},
    "variable coercion": {
        "query": "query($id: String!) { policy(id: $id) { id } }",
        "variables": {"id": 42},
    },
    "missing variable": {"query": "query($id: String!) { policy(id: $id) { id } }"},
}


@pytest.mark.parametrize("kind", sorted(REQUEST_ERRORS))
def test_a_request_error_is_400_without_data_under_the_graphql_response_type(
    api: ApiServer, kind: str
) -> None:
    response = post(api, REQUEST_ERRORS[kind], OURS)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(OURS)
    body = response.json()
    assert "data" not in body
    assert body["errors"] and all("message" in e for e in body["errors"])


@pytest.mark.parametrize("kind", sorted(REQUEST_ERRORS))
def test_a_request_error_stays_200_without_data_under_json(api: ApiServer, kind: str) -> None:
    response = post(api, REQUEST_ERRORS[kind], "application/json")
    assert response.status_code == 200, response.text
    assert "data" not in response.json()
    assert response.json()["errors"]


def test_a_field_error_is_200_with_data_under_either_type(api: ApiServer) -> None:
    query = "{ policies(first: 100000) { nodes { id } } }"
    for accept in (OURS, "application/json"):
        response = post(api, {"query": query}, accept)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "data" in body
        assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
        assert body["errors"][0]["path"] == ["policies"]


def test_a_mutation_over_get_is_405_allowing_post(api: ApiServer) -> None:
    query = 'mutation { revokeEverything: registerActor(input: {id: "x"}) { id } }'
    for accept in (OURS, "application/json"):
        response = httpx.get(
            api.url + "/graphql", params={"query": query}, headers={"Accept": accept}
        )
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.headers["content-type"].split(";")[0] == accept
        assert "POST" in response.json()["errors"][0]["message"]
    assert api.services.timeline.head_position() == 0


def test_a_query_over_get_is_answered(api: ApiServer) -> None:
    response = httpx.get(api.url + "/graphql", params={"query": HEAD}, headers={"Accept": OURS})
    assert response.status_code == 200
    assert response.json() == {"data": {"logHead": {"position": 0}}}


def test_a_page_request_is_406_while_graphiql_is_off(api: ApiServer) -> None:
    response = httpx.get(api.url + "/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["field"] == "Accept"
