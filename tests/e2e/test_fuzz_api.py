"""Fuzzing the running server with schemathesis: every GraphQL query and mutation of the
schema (read from the server by introspection) and every REST operation of the OpenAPI
document. No 500, no stack trace, every error with a stable code, and no event stored by a
refused command (the log head before and after each mutation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from test_api_server import ApiServer, serve
from test_security_append_only import writes_events

from timeline.demo import load_demo
from timeline.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The codes of the contract (DESIGN.md §6); anything else (INTERNAL_SERVER_ERROR) fails.
CODES = {"BAD_INPUT", "NOT_FOUND", "CONFLICT", "UNAUTHENTICATED", "FORBIDDEN"}
QUERY_EXAMPLES, MUTATION_EXAMPLES, REST_EXAMPLES = 12, 25, 15

#: Instants that matter: with and without offsets, far past and future, out of range, junk.
INSTANTS = [
    "2022-03-11T00:00:00+03:00",
    "2022-03-14T00:00:00Z",
    "2022-03-11T00:00:00",
    "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59+00:00",
    "9999-12-31T23:59:59-12:00",
    "2022-02-30T00:00:00Z",
    "2022-03-11",
    "",
    "now",
    "\u0000",
    "2022-03-11T00:00:00+25:00",
]
DATES = ["2022-03-11", "0001-01-01", "9999-12-31", "2022-02-30", "11/03/2022", ""]


def _json_value(depth: int = 0) -> st.SearchStrategy[graphql.ValueNode]:
    scalars = st.one_of(
        st.text(max_size=30).map(nodes.String),
        st.integers().map(nodes.Int),
        st.booleans().map(nodes.Boolean),
        st.sampled_from(INSTANTS).map(nodes.String),
    )
    if depth >= 2:
        return scalars
    fields = st.lists(
        st.tuples(
            st.sampled_from(
                ["summary", "title", "effectiveAt", "text", "announcedAt", "clauses", "x", ""]
            ),
            _json_value(depth + 1),
        ),
        max_size=3,
    )
    return st.one_of(
        scalars,
        fields.map(
            lambda pairs: nodes.Object(
                [
                    graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value)
                    for name, value in dict(pairs).items()
                    if name
                ]
            )
        ),
    )


schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.sampled_from(INSTANTS),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.text(max_size=40),
    ).map(nodes.String),
)
schemathesis.graphql.scalar(
    "Date",
    st.one_of(
        st.sampled_from(DATES), st.dates().map(lambda d: d.isoformat()), st.text(max_size=12)
    ).map(nodes.String),
)
schemathesis.graphql.scalar("JSON", _json_value())


@pytest.fixture(name="api", scope="module")
def api_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One server over the demo for the whole module (fuzzing needs no fresh database)."""
    path = tmp_path_factory.mktemp("fuzz") / "timeline.db"
    with serve(Settings(database_url=f"sqlite:///{path}")) as api:
        load_demo(api.services.timeline)
        yield api


def check_body(response: Any, label: str) -> list[dict[str, Any]]:
    """No server error, no stack trace, every error with a known code; returns the errors."""
    assert response.status_code < 500, (label, response.status_code, response.text[:500])
    assert "Traceback" not in response.text, label
    body = response.json()
    errors: list[dict[str, Any]] = body.get("errors") or []
    for error in errors:
        assert error.get("extensions", {}).get("code") in CODES, (label, error)
    return errors


def graphql_operations(api: ApiServer) -> list[Any]:
    schema = schemathesis.graphql.from_url(api.url + "/graphql")
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(operation: Any, examples: int, check: Any) -> None:
    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(operation.as_strategy())
    def run(case: Any) -> None:
        check(case)

    run()


def test_graphql_queries_never_fail_with_a_server_error(api: ApiServer) -> None:
    operations = [op for op in graphql_operations(api) if op.label.startswith("Query.")]
    assert len(operations) >= 11
    for operation in operations:

        def check(case: Any, label: str = operation.label) -> None:
            response = case.call(base_url=api.url + "/graphql")
            check_body(response, label)

        fuzz(operation, QUERY_EXAMPLES, check)


def test_graphql_mutations_refused_with_a_code_store_nothing(api: ApiServer) -> None:
    operations = [op for op in graphql_operations(api) if op.label.startswith("Mutation.")]
    assert len(operations) >= 11
    headers = {"Authorization": f"Bearer {api.write_token}"}
    outcomes = {"accepted": 0, "refused": 0}
    timeline = api.services.timeline
    for operation in operations:

        def check(case: Any, label: str = operation.label) -> None:
            before = timeline.head_position()
            response = case.call(base_url=api.url + "/graphql", headers=headers)
            errors = check_body(response, label)
            after = timeline.head_position()
            if errors:
                assert after == before, (label, "a refused command stored an event", errors)
                outcomes["refused"] += 1
            elif writes_events(label.split(".", 1)[1]):
                assert after > before, (label, "accepted but nothing stored")
                outcomes["accepted"] += 1
            else:  # configuration (addWebhook): never an event
                assert after == before, (label, "stored an event")

        fuzz(operation, MUTATION_EXAMPLES, check)
    assert outcomes["refused"] > 0


def test_rest_operations_never_fail_with_a_server_error(api: ApiServer) -> None:
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # the live stream never ends by itself; its bad input is covered by test_stream_sse.py
    operations = [op for op in operations if op.path != "/events/stream"]
    assert {op.path for op in operations} >= {"/healthz", "/readyz", "/metrics", "/events"}
    for operation in operations:

        def check(case: Any, label: str = operation.label) -> None:
            response = case.call(base_url=api.url, timeout=30)
            assert response.status_code < 500, (label, response.text[:300])
            if response.status_code >= 400:
                check_body(response, label)

        fuzz(operation, REST_EXAMPLES, check)


def test_the_fuzzed_server_still_answers(api: ApiServer) -> None:
    """After the fuzzing above, the demo's policy still reads (nothing broke the service)."""
    response = httpx.post(
        api.url + "/graphql",
        json={"query": '{ policy(id: "meta/hate-speech") { id } }'},
        timeout=30,
    )
    assert response.json() == {"data": {"policy": {"id": "meta/hate-speech"}}}
