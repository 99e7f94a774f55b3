"""The March 2022 story written through GraphQL mutations, then asked point-in-time questions
with the gql client, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from test_api_server import ApiServer, serve

from timeline.settings import Settings

pytestmark = pytest.mark.e2e

POLICY = "meta/hate-speech"
ALLOWANCE = "russia-ukraine-allowance"
RESTRICTION = "roskomnadzor/instagram-restriction"
MSK = "+03:00"
ALLOWANCE_SCOPE = ["AM", "AZ", "EE", "GE", "HU", "LV", "LT", "PL", "RO", "RU", "SK", "UA"]
REUTERS = {
    "url": "https://www.reuters.com/world/europe/exclusive-facebook-instagram-"
    "temporarily-allow-calls-violence-against-russians-2022-03-10/",
    "title": "Facebook, Instagram temporarily allow calls for violence against Russians",
    "publisher": "Reuters",
    "publishedAt": "2022-03-10T18:00:00+00:00",
}

#: (mutation, input type, input): the story in the order it must be written.
STORY: list[tuple[str, str, dict[str, Any]]] = [
    (
        "registerActor",
        "RegisterActorInput",
        {
            "id": "meta",
            "name": "Meta Platforms, Inc.",
            "kind": "organisation",
            "effectiveAt": "2021-10-28T00:00:00-07:00",
        },
    ),
    (
        "registerActor",
        "RegisterActorInput",
        {
            "id": "instagram",
            "name": "Instagram",
            "kind": "platform",
            "parent": "meta",
            "effectiveAt": "2021-01-01T00:00:00+00:00",
        },
    ),
    (
        "registerActor",
        "RegisterActorInput",
        {
            "id": "roskomnadzor",
            "name": "Roskomnadzor",
            "kind": "authority",
            "effectiveAt": "2021-01-01T00:00:00+03:00",
        },
    ),
    (
        "announcePolicy",
        "AnnouncePolicyInput",
        {
            "id": POLICY,
            "title": "Hate Speech",
            "owner": "meta",
            "clauses": [
                {
                    "id": "tier-1-attacks",
                    "heading": "Attacks on people for who they are",
                    "text": "Violent speech against people for who they are is removed.",
                }
            ],
            "effectiveAt": "2022-01-01T00:00:00+00:00",
        },
    ),
    (
        "revisePolicy",
        "RevisePolicyInput",
        {
            "id": POLICY,
            "summary": "A temporary allowance about the invasion of Ukraine.",
            "addClauses": [
                {
                    "id": ALLOWANCE,
                    "heading": "Temporary allowance",
                    "text": "T1 violent speech targeting Russian soldiers is allowed.",
                    "scope": ALLOWANCE_SCOPE,
                }
            ],
            "effectiveAt": "2022-03-10T00:00:00+00:00",
            "announcedAt": "2022-03-10T18:00:00+00:00",
            "sources": [REUTERS],
        },
    ),
    (
        "announceRegulatoryAction",
        "AnnounceRegulatoryActionInput",
        {
            "id": RESTRICTION,
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "targets": ["instagram"],
            "kind": "restriction",
            "summary": "Instagram restricted in Russia after a 48-hour transition period.",
            "inResponseTo": [f"policy:{POLICY}@2"],
            "announcedAt": f"2022-03-11T19:00:00{MSK}",
            "effectiveAt": f"2022-03-14T00:00:00{MSK}",
        },
    ),
    (
        "revisePolicy",
        "RevisePolicyInput",
        {
            "id": POLICY,
            "summary": "The allowance narrowed to Ukraine.",
            "amendClauses": [
                {
                    "id": ALLOWANCE,
                    "scope": ["UA"],
                    "text": "Allowed only in Ukraine, never against Russians in general.",
                }
            ],
            "effectiveAt": "2022-03-13T00:00:00+00:00",
            "announcedAt": "2022-03-14T00:00:00+00:00",
        },
    ),
]


def write_story(api: ApiServer) -> list[int]:
    positions = []
    for mutation, input_type, data in STORY:
        result = api.execute(
            f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ id position }} }}",
            {"input": data},
            token=api.write_token,
        )
        positions.append(result[mutation]["position"])
    return positions


@pytest.fixture
def story(database_url: str) -> Iterator[ApiServer]:
    """The story written through the API of a fresh server, on each database."""
    with serve(Settings(database_url=database_url)) as api:
        write_story(api)
        yield api


def clauses_at(api: ApiServer, valid_at: str, known_at: str | None = None) -> dict[str, Any]:
    result = api.execute(
        'query($at: DateTime, $known: DateTime) { policy(id: "meta/hate-speech", '
        "validAt: $at, knownAt: $known) { version clauses { id text scope } } }",
        {"at": valid_at, "known": known_at},
    )
    return {c["id"]: c for c in result["policy"]["clauses"]}


def status_at(api: ApiServer, valid_at: str) -> str:
    result = api.execute(
        "query($id: ID!, $at: DateTime) { regulatoryAction(id: $id, validAt: $at) { status } }",
        {"id": RESTRICTION, "at": valid_at},
    )
    return str(result["regulatoryAction"]["status"])


def test_instagram_restriction_is_announced_but_not_in_effect_on_12_march(story: ApiServer) -> None:
    assert status_at(story, f"2022-03-12T12:00:00{MSK}") == "ANNOUNCED"


def test_instagram_restriction_is_in_effect_on_14_march(story: ApiServer) -> None:
    assert status_at(story, f"2022-03-14T12:00:00{MSK}") == "IN_EFFECT"


def test_hate_speech_clauses_differ_between_11_and_14_march(story: ApiServer) -> None:
    on_11 = clauses_at(story, "2022-03-11T12:00:00+00:00")
    on_14 = clauses_at(story, "2022-03-14T12:00:00+00:00")
    assert on_11 != on_14
    assert on_11[ALLOWANCE]["scope"] == ALLOWANCE_SCOPE
    assert on_14[ALLOWANCE]["scope"] == ["UA"]
    assert on_11["tier-1-attacks"] == on_14["tier-1-attacks"]


def test_policy_on_a_day_with_a_change_returns_both_versions(story: ApiServer) -> None:
    result = story.execute(
        '{ policyOn(id: "meta/hate-speech", date: "2022-03-13", timeZone: "Europe/Moscow")'
        " { validFrom validTo clauses { id scope } } }"
    )
    versions = result["policyOn"]
    assert len(versions) == 2
    assert versions[0]["validTo"] == versions[1]["validFrom"] == "2022-03-13T00:00:00+00:00"
    scopes = [{c["id"]: c["scope"] for c in v["clauses"]}[ALLOWANCE] for v in versions]
    assert scopes == [ALLOWANCE_SCOPE, ["UA"]]


def test_policy_on_with_a_null_time_zone_means_utc(story: ApiServer) -> None:
    def valid_froms(zone: str) -> list[str]:
        result = story.execute(
            f'{{ policyOn(id: "meta/hate-speech", date: "2022-03-13", timeZone: {zone})'
            " { validFrom } }"
        )
        return [v["validFrom"] for v in result["policyOn"]]

    assert valid_froms("null") == valid_froms('"UTC"')
    assert valid_froms("null") != valid_froms('"Europe/Moscow"')


def test_a_known_at_before_a_correction_returns_the_old_answer(story: ApiServer) -> None:
    before_correction = datetime.now(UTC).isoformat()
    story.execute(
        "mutation($input: CorrectEventInput!) { correctEvent(input: $input) { target } }",
        {
            "input": {
                "event": f"policy:{POLICY}@2",
                "reason": "in force earlier than reported",
                "changes": {"effectiveAt": "2022-03-08T00:00:00+00:00"},
            }
        },
        token=story.write_token,
    )
    on_9_as_known_before = clauses_at(story, "2022-03-09T12:00:00+00:00", before_correction)
    on_9_as_known_now = clauses_at(story, "2022-03-09T12:00:00+00:00")
    assert ALLOWANCE not in on_9_as_known_before
    assert ALLOWANCE in on_9_as_known_now


def test_policy_lists_the_regulatory_actions_citing_it(story: ApiServer) -> None:
    result = story.execute(
        '{ policy(id: "meta/hate-speech", validAt: "2022-03-14T12:00:00+03:00") '
        "{ owner ownerActor { name } responses { id status authorityActor { name } } } }"
    )
    policy = result["policy"]
    assert policy["ownerActor"]["name"] == "Meta Platforms, Inc."
    assert [(r["id"], r["status"]) for r in policy["responses"]] == [(RESTRICTION, "IN_EFFECT")]
    assert policy["responses"][0]["authorityActor"]["name"] == "Roskomnadzor"


def test_policy_version_is_the_stream_version_for_expected_version(story: ApiServer) -> None:
    version = clauses_at(story, "2022-03-14T12:00:00+00:00")
    result = story.execute('{ policy(id: "meta/hate-speech") { version } }')
    assert result["policy"]["version"] == 3
    errors = story.errors(
        "mutation($input: WithdrawPolicyInput!) { withdrawPolicy(input: $input) { id } }",
        {"input": {"id": POLICY, "effectiveAt": "2022-04-01T00:00:00+00:00", "expectedVersion": 2}},
        token=story.write_token,
    )
    assert errors[0]["extensions"] == {"code": "CONFLICT", "field": "input.expectedVersion"}
    assert version  # the policy was readable before the refused write


def test_announcing_a_taken_id_is_a_conflict_naming_the_id(story: ApiServer) -> None:
    errors = story.errors(
        "mutation($input: AnnouncePolicyInput!) { announcePolicy(input: $input) { id } }",
        {
            "input": {
                "id": POLICY,
                "title": "Again",
                "owner": "meta",
                "clauses": [{"id": "c", "text": "x"}],
                "effectiveAt": "2022-04-01T00:00:00+00:00",
            }
        },
        token=story.write_token,
    )
    assert errors[0]["extensions"] == {"code": "CONFLICT", "field": "input.id"}


def test_events_page_through_the_log_in_order_with_typed_members(story: ApiServer) -> None:
    first = story.execute(
        "{ events(first: 4) { nodes { id position type aggregateId "
        "payload } pageInfo { endCursor hasNextPage } } }"
    )["events"]
    rest = story.execute(
        "query($after: String) { events(after: $after, first: 50) { nodes { id position "
        "data { __typename ... on PolicyRevised { addClauses { id } } } } "
        "pageInfo { hasNextPage } } }",
        {"after": first["pageInfo"]["endCursor"]},
    )["events"]
    positions = [e["position"] for e in first["nodes"] + rest["nodes"]]
    assert positions == sorted(positions) and len(positions) == len(STORY)
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    assert first["nodes"][3]["id"] == f"policy:{POLICY}@1"
    assert first["nodes"][3]["payload"]["owner"] == "meta"
    revised = [e for e in rest["nodes"] if e["data"]["__typename"] == "PolicyRevised"]
    assert revised[0]["data"]["addClauses"] == [{"id": ALLOWANCE}]


def test_events_filter_by_aggregate_kind_and_type(story: ApiServer) -> None:
    def ids(event_filter: str) -> list[str]:
        result = story.execute(f"{{ events(filter: {event_filter}) {{ nodes {{ id }} }} }}")
        return [e["id"] for e in result["events"]["nodes"]]

    assert ids('{aggregateIds: ["meta/hate-speech"]}') == [
        f"policy:{POLICY}@1",
        f"policy:{POLICY}@2",
        f"policy:{POLICY}@3",
    ]
    assert ids('{aggregateIds: ["actor:instagram"]}') == ["actor:instagram@1"]
    assert ids('{aggregateKinds: ["regulatory-action"]}') == [f"regulatory-action:{RESTRICTION}@1"]
    assert ids('{types: ["PolicyRevised"], aggregateIds: ["meta/hate-speech", "meta"]}') == [
        f"policy:{POLICY}@2",
        f"policy:{POLICY}@3",
    ]


def test_events_filter_by_actor_and_jurisdiction_as_the_streams_do(story: ApiServer) -> None:
    def ids(event_filter: str) -> list[str]:
        result = story.execute(f"{{ events(filter: {event_filter}) {{ nodes {{ id }} }} }}")
        return [e["id"] for e in result["events"]["nodes"]]

    # an actor matches its own events and every aggregate naming it (authority, targets, ...)
    assert ids('{actors: ["roskomnadzor"]}') == [
        "actor:roskomnadzor@1",
        f"regulatory-action:{RESTRICTION}@1",
    ]
    assert ids('{actors: ["instagram"], aggregateKinds: ["regulatory-action"]}') == [
        f"regulatory-action:{RESTRICTION}@1"
    ]
    # a jurisdiction: an action's own, or a clause scope as the policy stood at the event
    assert ids(
        '{jurisdictions: ["ru"], types: ["PolicyRevised", "RegulatoryActionAnnounced"]}'
    ) == [
        f"policy:{POLICY}@2",
        f"regulatory-action:{RESTRICTION}@1",
        f"policy:{POLICY}@3",
    ]
    assert ids('{jurisdictions: ["UA"], actors: ["roskomnadzor"]}') == []
    # the singular shorthands select exactly as their list forms
    assert ids('{actor: "roskomnadzor"}') == ids('{actors: ["roskomnadzor"]}')
    assert ids('{jurisdiction: "RU", type: "PolicyRevised"}') == [
        f"policy:{POLICY}@2",
        f"policy:{POLICY}@3",
    ]
    assert ids(f'{{aggregate: "{POLICY}"}}') == ids(f'{{aggregateIds: ["{POLICY}"]}}')
    errors = story.errors('{ events(filter: {actors: ["Not A Slug"]}) { nodes { id } } }')
    assert errors[0]["extensions"]["code"] == "BAD_INPUT"
    assert errors[0]["extensions"]["field"] == "filter.actors[0]"


def test_policy_history_and_diff_show_the_allowance_narrowed(story: ApiServer) -> None:
    history = story.execute(
        '{ policyHistory(id: "meta/hate-speech") { validFrom changeType changes { id } } }'
    )["policyHistory"]
    assert [v["validFrom"] for v in history] == [
        "2022-01-01T00:00:00+00:00",
        "2022-03-10T00:00:00+00:00",
        "2022-03-13T00:00:00+00:00",
    ]
    assert [c["id"] for c in history[0]["changes"]] == [
        f"policy:{POLICY}@1",
        f"policy:{POLICY}@2",
        f"policy:{POLICY}@3",
    ]
    diff = story.execute(
        '{ policyDiff(id: "meta/hate-speech", fromValidAt: "2022-03-11T00:00:00Z", '
        'toValidAt: "2022-03-14T00:00:00Z") { clauses { id change before { scope } '
        "after { scope } } } }"
    )["policyDiff"]
    changes = {c["id"]: c for c in diff["clauses"]}
    assert changes[ALLOWANCE]["change"] == "CHANGED"
    assert changes[ALLOWANCE]["after"]["scope"] == ["UA"]
    assert changes["tier-1-attacks"]["change"] == "UNCHANGED"


def test_lists_and_the_timeline_answer_at_a_moment(story: ApiServer) -> None:
    result = story.execute(
        '{ policies(validAt: "2022-03-11T12:00:00Z", filter: {jurisdiction: "PL"}) '
        "{ nodes { id } totalCount } "
        'announced: regulatoryActions(validAt: "2022-03-12T12:00:00+03:00", '
        "filter: {status: ANNOUNCED}) { nodes { id status } } "
        'timeline(from: "2022-03-10T00:00:00Z", to: "2022-03-15T00:00:00Z") '
        "{ nodes { id type entryKind at } } }"
    )
    assert [p["id"] for p in result["policies"]["nodes"]] == [POLICY]
    assert [a["id"] for a in result["announced"]["nodes"]] == [RESTRICTION]
    standing = [e["at"] for e in result["timeline"]["nodes"]]
    assert standing == sorted(standing)
    assert {e["id"] for e in result["timeline"]["nodes"]} >= {
        f"policy:{POLICY}@2",
        f"policy:{POLICY}@3",
    }


def test_a_writer_reads_its_own_write_at_once(story: ApiServer) -> None:
    result = story.execute(
        "mutation($input: WithdrawPolicyInput!) { withdrawPolicy(input: $input) "
        "{ version policy { version status } } }",
        {"input": {"id": POLICY, "effectiveAt": "2022-04-01T00:00:00+00:00"}},
        token=story.write_token,
    )["withdrawPolicy"]
    assert result["policy"] == {"version": result["version"], "status": "WITHDRAWN"}
    assert story.execute('{ policy(id: "meta/hate-speech") { status } }') == {
        "policy": {"status": "WITHDRAWN"}
    }


def test_repeating_a_mutation_with_its_idempotency_key_stores_nothing_new(story: ApiServer) -> None:
    mutation = (
        "mutation($input: RecordStatementInput!) { recordStatement(input: $input) { id position } }"
    )
    data = {
        "id": "meta/statement-1",
        "actor": "meta",
        "text": "We have no quarrel.",
        "effectiveAt": "2022-03-11T15:30:00-08:00",
        "idempotencyKey": "stmt-1",
    }
    first = story.execute(mutation, {"input": data}, token=story.write_token)
    head = story.services.timeline.head_position()
    again = story.execute(mutation, {"input": data}, token=story.write_token)
    assert again == first
    assert story.services.timeline.head_position() == head
    statement = story.execute('{ statement(id: "meta/statement-1") { actor text madeAt } }')
    assert statement == {
        "statement": {
            "actor": "meta",
            "text": "We have no quarrel.",
            "madeAt": "2022-03-11T23:30:00+00:00",
        }
    }
