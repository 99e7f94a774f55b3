"""The incremental fold check: a fact that sorts after the whole believed history is applied
to where the fold ends instead of refolding everything, and a full check keeps where its fold
ends. Commands must be accepted and refused exactly as by the reference check below (the
whole believed history through `spans`, as the projections fold it), with the same error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import RULES, Fact, InvalidRevision, Policy, RegulatoryAction, TimelineAggregate
from domain.errors import AlreadyExists, InvalidInput, UnfoldableHistory
from domain.facts import believe, fact_form
from domain.fold import state_at
from domain.rules import FoldRules, fold, spans
from domain.values import format_instant

T0 = datetime(2022, 1, 1, tzinfo=UTC)
EVER = datetime.max.replace(tzinfo=UTC)
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Mostly later and later days, so that many facts take the fast path; some go back in time.
days = st.integers(min_value=-3, max_value=40).map(lambda d: T0 + timedelta(days=d))
clause_ids = st.sampled_from(["a", "n1", "n2", "n3"])


def _clause(draw: st.DrawFn, clause_id: str) -> dict[str, Any]:
    expires = draw(st.none() | days)
    return {
        "id": clause_id,
        "heading": "",
        "text": draw(st.sampled_from(["x", "y"])),
        "scope": [],
        "expires_at": format_instant(expires) if expires else None,
    }


def _instants(draw: st.DrawFn) -> dict[str, Any]:
    effective = draw(days)
    return {"effective_at": effective, "announced_at": draw(st.none() | days) or effective}


def _verdict(error: Exception | None) -> tuple[str, str, str | None] | None:
    if error is None:
        return None
    assert isinstance(error, InvalidInput), error
    return (type(error).__name__, error.field, error.reason)


def _reference_check(
    aggregate: TimelineAggregate, rules: FoldRules[Any], facts: list[Fact], candidate: Fact
) -> None:
    """The check as first written: every believed fact through `spans`. A stream whose every
    fact is retracted takes only an announcement anew; an empty history folds (to nothing)."""
    if (
        not candidate.is_meta
        and not believe(facts[:-1])
        and candidate.type != aggregate.ANNOUNCEMENT
    ):
        raise InvalidInput(
            "id",
            f"{aggregate.KIND} {aggregate.slug!r} does not exist as known: every fact of it was "
            "retracted; announce it anew to record it again",
        )
    believed = believe(facts)
    if not believed:
        return
    try:
        spans(rules, believed)
    except UnfoldableHistory as error:
        failed = error.fact
        if not isinstance(failed, Fact) or failed.version == candidate.version:
            raise
        raise UnfoldableHistory(
            error.field if not candidate.is_meta else "event",
            f"this change would leave event {failed.version} ({failed.type}, effective "
            f"{rules.fold_time(failed).isoformat()}) unfoldable: {error.reason}",
        ) from None


def _full_check(aggregate: TimelineAggregate, type_name: str, kwargs: dict[str, Any]) -> Any:
    """What the reference check says about the event the command would record."""
    type_name, data = fact_form(
        type_name, {k: v for k, v in kwargs.items() if k not in {"effective_at", "announced_at"}}
    )
    candidate = Fact(
        aggregate_id=aggregate.id,
        version=aggregate.version + 1,
        type=type_name,
        recorded_at=T0,
        effective_at=kwargs.get("effective_at"),
        announced_at=kwargs.get("announced_at"),
        data=data,
    )
    try:
        _reference_check(aggregate, aggregate.RULES, [*aggregate.facts, candidate], candidate)
    except InvalidInput as error:
        return _verdict(error)
    if type_name == "PolicyRevised" and _changes_nothing(aggregate, candidate):
        given = [f for f in ("title", "amend_clauses", "remove_clauses", "add_clauses") if data[f]]
        field = {"amend_clauses": "amendClauses", "remove_clauses": "removeClauses"}
        field |= {"add_clauses": "addClauses"}
        return ("NothingChanged", field.get(given[0], given[0]) if given else "input", None)
    return None


def _changes_nothing(aggregate: TimelineAggregate, candidate: Fact) -> bool:
    """The no-op rule as the oracle sees it: the policy at the revision's effectiveAt has the
    same title, clauses and sources with the revision as without it."""
    at = aggregate.RULES.fold_time(candidate)
    before = state_at(aggregate.RULES, aggregate.facts, at, EVER)
    after = state_at(aggregate.RULES, [*aggregate.facts, candidate], at, EVER)
    return before is not None and before.content == after.content


def _run(aggregate: TimelineAggregate, method: str, type_name: str, kwargs: dict[str, Any]) -> Any:
    """Run the command on the aggregate; its verdict must be the full check's."""
    expected = _full_check(aggregate, type_name, kwargs)
    version = aggregate.version
    try:
        getattr(aggregate, method)(**kwargs)
    except InvalidInput as error:
        verdict = _verdict(error)
        assert verdict is not None and expected is not None
        assert verdict[:2] == expected[:2] and expected[2] in (None, verdict[2])
        assert aggregate.version == version
    else:
        assert expected is None
        assert aggregate.version == version + 1
    assert aggregate.folded() == _fold_reference(aggregate)


def _fold_reference(aggregate: TimelineAggregate) -> Any:
    """The fold the aggregate should keep: of its believed history, none when that is empty."""
    believed = believe(aggregate.facts)
    return fold(aggregate.RULES, believed) if believed else None


def _announce_anew(draw: st.DrawFn, aggregate: TimelineAggregate, payload: dict[str, Any]) -> None:
    """Announce the stream again: accepted exactly when every fact of it is retracted."""
    instants = _instants(draw)
    retracted = not believe(aggregate.facts)
    version = aggregate.version
    try:
        aggregate.announce_anew(**payload, **instants)
    except AlreadyExists:
        assert not retracted and aggregate.version == version
    else:
        assert retracted and aggregate.version == version + 1
        assert aggregate.facts[-1].type == aggregate.ANNOUNCEMENT
    assert aggregate.folded() == _fold_reference(aggregate)


def _correct_or_retract(draw: st.DrawFn, aggregate: TimelineAggregate, step: str) -> None:
    """A correction or retraction (always the full check); refusals before the fold check
    (a bad target) are not compared."""
    target = draw(st.integers(1, aggregate.version))
    if step == "correct":
        field = draw(st.sampled_from(["effective_at", "announced_at"]))
        changes = {field: format_instant(draw(days))}
        kwargs: dict[str, Any] = {"target": target, "changes": changes, "reason": "r"}
        expected = _full_check(aggregate, "EventCorrected", {**kwargs, "sources": []})
    else:
        kwargs = {"target": target, "reason": "r"}
        expected = _full_check(aggregate, "EventRetracted", {**kwargs, "sources": []})
    try:
        getattr(aggregate, step)(**kwargs, sources=[])
    except UnfoldableHistory as error:
        assert _verdict(error) == expected
    except InvalidInput:
        return
    else:
        assert expected is None
    assert aggregate.folded() == _fold_reference(aggregate)


@st.composite
def policy_runs(draw: st.DrawFn) -> None:
    """Random policy commands, each checked against the full check as it runs."""
    policy = Policy.announce(
        "p",
        title="P",
        owner="o",
        summary="",
        clauses=[_clause(draw, "a")],
        sources=[],
        **_instants(draw),
    )
    for _ in range(draw(st.integers(1, 14))):
        step = draw(
            st.sampled_from(["revise"] * 5 + ["withdraw", "correct", "retract", "retract", "anew"])
        )
        if step == "revise":
            kwargs = {
                "title": None,
                "summary": "",
                "add_clauses": [_clause(draw, draw(clause_ids))] if draw(st.booleans()) else [],
                "amend_clauses": [{"id": draw(clause_ids), "text": "amended"}]
                if draw(st.booleans())
                else [],
                "remove_clauses": [draw(clause_ids)] if draw(st.booleans()) else [],
                "sources": [],
                **_instants(draw),
            }
            _run(policy, "revise", "PolicyRevised", kwargs)
        elif step == "withdraw":
            kwargs = {"summary": "", "sources": [], **_instants(draw)}
            _run(policy, "withdraw", "PolicyWithdrawn", kwargs)
        elif step == "anew":
            payload = {"title": "P2", "owner": "o", "summary": "", "sources": []}
            _announce_anew(draw, policy, payload | {"clauses": [_clause(draw, "a")]})
        else:
            _correct_or_retract(draw, policy, "correct" if step == "correct" else "retract")


_ACTION: dict[str, Any] = {
    "authority": "r",
    "jurisdiction": "RU",
    "targets": [],
    "kind": "restriction",
    "summary": "",
    "text": "",
    "in_response_to": [],
    "sources": [],
}


@st.composite
def action_runs(draw: st.DrawFn) -> None:
    """Random regulatory-action commands (announcement time, effect, lifting)."""
    action = RegulatoryAction.announce(
        "a",
        authority="r",
        jurisdiction="RU",
        targets=[],
        kind="restriction",
        summary="",
        text="",
        in_response_to=[],
        sources=[],
        **_instants(draw),
    )
    for _ in range(draw(st.integers(1, 8))):
        step = draw(st.sampled_from(["amend", "amend", "lift", "correct", "retract", "anew"]))
        if step == "amend":
            kwargs = {
                "kind": "block",
                "summary": None,
                "text": None,
                "targets": None,
                "in_response_to": None,
                "sources": [],
                **_instants(draw),
            }
            _run(action, "amend", "RegulatoryActionAmended", kwargs)
        elif step == "lift":
            kwargs = {"summary": "", "sources": [], **_instants(draw)}
            _run(action, "lift", "RegulatoryActionLifted", kwargs)
        elif step == "anew":
            _announce_anew(draw, action, _ACTION | {"kind": "fine"})
        else:
            _correct_or_retract(draw, action, "correct" if step == "correct" else "retract")


@PROPERTIES
@given(policy_runs())
def test_policy_commands_are_accepted_and_refused_exactly_as_by_the_full_check(_: None) -> None:
    pass  # the checks run inside the strategy, command by command


@PROPERTIES
@given(action_runs())
def test_action_commands_are_accepted_and_refused_exactly_as_by_the_full_check(_: None) -> None:
    pass


def _announced() -> Policy:
    return Policy.announce(
        "p",
        title="P",
        owner="o",
        summary="",
        clauses=[{"id": "a", "heading": "", "text": "x", "scope": [], "expires_at": None}],
        effective_at=T0,
        announced_at=T0,
        sources=[],
    )


def test_a_forward_revision_of_a_clause_that_is_gone_is_refused_like_the_full_check() -> None:
    policy = _announced()
    later = T0 + timedelta(days=2)
    policy.revise(
        title=None,
        summary="",
        add_clauses=[],
        amend_clauses=[],
        remove_clauses=["a"],
        effective_at=T0 + timedelta(days=1),
        announced_at=T0 + timedelta(days=1),
        sources=[],
    )
    kwargs = {
        "title": None,
        "summary": "",
        "add_clauses": [],
        "amend_clauses": [{"id": "a", "text": "y"}],
        "remove_clauses": [],
        "effective_at": later,
        "announced_at": later,
        "sources": [],
    }
    assert policy.folded() is not None  # the fast path applies
    expected = _full_check(policy, "PolicyRevised", kwargs)
    with pytest.raises(InvalidRevision) as refused:
        policy.revise(**kwargs)
    assert _verdict(refused.value) == expected
    assert refused.value.field == "amendClauses[0].id"


def test_the_kept_fold_follows_a_forward_revision() -> None:
    policy = _announced()
    before = policy.folded()
    assert before is not None
    later = T0 + timedelta(days=3)
    policy.revise(
        title="Q",
        summary="",
        add_clauses=[],
        amend_clauses=[],
        remove_clauses=[],
        effective_at=later,
        announced_at=later,
        sources=[],
    )
    after = policy.folded()
    assert after is not None and after.state.title == "Q"
    assert after.ordered[:-1] == before.ordered and after.states[:-1] == before.states
    assert after == fold(RULES["policy"], believe(policy.facts))
