"""Corrections and retractions in the domain: believed history, knownAt, refusals."""

from __future__ import annotations

import pytest
from factories import as_recorded, at, clause, in_memory, policy, revision, statement

from domain import (
    RULES,
    AlreadyExists,
    InvalidInput,
    NothingChanged,
    Policy,
    Statement,
    UnfoldableHistory,
    believe,
)
from domain.fold import state_at

RULE = RULES["policy"]
NOW = at("2030-01-01T00:00:00+00:00")


def _policy() -> Policy:
    found = in_memory(
        [
            ("announcePolicy", policy(announcedAt="2022-01-01T00:00:00+00:00")),
            (
                "revisePolicy",
                revision(
                    addClauses=[clause("c2", "Be brief.")], announcedAt="2022-02-01T00:00:00+00:00"
                ),
            ),
        ]
    )[("policy", "acme/conduct")]
    assert isinstance(found, Policy)
    return found


def test_a_correction_shows_only_for_known_at_after_it_was_recorded() -> None:
    aggregate = _policy()
    aggregate.correct(2, {"effective_at": "2022-01-15T00:00:00+00:00"}, "earlier", [])
    facts = as_recorded(aggregate.facts, {3: "2022-03-01T00:00:00+00:00"})
    january = at("2022-01-20T00:00:00+00:00")
    before = state_at(RULE, facts, january, at("2022-02-28T00:00:00+00:00"))
    after = state_at(RULE, facts, january, at("2022-03-01T00:00:00+00:00"))
    assert [c.id for c in before.clauses] == ["c1"]
    assert [c.id for c in after.clauses] == ["c1", "c2"]


def test_corrections_accumulate_and_the_latest_wins() -> None:
    aggregate = _policy()
    aggregate.correct(1, {"title": "Conduct"}, "typo", [])
    aggregate.correct(1, {"title": "Code of Conduct"}, "typo again", [])
    [announced, _] = believe(aggregate.facts)
    assert announced.data["title"] == "Code of Conduct"


def test_a_retracted_event_is_dropped_from_its_recording_on() -> None:
    aggregate = _policy()
    aggregate.retract(2, "recorded in error", [])
    facts = as_recorded(aggregate.facts, {3: "2022-03-01T00:00:00+00:00"})
    valid = at("2022-02-15T00:00:00+00:00")
    assert len(state_at(RULE, facts, valid, at("2022-02-28T00:00:00+00:00")).clauses) == 2
    assert len(state_at(RULE, facts, valid, at("2022-03-01T00:00:00+00:00")).clauses) == 1


def test_a_correction_that_would_leave_a_later_event_unfoldable_is_refused_naming_it() -> None:
    aggregate = _policy()
    with pytest.raises(UnfoldableHistory) as refused:
        aggregate.correct(1, {"effective_at": "2022-03-01T00:00:00+00:00"}, "later", [])
    assert refused.value.field == "event"
    assert "event 2" in refused.value.reason and "PolicyRevised" in refused.value.reason
    assert aggregate.version == 2


def test_a_retraction_that_would_orphan_a_revision_is_refused() -> None:
    with pytest.raises(UnfoldableHistory) as refused:
        _policy().retract(1, "never happened", [])
    assert "event 2" in refused.value.reason


def test_corrections_and_retractions_are_not_themselves_targets() -> None:
    aggregate = _policy()
    aggregate.correct(1, {"title": "Conduct"}, "typo", [])
    with pytest.raises(InvalidInput) as refused:
        aggregate.correct(3, {"reason": "x"}, "x", [])
    assert "EventCorrected" in refused.value.reason


def test_a_retracted_event_cannot_be_corrected_or_retracted_again() -> None:
    aggregate = _policy()
    aggregate.retract(2, "error", [])
    with pytest.raises(InvalidInput, match="retracted"):
        aggregate.correct(2, {"summary": "x"}, "x", [])
    with pytest.raises(InvalidInput, match="already retracted"):
        aggregate.retract(2, "again", [])


def test_the_slug_is_not_correctable() -> None:
    with pytest.raises(InvalidInput) as refused:
        _policy().correct(1, {"slug": "other"}, "rename", [])
    assert refused.value.field == "changes.slug"


def test_an_event_that_does_not_exist_is_named_with_the_latest_version() -> None:
    with pytest.raises(InvalidInput) as refused:
        _policy().correct(9, {"title": "x"}, "x", [])
    assert refused.value.field == "event" and "latest is 2" in refused.value.reason


@pytest.mark.parametrize(
    "changes",
    [
        {"effective_at": "2022-02-01T00:00:00+00:00"},
        {"effective_at": "2022-02-01T03:00:00+03:00"},  # the same instant, another offset
        {"summary": "", "announced_at": "2022-02-01T00:00:00+00:00"},
    ],
    ids=["same-instant", "same-instant-offset", "same-fields"],
)
def test_a_correction_that_changes_nothing_is_refused_naming_changes(
    changes: dict[str, str],
) -> None:
    aggregate = _policy()
    with pytest.raises(NothingChanged) as refused:
        aggregate.correct(2, changes, "no news", [])
    assert refused.value.field == "changes"
    assert "already reads so" in refused.value.reason
    assert aggregate.version == 2


def test_a_correction_is_judged_against_the_event_as_already_corrected() -> None:
    aggregate = _policy()
    aggregate.correct(2, {"effective_at": "2022-01-15T00:00:00+00:00"}, "earlier", [])
    with pytest.raises(NothingChanged):
        aggregate.correct(2, {"effective_at": "2022-01-15T00:00:00+00:00"}, "again", [])
    aggregate.correct(2, {"effective_at": "2022-02-01T00:00:00+00:00"}, "back", [])
    assert aggregate.version == 4


def test_a_correction_that_would_make_its_revision_change_nothing_is_refused() -> None:
    aggregate = _policy()
    with pytest.raises(NothingChanged) as refused:
        aggregate.correct(2, {"add_clauses": [], "title": "Code of conduct"}, "no clause", [])
    assert refused.value.field == "changes"
    assert "corrected revision would change nothing" in refused.value.reason
    assert aggregate.version == 2


def test_a_correction_of_an_earlier_event_may_make_a_later_revision_redundant() -> None:
    """Only the revision written or corrected is judged: 'it had this title from the start'
    is a fact about the past, even though the revision that set the title then sets nothing."""
    aggregate = in_memory(
        [("announcePolicy", policy()), ("revisePolicy", revision(title="Conduct"))]
    )[("policy", "acme/conduct")]
    aggregate.correct(1, {"title": "Conduct"}, "it was always called so", [])
    assert aggregate.version == 3


# -- retracting a stream's only fact -----------------------------------------------------------

STATEMENT = RULES["statement"]


def _statement() -> Statement:
    found = in_memory([("recordStatement", statement())])[("statement", "spokesperson/reply")]
    assert isinstance(found, Statement)
    return found


def test_a_statement_whose_only_fact_is_retracted_has_no_answer_from_the_retraction_on() -> None:
    aggregate = _statement()
    aggregate.retract(1, "wrongly attributed", [])
    facts = as_recorded(aggregate.facts, {2: "2022-03-20T00:00:00+00:00"})
    valid = at("2022-03-15T00:00:00+00:00")
    before = state_at(STATEMENT, facts, valid, at("2022-03-19T23:59:59+00:00"))
    assert before is not None and before.text == "We disagree."
    assert state_at(STATEMENT, facts, valid, at("2022-03-20T00:00:00+00:00")) is None
    assert believe(facts) == []


def test_a_policy_whose_last_believed_fact_is_retracted_has_no_answer_then() -> None:
    aggregate = _policy()
    aggregate.retract(2, "error", [])
    aggregate.retract(1, "never announced under this slug", [])
    facts = as_recorded(
        aggregate.facts, {3: "2022-03-01T00:00:00+00:00", 4: "2022-03-02T00:00:00+00:00"}
    )
    valid = at("2022-02-15T00:00:00+00:00")
    assert len(state_at(RULE, facts, valid, at("2022-03-01T12:00:00+00:00")).clauses) == 1
    assert state_at(RULE, facts, valid, at("2022-03-02T00:00:00+00:00")) is None


def test_a_retracted_stream_refuses_every_change_but_an_announcement_anew_naming_id() -> None:
    aggregate = _policy()
    aggregate.retract(2, "error", [])
    aggregate.retract(1, "wrong slug", [])
    with pytest.raises(InvalidInput) as refused:
        aggregate.withdraw(
            summary="",
            sources=[],
            effective_at=at("2022-03-01T00:00:00+00:00"),
            announced_at=at("2022-03-01T00:00:00+00:00"),
        )
    assert refused.value.field == "id" and "announce it anew" in refused.value.reason
    with pytest.raises(InvalidInput, match="already retracted"):
        aggregate.retract(1, "again", [])
    assert aggregate.version == 4


def test_an_announcement_anew_continues_the_stream_under_the_right_facts() -> None:
    aggregate = _statement()
    aggregate.retract(1, "wrongly attributed", [])
    aggregate.announce_anew(
        actor="acme",
        kind="post",
        summary="",
        text="We agree.",
        in_response_to=[],
        sources=[],
        effective_at=at("2022-03-12T00:00:00+00:00"),
        announced_at=at("2022-03-12T00:00:00+00:00"),
    )
    [anew] = believe(aggregate.facts)
    assert (anew.version, anew.type, anew.data["slug"]) == (
        3,
        "StatementRecorded",
        "spokesperson/reply",
    )
    facts = as_recorded(
        aggregate.facts, {2: "2022-03-20T00:00:00+00:00", 3: "2022-03-21T00:00:00+00:00"}
    )
    valid = at("2022-03-15T00:00:00+00:00")
    assert state_at(STATEMENT, facts, valid, at("2022-03-20T12:00:00+00:00")) is None
    found = state_at(STATEMENT, facts, valid, at("2022-03-21T00:00:00+00:00"))
    assert (found.actor, found.text, found.changed_by) == ("acme", "We agree.", 3)
    with pytest.raises(AlreadyExists):
        aggregate.announce_anew(
            actor="acme",
            kind="post",
            summary="",
            text="Again.",
            in_response_to=[],
            sources=[],
            effective_at=at("2022-03-12T00:00:00+00:00"),
            announced_at=at("2022-03-12T00:00:00+00:00"),
        )


# -- corrections leave a mark ------------------------------------------------------------------


def test_a_version_built_from_a_corrected_fact_names_the_correction_from_its_record_on() -> None:
    aggregate = _policy()
    aggregate.correct(1, {"title": "Conduct"}, "typo", [])
    facts = as_recorded(aggregate.facts, {3: "2022-03-01T00:00:00+00:00"})
    february = at("2022-02-15T00:00:00+00:00")  # the revision's version, built on @1
    before = state_at(RULE, facts, february, at("2022-02-28T00:00:00+00:00"))
    after = state_at(RULE, facts, february, at("2022-03-01T00:00:00+00:00"))
    assert before.corrected_by == ()
    assert [(c.version, c.recorded_at, c.reason) for c in after.corrected_by] == [
        (3, at("2022-03-01T00:00:00+00:00"), "typo")
    ]
    assert after.changed_by == 2 and after.title == "Conduct"


def test_every_correction_of_a_fact_is_named_in_recording_order() -> None:
    aggregate = _statement()
    aggregate.correct(1, {"text": "We disagree strongly."}, "transcript", [])
    aggregate.correct(1, {"text": "We strongly disagree."}, "the video", [])
    facts = as_recorded(
        aggregate.facts, {2: "2022-03-12T00:00:00+00:00", 3: "2022-03-13T00:00:00+00:00"}
    )
    found = state_at(STATEMENT, facts, at("2022-03-20T00:00:00+00:00"), NOW)
    assert [(c.version, c.reason) for c in found.corrected_by] == [
        (2, "transcript"),
        (3, "the video"),
    ]
