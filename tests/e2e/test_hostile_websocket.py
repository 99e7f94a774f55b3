"""Hostile graphql-transport-ws clients against the real server (issue 12 items 4 and 6): every
limit and credential check of HTTP holds per websocket message, a malformed frame closes with
the protocol's code and a reason (never 1006 and a traceback), every error a client reads is
in the project's shape, and nothing refused is stored.

The server is uvicorn in a subprocess (`tests/e2e/stream_support.py`) so that its log can be
read for tracebacks; `timeline serve` is started where its own frame limit is the subject.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_support import Server, running_server
from test_cli_serve import Server as TimelineServe
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from timeline import tokens
from timeline.application import Timeline
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

PROTOCOL = "graphql-transport-ws"
GUARD = 30  # seconds: only stops a hang, never a measured bound
REGISTER = "mutation($input: RegisterActorInput!) { registerActor(input: $input) { id } }"
ACTOR = {
    "id": "meta",
    "name": "Meta",
    "kind": "organisation",
    "effectiveAt": "2021-10-28T00:00:00Z",
}
EVENTS = "subscription($a: String) { events(after: $a) { position type } }"
#: Close codes of graphql-transport-ws for a client's mistake (PROTOCOL.md) and ours (4413).
PROTOCOL_CLOSES = {4400, 4401, 4403, 4409, 4413, 4429}
#: Connections the fuzzer opens (each 1-4 messages); raise locally for a longer run.
FUZZ_EXAMPLES = 150


@dataclass
class Outcome:
    """What a connection received, and how it ended (None while still open)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    code: int | None = None
    reason: str = ""

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("id") == operation]


@dataclass
class Api:
    """The running server, a log head reader and tokens on its database."""

    server: Server
    timeline: Timeline
    write_token: str
    read_token: str

    def head(self) -> int:
        return self.timeline.head_position()

    def log_text(self) -> str:
        return self.server.log_path.read_text(errors="replace")


def started(database_url: str, log: Path, **env: str) -> Iterator[Api]:
    with running_server(database_url, log, **env) as server:
        timeline = Timeline(Settings(database_url=database_url))
        write, _ = tokens.create_token(timeline.engine, ["write"], "tests")
        read, _ = tokens.create_token(timeline.engine, ["read"], "tests")
        try:
            yield Api(server, timeline, write, read)
        finally:
            timeline.close()


@pytest.fixture(scope="module", name="api")
def api_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("hostile-ws")
    yield from started(f"sqlite:///{directory / 'timeline.db'}", directory / "server.log")


@pytest.fixture(name="clean_log")
def clean_log_fixture(api: Api) -> Iterator[None]:
    """The test leaves no traceback (nor unexpected error) in the server's log."""
    before = len(api.log_text())
    yield
    added = api.log_text()[before:]
    assert "Traceback" not in added, added[-3000:]
    assert "Exception in worker task" not in added, added[-3000:]


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, GUARD * 2))


async def _read(ws: ClientConnection, outcome: Outcome, until: Any) -> Outcome:
    """Read into `outcome` until `until(message)` holds or the server closes."""
    try:
        while True:
            raw = await asyncio.wait_for(ws.recv(), GUARD)
            message = json.loads(raw)
            outcome.messages.append(message)
            if until(message):
                return outcome
    except ConnectionClosed:
        pass
    outcome.code = ws.close_code
    outcome.reason = ws.close_reason or ""
    return outcome


async def session(
    url: str,
    frames: list[str | bytes],
    *,
    init: dict[str, Any] | bool | None = True,
    headers: dict[str, str] | None = None,
    until: Any = lambda message: False,
    subprotocols: tuple[str, ...] = (PROTOCOL,),
) -> Outcome:
    """Open a connection, `connection_init` (with `init` as payload unless False), send the
    frames, and read until `until(message)` or the close."""
    outcome = Outcome()
    async with connect(
        url,
        subprotocols=list(subprotocols),  # type: ignore[arg-type]
        additional_headers=headers,
        max_size=None,
        open_timeout=GUARD,
    ) as ws:
        if init is not False:
            payload = {} if init is True else init
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            await _read(ws, outcome, lambda m: m.get("type") == "connection_ack")
            if outcome.code is not None:
                return outcome
        try:
            for frame in frames:
                await ws.send(frame)
        except ConnectionClosed:
            pass  # closed by an earlier frame: read how
        return await _read(ws, outcome, until)


def subscribe(query: str, variables: dict[str, Any] | None = None, operation: str = "1") -> str:
    payload = {"query": query, "variables": variables or {}}
    return json.dumps({"id": operation, "type": "subscribe", "payload": payload})


def finished(operation: str = "1") -> Any:
    """`until` for the end of one operation: its `error`, or its `complete`."""
    return lambda m: m.get("id") == operation and m.get("type") in ("error", "complete")


def errors_of(outcome: Outcome, operation: str = "1") -> list[dict[str, Any]]:
    """The GraphQL errors an operation received, from `error` or `next` messages."""
    found: list[dict[str, Any]] = []
    for message in outcome.of(operation):
        if message["type"] == "error":
            found += message["payload"]
        elif message["type"] == "next":
            found += message["payload"].get("errors") or []
    return found


def in_project_shape(error: dict[str, Any]) -> None:
    """An error as api/errors.py writes it: a message and a stable code, no Python text."""
    assert isinstance(error.get("message"), str) and error["message"], error
    assert isinstance(error.get("extensions", {}).get("code"), str), error
    for raw in ("Python int too large", "invalid literal for int()", "Traceback", "Error("):
        assert raw not in error["message"], error


def padded_registration(size: int) -> str:
    """A valid registerActor that would be stored, padded with whitespace to `size` bytes."""
    frame = subscribe(REGISTER, {"input": ACTOR})
    return frame[:-1] + " " * (size - len(frame)) + "}"


# -- 1. message size -------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_log")
def test_a_message_over_the_body_limit_closes_with_4413_and_stores_nothing(api: Api) -> None:
    head = api.head()
    auth = {"Authorization": f"Bearer {api.write_token}"}
    huge = padded_registration(14_900_000)  # the 14.9 MB, under uvicorn's own 16 MiB
    just_over = padded_registration(1_000_001)
    for frame in (huge, just_over):
        outcome = run(session(api.server.ws_url, [frame], init=auth, until=finished()))
        assert outcome.code == 4413 and outcome.of("1") == [], outcome
        assert "1000000 bytes" in outcome.reason and "maxBodyBytes" in outcome.reason
    assert api.head() == head
    # The same write under the limit is stored: the refusal above was for its size alone.
    under = run(
        session(api.server.ws_url, [padded_registration(999_000)], init=auth, until=finished())
    )
    assert under.of("1")[0]["payload"] == {"data": {"registerActor": {"id": "meta"}}}, under
    assert api.head() == head + 1


def test_timeline_serve_refuses_an_oversized_message_at_its_frame_limit(tmp_path: Path) -> None:
    serve = TimelineServe(f"sqlite:///{tmp_path / 'timeline.db'}", tmp_path)
    try:
        frame = padded_registration(2_000_000)
        outcome = run(session(serve.base.replace("http", "ws") + "/graphql", [frame]))
        assert outcome.code == 1009, outcome  # Message Too Big (RFC 6455), never buffered
        assert "Traceback" not in serve.output()
        head = serve.graphql("{ logHead { position } }")["data"]["logHead"]["position"]
        assert head == 0
    finally:
        serve.stop()


# -- 2. credentials in connection_init -------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(lambda t: {"Authorization": f"Bearer {t}"}, id="Authorization"),
        pytest.param(lambda t: {"authorization": f"Bearer {t}"}, id="authorization"),
        pytest.param(lambda t: {"token": t}, id="token"),
    ],
)
@pytest.mark.usefixtures("clean_log")
def test_a_token_in_connection_params_authorizes_a_write(api: Api, params: Any) -> None:
    slug = f"actor-{len(params(''))}-{api.head()}"
    frame = subscribe(REGISTER, {"input": {**ACTOR, "id": slug}})
    outcome = run(
        session(api.server.ws_url, [frame], init=params(api.write_token), until=finished())
    )
    assert outcome.of("1")[0]["payload"] == {"data": {"registerActor": {"id": slug}}}, outcome


@pytest.mark.usefixtures("clean_log")
def test_the_authorization_header_still_authorizes_a_write(api: Api) -> None:
    frame = subscribe(REGISTER, {"input": {**ACTOR, "id": "by-header"}})
    headers = {"Authorization": f"Bearer {api.write_token}"}
    outcome = run(session(api.server.ws_url, [frame], headers=headers, until=finished()))
    assert outcome.of("1")[0]["payload"] == {"data": {"registerActor": {"id": "by-header"}}}


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"Authorization": "Bearer pt_nope_nope"}, None),
        ({"authorization": "Basic dXNlcjpwYXNz"}, None),
        ({"token": "not-a-token"}, None),
        ({"Authorization": ["Bearer x"]}, None),
        ({"token": 42}, None),
        ({}, {"Authorization": "Bearer pt_nope_nope"}),
    ],
)
@pytest.mark.usefixtures("clean_log")
def test_a_bad_token_at_connection_init_closes_with_4403_and_stores_nothing(
    api: Api, params: dict[str, Any], headers: dict[str, str] | None
) -> None:
    head = api.head()
    outcome = run(session(api.server.ws_url, [], init=params, headers=headers))
    assert (outcome.code, outcome.reason) == (4403, "Forbidden"), outcome
    assert outcome.messages == []  # no connection_ack
    assert api.head() == head


@pytest.mark.usefixtures("clean_log")
def test_without_a_token_a_write_is_unauthenticated_per_operation(api: Api) -> None:
    head = api.head()
    frame = subscribe(REGISTER, {"input": {**ACTOR, "id": "anonymous"}})
    outcome = run(session(api.server.ws_url, [frame], until=finished()))
    (error,) = errors_of(outcome)
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    assert api.head() == head


@pytest.mark.usefixtures("clean_log")
def test_a_token_revoked_while_connected_is_refused_from_the_next_operation(api: Api) -> None:
    token, info = tokens.create_token(api.timeline.engine, ["write"], "revoked-while-connected")
    head = api.head()

    async def scenario() -> tuple[Outcome, Outcome]:
        async with connect(api.server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"token": token}}
            await ws.send(json.dumps(init))
            await _read(ws, Outcome(), lambda m: m["type"] == "connection_ack")
            await ws.send(subscribe(REGISTER, {"input": {**ACTOR, "id": "kept"}}, "before"))
            before = await _read(ws, Outcome(), finished("before"))
            assert tokens.revoke_token(api.timeline.engine, info.token_id)
            await ws.send(subscribe(REGISTER, {"input": {**ACTOR, "id": "refused"}}, "after"))
            after = await _read(ws, Outcome(), finished("after"))
            return before, after

    before, after = run(scenario())
    assert before.of("before")[0]["payload"] == {"data": {"registerActor": {"id": "kept"}}}
    (error,) = errors_of(after, "after")
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    assert api.head() == head + 1


def test_with_reads_closed_a_subscription_needs_a_read_token_in_connection_params(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'timeline.db'}"
    for api in started(database, tmp_path / "server.log", TIMELINE_READ_REQUIRES_TOKEN="true"):
        api.timeline.register_actor(ACTOR)
        anonymous = run(session(api.server.ws_url, [subscribe(EVENTS)], until=finished()))
        (error,) = errors_of(anonymous)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", anonymous
        reader = run(
            session(
                api.server.ws_url,
                [subscribe(EVENTS)],
                init={"Authorization": f"Bearer {api.read_token}"},
                until=lambda m: m.get("type") == "next",
            )
        )
        assert reader.of("1")[0]["payload"]["data"]["events"] == {
            "position": 1,
            "type": "ActorRegistered",
        }, reader
        assert "Traceback" not in api.log_text()


# -- 3. one context per operation ------------------------------------------------------------


def owner_name(api: Api, query: str) -> str | None:
    """The policy owner's name as HTTP answers it now (a fresh context per request)."""
    body = httpx.post(api.server.url + "/graphql", json={"query": query}, timeout=GUARD).json()
    policy = body["data"]["policy"]
    return str(policy["ownerActor"]["name"]) if policy else None


def wait_for_owner_name(api: Api, query: str, name: str) -> None:
    deadline = time.monotonic() + GUARD
    while owner_name(api, query) != name:
        assert time.monotonic() < deadline, f"the projections never showed {name!r}"
        time.sleep(0.05)


@pytest.mark.usefixtures("clean_log")
def test_each_operation_on_a_connection_has_its_own_dataloaders(api: Api) -> None:
    """A context shared by a connection's operations would answer the second lookup of the
    owner from the first one's dataloader cache, after the owner was renamed in between."""
    api.timeline.register_actor({**ACTOR, "id": "owner", "name": "Meta"})
    api.timeline.announce_policy(
        {
            "id": "owner/policy",
            "title": "Hate Speech",
            "owner": "owner",
            "effectiveAt": "2022-01-01T00:00:00Z",
            "clauses": [{"id": "c1", "text": "No attacks."}],
        }
    )
    query = '{ policy(id: "owner/policy") { ownerActor { name } } }'
    wait_for_owner_name(api, query, "Meta")

    async def scenario() -> tuple[Outcome, Outcome]:
        async with connect(api.server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            await _read(ws, Outcome(), lambda m: m["type"] == "connection_ack")
            await ws.send(subscribe(query, operation="before"))
            before = await _read(ws, Outcome(), finished("before"))
            api.timeline.rename_actor(
                {"id": "owner", "name": "Meta Platforms", "effectiveAt": "2021-11-01T00:00:00Z"}
            )
            await asyncio.to_thread(wait_for_owner_name, api, query, "Meta Platforms")
            await ws.send(subscribe(query, operation="after"))
            after = await _read(ws, Outcome(), finished("after"))
            return before, after

    before, after = run(scenario())
    assert before.of("before")[0]["payload"]["data"]["policy"]["ownerActor"]["name"] == "Meta"
    renamed = after.of("after")[0]["payload"]["data"]["policy"]["ownerActor"]["name"]
    assert renamed == "Meta Platforms", after


# -- 4. the legacy subprotocol ---------------------------------------------------------------


@pytest.mark.usefixtures("clean_log")
def test_a_client_asking_only_for_the_legacy_graphql_ws_protocol_is_refused(api: Api) -> None:
    legacy_start = json.dumps({"type": "start", "id": "1", "payload": {"query": EVENTS}})
    outcome = run(
        session(
            api.server.ws_url,
            [json.dumps({"type": "connection_init", "payload": {}}), legacy_start],
            init=False,
            subprotocols=("graphql-ws",),
        )
    )
    assert (outcome.code, outcome.reason) == (4406, "Subprotocol not acceptable"), outcome
    assert outcome.messages == []  # no GQL_CONNECTION_ACK, no data
    both = run(
        session(
            api.server.ws_url,
            [json.dumps({"type": "ping"})],
            subprotocols=("graphql-ws", PROTOCOL),
            until=lambda m: m["type"] == "pong",
        )
    )
    assert both.messages == [{"type": "connection_ack"}, {"type": "pong"}]  # the current one


# -- 5. malformed frames ---------------------------------------------------------------------

VALID_EVENTS = subscribe("subscription { events { position } }")
MALFORMED: dict[str, tuple[list[str | bytes], str]] = {
    "array": (["[1,2]"], "must be a JSON object"),
    "null": (["null"], "must be a JSON object"),
    "string": (['"x"'], "must be a JSON object"),
    "number": (["42"], "must be a JSON object"),
    "string payload": (['{"type":"subscribe","id":"1","payload":"x"}'], "payload"),
    "no payload": (['{"type":"subscribe","id":"1"}'], "payload"),
    "query not a string": (['{"type":"subscribe","id":"1","payload":{"query":5}}'], "query"),
    "variables an array": (
        [
            '{"type":"subscribe","id":"1","payload":{"query":"{ logHead { position } }",'
            '"variables":[1]}}'
        ],
        "variables",
    ),
    "operationName a number": (
        ['{"type":"subscribe","id":"1","payload":{"query":"{ __typename }","operationName":1}}'],
        "operationName",
    ),
    "nested 10000 deep": (
        ['{"type":"subscribe","id":"1","payload":' + "[" * 10_000 + "]" * 10_000 + "}"],
        "JSON",
    ),
    "variables nested 10000 deep": (
        [
            '{"type":"subscribe","id":"1","payload":{"query":"{ __typename }","variables":{"a":'
            + '{"b":' * 10_000
            + "1"
            + "}" * 10_000
            + "}}}"
        ],
        "JSON",
    ),
    "not JSON": (["{not json"], "JSON"),
    "trailing garbage": (['{"type":"ping"} x'], "JSON"),
    "binary": ([b'{"type":"ping"}'], "text"),
    "no type": (['{"id":"1"}'], "type"),
    "unknown type": (['{"type":"start","id":"1","payload":{}}'], "type"),
    "type a number": (['{"type":1}'], "type"),
    "a type of 10 KB": ([json.dumps({"type": "x" * 10_000})], "type"),
    "id of 10 KB": (
        [subscribe("subscription { events { position } }", operation="x" * 10_000)],
        "id",
    ),
    "empty id": ([subscribe("{ __typename }", operation="")], "id"),
    "id a number": (['{"type":"subscribe","id":1,"payload":{"query":"{ __typename }"}}'], "id"),
    "complete without id": (['{"type":"complete"}'], "id"),
    "ping payload a string": (['{"type":"ping","payload":"x"}'], "payload"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
@pytest.mark.usefixtures("clean_log")
def test_a_malformed_frame_closes_with_4400_and_a_reason(api: Api, case: str) -> None:
    frames, named = MALFORMED[case]
    outcome = run(session(api.server.ws_url, frames))
    assert outcome.code == 4400, outcome
    assert named in outcome.reason, outcome
    assert len(outcome.reason.encode()) <= 123
    assert httpx.get(api.server.url + "/healthz", timeout=GUARD).status_code == 200


@pytest.mark.parametrize(
    ("frames", "init", "code", "reason"),
    [
        ([VALID_EVENTS], False, 4401, "Unauthorized"),  # subscribe before connection_ack
        ([VALID_EVENTS, VALID_EVENTS], True, 4409, "Subscriber for 1 already exists"),
        ([json.dumps({"type": "connection_init"})], True, 4429, "Too many initialisation"),
        (['{"type":"connection_init","payload":[1]}'], False, 4400, "payload"),
    ],
    ids=["subscribe before init", "duplicate id", "second connection_init", "init payload"],
)
@pytest.mark.usefixtures("clean_log")
def test_a_protocol_violation_closes_with_the_protocols_code(
    api: Api, frames: list[str | bytes], init: bool, code: int, reason: str
) -> None:
    outcome = run(session(api.server.ws_url, frames, init=init))
    assert outcome.code == code and reason in outcome.reason, outcome


@pytest.mark.usefixtures("clean_log")
def test_a_duplicate_id_of_128_characters_closes_with_a_reason_that_fits_the_frame(
    api: Api,
) -> None:
    frame = subscribe("subscription { events { position } }", operation="é" * 128)
    outcome = run(session(api.server.ws_url, [frame, frame]))
    assert outcome.code == 4409 and outcome.reason.startswith("Subscriber for éé"), outcome
    assert len(outcome.reason.encode()) <= 123


# -- 6. the token limit over the websocket ---------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ events { nodes { " + " ".join(["id"] * 3000) + " } } }",
        "subscription { events { " + " ".join(["position"] * 3000) + " } }",
    ],
    ids=["query", "subscription"],
)
@pytest.mark.usefixtures("clean_log")
def test_a_document_over_the_token_limit_gets_an_error_naming_the_limit(
    api: Api, query: str
) -> None:
    over_http = httpx.post(api.server.url + "/graphql", json={"query": query}, timeout=GUARD)
    (http_error,) = over_http.json()["errors"]
    outcome = run(session(api.server.ws_url, [subscribe(query)], until=finished()))
    (message,) = outcome.of("1")
    assert message["type"] == "error", outcome  # not a bare `complete`
    (error,) = message["payload"]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "query", "limit": "maxTokens"}
    assert "2000 tokens" in error["message"]
    assert error["extensions"] == http_error["extensions"]
    assert error["message"] == http_error["message"]


# -- 7. hostile values get the project's errors ----------------------------------------------

CURSORS = ["99999999999999999999", str(2**63), "\u00b2", "+3", "1_0", "\uff13", "\u0663", " 42"]


@pytest.mark.parametrize("cursor", CURSORS)
@pytest.mark.usefixtures("clean_log")
def test_a_hostile_cursor_in_a_subscription_is_bad_input_naming_after(
    api: Api, cursor: str
) -> None:
    literal = "subscription { events(after: " + json.dumps(cursor) + ") { position } }"
    for frame in (subscribe(literal), subscribe(EVENTS, {"a": cursor})):
        outcome = run(session(api.server.ws_url, [frame], until=finished()))
        (error,) = errors_of(outcome)
        in_project_shape(error)
        assert error["extensions"] == {"code": "BAD_INPUT", "field": "after"}, error
        assert error["message"].startswith("after:"), error


@pytest.mark.parametrize(
    ("query", "variables", "named"),
    [
        ('subscription { events(filter: {types: ["NoSuchEvent"]}) { position } }', {}, "types"),
        ("subscription { events(after: 99999999999999999999) { position } }", {}, "after"),
        ("subscription($a: String) { events(after: $a) { position } }", {"a": 12}, "after"),
        (
            'query($d: Date!, $z: String) { policyOn(id: "meta/x", date: $d, timeZone: $z) '
            "{ id } }",
            {"d": "2022-03-11", "z": "__pycache__"},
            "timeZone",
        ),
        (
            'query($d: Date!) { policyOn(id: "meta/x", date: $d, timeZone: "Asia/Tokyo") { id } }',
            {"d": "0001-01-01"},
            "date",
        ),
        ("{ events(first: 99999999999999999999) { nodes { id } } }", {}, "first"),
        ('{ policy(id: "x", validAt: "2022-03-11T00:00:00") { id } }', {}, "validAt"),
        ('{ policy(id: "x", knownAt: 1647000000) { id } }', {}, "knownAt"),
    ],
)
@pytest.mark.usefixtures("clean_log")
def test_a_hostile_argument_over_the_websocket_is_bad_input_naming_it(
    api: Api, query: str, variables: dict[str, Any], named: str
) -> None:
    outcome = run(session(api.server.ws_url, [subscribe(query, variables)], until=finished()))
    errors = errors_of(outcome)
    assert errors, outcome
    for error in errors:
        in_project_shape(error)
    assert errors[0]["extensions"]["code"] == "BAD_INPUT", errors
    assert named in errors[0]["message"], errors


@pytest.mark.parametrize("value", [12345, 1.5e9, "1647000000", "2021-10-28T00:00:00Z\u0000"])
@pytest.mark.usefixtures("clean_log")
def test_a_write_over_the_websocket_refuses_a_number_as_an_instant(api: Api, value: Any) -> None:
    head = api.head()
    frame = subscribe(REGISTER, {"input": {**ACTOR, "id": "numbered", "effectiveAt": value}})
    init = {"Authorization": f"Bearer {api.write_token}"}
    outcome = run(session(api.server.ws_url, [frame], init=init, until=finished()))
    (error,) = errors_of(outcome)
    in_project_shape(error)
    assert error["extensions"]["code"] == "BAD_INPUT" and "effectiveAt" in error["message"]
    assert api.head() == head


@pytest.mark.usefixtures("clean_log")
def test_variables_nested_just_under_the_decoders_limit_are_bad_input(api: Api) -> None:
    deep: Any = 1
    for _ in range(900):
        deep = {"types": deep}
    query = "subscription($f: EventFilter) { events(filter: $f) { position } }"
    outcome = run(session(api.server.ws_url, [subscribe(query, {"f": deep})], until=finished()))
    (error,) = errors_of(outcome)
    in_project_shape(error)
    assert error["extensions"]["code"] == "BAD_INPUT", error


@pytest.mark.usefixtures("clean_log")
def test_operations_beyond_the_per_connection_limit_get_an_error_naming_it(api: Api) -> None:
    frames: list[str | bytes] = [subscribe(EVENTS, operation=str(n)) for n in range(101)]
    outcome = run(session(api.server.ws_url, frames, until=finished("100")))
    (message,) = outcome.of("100")
    assert message["type"] == "error", message
    (error,) = message["payload"]
    in_project_shape(error)
    assert error["extensions"] == {"code": "BAD_INPUT", "limit": "maxSubscriptionsPerConnection"}


# -- 8. the message fuzzer -------------------------------------------------------------------

DOCUMENTS = [
    "subscription { events { position type } }",
    'subscription { events(after: "0", filter: {types: ["StatementRecorded"]}) { id } }',
    "subscription($a: String, $f: EventFilter) { events(after: $a, filter: $f) { position } }",
    "{ logHead { position } }",
    "query($n: Int) { events(first: $n) { nodes { id } } }",
    'query($at: DateTime) { policy(id: "meta/x", validAt: $at) { id ownerActor { name } } }',
    REGISTER,
    "query A { logHead { position } } query B { __typename }",
    "{ __schema { types { name } } }",
    "subscription { events { ... on Nope { x } } }",
    "{",
    "",
]
JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
VARIABLES = st.dictionaries(
    st.sampled_from(["a", "f", "n", "at", "input", "x"]),
    JSON_VALUES
    | st.sampled_from(["99999999999999999999", "\u00b2", "2022-03-11T00:00:00", "1647000000"])
    | st.just({"types": ["NoSuchEvent"]})
    | st.just({"jurisdictions": ["ZZ"], "actors": [""]}),
    max_size=3,
)
OPERATION_IDS = st.sampled_from(["1", "2", ""]) | st.text(max_size=12) | st.integers() | st.none()
SUBSCRIBES = st.fixed_dictionaries(
    {
        "type": st.just("subscribe"),
        "id": OPERATION_IDS,
        "payload": st.fixed_dictionaries(
            {"query": st.sampled_from(DOCUMENTS) | st.text(max_size=40)},
            optional={
                "variables": VARIABLES | JSON_VALUES,
                "operationName": st.sampled_from(["A", "B", "Nope"]) | JSON_LEAVES,
                "extensions": JSON_VALUES,
            },
        )
        | JSON_VALUES,
    }
)
OTHERS = st.fixed_dictionaries(
    {"type": st.sampled_from(["connection_init", "ping", "pong", "complete", "start", "next"])},
    optional={"id": OPERATION_IDS, "payload": JSON_VALUES},
)
MESSAGES = st.one_of(
    SUBSCRIBES.map(json.dumps),
    OTHERS.map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=20),
)


async def fuzz_connection(url: str, frames: list[str | bytes]) -> Outcome:
    """Send the frames after an init, then a ping: a pong means every frame before it was read
    and the connection is still open; otherwise the close code says how it ended."""
    outcome = Outcome()
    async with connect(url, subprotocols=[PROTOCOL], max_size=None) as ws:  # type: ignore[list-item]
        try:
            for frame in [json.dumps({"type": "connection_init"}), *frames]:
                await ws.send(frame)
            await ws.send(json.dumps({"type": "ping"}))
        except ConnectionClosed:
            pass  # closed by an earlier frame: read how
        await _read(ws, outcome, lambda m: m.get("type") == "pong")
    return outcome


def check_fuzz_outcome(outcome: Outcome) -> None:
    """The promises of every connection, whatever it was sent: never 1006 or 1011, a close
    only with one of the protocol's codes and a reason, every error in the project's shape."""
    assert outcome.code is None or outcome.code in PROTOCOL_CLOSES, outcome
    if outcome.code is not None:
        assert outcome.reason, outcome
    for message in outcome.messages:
        assert message["type"] in ("connection_ack", "next", "error", "complete", "pong"), message
        errors: list[dict[str, Any]] = []
        if message["type"] == "error":
            errors = message["payload"]
            assert isinstance(errors, list) and errors, message
        elif message["type"] == "next":
            errors = message["payload"].get("errors") or []
        for error in errors:
            in_project_shape(error)
            assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error


@pytest.mark.usefixtures("clean_log")
def test_fuzzed_messages_never_fail_the_server_nor_write(api: Api) -> None:
    head = api.head()

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(frames=st.lists(MESSAGES, min_size=1, max_size=4))
    def fuzz(frames: list[str | bytes]) -> None:
        check_fuzz_outcome(run(fuzz_connection(api.server.ws_url, frames)))

    fuzz()
    assert api.head() == head  # anonymous messages write nothing
    assert httpx.get(api.server.url + "/healthz", timeout=GUARD).status_code == 200


# -- /healthz while a client floods the websocket --------------------------------------------


def healthz_latencies(url: str, count: int) -> list[float]:
    seconds = []
    with httpx.Client(timeout=GUARD) as client:
        for _ in range(count):
            start = time.perf_counter()
            assert client.get(url + "/healthz").status_code == 200
            seconds.append(time.perf_counter() - start)
            time.sleep(0.01)
    return seconds


async def flood(url: str, stop: threading.Event, clients: int = 4) -> int:
    """`clients` loops of: connect, init, a burst of malformed frames, read until the server
    closes (4400 at the first). The number of connections refused."""
    refused = 0
    junk = ["[1,2]", "null", '{"type":"subscribe","id":"1","payload":"x"}', "{", "x" * 500]

    async def one() -> None:
        nonlocal refused
        while not stop.is_set():
            async with connect(url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
                try:
                    await ws.send(json.dumps({"type": "connection_init"}))
                    for frame in junk * 20:
                        await ws.send(frame)
                    while True:
                        await ws.recv()
                except ConnectionClosed:
                    assert ws.close_code == 4400, ws.close_code
                    refused += 1

    await asyncio.gather(*(one() for _ in range(clients)))
    return refused


def test_healthz_answers_while_a_client_floods_the_websocket_with_malformed_frames(
    api: Api,
) -> None:
    before = healthz_latencies(api.server.url, 50)
    stop = threading.Event()
    flooded: list[int] = []
    flooder = threading.Thread(
        target=lambda: flooded.append(asyncio.run(flood(api.server.ws_url, stop)))
    )
    flooder.start()
    try:
        time.sleep(0.5)
        during = healthz_latencies(api.server.url, 50)
    finally:
        stop.set()
        flooder.join(GUARD)
    assert flooded and flooded[0] > 0
    print(  # measured, not asserted: see docs/reliability.md
        f"\n/healthz median before {statistics.median(before) * 1000:.1f} ms, during a flood "
        f"({flooded[0]} connections refused with 4400) {statistics.median(during) * 1000:.1f} ms"
    )
    assert "Traceback" not in api.log_text()
