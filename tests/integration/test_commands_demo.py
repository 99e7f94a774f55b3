"""The demo data set through the real application, on SQLite and PostgreSQL.

The oracle folds the stored facts; corrections recorded now never change an answer for a
knownAt before them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import at, correction, retraction

from domain import RULES, InvalidInput
from domain.fold import state_at
from domain.regulatory import ANNOUNCED, IN_EFFECT
from timeline.application import Timeline
from timeline.demo import ALLOWANCE_CLAUSE, DEMO_COMMANDS, INSTAGRAM_RESTRICTION, POLICY, load_demo


def _ask(
    timeline: Timeline, kind: str, slug: str, valid_at: str, known_at: datetime | None = None
) -> Any:
    facts = timeline.facts_of(kind, slug)
    return state_at(RULES[kind], facts, at(valid_at), known_at or datetime.now(UTC))


def test_the_demo_stores_one_event_per_command_with_server_set_recorded_at(
    timeline: Timeline,
) -> None:
    started = datetime.now(UTC)
    assert load_demo(timeline) == len(DEMO_COMMANDS)
    log = timeline.log()
    assert len(log) == len(DEMO_COMMANDS)
    assert all(started <= logged.fact.recorded_at <= datetime.now(UTC) for logged in log)
    assert Counter(logged.kind for logged in log) == {
        "actor": 10,
        "policy": 3,
        "regulatory-action": 4,
        "statement": 3,
    }


def test_instagram_restriction_is_announced_on_12_march_and_in_effect_on_14_march(
    timeline: Timeline,
) -> None:
    load_demo(timeline)
    kind = "regulatory-action"
    assert _ask(timeline, kind, INSTAGRAM_RESTRICTION, "2022-03-12T12:00:00+03:00").status == (
        ANNOUNCED
    )
    assert _ask(timeline, kind, INSTAGRAM_RESTRICTION, "2022-03-14T00:00:00+03:00").status == (
        IN_EFFECT
    )


def test_meta_is_named_facebook_inc_before_the_rename(timeline: Timeline) -> None:
    load_demo(timeline)
    assert _ask(timeline, "actor", "meta", "2021-10-27T12:00:00-07:00").name == "Facebook, Inc."
    assert _ask(timeline, "actor", "meta", "2022-03-11T00:00:00Z").name == "Meta Platforms, Inc."


def test_a_correction_of_the_allowance_date_changes_no_answer_known_before_it(
    timeline: Timeline,
) -> None:
    load_demo(timeline)
    before = timeline.log()[-1].fact.recorded_at
    question = "2022-03-08T00:00:00Z"
    asked_before = _ask(timeline, "policy", POLICY, question, before)
    result = timeline.correct_event(
        correction(
            f"policy:{POLICY}@2",
            reason="an earlier date found (hypothetical)",
            effectiveAt="2022-03-06T00:00:00+00:00",
        )
    )
    assert _ask(timeline, "policy", POLICY, question, before) == asked_before
    assert asked_before.clause(ALLOWANCE_CLAUSE) is None
    after = _ask(timeline, "policy", POLICY, question, result.recorded_at)
    assert after.clause(ALLOWANCE_CLAUSE) is not None


def test_a_retraction_of_the_narrowing_shows_only_for_known_at_after_it(
    timeline: Timeline,
) -> None:
    load_demo(timeline)
    known_before = timeline.log()[-1].fact.recorded_at
    question = "2022-03-15T00:00:00Z"
    result = timeline.retract_event(retraction(f"policy:{POLICY}@3"))
    asked_before = _ask(timeline, "policy", POLICY, question, known_before)
    asked_after = _ask(timeline, "policy", POLICY, question, result.recorded_at)
    assert asked_before.clause(ALLOWANCE_CLAUSE).scope == ("UA",)
    assert len(asked_after.clause(ALLOWANCE_CLAUSE).scope) == 12


def test_moving_the_baseline_after_the_allowance_is_refused_naming_the_allowance(
    timeline: Timeline,
) -> None:
    load_demo(timeline)
    head = timeline.head_position()
    with pytest.raises(InvalidInput) as refused:
        timeline.correct_event(
            correction(f"policy:{POLICY}@1", effectiveAt="2022-03-12T00:00:00+00:00")
        )
    assert refused.value.field == "event" and "event 2 (PolicyRevised" in refused.value.reason
    assert timeline.head_position() == head
