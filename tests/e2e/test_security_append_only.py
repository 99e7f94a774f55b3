"""The event store is append-only from the API: every mutation kind, accepted or refused,
leaves every stored event row byte-for-byte as it was and at most appends (but redactEvent,
which by design turns exactly its target's payload into a tombstone, and appends); `logHead` follows
the chain's head, which `timeline verify` accepts as a cited head."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from test_api_server import ApiServer, serve
from test_security import codes, post

from timeline import integrity
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

T0 = "2022-03-01T00:00:00+00:00"

#: (mutation, input type, input) covering every mutation of the schema, in an order that
#: succeeds; the story is small and made up for the test.
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "registerActor",
        "RegisterActorInput",
        {"id": "meta", "name": "Facebook, Inc.", "kind": "organisation", "effectiveAt": T0},
    ),
    (
        "registerActor",
        "RegisterActorInput",
        {"id": "roskomnadzor", "name": "Roskomnadzor", "kind": "authority", "effectiveAt": T0},
    ),
    (
        "renameActor",
        "RenameActorInput",
        {"id": "meta", "name": "Meta Platforms, Inc.", "effectiveAt": "2022-03-02T00:00:00Z"},
    ),
    (
        "announcePolicy",
        "AnnouncePolicyInput",
        {
            "id": "meta/hate-speech",
            "title": "Hate Speech",
            "owner": "meta",
            "effectiveAt": "2022-03-03T00:00:00Z",
            "clauses": [{"id": "c1", "text": "No attacks."}],
        },
    ),
    (
        "revisePolicy",
        "RevisePolicyInput",
        {
            "id": "meta/hate-speech",
            "effectiveAt": "2022-03-10T00:00:00Z",
            "summary": "allowance",
            "addClauses": [{"id": "c2", "text": "Temporary allowance.", "scope": ["UA"]}],
        },
    ),
    (
        "announceRegulatoryAction",
        "AnnounceRegulatoryActionInput",
        {
            "id": "roskomnadzor/restriction",
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "kind": "restriction",
            "targets": ["meta"],
            "effectiveAt": "2022-03-14T00:00:00+03:00",
            "announcedAt": "2022-03-11T20:00:00+03:00",
            "inResponseTo": ["policy:meta/hate-speech@2"],
        },
    ),
    (
        "amendRegulatoryAction",
        "AmendRegulatoryActionInput",
        {
            "id": "roskomnadzor/restriction",
            "effectiveAt": "2022-03-14T00:00:00+03:00",
            "summary": "Instagram restricted",
        },
    ),
    (
        "recordStatement",
        "RecordStatementInput",
        {
            "id": "meta/statement",
            "actor": "meta",
            "text": "This is wrong.",
            "effectiveAt": "2022-03-11T16:00:00-08:00",
        },
    ),
    (
        "correctEvent",
        "CorrectEventInput",
        {
            "event": "policy:meta/hate-speech@2",
            "changes": {"summary": "temporary allowance"},
            "reason": "wording",
        },
    ),
    (
        "retractEvent",
        "RetractEventInput",
        {"event": "regulatory-action:roskomnadzor/restriction@2", "reason": "misreported"},
    ),
    (
        "liftRegulatoryAction",
        "LiftRegulatoryActionInput",
        {"id": "roskomnadzor/restriction", "effectiveAt": "2022-06-01T00:00:00+03:00"},
    ),
    (
        "withdrawPolicy",
        "WithdrawPolicyInput",
        {"id": "meta/hate-speech", "effectiveAt": "2022-07-01T00:00:00Z"},
    ),
]


#: The one mutation that changes a stored event, by design: a redaction turns its target's
#: payload into a tombstone (docs/evidence.md) and appends the redaction.
REDACTING = [
    (
        "redactEvent",
        "RedactEventInput",
        {"event": "statement:meta/statement@1", "reason": "court order"},
    ),
]


def mutation(name: str, input_type: str) -> str:
    return f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ position }} }}"


def event_rows(api: ApiServer) -> list[tuple[Any, ...]]:
    timeline = api.services.timeline
    table = timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    with timeline.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(table.c.id))]


@pytest.fixture(name="api")
def api_fixture(database_url: str) -> Iterator[ApiServer]:
    with serve(Settings(database_url=database_url)) as api:
        yield api


#: Mutations that write no event (they configure the service); each must leave the log as
#: is: (name, document, its variables given the answers of those before it).
EVENTLESS: list[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    (
        "addWebhook",
        "mutation($i: AddWebhookInput!) { addWebhook(input: $i) { endpoint { id } } }",
        lambda _: {"i": {"url": "https://hooks.example.com/timeline"}},
    ),
    (
        "removeWebhook",
        "mutation($id: ID!) { removeWebhook(id: $id) }",
        lambda answers: {"id": answers["addWebhook"]["endpoint"]["id"]},
    ),
]


def writes_events(name: str) -> bool:
    """A mutation writes an event when its result is a WriteResult (it has a position)."""
    from api.schema import build_schema

    schema = build_schema()._schema
    result = schema.mutation_type.fields[name].type  # type: ignore[union-attr]
    while hasattr(result, "of_type"):
        result = result.of_type
    return any(i.name == "WriteResult" for i in getattr(result, "interfaces", ()))


def test_every_mutation_kind_only_appends_to_the_log(api: ApiServer) -> None:
    from api.schema import build_schema

    mutations = set(build_schema()._schema.mutation_type.fields)  # type: ignore[union-attr]
    covered = {name for name, _, _ in STEPS + EVENTLESS + REDACTING}
    assert covered == mutations, f"not exercised here: {sorted(mutations - covered)}"
    assert all(writes_events(name) for name, _, _ in STEPS + REDACTING)
    assert not any(writes_events(name) for name, _, _ in EVENTLESS)
    for name, input_type, data in STEPS:
        before = event_rows(api)
        # refused first (a stale expectedVersion), then accepted
        refused = post(
            api, mutation(name, input_type), {"i": {**data, "expectedVersion": 99}}, api.write_token
        )
        assert codes(refused) == ["CONFLICT"], (name, refused)
        assert event_rows(api) == before, name
        body = post(api, mutation(name, input_type), {"i": data}, api.write_token)
        assert "errors" not in body, (name, body)
        after = event_rows(api)
        assert after[: len(before)] == before, f"{name} changed a stored event"
        assert len(after) == len(before) + 1
        assert after[-1][0] == body["data"][name]["position"]
    for name, input_type, data in REDACTING:
        before = event_rows(api)
        refused = post(
            api, mutation(name, input_type), {"i": {**data, "expectedVersion": 99}}, api.write_token
        )
        assert codes(refused) == ["CONFLICT"], (name, refused)
        assert event_rows(api) == before, name
        body = post(api, mutation(name, input_type), {"i": data}, api.write_token)
        assert "errors" not in body, (name, body)
        after = event_rows(api)
        changed = [i for i, (old, new) in enumerate(zip(before, after, strict=False)) if old != new]
        assert len(changed) == 1 and len(after) == len(before) + 1, name
        old, new = before[changed[0]], after[changed[0]]
        assert old[:-1] == new[:-1], f"{name} changed more than the target's payload"
        assert b"[redacted by statement:meta/statement@2]" in bytes(new[-1])
    answers: dict[str, Any] = {}
    for name, document, variables in EVENTLESS:
        before = event_rows(api)
        body = post(api, document, variables(answers), api.write_token)
        assert "errors" not in body, (name, body)
        answers.update(body["data"])
        assert event_rows(api) == before, f"{name} changed the log"


def test_log_head_follows_the_chain_and_verifies_as_a_cited_head(api: ApiServer) -> None:
    query = "{ logHead { position hash } }"
    empty = hashlib.sha256(b"").hexdigest()  # RFC 9162: the empty tree's root
    assert post(api, query)["data"]["logHead"] == {"position": 0, "hash": empty}
    heads = []
    for name, input_type, data in STEPS[:4]:
        position = post(api, mutation(name, input_type), {"i": data}, api.write_token)["data"][
            name
        ]["position"]
        head = post(api, query)["data"]["logHead"]
        assert head["position"] == position
        heads.append(head)
    assert len({h["hash"] for h in heads}) == len(heads)
    table = api.services.timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    for head in heads:  # every earlier head is still on the chain
        cited = integrity.LogHead(head["position"], head["hash"])
        assert integrity.verify(api.services.timeline.engine, table, expect=cited).ok


def test_log_head_is_closed_with_the_other_reads(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url, read_requires_token=True)) as api:
        assert codes(post(api, "{ logHead { position } }")) == ["UNAUTHENTICATED"]
        assert post(api, "{ logHead { position } }", token=api.read_token)["data"] == {
            "logHead": {"position": 0}
        }
