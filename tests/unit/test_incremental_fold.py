"""The incremental fold (what the projector keeps per aggregate) gives exactly the rows of the
full refold (`projections.rows`) after every fact of random histories, and its changes, applied
to the open rows, leave exactly those rows open."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_oracle_properties import T0, action_histories, policy_histories

from domain import Clause, Fact, InvalidInput, Policy, PolicyState, Source, TimelineAggregate
from domain.values import format_instant
from projections.incremental import AggregateFold
from projections.rows import believed_rows, dumps, feed_text, state_text
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
    states = [span.state for span in fold.spans] + list(fold.folded.states)
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


@PROPERTIES
@given(
    st.one_of(st.text(), st.integers(), st.none()),
    st.lists(st.text(), max_size=3),
    st.lists(st.one_of(st.text(), st.integers()), max_size=3),
)
def test_afeed_text_written_from_its_parts_is_its_json(
    summary: Any, actors: list[str], policies: list[Any]
) -> None:
    content = {"summary": summary, "actors": actors, "jurisdictions": actors, "policies": policies}
    assert feed_text(content) == json.dumps(content, sort_keys=True, separators=(",", ":"))


LONG = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def long_policy_histories(draw: st.DrawFn) -> Policy:
    """One policy with a long history (40 to 120 commands): mostly forward revisions, many
    retroactive ones (anywhere in its past), corrections of their instants and summaries,
    retractions, title changes, clauses added and removed (refused commands are skipped)."""
    clauses = [{"id": f"c{i}", "heading": "", "text": "v0", "scope": []} for i in range(4)]
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
    latest = 0
    for _ in range(draw(st.integers(40, 120))):
        step = draw(st.sampled_from(["forward"] * 6 + ["retro"] * 3 + ["correct", "retract"]))
        if step in ("forward", "retro"):
            if step == "forward":
                latest += draw(st.integers(0, 3))
            day = latest if step == "forward" else draw(st.integers(0, max(latest, 0)))
            at = T0 + timedelta(days=day, hours=draw(st.integers(0, 23)))
            change: dict[str, Any] = {"title": None, "add_clauses": [], "remove_clauses": []}
            kind = draw(st.sampled_from(["amend"] * 4 + ["title", "add", "remove"]))
            target = draw(st.sampled_from([c["id"] for c in clauses] + ["n1", "n2"]))
            if kind == "title":
                change["title"] = draw(st.sampled_from(["P", "Q", "R"]))
            elif kind == "add":
                change["add_clauses"] = [{"id": target, "text": "new", "scope": ["RU"]}]
            elif kind == "remove":
                change["remove_clauses"] = [target]
            text = f"v{policy.version}"
            amend = [{"id": target, "text": text}] if kind == "amend" else []
            sources = [{"url": f"https://e/{draw(st.integers(0, 5))}"}] if kind == "add" else []
            with contextlib.suppress(InvalidInput):
                policy.revise(
                    summary=f"s{policy.version}",  # an empty one would carry the last on
                    amend_clauses=amend,
                    effective_at=at,
                    announced_at=at,
                    sources=sources,
                    **change,
                )
            continue
        target_version = draw(st.integers(1, policy.version))
        try:
            if step == "retract":
                policy.retract(target_version, "r", [])
            else:
                moved = T0 + timedelta(days=draw(st.integers(0, max(latest, 0))))
                changes = draw(
                    st.sampled_from([{"effective_at": format_instant(moved)}, {"summary": "c"}])
                )
                policy.correct(target_version, changes, "r", [])
        except InvalidInput:
            pass
    return policy


@LONG
@given(long_policy_histories())
def test_a_long_history_of_one_policy_folded_fact_by_fact_has_the_rows_of_the_full_refold(
    policy: Policy,
) -> None:
    _replay_matches_full_refold(policy)


@LONG
@given(long_policy_histories())
def test_a_revision_amending_one_clause_opens_and_closes_a_bounded_number_of_rows(
    policy: Policy,
) -> None:
    """Whatever the length of the history and wherever the revision falls in it: the frame
    it falls in and the amended clause's run, not the later versions (issue 14)."""
    fold = AggregateFold("policy", "p")
    for fact in _facts(policy):
        change = fold.add(fact, fact.version)
        data = fact.data
        one_amendment = (
            fact.type == "PolicyRevised"
            and len(data.get("amend_clauses") or ()) == 1
            and not (data.get("title") or data.get("add_clauses") or data.get("remove_clauses"))
        )
        if one_amendment:
            assert len(change.closed_versions) <= 3, change.closed_versions
            assert len(change.opened_versions) <= 5, change.opened_versions
