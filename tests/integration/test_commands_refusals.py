"""Every refusal names the field and the reason, and stores nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from factories import action, actor, clause, correction, policy, retraction, revision, statement

from domain import InvalidInput, NotFound, VersionConflict
from timeline.application import Timeline


@pytest.fixture
def world(timeline: Timeline) -> Timeline:
    """acme's policy (c1; then c2 added on 1 Feb) and a regulator's announced action."""
    timeline.register_actor(actor())
    timeline.register_actor(actor("regulator", "The Regulator", "authority"))
    timeline.register_actor(actor("spokesperson", "A Spokesperson", "person", parent="acme"))
    timeline.announce_policy(policy())
    timeline.revise_policy(revision(addClauses=[clause("c2", "Be brief.")]))
    timeline.execute(
        "announceRegulatoryAction",
        action(announcedAt="2022-03-11T19:00:00+03:00", inResponseTo=["policy:acme/conduct@2"]),
    )
    timeline.record_statement(statement())
    return timeline


def _stored(timeline: Timeline) -> tuple[int, int]:
    return timeline.head_position(), len(timeline.log())


#: (id, command, input, field named, words in the reason)
REFUSALS: list[tuple[str, str, dict[str, Any], str, str]] = [
    (
        "action_amended_to_respond_to_itself",
        "amendRegulatoryAction",
        {
            "id": "regulator/fine",
            "effectiveAt": "2022-03-15T00:00:00Z",
            "inResponseTo": ["regulatory-action:regulator/fine@1"],
        },
        "inResponseTo[0]",
        "cannot respond to itself",
    ),
    (
        "statement_responding_to_itself",
        "recordStatement",
        statement("spokesperson/self", inResponseTo=["statement:spokesperson/self@1"]),
        "inResponseTo[0]",
        "cannot respond to itself",
    ),
    (
        "clause_expiring_when_announced",
        "announcePolicy",
        policy(
            "acme/short",
            clauses=[clause("c1", expiresAt="2022-01-01T00:00:00+00:00")],
        ),
        "clauses[0].expiresAt",
        "must expire after its effectiveAt",
    ),
    (
        "added_clause_expiring_before_the_revision",
        "revisePolicy",
        revision(addClauses=[clause("c3", expiresAt="2022-01-20T00:00:00Z")]),
        "addClauses[0].expiresAt",
        "must expire after its effectiveAt",
    ),
    (
        "amended_expiry_before_the_revision",
        "revisePolicy",
        revision(amendClauses=[{"id": "c1", "expiresAt": "2022-02-01T00:00:00Z"}]),
        "amendClauses[0].expiresAt",
        "must expire after its effectiveAt",
    ),
    (
        "unknown_clause",
        "revisePolicy",
        revision(amendClauses=[{"id": "nope", "text": "x"}]),
        "amendClauses[0].id",
        "no clause",
    ),
    (
        "removing_an_unknown_clause",
        "revisePolicy",
        revision(removeClauses=["c9"]),
        "removeClauses[0]",
        "no clause",
    ),
    (
        "clause_not_yet_in_force",
        "revisePolicy",
        revision(effective_at="2022-01-15T00:00:00Z", removeClauses=["c2"]),
        "removeClauses[0]",
        "in force at 2022-01-15",
    ),
    (
        "effective_at_without_offset",
        "revisePolicy",
        revision(effective_at="2022-03-11T00:00:00"),
        "effectiveAt",
        "offset",
    ),
    (
        "announced_at_without_offset",
        "announceRegulatoryAction",
        action("regulator/other", announcedAt="2022-03-11T19:00:00"),
        "announcedAt",
        "offset",
    ),
    (
        "revision_before_announcement",
        "revisePolicy",
        revision(effective_at="2021-06-01T00:00:00Z"),
        "effectiveAt",
        "not in force",
    ),
    (
        "lifting_an_action_not_in_effect",
        "liftRegulatoryAction",
        {"id": "regulator/fine", "effectiveAt": "2022-03-12T00:00:00+03:00"},
        "effectiveAt",
        "not in effect",
    ),
    ("bad_slug", "announcePolicy", policy("Acme Conduct!"), "id", "slug"),
    (
        "bad_iso_code",
        "announcePolicy",
        policy("acme/other", clauses=[clause(scope=["UA", "XX"])]),
        "clauses[0].scope[1]",
        "ISO",
    ),
    (
        "bad_jurisdiction",
        "announceRegulatoryAction",
        action("regulator/other", jurisdiction="Russia"),
        "jurisdiction",
        "ISO",
    ),
    ("unknown_owner", "announcePolicy", policy("acme/other", owner="nobody"), "owner", "no actor"),
    (
        "unknown_target",
        "announceRegulatoryAction",
        action("regulator/other", targets=["acme", "nobody"]),
        "targets[1]",
        "no actor",
    ),
    ("unknown_parent", "registerActor", actor("child", parent="nobody"), "parent", "no actor"),
    (
        "unknown_statement_actor",
        "recordStatement",
        statement("x/y", actor_slug="nobody"),
        "actor",
        "no actor",
    ),
    (
        "unknown_in_response_to",
        "announceRegulatoryAction",
        action("regulator/other", inResponseTo=["policy:acme/missing"]),
        "inResponseTo[0]",
        "no policy",
    ),
    (
        "in_response_to_a_future_event",
        "recordStatement",
        statement("x/y", inResponseTo=["policy:acme/conduct@7"]),
        "inResponseTo[0]",
        "no event 7",
    ),
    (
        "correction_that_leaves_history_unfoldable",
        "correctEvent",
        correction("policy:acme/conduct@1", effectiveAt="2022-03-01T00:00:00Z"),
        "event",
        "event 2",
    ),
    (
        "correction_without_offset",
        "correctEvent",
        correction("policy:acme/conduct@2", effectiveAt="2022-01-20T00:00:00"),
        "changes.effectiveAt",
        "offset",
    ),
    (
        "correction_of_an_unknown_field",
        "correctEvent",
        correction("policy:acme/conduct@2", colour="blue"),
        "changes.colour",
        "no field",
    ),
    (
        "correction_naming_an_unknown_owner",
        "correctEvent",
        correction("policy:acme/conduct@1", owner="nobody"),
        "changes.owner",
        "no actor",
    ),
    (
        "correction_citing_an_unknown_fact",
        "correctEvent",
        correction("regulatory-action:regulator/fine@1", inResponseTo=["statement:no/such"]),
        "changes.inResponseTo[0]",
        "no statement",
    ),
    (
        "correction_of_a_missing_event",
        "correctEvent",
        correction("policy:acme/conduct@9", title="x"),
        "event",
        "no event 9",
    ),
    (
        "retraction_that_orphans_a_revision",
        "retractEvent",
        retraction("policy:acme/conduct@1"),
        "event",
        "event 2",
    ),
    (
        "retraction_of_an_announcement_a_revision_needs",
        "retractEvent",
        retraction("policy:acme/conduct@1"),
        "event",
        "would leave event 2 (PolicyRevised",
    ),
    (
        "unknown_command_field",
        "revisePolicy",
        revision(recordedAt="2022-01-01T00:00:00Z"),
        "recordedAt",
        "not a known field",
    ),
    ("unknown_command", "publishPolicy", policy(), "command", "unknown command"),
]


@pytest.mark.parametrize(
    ("name", "data", "field", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_refused_command_names_the_field_and_the_reason_and_stores_nothing(
    world: Timeline,
    name: str,
    data: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    before = _stored(world)
    with pytest.raises(InvalidInput) as refused:
        world.execute(name, data)
    assert refused.value.field == field
    assert reason in refused.value.reason
    assert refused.value.code == "BAD_INPUT"
    assert _stored(world) == before


def test_a_correction_moving_a_revision_past_its_clause_expiry_is_refused(
    world: Timeline,
) -> None:
    """The expiry rule holds for corrections too: the corrected revision would set a clause
    that is already expired when the revision takes effect."""
    world.revise_policy(
        revision(
            effective_at="2022-03-01T00:00:00Z",
            addClauses=[clause("c3", "Short-lived.", expiresAt="2022-04-01T00:00:00Z")],
        )
    )
    before = _stored(world)
    with pytest.raises(InvalidInput) as refused:
        world.correct_event(correction("policy:acme/conduct@3", effectiveAt="2022-05-01T00:00:00Z"))
    assert refused.value.field == "changes.addClauses[0].expiresAt", refused.value
    assert "must expire after its effectiveAt" in refused.value.reason
    assert _stored(world) == before


def test_responses_that_would_close_a_cycle_are_refused(world: Timeline) -> None:
    """A statement answers the action; the action may then not be amended or corrected to
    answer that statement (a loop of responses), and nothing is stored."""
    world.record_statement(
        statement("spokesperson/answer", inResponseTo=["regulatory-action:regulator/fine@1"])
    )
    before = _stored(world)
    loop = ["statement:spokesperson/answer@1"]
    with pytest.raises(InvalidInput) as amended:
        world.amend_regulatory_action(
            {"id": "regulator/fine", "effectiveAt": "2022-03-15T00:00:00Z", "inResponseTo": loop}
        )
    assert amended.value.field == "inResponseTo[0]" and "cycle" in amended.value.reason
    with pytest.raises(InvalidInput) as corrected:
        world.correct_event(correction("regulatory-action:regulator/fine@1", inResponseTo=loop))
    assert corrected.value.field == "changes.inResponseTo[0]", corrected.value
    assert "cycle" in corrected.value.reason
    assert _stored(world) == before


def test_revising_a_withdrawn_policy_is_refused_and_stores_nothing(world: Timeline) -> None:
    world.withdraw_policy({"id": "acme/conduct", "effectiveAt": "2022-03-01T00:00:00Z"})
    before = _stored(world)
    with pytest.raises(InvalidInput) as refused:
        world.revise_policy(revision(effective_at="2022-04-01T00:00:00Z"))
    assert refused.value.field == "id" and "withdrawn" in refused.value.reason
    assert _stored(world) == before


def test_a_revision_effective_before_a_withdrawal_that_breaks_nothing_is_accepted(
    world: Timeline,
) -> None:
    world.withdraw_policy({"id": "acme/conduct", "effectiveAt": "2022-03-01T00:00:00Z"})
    result = world.revise_policy(revision(effective_at="2022-02-15T00:00:00Z"))
    assert result.version == 4 and result.event_type == "PolicyRevised"


def test_a_second_announcement_of_the_same_slug_is_a_conflict(world: Timeline) -> None:
    before = _stored(world)
    with pytest.raises(VersionConflict) as refused:
        world.announce_policy(policy())
    assert refused.value.code == "CONFLICT" and "already exists" in refused.value.message
    assert _stored(world) == before


def test_revising_a_policy_that_does_not_exist_is_not_found(world: Timeline) -> None:
    before = _stored(world)
    with pytest.raises(NotFound) as refused:
        world.revise_policy(revision("acme/missing"))
    assert refused.value.code == "NOT_FOUND" and refused.value.ident == "acme/missing"
    assert _stored(world) == before


def test_an_accepted_correction_is_stored_as_one_event_and_cited_actors_exist(
    world: Timeline,
) -> None:
    before = world.head_position()
    result = world.correct_event(correction("policy:acme/conduct@1", owner="regulator"))
    assert result.event_type == "EventCorrected" and result.position > before
    [logged] = world.log(after=before)
    assert logged.fact.data["changes"] == {"owner": "regulator"}
    assert logged.fact.data["target"] == 1


def _retract_the_policy(world: Timeline) -> None:
    """Retract the revision, then the announcement: no fact of the policy is believed."""
    world.retract_event(retraction("policy:acme/conduct@2"))
    world.retract_event(retraction("policy:acme/conduct@1", "announced under the wrong slug"))


def test_a_wholly_retracted_policy_refuses_every_change_naming_id(world: Timeline) -> None:
    _retract_the_policy(world)
    before = _stored(world)
    with pytest.raises(InvalidInput) as revised:
        world.revise_policy(revision(effective_at="2022-04-01T00:00:00Z"))
    assert revised.value.field == "id" and "every fact of it was retracted" in revised.value.reason
    with pytest.raises(InvalidInput) as withdrawn:
        world.withdraw_policy({"id": "acme/conduct", "effectiveAt": "2022-04-01T00:00:00Z"})
    assert withdrawn.value.field == "id"
    with pytest.raises(InvalidInput, match="already retracted"):
        world.retract_event(retraction("policy:acme/conduct@1"))
    with pytest.raises(InvalidInput, match="was retracted"):
        world.correct_event(correction("policy:acme/conduct@1", title="Conduct"))
    assert _stored(world) == before


def test_a_wholly_retracted_slug_is_announced_anew_and_its_stream_continues(
    world: Timeline,
) -> None:
    _retract_the_policy(world)
    with pytest.raises(VersionConflict) as stale:
        world.announce_policy(policy(title="Conduct", expectedVersion=0))
    assert stale.value.field == "expected_version" and "version 4" in stale.value.message
    result = world.announce_policy(policy(title="Conduct", expectedVersion=4))
    assert (result.version, result.event_type) == (5, "PolicyAnnounced")
    [anew] = [f.fact for f in world.log() if f.fact.aggregate_id == result.aggregate_id][-1:]
    assert (anew.type, anew.data["title"], anew.data["slug"]) == (
        "PolicyAnnounced",
        "Conduct",
        "acme/conduct",
    )
    with pytest.raises(VersionConflict, match="already exists"):
        world.announce_policy(policy())
    revised = world.revise_policy(revision(addClauses=[clause("c9", "Be fair.")]))
    assert revised.version == 6


def test_a_fact_citing_or_naming_a_wholly_retracted_stream_is_refused_naming_the_field(
    world: Timeline,
) -> None:
    _retract_the_policy(world)
    world.retract_event(retraction("statement:spokesperson/reply@1"))
    world.register_actor(actor("ghost", "Not A Person", "person"))
    world.retract_event(retraction("actor:ghost@1", "never existed"))
    before = _stored(world)
    with pytest.raises(InvalidInput) as cited:
        world.record_statement(
            statement("spokesperson/other", inResponseTo=["policy:acme/conduct"])
        )
    assert cited.value.field == "inResponseTo[0]"
    assert "policy 'acme/conduct' does not exist as known" in cited.value.reason
    with pytest.raises(InvalidInput) as owned:
        world.announce_policy(policy("ghost/rules", owner="ghost"))
    assert owned.value.field == "owner" and "every fact of it was retracted" in owned.value.reason
    assert _stored(world) == before
    answered = world.record_statement(
        statement("spokesperson/other", inResponseTo=["regulatory-action:regulator/fine"])
    )
    assert answered.version == 1
