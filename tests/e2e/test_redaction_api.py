"""redactEvent over the real server: write scope required, the statement then answers as
redacted with its redaction note, the proofs made before still verify with nothing but
hashlib, and hostile input is refused as BAD_INPUT naming the field, with nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from test_api_server import ApiServer, serve
from test_security import codes, post

from timeline import integrity, merkle
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

T0 = "2022-03-01T00:00:00+00:00"
SLUG = "jane-roe/2022-03-11-post"
EVENT = f"statement:{SLUG}@1"
SECRET = "Jane Roe lives at 12 Elm Street"
REDACT = (
    "mutation($i: RedactEventInput!) { redactEvent(input: $i) { position eventType eventId "
    "target redaction { event target reason fields } } }"
)
STATEMENT = (
    'query($k: DateTime) { statement(id: "' + SLUG + '", knownAt: $k) { text summary '
    "sources { quote url } redactions { event target reason fields } } }"
)
EVENTS = (
    '{ events(filter: {types: ["EventRedacted"]}) { edges { node { data { '
    "... on EventRedacted { target reason fields } } } } } }"
)
PROOF = (
    "query($p: Int!, $n: Int) { inclusionProof(position: $p, treeSize: $n) { leafIndex "
    "treeSize leafHash salt redactedBy path head { rootHash } } }"
)


def write(api: ApiServer, name: str, input_type: str, data: dict[str, Any]) -> dict[str, Any]:
    document = f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ position recordedAt }} }}"
    body = post(api, document, {"i": data}, api.write_token)
    assert "errors" not in body, body
    return dict(body["data"][name])


@pytest.fixture(name="api")
def api_fixture(database_url: str) -> Any:
    with serve(Settings(database_url=database_url)) as api:
        person = {"id": "jane-roe", "name": "J. R.", "kind": "person", "effectiveAt": T0}
        write(api, "registerActor", "RegisterActorInput", person)
        statement = {
            "id": SLUG,
            "actor": "jane-roe",
            "text": SECRET,
            "effectiveAt": "2022-03-11T10:00:00+00:00",
            "sources": [{"url": "https://example.org/post", "quote": SECRET}],
        }
        api.recorded = write(api, "recordStatement", "RecordStatementInput", statement)  # type: ignore[attr-defined]
        yield api


def log_rows(api: ApiServer) -> Any:
    """The log's head and verdict: what a refused redaction must leave as it was."""
    timeline = api.services.timeline
    table = timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    return integrity.verify(timeline.engine, table)


def test_redact_event_erases_the_statement_and_old_proofs_still_verify(api: ApiServer) -> None:
    old = post(api, PROOF, {"p": 2, "n": None})["data"]["inclusionProof"]
    refused = post(api, REDACT, {"i": {"event": EVENT, "reason": "court order"}}, api.read_token)
    assert codes(refused) == ["FORBIDDEN"]
    anonymous = post(api, REDACT, {"i": {"event": EVENT, "reason": "court order"}})
    assert codes(anonymous) in (["UNAUTHENTICATED"], ["FORBIDDEN"])
    body = post(api, REDACT, {"i": {"event": EVENT, "reason": "court order"}}, api.write_token)
    assert "errors" not in body, body
    result = body["data"]["redactEvent"]
    redaction = f"statement:{SLUG}@2"
    note = {
        "event": redaction,
        "target": EVENT,
        "reason": "court order",
        "fields": ["text", "sources[0].quote"],
    }
    assert (result["eventType"], result["eventId"], result["target"]) == (
        "EventRedacted",
        redaction,
        EVENT,
    )
    assert result["redaction"] == note
    mark = f"[redacted by {redaction}]"
    for known_at in (None, api.recorded["recordedAt"]):  # type: ignore[attr-defined]
        answer = post(api, STATEMENT, {"k": known_at})["data"]["statement"]
        assert answer["text"] == mark and answer["sources"][0]["quote"] == mark
        assert answer["sources"][0]["url"] == "https://example.org/post"
        assert answer["redactions"] == [note]
    again = post(api, PROOF, {"p": 2, "n": old["treeSize"]})["data"]["inclusionProof"]
    assert (again["leafHash"], again["path"], again["head"]) == (
        old["leafHash"],
        old["path"],
        old["head"],
    )
    assert (again["salt"], again["redactedBy"]) == ("", redaction)
    assert merkle.verify_inclusion(
        old["leafIndex"],
        old["treeSize"],
        bytes.fromhex(old["leafHash"]),
        [bytes.fromhex(p) for p in old["path"]],
        bytes.fromhex(old["head"]["rootHash"]),
    )
    verdict = log_rows(api)
    assert verdict.ok and verdict.redacted == ((result["position"] - 1, redaction),)
    events = post(api, EVENTS)["data"]["events"]["edges"]
    assert [e["node"]["data"] for e in events] == [
        {"target": EVENT, "reason": "court order", "fields": note["fields"]}
    ]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"event": f"statement:{SLUG}@7", "reason": "x"}, "input.event"),
        ({"event": "statement:nobody/x@1", "reason": "x"}, "input.event"),
        ({"event": "not a reference", "reason": "x"}, "input.event"),
        ({"event": EVENT, "reason": ""}, "input.reason"),
        ({"event": EVENT}, "input.reason"),
    ],
)
def test_hostile_redactions_are_bad_input_naming_the_field_and_store_nothing(
    api: ApiServer, data: dict[str, Any], field: str
) -> None:
    before = log_rows(api)
    body = post(api, REDACT, {"i": data}, api.write_token)
    assert codes(body) == ["BAD_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field, body
    assert log_rows(api) == before


def test_a_second_redaction_is_bad_input_and_stores_nothing(api: ApiServer) -> None:
    first = post(api, REDACT, {"i": {"event": EVENT, "reason": "court order"}}, api.write_token)
    assert "errors" not in first, first
    before = log_rows(api)
    body = post(api, REDACT, {"i": {"event": EVENT, "reason": "again"}}, api.write_token)
    assert codes(body) == ["BAD_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "input.event"
    assert "already redacted" in body["errors"][0]["message"]
    assert log_rows(api) == before
