"""Corrections and retractions in the domain: believed history, knownAt, refusals."""

from __future__ import annotations

import pytest
from factories import as_recorded, at, clause, in_memory, policy, revision

from domain import RULES, InvalidInput, Policy, UnfoldableHistory, believe
from domain.fold import state_at

RULE = RULES["policy"]


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
