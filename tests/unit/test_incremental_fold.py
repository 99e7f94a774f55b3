"""The incremental fold (what the projector keeps per aggregate) gives exactly the rows of the
full refold (`projections.rows`) after every fact of random histories, and its changes, applied
to the open rows, leave exactly those rows open."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_oracle_properties import T0, action_histories, policy_histories

from domain import Clause, Fact, Policy, PolicyState, Source, TimelineAggregate
from projections.incremental import AggregateFold
from projections.rows import believed_rows, dumps, state_text
from projections.rows import state_digest as _digest

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _facts(aggregate: TimelineAggregate) -> list[Fact]:
    """The aggregate's facts with recordedAt a day apart."""
    return [replace(f, recorded_at=T0 + timedelta(days=f.version)) for f in aggregate.facts]


def _replay_matches_full_refold(aggregate: TimelineAggregate) -> None:
    facts = _facts(aggregate)
    kind, slug = aggregate.KIND, facts[0].data["slug"]
    fold = AggregateFold(kind, slug)
    positions: dict[int, int] = {}
    open_versions: set[tuple[Any, ...]] = set()
    open_entries: set[tuple[Any, ...]] = set()
    for index, fact in enumerate(facts):
        positions[fact.version] = 10 * fact.version
        change = fold.add(fact, positions[fact.version])
        assert set(change.closed_versions) <= open_versions
        assert set(change.closed_entries) <= open_entries
        open_versions -= set(change.closed_versions)
        open_entries -= set(change.closed_entries)
        assert not {row.key for row in change.opened_versions} & open_versions
        assert not {entry.key for entry in change.opened_entries} & open_entries
        open_versions |= {row.key for row in change.opened_versions}
        open_entries |= {entry.key for entry in change.opened_entries}

        versions, entries = believed_rows(kind, slug, facts[: index + 1], positions)
        assert fold.rows() == (versions, entries)
        assert open_versions == {row.key for row in versions}
        assert open_entries == {entry.key for entry in entries}
        reloaded = AggregateFold.load(
            kind, slug, ((f, positions[f.version]) for f in facts[: index + 1])
        )
        assert reloaded.rows() == (versions, entries)
        assert reloaded.span_keys == fold.span_keys


@PROPERTIES
@given(policy_histories())
def test_a_policy_folded_fact_by_fact_has_the_rows_of_the_full_refold(policy: Policy) -> None:
    _replay_matches_full_refold(policy)


@PROPERTIES
@given(action_histories())
def test_an_action_folded_fact_by_fact_has_the_rows_of_the_full_refold(action: Any) -> None:
    _replay_matches_full_refold(action)


@PROPERTIES
@given(policy_histories(), st.integers(0, 12))
def test_reconciling_a_loaded_fold_with_stale_open_rows_yields_the_full_refold_rows(
    policy: Policy, cut: int
) -> None:
    """After a miss the projector diffs the fold against the rows open in the tables."""
    facts = _facts(policy)
    cut = min(cut, len(facts))
    positions = {f.version: f.version for f in facts}
    early, _ = believed_rows("policy", "p", facts[:cut], positions)
    fold = AggregateFold.load("policy", "p", ((f, f.version) for f in facts))
    stale = [row.key for row in early]
    change = fold.reconcile(stale, [])
    versions, entries = believed_rows("policy", "p", facts, positions)
    kept = set(stale) - set(change.closed_versions)
    assert kept | {row.key for row in change.opened_versions} == {row.key for row in versions}
    assert list(change.opened_entries) == entries
    assert fold.row_keys == [row.key for row in versions]
    assert all(row.digest == _digest(row.state) for row in versions)


@PROPERTIES
@given(st.one_of(policy_histories(), action_histories()))
def test_a_state_text_composed_from_its_parts_is_the_canonical_json(aggregate: Any) -> None:
    facts = _facts(aggregate)
    fold = AggregateFold.load(aggregate.KIND, "p", ((f, f.version) for f in facts))
    states = [span.state for span in fold.spans] + [group.state for group in fold.groups]
    for state in states:
        assert state_text(state) == dumps(state)


@PROPERTIES
@given(st.text(), st.text(), st.lists(st.text(), max_size=3))
def test_a_state_text_escapes_any_text_as_the_canonical_json(
    title: str, text: str, scope: list[str]
) -> None:
    clause = Clause(id="a", heading=title, text=text, scope=tuple(scope), expires_at=T0)
    state = PolicyState(
        slug="p",
        title=title,
        owner=text,
        summary="",
        status="ACTIVE",
        clauses=(clause,),
        sources=(Source(url=text, title=title, publisher="", published_at=None, quote=None),),
        revision=True,
        changed_by=-3,
        change_type="PolicyAnnounced",
    )
    assert state_text(state) == dumps(state)
