"""Hostile GraphQL documents through the real server (issue 12 items 1, 2, 3 and the
`operationName` should-fix): each is refused before validation or execution, naming the limit,
the server keeps answering meanwhile, and nothing is stored."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_api_server import ApiServer, default_server
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e

ACTOR = '{id: "%s", name: "Meta", kind: "organisation", effectiveAt: "2021-10-28T00:00:00Z"}'


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    yield from default_server(sqlite_url)


def fragment_chain(levels: int) -> str:
    """`G1` reads the log head; each next fragment spreads the previous one twice."""
    parts = ["fragment G1 on Query { logHead { position } }"]
    parts += [f"fragment G{n} on Query {{ ...G{n - 1} ...G{n - 1} }}" for n in range(2, levels + 1)]
    return " ".join(parts) + f" query {{ ...G{levels} }}"


def post(api: ApiServer, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(api.url + "/graphql", json=body, headers=headers, timeout=60)
    assert response.status_code < 500, response.text
    result: dict[str, Any] = response.json()
    return result


def refusal(body: dict[str, Any], limit: str) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert errors and not body.get("data"), body
    error: dict[str, Any] = errors[0]
    assert error["extensions"]["code"] == "BAD_INPUT", error
    assert error["extensions"]["limit"] == limit, error
    return error


def test_a_fragment_bomb_is_refused_by_its_cost_while_the_server_keeps_answering(
    api: ApiServer,
) -> None:
    head = api.services.timeline.head_position()
    answers: list[int] = []

    def probe() -> None:  # /healthz while the attack is in flight; a frozen loop never answers
        with httpx.Client(timeout=30) as client:
            for _ in range(10):
                answers.append(client.get(api.url + "/healthz").status_code)

    prober = threading.Thread(target=probe)
    prober.start()
    for levels in (16, 20, 39, 60):
        error = refusal(post(api, {"query": fragment_chain(levels)}), "maxCost")
        assert "cost" in error["message"] and str(2**levels) in error["message"].replace(",", "")
    prober.join(60)
    assert answers == [200] * 10
    assert api.services.timeline.head_position() == head


def test_a_fragment_bomb_is_refused_over_the_websocket_too(api: ApiServer) -> None:
    async def run() -> dict[str, Any]:
        url = api.url.replace("http", "ws") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {"id": "1", "type": "subscribe", "payload": {"query": fragment_chain(39)}}
                )
            )
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
            return message

    message = asyncio.run(run())
    assert message["type"] == "error", message
    assert message["payload"][0]["extensions"]["limit"] == "maxCost", message


def test_many_copies_of_one_field_are_refused_naming_the_limit(api: ApiServer) -> None:
    query = "{ " + " ".join(["logHead { position }"] * 499) + " }"
    error = refusal(post(api, {"query": query}), "maxRepeatedFields")
    assert "logHead" in error["message"]
    few = "{ " + " ".join(["logHead { position }"] * 3) + " }"
    assert post(api, {"query": few})["data"]["logHead"]["position"] == 0


def test_a_document_with_two_mutations_is_refused_and_stores_nothing(api: ApiServer) -> None:
    head = api.services.timeline.head_position()
    two = (
        'mutation { a: registerActor(input: %s) { id } b: registerActor(input: {id: ""}) { id } }'
        % (ACTOR % "meta")
    )
    refusal(post(api, {"query": two}, api.write_token), "maxMutations")
    assert api.services.timeline.head_position() == head
    one = "mutation { registerActor(input: %s) { id } }" % (ACTOR % "meta")
    assert post(api, {"query": one}, api.write_token)["data"]["registerActor"]["id"] == "meta"
    assert api.services.timeline.head_position() == head + 1


def test_two_operations_without_an_operation_name_are_refused(api: ApiServer) -> None:
    head = api.services.timeline.head_position()
    document = "query A { logHead { position } } mutation B { registerActor(input: %s) { id } }" % (
        ACTOR % "meta"
    )
    error = refusal(post(api, {"query": document}, api.write_token), "operationName")
    assert error["extensions"]["field"] == "operationName"
    assert api.services.timeline.head_position() == head
    named = post(api, {"query": document, "operationName": "A"}, api.write_token)
    assert named["data"]["logHead"]["position"] == head
