"""Optimistic concurrency: stale expectedVersion is a conflict; two processes never both win.

The race tests run two real processes (multiprocessing, spawn) against real PostgreSQL, and
against one SQLite file too.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest
from factories import actor, clause, policy, revision

from domain import RULES, VersionConflict
from domain.fold import state_at
from timeline.application import Timeline
from timeline.settings import Settings

ROUNDS = 8


def _seed(url: str) -> None:
    timeline = Timeline(Settings(database_url=url))
    try:
        timeline.register_actor(actor())
        timeline.announce_policy(policy())
    finally:
        timeline.close()


def _revise_in_rounds(url: str, worker: str, barrier: Barrier, expect: bool, results: Any) -> None:
    """One process: each round, load the policy, wait for the other, then revise it."""
    timeline = Timeline(Settings(database_url=url))
    outcomes: list[tuple[str, int, int]] = []
    try:
        for round_ in range(ROUNDS):
            loaded = timeline.get_aggregate("policy", "acme/conduct").version
            data = revision(
                addClauses=[clause(f"{worker}-{round_}", "added")],
                effective_at=f"2022-02-{round_ + 1:02d}T00:00:00Z",
            )
            if expect:
                data["expectedVersion"] = loaded
            barrier.wait(timeout=60)
            try:
                outcomes.append(("ok", round_, timeline.revise_policy(data).version))
            except VersionConflict:
                outcomes.append(("conflict", round_, loaded))
    finally:
        timeline.close()
        results.put((worker, outcomes))


def _race(url: str, expect: bool) -> dict[str, list[tuple[str, int, int]]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=_revise_in_rounds, args=(url, name, barrier, expect, results))
        for name in ("a", "b")
    ]
    for process in workers:
        process.start()
    collected = dict(results.get(timeout=120) for _ in workers)
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    return collected


def _clause_ids(url: str) -> tuple[set[str], list[int]]:
    timeline = Timeline(Settings(database_url=url))
    try:
        facts = timeline.facts_of("policy", "acme/conduct")
    finally:
        timeline.close()
    last = max(f.recorded_at for f in facts)
    state = state_at(RULES["policy"], facts, last.replace(year=2100), last)
    return {c.id for c in state.clauses}, [f.version for f in facts]


@pytest.mark.slow
def test_two_processes_revising_with_the_same_expected_version_never_both_win(
    database_url: str,
) -> None:
    _seed(database_url)
    outcomes = _race(database_url, expect=True)
    for round_ in range(ROUNDS):
        kinds = sorted(o[0] for worker in outcomes.values() for o in worker if o[1] == round_)
        assert kinds == ["conflict", "ok"], f"round {round_}: {kinds}"
    winners = {f"{w}-{o[1]}" for w, worker in outcomes.items() for o in worker if o[0] == "ok"}
    clause_ids, versions = _clause_ids(database_url)
    assert clause_ids == {"c1", *winners}
    assert versions == list(range(1, ROUNDS + 2))


@pytest.mark.slow
def test_two_processes_revising_without_expected_version_lose_no_write(
    database_url: str,
) -> None:
    _seed(database_url)
    outcomes = _race(database_url, expect=False)
    successes = [(w, o[1], o[2]) for w, worker in outcomes.items() for o in worker if o[0] == "ok"]
    versions = [version for _, _, version in successes]
    assert len(versions) == len(set(versions)), "two writes claimed the same version"
    assert len(successes) >= ROUNDS  # each round, at least the first writer wins
    clause_ids, stored = _clause_ids(database_url)
    assert clause_ids == {"c1", *(f"{w}-{r}" for w, r, _ in successes)}
    assert stored == list(range(1, len(successes) + 2))


def test_a_stale_expected_version_is_a_conflict_and_stores_nothing(timeline: Timeline) -> None:
    timeline.register_actor(actor())
    timeline.announce_policy(policy())
    timeline.revise_policy(revision(expectedVersion=1))
    before = timeline.head_position()
    with pytest.raises(VersionConflict) as refused:
        timeline.revise_policy(revision(effective_at="2022-03-01T00:00:00Z", expectedVersion=1))
    assert refused.value.code == "CONFLICT" and "version 2" in refused.value.message
    assert timeline.head_position() == before


def test_the_current_expected_version_is_accepted(timeline: Timeline) -> None:
    timeline.register_actor(actor())
    timeline.announce_policy(policy(expectedVersion=0))
    result = timeline.revise_policy(revision(expectedVersion=1))
    assert result.version == 2


def test_an_expected_version_for_a_stream_that_does_not_exist_is_a_conflict(
    timeline: Timeline,
) -> None:
    timeline.register_actor(actor())
    with pytest.raises(VersionConflict):
        timeline.announce_policy(policy(expectedVersion=3))
    assert timeline.head_position() == 1
