"""The oracle answers the March 2022 story (shared/facts/march-2022.md) at (validAt, knownAt).

The demo's commands run on the domain alone, and each fact is stamped as if recorded live, at
its announcedAt; corrections and retractions get explicit recording instants.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from factories import as_recorded, at, in_memory

from domain import RULES, TimelineAggregate
from domain.fold import state_at, states_on
from domain.regulatory import ANNOUNCED, IN_EFFECT, LIFTED
from timeline.commands import LiftRegulatoryAction
from timeline.demo import (
    ALLOWANCE_CLAUSE,
    ALLOWANCE_SCOPE,
    BASELINE_CLAUSE,
    DEMO_COMMANDS,
    INSTAGRAM_RESTRICTION,
    POLICY,
)
from timeline.validation import validate

NOW = at("2030-01-01T00:00:00+00:00")


def _demo() -> dict[tuple[str, str], TimelineAggregate]:
    return in_memory(DEMO_COMMANDS)


def _ask(
    aggregate: TimelineAggregate,
    valid_at: str,
    known_at: str | None = None,
    stamps: dict[int, str] | None = None,
) -> Any:
    facts = as_recorded(aggregate.facts, stamps)
    return state_at(RULES[aggregate.KIND], facts, at(valid_at), at(known_at) if known_at else NOW)


def _policy(
    valid_at: str,
    known_at: str | None = None,
    aggregate: TimelineAggregate | None = None,
    stamps: dict[int, str] | None = None,
) -> Any:
    return _ask(aggregate or _demo()[("policy", POLICY)], valid_at, known_at, stamps)


def _restriction(valid_at: str, known_at: str | None = None) -> Any:
    return _ask(_demo()[("regulatory-action", INSTAGRAM_RESTRICTION)], valid_at, known_at)


# -- the Instagram restriction: announced on one day, in effect on another -------------------


def test_instagram_restriction_is_announced_but_not_in_effect_on_12_march() -> None:
    state = _restriction("2022-03-12T12:00:00+03:00", known_at="2022-03-12T12:00:00+03:00")
    assert state.status == ANNOUNCED
    assert state.targets == ("instagram",) and state.authority == "roskomnadzor"


def test_instagram_restriction_is_in_effect_from_midnight_moscow_on_14_march() -> None:
    assert _restriction("2022-03-13T23:59:59+03:00").status == ANNOUNCED
    assert _restriction("2022-03-14T00:00:00+03:00").status == IN_EFFECT
    assert _restriction("2022-03-13T21:00:00+00:00").status == IN_EFFECT


def test_instagram_restriction_does_not_exist_before_its_announcement_on_11_march() -> None:
    assert _restriction("2022-03-11T15:22:00+03:00") is None


def test_asked_at_noon_on_11_march_the_service_knew_no_instagram_restriction() -> None:
    assert _restriction("2022-03-14T12:00:00+03:00", known_at="2022-03-11T12:00:00+03:00") is None


def test_instagram_restriction_cites_the_allowance_revision() -> None:
    demo = _demo()
    state = _ask(demo[("regulatory-action", INSTAGRAM_RESTRICTION)], "2022-03-12T00:00:00Z")
    cited = [r for r in state.in_response_to if r.startswith(f"policy:{POLICY}@")]
    [version] = [int(r.rsplit("@", 1)[1]) for r in cited]
    revised = next(f for f in demo[("policy", POLICY)].facts if f.version == version)
    assert [c["id"] for c in revised.data["add_clauses"]] == [ALLOWANCE_CLAUSE]


# -- the Hate Speech policy: the allowance and its narrowing ---------------------------------


def test_before_10_march_the_hate_speech_policy_has_only_its_baseline_clause() -> None:
    state = _policy("2022-03-09T23:59:59+00:00")
    assert [c.id for c in state.clauses] == [BASELINE_CLAUSE] and state.owner == "meta"


def test_on_11_march_the_allowance_is_in_force_in_twelve_countries() -> None:
    allowance = _policy("2022-03-11T12:00:00+00:00").clause(ALLOWANCE_CLAUSE)
    assert set(allowance.scope) == set(ALLOWANCE_SCOPE) and len(allowance.scope) == 12
    assert "RU" in allowance.scope


def test_the_13_march_narrowing_limits_the_allowance_to_ukraine() -> None:
    state = _policy("2022-03-15T00:00:00+00:00")
    assert state.clause(ALLOWANCE_CLAUSE).scope == ("UA",)
    assert "head of state are not allowed" in state.clause(ALLOWANCE_CLAUSE).text
    assert state.revision == 3 and state.clause(BASELINE_CLAUSE) is not None


def test_the_narrowing_is_retroactive_and_shows_only_for_known_at_from_its_report() -> None:
    asked_on_13th = _policy("2022-03-13T12:00:00+00:00", known_at="2022-03-13T23:00:00+00:00")
    asked_on_14th = _policy("2022-03-13T12:00:00+00:00", known_at="2022-03-14T01:00:00+00:00")
    assert len(asked_on_13th.clause(ALLOWANCE_CLAUSE).scope) == 12
    assert asked_on_14th.clause(ALLOWANCE_CLAUSE).scope == ("UA",)


def test_asked_on_10_march_at_noon_the_service_did_not_yet_know_the_allowance() -> None:
    state = _policy("2022-03-10T12:00:00+00:00", known_at="2022-03-10T12:00:00+00:00")
    assert [c.id for c in state.clauses] == [BASELINE_CLAUSE]
    assert _policy("2022-03-10T12:00:00+00:00").clause(ALLOWANCE_CLAUSE) is not None


# -- a correction recorded later, and a retraction -------------------------------------------

CORRECTED_ON = "2022-03-20T00:00:00+00:00"


def _corrected_policy() -> TimelineAggregate:
    aggregate = _demo()[("policy", POLICY)]
    aggregate.correct(
        2, {"effective_at": "2022-03-06T00:00:00+00:00"}, "an earlier date found (hypothetical)", []
    )
    return aggregate


def test_a_correction_recorded_on_20_march_moves_the_allowance_to_6_march() -> None:
    aggregate = _corrected_policy()
    stamps = {4: CORRECTED_ON}
    known_19th = _policy(
        "2022-03-08T00:00:00+00:00", "2022-03-19T00:00:00+00:00", aggregate, stamps
    )
    known_21st = _policy(
        "2022-03-08T00:00:00+00:00", "2022-03-21T00:00:00+00:00", aggregate, stamps
    )
    assert known_19th.clause(ALLOWANCE_CLAUSE) is None
    assert known_21st.clause(ALLOWANCE_CLAUSE) is not None


def test_a_legal_lookup_made_on_12_march_about_11_march_never_changes() -> None:
    question = ("2022-03-11T12:00:00+00:00", "2022-03-12T12:00:00+00:00")
    before = _policy(*question)
    after = _policy(*question, aggregate=_corrected_policy(), stamps={4: CORRECTED_ON})
    assert before == after
    assert len(after.clause(ALLOWANCE_CLAUSE).scope) == 12


def test_a_lift_recorded_in_error_and_retracted_shows_only_between_the_two_records() -> None:
    aggregate = _demo()[("regulatory-action", INSTAGRAM_RESTRICTION)]
    lift = validate(
        LiftRegulatoryAction,
        {"id": INSTAGRAM_RESTRICTION, "effectiveAt": "2022-03-15T00:00:00+03:00"},
    )
    aggregate.lift(**lift.payload())
    aggregate.retract(2, "no such lift happened", [])
    stamps = {2: "2022-03-15T12:00:00+03:00", 3: "2022-03-16T12:00:00+03:00"}
    later = "2022-03-20T00:00:00+03:00"
    assert _ask(aggregate, later, "2022-03-15T11:00:00+03:00", stamps).status == IN_EFFECT
    assert _ask(aggregate, later, "2022-03-15T13:00:00+03:00", stamps).status == LIFTED
    assert _ask(aggregate, later, "2022-03-16T13:00:00+03:00", stamps).status == IN_EFFECT


# -- calendar days, actors and statements ----------------------------------------------------


def test_policy_on_9_march_in_los_angeles_shows_the_baseline_then_the_allowance() -> None:
    facts = as_recorded(_demo()[("policy", POLICY)].facts)
    versions = states_on(RULES["policy"], facts, date(2022, 3, 9), "America/Los_Angeles", NOW)
    assert [[c.id for c in v.clauses] for v in versions] == [
        [BASELINE_CLAUSE],
        [BASELINE_CLAUSE, ALLOWANCE_CLAUSE],
    ]


def test_policy_on_13_march_in_moscow_shows_twelve_countries_then_ukraine_only() -> None:
    facts = as_recorded(_demo()[("policy", POLICY)].facts)
    rules = RULES["policy"]
    moscow = states_on(rules, facts, date(2022, 3, 13), "Europe/Moscow", NOW)
    assert [len(v.clause(ALLOWANCE_CLAUSE).scope) for v in moscow] == [12, 1]
    assert len(states_on(rules, facts, date(2022, 3, 13), "UTC", NOW)) == 1


def test_on_13_march_in_utc_the_instagram_restriction_is_announced_then_in_effect() -> None:
    facts = as_recorded(_demo()[("regulatory-action", INSTAGRAM_RESTRICTION)].facts)
    rules = RULES["regulatory-action"]
    assert [s.status for s in states_on(rules, facts, date(2022, 3, 13), "UTC", NOW)] == [
        ANNOUNCED,
        IN_EFFECT,
    ]
    assert [s.status for s in states_on(rules, facts, date(2022, 3, 14), "Europe/Moscow", NOW)] == [
        IN_EFFECT
    ]
    assert [s.status for s in states_on(rules, facts, date(2022, 3, 11), "Europe/Moscow", NOW)] == [
        ANNOUNCED
    ]


def test_meta_was_named_facebook_inc_until_28_october_2021() -> None:
    meta = _demo()[("actor", "meta")]
    assert _ask(meta, "2021-06-01T00:00:00+00:00").name == "Facebook, Inc."
    assert _ask(meta, "2022-03-11T00:00:00+00:00").name == "Meta Platforms, Inc."
    instagram = _ask(_demo()[("actor", "instagram")], "2022-03-11T00:00:00+00:00")
    assert instagram.parent == "meta"


def test_mosseris_statement_responds_to_the_restriction_at_16_00_pacific() -> None:
    demo = _demo()
    [mosseri] = [
        a
        for (kind, slug), a in demo.items()
        if kind == "statement" and slug.startswith("adam-mosseri/")
    ]
    assert _ask(mosseri, "2022-03-11T23:59:59+00:00") is None
    state = _ask(mosseri, "2022-03-12T00:00:00+00:00")
    assert state.in_response_to == (f"regulatory-action:{INSTAGRAM_RESTRICTION}",)
