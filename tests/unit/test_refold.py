"""`domain.rules.refold`, the one incremental fold of the command checks and the projector:
refolding after any change gives exactly the fold from scratch, and it stops where the state
comes out as it was (an amendment overwritten later leaves the facts after that alone)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_incremental_fold import long_policy_histories
from test_oracle_properties import T0

from domain import RULES, Fact, Policy
from domain.facts import believe
from domain.rules import Fold, order, refold

PROPERTIES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
rules = RULES["policy"]


def _scratch(believed: list[Fact]) -> Fold[Any]:
    return refold(rules, None, order(rules, believed), 0, 0).fold


@PROPERTIES
@given(long_policy_histories(), st.data())
def test_refolding_after_each_fact_gives_the_fold_from_scratch(
    policy: Policy, data: st.DataObject
) -> None:
    facts = list(policy.facts)
    for cut in range(1, len(facts)):
        before, after = believe(facts[:cut]), believe(facts[: cut + 1])
        if not after:
            continue
        since = _scratch(before) if before else None
        old = since.ordered if since else ()
        new = order(rules, after)
        keep = 0
        while keep < min(len(old), len(new)) and old[keep] is new[keep]:
            keep += 1
        tail = 0
        while tail < min(len(old), len(new)) - keep and old[-1 - tail] is new[-1 - tail]:
            tail += 1
        result = refold(rules, since, new, keep, len(new) - tail)
        assert result.fold == _scratch(after)
        assert result.begin <= keep <= result.stop or since is None


def test_a_retroactive_amendment_overwritten_later_refolds_only_until_then() -> None:
    """Clause c0 amended at day 1, 2, ..., 9; then an amendment of c1 at day 5: the state
    differs from day 5 on in c1 only, which no later fact touches, so the refold goes to the
    end; the same amendment of c0 stops after day 6's amendment (index 7), which overwrites
    it, since from there the state is the one before (but for the revision counter)."""
    clauses = [{"id": c, "heading": "", "text": "v0", "scope": []} for c in ("c0", "c1")]
    policy = Policy.announce(
        "p",
        title="P",
        owner="o",
        summary="",
        clauses=clauses,
        effective_at=T0,
        announced_at=T0,
        sources=[],
    )
    for day in range(1, 10):
        at = T0 + timedelta(days=day)
        policy.revise(
            summary=f"s{day}",
            title=None,
            add_clauses=[],
            remove_clauses=[],
            amend_clauses=[{"id": "c0", "text": f"d{day}"}],
            effective_at=at,
            announced_at=at,
            sources=[],
        )
    since = _scratch(list(policy.facts))
    for clause, stops in (("c1", len(since.ordered) + 1), ("c0", 8)):
        retro = Fact(
            aggregate_id=policy.facts[0].aggregate_id,
            version=11,
            type="PolicyRevised",
            recorded_at=T0,
            effective_at=T0 + timedelta(days=5, hours=1),
            announced_at=None,
            data={"summary": "", "amend_clauses": [{"id": clause, "text": "retro"}]},
        )
        new = order(rules, [*since.ordered, retro])
        at = new.index(retro)
        result = refold(rules, since, new, at, at + 1, same=_same_but_revision)
        assert result.stop == stops
        assert [s.clauses for s in result.fold.states] == [
            s.clauses for s in _scratch(list(new)).states
        ]


def _same_but_revision(a: Any, b: Any) -> bool:
    return bool(replace(a, revision=0) == replace(b, revision=0))
