"""Retracting a whole record through the real server with the gql client, on SQLite and on
PostgreSQL: a statement wrongly attributed leaves the current answers, stays in the answers
for an earlier knownAt and in the log, and is re-recorded under the right facts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError
from test_api_server import ApiServer, serve

from timeline.settings import Settings

pytestmark = pytest.mark.e2e

SLUG = "meta/statement-on-allowance"
STATEMENT = (
    'query($known: DateTime) { statement(id: "' + SLUG + '", knownAt: $known) '
    "{ id actor text knownFrom } "
    "statements(knownAt: $known) { nodes { id } } "
    'timeline(knownAt: $known, from: "2022-01-01T00:00:00Z") { nodes { aggregateId version } } }'
)
EVENTS = (
    'query { events(filter: {aggregateIds: ["' + SLUG + '"]}) '
    "{ nodes { id type aggregateVersion recordedAt } } }"
)


def _write(api: ApiServer, mutation: str, input_type: str, data: dict[str, Any]) -> Any:
    result = api.execute(
        f"mutation($input: {input_type}!) {{ {mutation}(input: $input) "
        "{ id version position recordedAt } }",
        {"input": data},
        token=api.write_token,
    )
    return result[mutation]


def _actor(api: ApiServer, slug: str, name: str) -> None:
    _write(
        api,
        "registerActor",
        "RegisterActorInput",
        {"id": slug, "name": name, "kind": "person", "effectiveAt": "2021-01-01T00:00:00Z"},
    )


def _statement(api: ApiServer, actor: str, text: str) -> Any:
    return _write(
        api,
        "recordStatement",
        "RecordStatementInput",
        {"id": SLUG, "actor": actor, "text": text, "effectiveAt": "2022-03-11T12:00:00+00:00"},
    )


def _answer(api: ApiServer, known_at: str | None = None) -> dict[str, Any]:
    """The statement, the list and the feed; `reason` is the statement's no-answer code."""
    reason = None
    try:
        result = api.execute(STATEMENT, {"known": known_at})
    except TransportQueryError as error:  # the statement has no answer: the reason says why
        assert error.data is not None and error.errors is not None
        result = error.data
        [reason] = [e["extensions"]["code"] for e in error.errors]
    return {
        "statement": result["statement"],
        "listed": [n["id"] for n in result["statements"]["nodes"]],
        "feed": [(n["aggregateId"], n["version"]) for n in result["timeline"]["nodes"]],
        "reason": reason,
    }


@pytest.fixture
def api(database_url: str) -> Iterator[ApiServer]:
    with serve(Settings(database_url=database_url)) as server:
        _actor(server, "nick-clegg", "Nick Clegg")
        _actor(server, "andy-stone", "Andy Stone")
        yield server


def test_a_statements_only_fact_retracted_leaves_the_answers_but_not_the_past_or_the_log(
    api: ApiServer,
) -> None:
    recorded = _statement(api, "nick-clegg", "We are allowing this as a temporary measure.")
    retracted = _write(
        api,
        "retractEvent",
        "RetractEventInput",
        {"event": f"statement:{SLUG}@1", "reason": "wrongly attributed"},
    )
    assert retracted["version"] == 2

    before = _answer(api, recorded["recordedAt"])
    assert before["statement"]["actor"] == "nick-clegg"
    assert before["listed"] == [SLUG] and before["feed"] == [(SLUG, 1)]
    after = _answer(api)
    assert after == {"statement": None, "listed": [], "feed": [], "reason": "NOT_FOUND"}
    assert _answer(api, retracted["recordedAt"]) == after

    events = api.execute(EVENTS)["events"]["nodes"]
    assert [(e["type"], e["aggregateVersion"]) for e in events] == [
        ("StatementRecorded", 1),
        ("EventRetracted", 2),
    ]


def test_a_wholly_retracted_statement_is_re_recorded_under_the_right_facts(
    api: ApiServer,
) -> None:
    _statement(api, "nick-clegg", "We are allowing this as a temporary measure.")
    retracted = _write(
        api,
        "retractEvent",
        "RetractEventInput",
        {"event": f"statement:{SLUG}@1", "reason": "wrongly attributed"},
    )
    again = _statement(api, "andy-stone", "We are allowing this as a temporary measure.")
    assert again["version"] == 3

    now = _answer(api)
    assert now["statement"]["actor"] == "andy-stone" and now["listed"] == [SLUG]
    assert now["feed"] == [(SLUG, 3)]
    assert _answer(api, retracted["recordedAt"])["statement"] is None
    events = api.execute(EVENTS)["events"]["nodes"]
    assert [e["type"] for e in events] == [
        "StatementRecorded",
        "EventRetracted",
        "StatementRecorded",
    ]

    [error] = api.errors(
        "mutation($input: RecordStatementInput!) { recordStatement(input: $input) { id } }",
        {
            "input": {
                "id": SLUG,
                "actor": "andy-stone",
                "text": "Once more.",
                "effectiveAt": "2022-03-11T12:00:00+00:00",
            }
        },
        token=api.write_token,
    )
    assert error["extensions"]["code"] == "CONFLICT" and "already exists" in error["message"]


def test_a_change_to_a_wholly_retracted_policy_is_refused_naming_id(api: ApiServer) -> None:
    _write(
        api,
        "announcePolicy",
        "AnnouncePolicyInput",
        {
            "id": "meta/wrong-slug",
            "title": "Hate Speech",
            "owner": "nick-clegg",
            "clauses": [{"id": "c1", "text": "No attacks."}],
            "effectiveAt": "2022-01-01T00:00:00Z",
        },
    )
    _write(
        api,
        "retractEvent",
        "RetractEventInput",
        {"event": "policy:meta/wrong-slug@1", "reason": "announced under the wrong slug"},
    )
    [error] = api.errors(
        "mutation($input: RevisePolicyInput!) { revisePolicy(input: $input) { id } }",
        {"input": {"id": "meta/wrong-slug", "title": "X", "effectiveAt": "2022-02-01T00:00:00Z"}},
        token=api.write_token,
    )
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == "input.id"
    assert "every fact of it was retracted" in error["message"]
    [missing] = api.errors('query { policy(id: "meta/wrong-slug") { id } }')
    assert missing["extensions"] == {"code": "NOT_FOUND"}
    assert "every fact recorded of it by then was retracted" in missing["message"]
