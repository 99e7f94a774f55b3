"""Fuzzing the running server with schemathesis: every GraphQL query and mutation of the
schema (read from the server by introspection) and every REST operation of the OpenAPI
document. No 500, no stack trace, every error with a stable code, and no event stored by a
refused command (the log head before and after each mutation)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import graphql
import httpx
import jsonschema
import openapi_spec_validator
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.graphql import nodes
from test_api_server import ApiServer, serve
from test_security_append_only import writes_events

from timeline.demo import load_demo
from timeline.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The codes of the contract (DESIGN.md §6), with the reasons a read has no answer
#: (docs/api.md); anything else (INTERNAL_SERVER_ERROR) fails.
CODES = {
    "BAD_INPUT",
    "NOT_FOUND",
    "NOT_YET_KNOWN",
    "NOT_IN_FORCE",
    "CONFLICT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
}
#: Why a well-formed read of a record has no answer at its instant or position (docs/api.md).
NO_ANSWER = ("NOT_YET_KNOWN", "NOT_IN_FORCE")
QUERY_EXAMPLES, MUTATION_EXAMPLES, REST_EXAMPLES = 12, 25, 40
#: REST answers that depend on what the log holds: a valid position may name no event.
#: Paths whose well-formed values can name what the log does not hold (an id, a position).
EVIDENCE = {
    "/log/head",
    "/log/proofs/inclusion",
    "/log/proofs/consistency",
    "/evidence",
    "/evidence/report",
}

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


def fuzz(
    operation: Any, examples: int, check: Any, mode: GenerationMode = GenerationMode.POSITIVE
) -> None:
    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        check(case)

    run()


def test_graphql_queries_never_fail_with_a_server_error(api: ApiServer) -> None:
    operations = [op for op in graphql_operations(api) if op.label.startswith("Query.")]
    assert len(operations) >= 11
    for operation in operations:

        def check(case: Any, label: str = operation.label) -> None:
            response = case.call(base_url=api.url + "/graphql", timeout=60)
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
            response = case.call(base_url=api.url + "/graphql", headers=headers, timeout=60)
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


def test_the_openapi_document_is_valid_and_types_every_parameter_tightly(api: ApiServer) -> None:
    """The served document passes openapi-spec-validator; every parameter has a pattern or an
    enum (so a fuzzer can draw valid values), and refusals are documented as our 400, not 422."""
    document = httpx.get(api.url + "/openapi.json", timeout=60).json()
    openapi_spec_validator.validate(document)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path, "FastAPI's validation answer")
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                schema = schema.get("items", schema)
                assert "pattern" in schema or "enum" in schema, (path, parameter["name"], schema)
            if operation.get("parameters"):
                assert "400" in responses, (method, path)


def declared_parameters(api: ApiServer) -> dict[str, dict[str, dict[str, Any]]]:
    """Each path's declared parameters by name, from the served OpenAPI document."""
    document = httpx.get(api.url + "/openapi.json", timeout=60).json()
    return {
        path: {p["name"]: p for p in item["get"].get("parameters", [])}
        for path, item in document["paths"].items()
    }


def refused_parameters(request: requests.PreparedRequest, declared: dict[str, Any]) -> set[str]:
    """The declared parameters whose values, as sent on the wire, the document refuses: the
    oracle. Undeclared parameters and headers are ignored, by the server as by HTTP."""
    query = urllib.parse.parse_qs(
        urllib.parse.urlsplit(request.url or "").query, keep_blank_values=True
    )
    refused = set()
    for name, parameter in declared.items():
        if parameter["in"] == "query":
            values = query.get(name, [])
        else:  # a header's value excludes the whitespace around it (RFC 9110 §5.5)
            sent = request.headers.get(name)
            values = [] if sent is None else [sent.strip(" \t")]
        schema = parameter["schema"]
        if schema.get("type") == "array":
            valid = all(
                jsonschema.Draft202012Validator(schema["items"]).is_valid(v) for v in values
            )
        else:
            valid = len(values) <= 1 and all(
                jsonschema.Draft202012Validator(schema).is_valid(v) for v in values
            )
        if not valid:
            refused.add(name)
    return refused


#: Paths that refuse a query parameter they do not declare (a typo would widen the answer);
#: `token`/`access_token` pass (and are redacted from the log).
STRICT_PATHS = {"/events", "/events/stream"}
PASSED_THROUGH = {"token", "access_token"}


def refused_by_state(
    request: requests.PreparedRequest, declared: dict[str, Any], path: str, head: int
) -> set[str]:
    """What the server refuses beyond the document: undeclared query parameters of the
    strict paths, and a cursor past the log's head (the one read: Last-Event-ID when not
    empty, else `after`)."""
    query = urllib.parse.parse_qs(
        urllib.parse.urlsplit(request.url or "").query, keep_blank_values=True
    )
    refused = set()
    if path in STRICT_PATHS:
        refused |= {name for name in query if name not in declared and name not in PASSED_THROUGH}
    last = (request.headers.get("Last-Event-ID") or "").strip(" \t")
    if "Last-Event-ID" in declared and last:
        read = ("Last-Event-ID", [last])
    else:
        read = ("after", query.get("after", []))
    name, values = read
    digits = len(values) == 1 and values[0].isdigit() and values[0].isascii()
    if name in declared and digits and int(values[0]) > head:
        refused.add(name)
    return refused


def field_parameter(field: str) -> str:
    """The parameter a refusal's field names: `filter.type[2]` is `type`; an undeclared
    parameter is named as sent, brackets and all (`[`, `a[b]`)."""
    return re.sub(r"(\[\d+\])+$", "", field.removeprefix("filter."))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_rest_parameter_is_taken_when_valid_and_refused_in_our_shape_otherwise(
    api: ApiServer, mode: GenerationMode
) -> None:
    """Every operation of the OpenAPI document, /events/stream and its Last-Event-ID included,
    with values from its schemas (positive) or outside them (negative): a value the document
    allows gets a 2xx, any other a 400 BAD_INPUT naming a refused parameter; never a 5xx, and
    nothing stored. The live stream is closed once its status and headers have come."""
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    declared = declared_parameters(api)
    assert {op.path for op in operations} == set(declared)
    assert {"/healthz", "/readyz", "/metrics", "/events", "/events/stream"} <= set(declared)
    assert "Last-Event-ID" in declared["/events/stream"]
    head = api.services.timeline.head_position()
    outcomes = {"accepted": 0, "refused": 0, "unsendable": 0, "semantic": 0, "Last-Event-ID": 0}
    session = requests.Session()
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not declared[operation.path]:
            continue  # nothing to make invalid

        def check(case: Any, path: str = operation.path, label: str = operation.label) -> None:
            try:
                response = session.request(
                    **case.as_transport_kwargs(base_url=api.url), stream=True, timeout=(30, 60)
                )
            except (
                requests.exceptions.InvalidHeader,
                requests.exceptions.InvalidURL,
                UnicodeEncodeError,
            ):
                outcomes["unsendable"] += 1  # the client refuses to send it: not our concern
                return
            with response:
                sent = response.request
                shown = f"{label} {sent.url} {dict(sent.headers)}"
                by_document = refused_parameters(sent, declared[path])
                refused = by_document | refused_by_state(sent, declared[path], path, head)
                outcomes["Last-Event-ID"] += bool(sent.headers.get("Last-Event-ID"))
                status = response.status_code
                streaming = status == 200 and path == "/events/stream"
                text = "" if streaming else response.text
                assert status < 500, (shown, status, text[:500])
                if refused:
                    assert status == 400, (shown, "refused by the document", refused, text[:500])
                    error = response.json()["error"]
                    assert error["code"] == "BAD_INPUT", (shown, error)
                    # An undeclared parameter is named as sent (`a[0]`); a declared one's item
                    # by its index (`types[2]`).
                    named = {error["field"], field_parameter(error["field"])}
                    assert named & refused, (shown, refused, error)
                    outcomes["refused"] += 1
                elif path in EVIDENCE and status in (400, 404):
                    # A well-formed position, size or instant the log does not hold (or a
                    # 30 February): refused by what the log holds, not by the document; or a
                    # reason the record has no answer there (known only later, not in force).
                    error = response.json()["error"]
                    assert error["code"] in ("BAD_INPUT", "NOT_FOUND", *NO_ANSWER), (shown, error)
                    assert error["field"] is None or error["field"] in declared[path], error
                    outcomes["semantic"] += 1
                else:
                    assert 200 <= status < 300, (shown, "allowed by the document", text[:500])
                    outcomes["accepted"] += 1
                if streaming:
                    assert response.headers["content-type"].startswith("text/event-stream")
            if mode is GenerationMode.POSITIVE:
                assert not by_document, (shown, "a positive case outside the document", refused)

        fuzz(operation, REST_EXAMPLES, check, mode)
    session.close()
    assert api.services.timeline.head_position() == head, "a read stored an event"
    counted = outcomes["refused"] if mode is GenerationMode.NEGATIVE else outcomes["accepted"]
    assert counted > 0 and outcomes["Last-Event-ID"] > 0, outcomes


def test_the_fuzzed_server_still_answers(api: ApiServer) -> None:
    """After the fuzzing above, the demo's policy still reads (nothing broke the service)."""
    response = httpx.post(
        api.url + "/graphql",
        json={"query": '{ policy(id: "meta/hate-speech") { id } }'},
        timeout=30,
    )
    assert response.json() == {"data": {"policy": {"id": "meta/hate-speech"}}}
