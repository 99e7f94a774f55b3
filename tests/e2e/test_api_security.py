"""Safe by default: writes need a write-scoped bearer token, bad input is refused with a code
and the field, and the limits (depth, aliases, tokens, page size) hold against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, text
from test_api_server import ApiServer, default_server, serve

from timeline import tokens
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

REGISTER = "mutation($input: RegisterActorInput!) { registerActor(input: $input) { id } }"
ACTOR = {
    "id": "meta",
    "name": "Meta Platforms, Inc.",
    "kind": "organisation",
    "effectiveAt": "2021-10-28T00:00:00-07:00",
}


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    yield from default_server(sqlite_url)


def stored_events(api: ApiServer) -> int:
    return api.services.timeline.head_position()


def codes(errors: list[dict[str, Any]]) -> list[str]:
    return [e["extensions"]["code"] for e in errors]


def test_a_mutation_without_a_token_is_unauthenticated_and_stores_nothing(api: ApiServer) -> None:
    errors = api.errors(REGISTER, {"input": ACTOR})
    assert codes(errors) == ["UNAUTHENTICATED"]
    assert stored_events(api) == 0


def test_a_mutation_with_a_read_only_token_is_forbidden_and_stores_nothing(api: ApiServer) -> None:
    errors = api.errors(REGISTER, {"input": ACTOR}, token=api.read_token)
    assert codes(errors) == ["FORBIDDEN"]
    assert stored_events(api) == 0


def test_a_mutation_with_a_bad_token_is_unauthenticated_and_stores_nothing(api: ApiServer) -> None:
    forged = api.write_token[:-4] + "AAAA"
    for token in (forged, "not-a-token"):
        assert codes(api.errors(REGISTER, {"input": ACTOR}, token=token)) == ["UNAUTHENTICATED"]
    assert stored_events(api) == 0


def test_a_revoked_token_no_longer_writes(api: ApiServer) -> None:
    token, info = tokens.create_token(api.services.timeline.engine, ["write"])
    assert tokens.revoke_token(api.services.timeline.engine, info.token_id)
    assert codes(api.errors(REGISTER, {"input": ACTOR}, token=token)) == ["UNAUTHENTICATED"]
    assert stored_events(api) == 0


def test_a_mutation_with_a_write_token_is_stored(api: ApiServer) -> None:
    result = api.execute(REGISTER, {"input": ACTOR}, token=api.write_token)
    assert result == {"registerActor": {"id": "meta"}}
    assert stored_events(api) == 1


def test_reads_are_open_by_default(api: ApiServer) -> None:
    assert api.execute("{ events { nodes { id } } }") == {"events": {"nodes": []}}


def test_reads_can_be_closed_by_a_setting(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url, read_requires_token=True)) as api:
        query = '{ policy(id: "meta/hate-speech") { id } }'
        assert codes(api.errors(query)) == ["UNAUTHENTICATED"]
        (answered,) = api.errors(query, token=api.read_token)  # read, and found nothing
        assert answered["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "UNAUTHENTICATED"),
        ("Basic abc", "UNAUTHENTICATED"),
        ("Bearer", "UNAUTHENTICATED"),
        ("Bearer pt_unknown.secret", "UNAUTHENTICATED"),
    ],
)
def test_graphql_and_the_rest_streams_check_a_bearer_token_by_one_rule(
    sqlite_url: str, header: str | None, code: str
) -> None:
    """The same Authorization value gets the same code and message from GraphQL and from
    `/events` (api.context.authenticate, where each used to parse the header itself)."""
    with serve(Settings(database_url=sqlite_url, read_requires_token=True)) as api:
        headers = {"Authorization": header} if header is not None else {}
        graphql = httpx.post(
            api.url + "/graphql", json={"query": "{ logHead { position } }"}, headers=headers
        ).json()["errors"][0]
        rest = httpx.get(api.url + "/events", headers=headers)
        assert rest.status_code == 401
        assert graphql["extensions"]["code"] == rest.json()["error"]["code"] == code
        assert graphql["message"] == rest.json()["error"]["message"]
        assert rest.json()["error"]["field"] == "Authorization"


def test_a_read_token_opens_graphql_and_the_rest_streams_alike(
    sqlite_url: str,
) -> None:
    with serve(Settings(database_url=sqlite_url, read_requires_token=True)) as api:
        token, _ = tokens.create_token(api.services.timeline.engine, ["read"])
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(api.url + "/events", headers=headers).status_code == 200
        graphql = httpx.post(
            api.url + "/graphql", json={"query": "{ logHead { position } }"}, headers=headers
        ).json()
        assert "errors" not in graphql


def test_an_instant_without_an_offset_is_bad_input_naming_the_argument(api: ApiServer) -> None:
    literal = api.errors(
        '{ policy(id: "meta/hate-speech", validAt: "2022-03-11T00:00:00") { id } }'
    )
    variable = api.errors(
        'query($at: DateTime) { policy(id: "x", knownAt: $at) { id } }',
        {"at": "2022-03-11T00:00:00"},
    )
    assert codes(literal) == codes(variable) == ["BAD_INPUT"]
    assert literal[0]["extensions"]["field"] == "validAt"
    assert variable[0]["extensions"]["field"] == "knownAt"
    assert "offset" in literal[0]["message"] and "offset" in variable[0]["message"]


def test_a_mutation_input_without_an_offset_names_the_field_and_stores_nothing(
    api: ApiServer,
) -> None:
    errors = api.errors(
        REGISTER, {"input": {**ACTOR, "effectiveAt": "2021-10-28T00:00:00"}}, token=api.write_token
    )
    assert codes(errors) == ["BAD_INPUT"]
    assert errors[0]["extensions"]["field"] == "input.effectiveAt"
    assert stored_events(api) == 0


def test_a_rule_broken_in_a_command_names_the_field(api: ApiServer) -> None:
    errors = api.errors(REGISTER, {"input": {**ACTOR, "id": "Not A Slug"}}, token=api.write_token)
    assert codes(errors) == ["BAD_INPUT"]
    assert errors[0]["extensions"]["field"] == "input.id"
    assert errors[0]["message"].startswith("input.id: ")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expectedVersion": -1}, "input.expectedVersion"),
        ({"idempotencyKey": "k" * 201}, "input.idempotencyKey"),
        ({"sources": [{"url": "not a url"}]}, "input.sources[0].url"),
        ({"summary": "A valid input."}, None),
        ({"owner": "nobody"}, "input.owner"),
    ],
)
def test_a_refused_command_names_the_field_by_its_wire_path(
    api: ApiServer, change: dict[str, Any], field: str | None
) -> None:
    api.execute(REGISTER, {"input": ACTOR}, token=api.write_token)
    policy = {
        "id": "meta/hate-speech",
        "title": "Hate Speech",
        "owner": "meta",
        "clauses": [{"id": "c1", "text": "A clause."}],
        "effectiveAt": "2022-01-01T00:00:00+00:00",
    }
    result = post_raw(api, ANNOUNCE_POLICY, {"input": {**policy, **change}})
    errors = result.get("errors") or []
    if field is None:  # a valid input: stored, so the cases above fail for their field alone
        assert not errors, errors
        return
    assert codes(errors) == ["BAD_INPUT"]
    assert errors[0]["extensions"]["field"] == field
    assert errors[0]["message"].startswith(field + ": ")
    assert "_" not in field
    assert stored_events(api) == 1


ANNOUNCE_POLICY = "mutation($input: AnnouncePolicyInput!) { announcePolicy(input: $input) { id } }"


def post_raw(api: ApiServer, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        api.url + "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {api.write_token}"},
        timeout=30,
    )
    body: dict[str, Any] = response.json()
    return body


def test_revising_an_unknown_policy_is_not_found(api: ApiServer) -> None:
    errors = api.errors(
        "mutation($input: RevisePolicyInput!) { revisePolicy(input: $input) { id } }",
        {
            "input": {
                "id": "nobody/nothing",
                "title": "New",
                "effectiveAt": "2022-03-11T00:00:00+00:00",
            }
        },
        token=api.write_token,
    )
    assert codes(errors) == ["NOT_FOUND"]


def test_an_over_deep_query_is_refused(api: ApiServer) -> None:
    depth = api.services.settings.max_query_depth
    hops = ["responses", "respondsTo"] * depth  # policy -> actions -> policies -> ...
    nested = "id"
    for hop in reversed(hops[:depth]):
        nested = f"{hop} {{ {nested} }}"
    query = f'{{ policy(id: "meta/hate-speech") {{ {nested} }} }}'
    for _ in range(2):  # the second time the document comes from the parse/validation cache
        errors = api.errors(query)
        assert codes(errors) == ["BAD_INPUT"]
        assert "exceeds maximum operation depth" in errors[0]["message"]


def test_a_query_with_500_aliases_is_refused(api: ApiServer) -> None:
    query = "{ " + " ".join(f"a{n}: __typename" for n in range(500)) + " }"
    for _ in range(2):  # cached validation still refuses it
        errors = api.errors(query)
        assert codes(errors) == ["BAD_INPUT"]
        assert "500 aliases" in errors[0]["message"]


def test_a_document_with_too_many_tokens_is_refused(api: ApiServer) -> None:
    query = "{ events { nodes { " + " ".join(["id"] * 5000) + " } } }"
    for _ in range(2):  # a refused parse is never cached as a success
        errors = api.errors(query)
        assert codes(errors) == ["BAD_INPUT"]
        assert "tokens" in errors[0]["message"]


@pytest.mark.parametrize("field", ["policies", "events", "regulatoryActions", "timeline"])
def test_a_page_of_10000_is_refused(api: ApiServer, field: str) -> None:
    errors = api.errors(f"{{ {field}(first: 10000) {{ pageInfo {{ hasNextPage }} }} }}")
    assert codes(errors) == ["BAD_INPUT"]
    assert errors[0]["extensions"]["field"] == "first"
    assert "10000" in errors[0]["message"]


def test_errors_never_carry_a_stack_trace(api: ApiServer) -> None:
    response = httpx.post(
        api.url + "/graphql", json={"query": REGISTER, "variables": {"input": ACTOR}}
    )
    body = response.text
    assert "Traceback" not in body and 'File "' not in body
    assert response.json()["errors"][0]["extensions"] == {
        "code": "UNAUTHENTICATED",
        "field": "Authorization",
    }


def test_a_bad_day_or_time_zone_is_bad_input_naming_it(api: ApiServer) -> None:
    bad_zone = api.errors(
        '{ policyOn(id: "meta/hate-speech", date: "2022-03-11", '
        'timeZone: "Mars/Olympus") { validFrom } }'
    )
    bad_day = api.errors('{ policyOn(id: "meta/hate-speech", date: "11 March") { validFrom } }')
    assert codes(bad_zone) == codes(bad_day) == ["BAD_INPUT"]
    assert bad_zone[0]["extensions"]["field"] == "timeZone"
    assert bad_day[0]["extensions"]["field"] == "date"


def test_a_bad_cursor_is_bad_input_naming_after(api: ApiServer) -> None:
    for field in ("policies", "events", "timeline"):
        errors = api.errors(
            f'{{ {field}(after: "not a cursor") {{ pageInfo {{ hasNextPage }} }} }}'
        )
        assert codes(errors) == ["BAD_INPUT"], field
        assert errors[0]["extensions"]["field"] == "after", field


def test_an_unexpected_failure_reaches_the_client_without_detail(api: ApiServer) -> None:
    api.execute(REGISTER, {"input": ACTOR}, token=api.write_token)
    api.execute(
        "mutation($input: AnnouncePolicyInput!) { announcePolicy(input: $input) { id } }",
        {
            "input": {
                "id": "meta/hate-speech",
                "title": "Hate Speech",
                "owner": "meta",
                "clauses": [{"id": "c1", "text": "A clause."}],
                "effectiveAt": "2022-01-01T00:00:00+00:00",
            }
        },
        token=api.write_token,
    )
    engine = api.services.timeline.engine
    api.services.stop_projector()
    table = next(
        n for n in inspect(engine).get_table_names() if n.startswith("projection_policy_versions")
    )
    with engine.begin() as connection:  # a real fault: a read model's row is corrupt
        connection.execute(text(f"UPDATE {table} SET state = 'corrupt'"))
    response = httpx.post(
        api.url + "/graphql", json={"query": '{ policy(id: "meta/hate-speech") { id } }'}
    )
    body = response.json()
    assert body["data"] == {"policy": None}
    assert body["errors"][0]["message"] == "internal error; it has been logged"
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    for detail in ("corrupt", "Traceback", "JSON", "File "):
        assert detail not in response.text


#: Requests Strawberry itself refuses before any GraphQL runs: (method, body, headers, words).
MALFORMED = {
    "batch": ("POST", b'[{"query": "{ __typename }"}]', "application/json", "one operation"),
    "not JSON": ("POST", b'{"query": ', "application/json", "not valid JSON"),
    "content type": ("POST", b"{ __typename }", "text/plain", "application/json"),
    "no query": ("POST", b'{"variables": {}}', "application/json", "no GraphQL query"),
    "mutation over GET": ("GET", b"", "", "POST"),
    "PUT": ("PUT", b'{"query": "{ __typename }"}', "application/json", "POST"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_is_a_json_graphql_error_with_a_code(api: ApiServer, case: str) -> None:
    method, body, content_type, words = MALFORMED[case]
    params = {"query": 'mutation { registerActor(input: {id: "x"}) { id } }'}
    response = httpx.request(
        method,
        api.url + "/graphql",
        content=body or None,
        params=params if method == "GET" else None,
        headers={"Content-Type": content_type} if content_type else {},
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_INPUT"]
    assert words in errors[0]["message"]
    assert stored_events(api) == 0
