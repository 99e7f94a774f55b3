"""Properties of the fold over random histories (pure, no database).

- Whatever commands the aggregates accept, the believed history still folds.
- The one-pass `spans` (what the projections store) answers exactly as the replaying oracle
  `state_at` at every instant, including clause expiries and scheduled actions.
- An answer for a past knownAt does not change when later facts are recorded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain import (
    RULES,
    AlreadyExists,
    InvalidInput,
    Policy,
    RegulatoryAction,
    TimelineAggregate,
    believe,
)
from domain.fold import state_at
from domain.rules import spans
from domain.values import format_instant

T0 = datetime(2022, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
PROPERTIES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

days = st.integers(min_value=-5, max_value=40).map(lambda d: T0 + timedelta(days=d))
clause_ids = st.sampled_from(["a", "n1", "n2"])


def _clause(draw: st.DrawFn, clause_id: str) -> dict[str, Any]:
    expires = draw(st.none() | days)
    return {
        "id": clause_id,
        "heading": "",
        "text": draw(st.sampled_from(["x", "y", "z"])),
        "scope": draw(st.lists(st.sampled_from(["UA", "RU"]), max_size=2, unique=True)),
        "expires_at": format_instant(expires) if expires else None,
    }


def _instants(draw: st.DrawFn) -> dict[str, Any]:
    effective = draw(days)
    return {
        "effective_at": effective,
        "announced_at": draw(st.none() | days) or effective,
        "sources": [],
    }


@st.composite
def policy_histories(draw: st.DrawFn) -> Policy:
    """A policy after a random series of commands; refused ones are simply not recorded."""
    policy = Policy.announce(
        "p", title="P", owner="o", summary="", clauses=[_clause(draw, "a")], **_instants(draw)
    )
    for _ in range(draw(st.integers(0, 12))):
        step = draw(
            st.sampled_from(
                ["revise", "revise", "revise", "withdraw", "correct", "retract", "retract", "anew"]
            )
        )
        try:
            if step == "revise":
                fresh = f"n{policy.version}"  # adding a new clause always applies
                policy.revise(
                    title=None,
                    summary="",
                    add_clauses=[_clause(draw, fresh)] if draw(st.booleans()) else [],
                    amend_clauses=[{"id": draw(clause_ids), "text": "amended"}]
                    if draw(st.booleans())
                    else [],
                    remove_clauses=[draw(clause_ids)] if draw(st.booleans()) else [],
                    **_instants(draw),
                )
            elif step == "withdraw":
                policy.withdraw(summary="", **_instants(draw))
            elif step == "anew":  # refused unless every fact is retracted
                policy.announce_anew(
                    title="P2",
                    owner="o",
                    summary="",
                    clauses=[_clause(draw, "a")],
                    **_instants(draw),
                )
            elif step == "correct":
                policy.correct(
                    draw(st.integers(1, policy.version)),
                    {"effective_at": format_instant(draw(days))},
                    "r",
                    [],
                )
            else:
                policy.retract(draw(st.integers(1, policy.version)), "r", [])
        except (InvalidInput, AlreadyExists):
            pass
    return policy


@st.composite
def action_histories(draw: st.DrawFn) -> RegulatoryAction:
    action = RegulatoryAction.announce(
        "a",
        authority="r",
        jurisdiction="RU",
        targets=[],
        kind="restriction",
        summary="",
        text="",
        in_response_to=[],
        **_instants(draw),
    )
    for _ in range(draw(st.integers(0, 5))):
        step = draw(st.sampled_from(["amend", "lift", "correct", "retract", "anew"]))
        try:
            if step == "amend":
                action.amend(
                    kind="block",
                    summary=None,
                    text=None,
                    targets=None,
                    in_response_to=None,
                    **_instants(draw),
                )
            elif step == "lift":
                action.lift(summary="", **_instants(draw))
            elif step == "anew":
                action.announce_anew(
                    authority="r",
                    jurisdiction="UA",
                    targets=[],
                    kind="fine",
                    summary="",
                    text="",
                    in_response_to=[],
                    **_instants(draw),
                )
            elif step == "correct":
                field = draw(st.sampled_from(["effective_at", "announced_at"]))
                action.correct(
                    draw(st.integers(1, action.version)),
                    {field: format_instant(draw(days))},
                    "r",
                    [],
                )
            else:
                action.retract(draw(st.integers(1, action.version)), "r", [])
        except (InvalidInput, AlreadyExists):
            pass
    return action


def _recorded_daily(aggregate: TimelineAggregate) -> list[Any]:
    """Give event n the recordedAt T0 + n days, so knownAt can fall between any two."""
    return [replace(f, recorded_at=T0 + timedelta(days=f.version)) for f in aggregate.facts]


def _span_at(found: list[Any], instant: datetime) -> Any:
    for span in found:
        if span.valid_from <= instant and (span.valid_to is None or instant < span.valid_to):
            return span.state
    return None


def _probes(found: list[Any], draw_days: list[datetime]) -> list[datetime]:
    edges = {s.valid_from for s in found} | {s.valid_to for s in found if s.valid_to}
    return sorted({*draw_days, *edges, *(e - timedelta(microseconds=1) for e in edges)})


def _spans_equal_oracle(aggregate: TimelineAggregate, probes: list[datetime]) -> None:
    rules = RULES[aggregate.KIND]
    facts = _recorded_daily(aggregate)
    if not believe(facts):
        event("every fact retracted")
    if any(f.type == aggregate.ANNOUNCEMENT and f.version > 1 for f in facts):
        event("announced anew after every fact was retracted")
    found = spans(rules, believe(facts))  # never raises: every accepted history folds
    for instant in _probes(found, probes):
        assert _span_at(found, instant) == state_at(rules, facts, instant, FAR), instant


@PROPERTIES
@given(policy_histories(), st.lists(days, max_size=5))
def test_policy_spans_answer_as_the_oracle_at_every_instant(
    policy: Policy,
    probes: list[datetime],
) -> None:
    _spans_equal_oracle(policy, probes)


@PROPERTIES
@given(action_histories(), st.lists(days, max_size=5))
def test_action_spans_answer_as_the_oracle_at_every_instant(
    action: RegulatoryAction,
    probes: list[datetime],
) -> None:
    _spans_equal_oracle(action, probes)


@PROPERTIES
@given(policy_histories(), days, st.integers(0, 10))
def test_an_answer_for_a_past_known_at_ignores_everything_recorded_later(
    policy: Policy,
    valid_at: datetime,
    cut: int,
) -> None:
    facts = _recorded_daily(policy)
    known_at = T0 + timedelta(days=cut)
    recorded_by_then = [f for f in facts if f.recorded_at <= known_at]
    rules = RULES["policy"]
    assert state_at(rules, facts, valid_at, known_at) == state_at(
        rules, recorded_by_then, valid_at, known_at
    )
