"""Security against a real server: tokens stored only as hashes and compared in constant time,
introspection closed by a setting, and SQL injection in every string argument of every query
(and in stored texts) changes nothing and matches nothing. Auth codes and the GraphQL limits
are in test_api_security.py (the API's own tests); docs/reliability.md lists both."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    Undefined,
)
from sqlalchemy import Engine
from sqlalchemy import inspect as inspect_db
from test_api_server import ApiServer, serve

from api.schema import build_schema
from timeline import integrity, tokens
from timeline.demo import load_demo
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

#: Classic injection payloads: quotes, comments, stacked statements, LIKE wildcards.
PAYLOADS = [
    "' OR '1'='1",
    "meta/hate-speech' --",
    "x'); DROP TABLE timeline_events; --",
    "1; DELETE FROM timeline_api_tokens; --",
    '" OR ""="',
    "%",
    "_",
    "\\'; SELECT 1; --",
]


class Raw(str):
    """A filler written into the query as it is (an enum value)."""


#: Values for the required arguments that are not under test.
FILLERS: dict[str, str | int] = {
    "EvidenceKind": Raw("POLICY"),
    "ID": "meta/hate-speech",
    "DateTime": "2022-03-12T00:00:00+00:00",
    "Date": "2022-03-11",
    "String": "UTC",
    "Int": 5,
}


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted: equal snapshots mean nothing changed."""
    names = inspect_db(engine).get_table_names()
    with engine.connect() as connection:
        return {
            name: sorted(
                repr(tuple(row)) for row in connection.exec_driver_sql(f'SELECT * FROM "{name}"')
            )
            for name in names
        }


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def post(
    api: ApiServer, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        api.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30,
    )
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(name="demo_api")
def demo_api_fixture(database_url: str) -> Iterator[ApiServer]:
    """The server over the March 2022 demo, projections caught up."""
    with serve(Settings(database_url=database_url)) as api:
        load_demo(api.services.timeline)
        assert api.services.wait_for(api.services.timeline.head_position(), 60)
        yield api


# -- tokens ---------------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url)) as api:
        token, info = tokens.create_token(api.services.timeline.engine, ["write"], "probe")
        secret = token.split("_", 2)[2]
        rows = snapshot(api.services.timeline.engine)
        works = post(
            api,
            "mutation($i: RegisterActorInput!) { registerActor(input: $i) { id } }",
            {
                "i": {
                    "id": "meta",
                    "name": "Meta",
                    "kind": "organisation",
                    "effectiveAt": "2022-03-01T00:00:00+00:00",
                }
            },
            token,
        )
    everything = "\n".join(line for table in rows.values() for line in table)
    assert works == {"data": {"registerActor": {"id": "meta"}}}  # the token is real
    assert info.token_id in everything  # the row is there...
    assert secret not in everything and token not in everything  # ...but never the secret


def test_a_secret_of_the_right_length_but_wrong_content_is_refused(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url)) as api:
        engine = api.services.timeline.engine
        token, _ = tokens.create_token(engine, ["write"])
        prefix, token_id, secret = token.split("_", 2)
        assert tokens.authenticate(engine, token) is not None
        for forged in (
            secret[:-1] + ("A" if secret[-1] != "A" else "B"),
            "A" * len(secret),
            secret[:8],
            secret + "x",
            "",
        ):
            assert tokens.authenticate(engine, f"{prefix}_{token_id}_{forged}") is None


def test_the_secret_is_compared_in_constant_time() -> None:
    """Code-level check: the stored hash is compared with hmac.compare_digest and with no
    `==`/`!=` anywhere in `authenticate` (an early-exit comparison leaks timing)."""
    tree = ast.parse(inspect.getsource(tokens.authenticate).strip())
    calls = [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert "hmac.compare_digest" in calls
    compared = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
    ]
    assert not any("hash" in text or "secret" in text for text in compared), compared


# -- introspection --------------------------------------------------------------------------

INTROSPECT = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Policy") { name } }'


def test_introspection_is_on_by_default_and_a_setting_turns_it_off(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url)) as api:
        assert post(api, INTROSPECT)["data"]["__schema"]["queryType"]["name"] == "Query"
    with serve(Settings(database_url=sqlite_url, introspection=False)) as api:
        for query in (INTROSPECT, TYPE):
            body = post(api, query)
            assert body.get("data") is None
            assert codes(body) and set(codes(body)) == {"BAD_INPUT"}
            assert "introspection" in body["errors"][0]["message"].lower()
        assert post(api, "{ logHead { position } }")["data"]["logHead"]["position"] == 0


# -- SQL injection --------------------------------------------------------------------------


def _unwrap(kind: GraphQLType) -> tuple[Any, bool]:
    """The named type, and whether it is a list."""
    is_list = False
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(kind, GraphQLList)
        kind = kind.of_type
    return kind, is_list


def _selection(kind: GraphQLType) -> str:
    named, _ = _unwrap(kind)
    if isinstance(named, GraphQLObjectType) and "nodes" in named.fields:
        return "{ nodes { __typename } }"
    return "{ __typename }" if isinstance(named, GraphQLObjectType) else ""


def string_arguments(schema: GraphQLSchema) -> Iterator[tuple[str, str, str]]:
    """(query field, argument path, variable type) for every String/ID argument of every
    query, including the fields of filter inputs."""
    for name, field in schema.query_type.fields.items():  # type: ignore[union-attr]
        for arg_name, arg in field.args.items():
            named, _ = _unwrap(arg.type)
            if isinstance(named, GraphQLScalarType) and named.name in ("String", "ID"):
                yield name, arg_name, str(arg.type)
            if isinstance(named, GraphQLInputObjectType):
                for sub, sub_field in named.fields.items():
                    sub_named, _ = _unwrap(sub_field.type)
                    if isinstance(sub_named, GraphQLScalarType) and sub_named.name in (
                        "String",
                        "ID",
                    ):
                        yield name, f"{arg_name}.{sub}", str(sub_field.type)


def injection_query(schema: GraphQLSchema, field_name: str, path: str, var_type: str) -> str:
    """The query with `$v` at `path` and fillers for the other required arguments."""
    field = schema.query_type.fields[field_name]  # type: ignore[union-attr]
    head, _, sub = path.partition(".")
    arguments = []
    for arg_name, arg in field.args.items():
        if arg_name == head:
            arguments.append(f"{arg_name}: {{ {sub}: $v }}" if sub else f"{arg_name}: $v")
        elif isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined:
            named, _ = _unwrap(arg.type)
            filler = FILLERS[named.name]
            text = str(filler) if isinstance(filler, int | Raw) else repr_gql(filler)
            arguments.append(f"{arg_name}: {text}")
    return (
        f"query($v: {var_type}) {{ {field_name}({', '.join(arguments)}) {_selection(field.type)} }}"
    )


def repr_gql(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _found(data: Any) -> int:
    """How many things an answer holds: a node list's length, a list's length, 1 for an
    object, 0 for null."""
    if data is None:
        return 0
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict) and "nodes" in data:
        return len(data["nodes"])
    return 1


#: Queries that need a token with the `write` scope (webhook endpoints and their deliveries).
WRITE_SCOPED = {"webhooks", "webhookDeliveries"}


def test_sql_injection_in_every_string_argument_changes_nothing_and_matches_nothing(
    demo_api: ApiServer,
) -> None:
    schema = build_schema()._schema
    targets = list(string_arguments(schema))
    assert len(targets) >= 15  # every id, filter field and cursor of the contract
    before = snapshot(demo_api.services.timeline.engine)
    assert _found(post(demo_api, "{ policies { nodes { id } } }")["data"]["policies"]) > 0
    refused: set[str] = set()
    assert "webhookDeliveries" in {name for name, _, _ in targets}  # a write-scoped one
    for field_name, path, var_type in targets:
        query = injection_query(schema, field_name, path, var_type)
        for payload in PAYLOADS:
            value: Any = [payload] if var_type.startswith("[") else payload
            where = f"{field_name}({path}={payload!r})"
            token = None
            if field_name in WRITE_SCOPED:  # refused without the token, then really probed
                anonymous = post(demo_api, query, {"v": value})
                assert codes(anonymous) == ["UNAUTHENTICATED"], (where, anonymous)
                assert anonymous["data"] is None, (where, anonymous)
                token = demo_api.write_token
            body = post(demo_api, query, {"v": value}, token)
            assert set(codes(body)) <= {"BAD_INPUT", "NOT_FOUND"}, (where, body)
            if "BAD_INPUT" in codes(body):  # refused as input: naming the argument, never run
                assert all(e["extensions"].get("field") for e in body["errors"]), (where, body)
                refused.add(path)
            elif body.get("errors"):  # looked up: nothing of that name was ever recorded
                assert codes(body) == ["NOT_FOUND"] and body["data"][field_name] is None, where
            else:
                assert _found(body["data"][field_name]) == 0, (where, body)
    # only cursors, time zones, slugs (ids and filters naming actors or policies, through the
    # one slug rule) and the validated codes are refused outright; the rest was looked up
    assert refused <= {
        "id",
        "actor",
        "filter.owner",
        "filter.authority",
        "filter.target",
        "filter.policy",
        "after",
        "before",
        "timeZone",
        "filter.kinds",
        "filter.aggregateKinds",
        "filter.aggregateIds",
        "filter.actors",
        "filter.jurisdictions",
        "filter.aggregate",
        "filter.actor",
        "filter.jurisdiction",
        "filter.types",  # event types are checked against the known ones, like jurisdictions
        "filter.type",
        "query",  # the search's words: none, or more than its limits, are refused
        "filter.search",
        "kinds",  # the search's kinds are checked against the known ones
    }, refused
    assert snapshot(demo_api.services.timeline.engine) == before
    verdict = integrity.verify(
        demo_api.services.timeline.engine,
        demo_api.services.timeline.recorder.events_record_cls.__table__,  # type: ignore[attr-defined]
    )
    assert verdict.ok


ANNOUNCE = """mutation($i: AnnouncePolicyInput!) { announcePolicy(input: $i) {
  policy { title summary clauses { id heading text } } } }"""


def test_injection_in_stored_texts_is_stored_verbatim_and_touches_nothing_else(
    demo_api: ApiServer,
) -> None:
    engine = demo_api.services.timeline.engine
    tokens_before = snapshot(engine)["timeline_api_tokens"]
    head = demo_api.services.timeline.head_position()
    for n, payload in enumerate(PAYLOADS):
        body = post(
            demo_api,
            ANNOUNCE,
            {
                "i": {
                    "id": f"meta/probe-{n}",
                    "title": payload,
                    "owner": "meta",
                    "summary": payload,
                    "effectiveAt": "2022-03-15T00:00:00+00:00",
                    "clauses": [{"id": "c1", "heading": payload, "text": payload}],
                }
            },
            demo_api.write_token,
        )
        assert "errors" not in body, body
        policy = body["data"]["announcePolicy"]["policy"]
        assert policy["title"] == policy["summary"] == payload
        assert policy["clauses"] == [{"id": "c1", "heading": payload, "text": payload}]
        refused = post(
            demo_api,
            ANNOUNCE,
            {
                "i": {
                    "id": payload,
                    "title": "t",
                    "owner": "meta",
                    "effectiveAt": "2022-03-15T00:00:00+00:00",
                    "clauses": [],
                }
            },
            demo_api.write_token,
        )
        assert codes(refused) == ["BAD_INPUT"], refused
    after = snapshot(engine)
    assert after["timeline_api_tokens"] == tokens_before
    assert demo_api.services.timeline.head_position() > head
    assert integrity.verify(
        engine,
        demo_api.services.timeline.recorder.events_record_cls.__table__,  # type: ignore[attr-defined]
    ).ok


def test_mutations_over_get_and_batched_or_malformed_requests_store_nothing(
    sqlite_url: str,
) -> None:
    """A mutation in a GET (a link or an <img> could send it) and batches (which would
    multiply the per-document limits) are refused, as is a body that is not JSON."""
    mutation = (
        'mutation { registerActor(input: {id: "meta", name: "Meta", '
        'kind: "organisation", effectiveAt: "2022-03-01T00:00:00Z"}) { id } }'
    )
    with serve(Settings(database_url=sqlite_url)) as api:
        auth = {"Authorization": f"Bearer {api.write_token}"}
        over_get = httpx.get(api.url + "/graphql", params={"query": mutation}, headers=auth)
        batched = httpx.post(api.url + "/graphql", json=[{"query": mutation}] * 3, headers=auth)
        malformed = httpx.post(
            api.url + "/graphql",
            content=b'{"query": "mutation {',
            headers={**auth, "content-type": "application/json"},
        )
        stored = api.services.timeline.head_position()
        works = post(api, mutation, token=api.write_token)
    # GraphQL over HTTP: a mutation over GET is 405 (Allow: POST); the others are 400
    assert (over_get.status_code, batched.status_code, malformed.status_code) == (405, 400, 400)
    assert over_get.headers["allow"] == "POST"
    assert stored == 0
    assert works == {"data": {"registerActor": {"id": "meta"}}}  # the same mutation, POSTed
