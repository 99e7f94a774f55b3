"""The cache of recent aggregates behind the commands: a command reads only the events newer
than the cached aggregate, and the cache is never believed over the store. An import that
rolls back, another writer, threads racing on one aggregate: each leaves the commands
behaving exactly as if every command had replayed its stream from the database.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from factories import actor, clause, policy, revision

from bench.generator import History
from domain import InvalidInput, VersionConflict
from entrypoints.cli.io import Line, _execute_all
from timeline.application import Timeline
from timeline.settings import Settings


def _replayed(url: str, kind: str, slug: str) -> list[Any]:
    """The facts as a fresh process replays them from the store (no cache)."""
    fresh = Timeline(Settings(database_url=url))
    try:
        return fresh.facts_of(kind, slug)
    finally:
        fresh.close()


def _clause_ids(timeline: Timeline) -> list[str]:
    facts = timeline.facts_of("policy", "acme/conduct")
    ids: list[str] = []
    for fact in facts:
        ids += [c["id"] for c in fact.data.get("clauses") or fact.data.get("add_clauses") or []]
    return ids


def _seeded(timeline: Timeline) -> None:
    timeline.register_actor(actor())
    timeline.announce_policy(policy())
    timeline.revise_policy(revision(addClauses=[clause("c2", "Be brief.")]))


def test_commands_after_an_import_that_rolled_back_act_as_if_it_never_ran(
    timeline: Timeline, settings: Settings
) -> None:
    _seeded(timeline)
    lines = [
        Line(
            1,
            "revisePolicy",
            revision(effective_at="2022-03-01T00:00:00Z", addClauses=[clause("i1")]),
        ),
        Line(
            2,
            "revisePolicy",
            revision(effective_at="2022-03-02T00:00:00Z", addClauses=[clause("i2")]),
        ),
        Line(3, "announcePolicy", policy("acme/imported")),
        Line(4, "revisePolicy", revision("acme/imported", addClauses=[clause("i3")])),
        Line(5, "registerActor", actor()),  # refused (acme exists): the import rolls back
    ]
    with pytest.raises(InvalidInput, match="line 5"):
        _execute_all(timeline, "import.ndjson", lines)
    assert timeline.head_position() == 3

    # version 3 is free again: the import's phantom versions 3 and 4 are not believed
    result = timeline.revise_policy(
        revision(effective_at="2022-04-01T00:00:00Z", addClauses=[clause("c3")], expectedVersion=2)
    )
    assert result.version == 3
    with pytest.raises(VersionConflict):
        timeline.revise_policy(revision(effective_at="2022-04-02T00:00:00Z", expectedVersion=4))
    assert _clause_ids(timeline) == ["c1", "c2", "c3"]
    assert timeline.facts_of("policy", "acme/conduct") == _replayed(
        settings.database_url, "policy", "acme/conduct"
    )

    # the policy the import announced does not exist; announcing it for real starts it afresh
    timeline.announce_policy(policy("acme/imported", title="For real"))
    timeline.revise_policy(revision("acme/imported", addClauses=[clause("c9")]))
    facts = timeline.facts_of("policy", "acme/imported")
    assert [f.version for f in facts] == [1, 2] and facts[0].data["title"] == "For real"
    assert facts == _replayed(settings.database_url, "policy", "acme/imported")


def test_a_command_sees_what_another_writer_stored_since_it_cached_the_aggregate(
    timeline: Timeline, settings: Settings
) -> None:
    _seeded(timeline)  # this process now caches the policy at version 2
    other = Timeline(settings)
    try:
        other.revise_policy(revision(effective_at="2022-03-01T00:00:00Z", removeClauses=["c2"]))
    finally:
        other.close()
    with pytest.raises(InvalidInput, match="c2"):  # refused against the store, not the cache
        timeline.revise_policy(
            revision(effective_at="2022-03-02T00:00:00Z", amendClauses=[{"id": "c2", "text": "x"}])
        )
    result = timeline.revise_policy(
        revision(effective_at="2022-03-02T00:00:00Z", expectedVersion=3)
    )
    assert result.version == 4
    assert timeline.facts_of("policy", "acme/conduct") == _replayed(
        settings.database_url, "policy", "acme/conduct"
    )


def test_a_refused_command_leaves_the_next_one_on_the_stored_history(timeline: Timeline) -> None:
    _seeded(timeline)
    with pytest.raises(InvalidInput):
        timeline.revise_policy(revision(effective_at="2022-03-01T00:00:00Z", removeClauses=["x"]))
    with pytest.raises(VersionConflict):
        timeline.revise_policy(revision(effective_at="2022-03-01T00:00:00Z", expectedVersion=1))
    assert timeline.revise_policy(revision(effective_at="2022-03-01T00:00:00Z")).version == 3
    assert [f.version for f in timeline.facts_of("policy", "acme/conduct")] == [1, 2, 3]


def test_threads_racing_on_one_aggregate_lose_no_write(
    timeline: Timeline, settings: Settings
) -> None:
    _seeded(timeline)
    won: list[int] = []

    def writer(name: str) -> None:
        for round_ in range(6):
            data = revision(
                effective_at=f"2022-03-{round_ + 1:02d}T00:00:00Z",
                addClauses=[clause(f"{name}-{round_}")],
            )
            for _ in range(50):
                try:
                    won.append(timeline.revise_policy(data).version)
                    break
                except VersionConflict:
                    continue

    threads = [threading.Thread(target=writer, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(won) == list(range(3, 3 + 18))
    facts = timeline.facts_of("policy", "acme/conduct")
    assert facts == _replayed(settings.database_url, "policy", "acme/conduct")
    assert sorted(_clause_ids(timeline)) == sorted(
        ["c1", "c2", *(f"{n}-{r}" for n in "abc" for r in range(6))]
    )


def test_cached_aggregates_hold_exactly_the_facts_a_replay_reads(
    timeline: Timeline, settings: Settings
) -> None:
    history = History(11, events_per_policy=25)
    for name, data in itertools.islice(history.commands(), 300):
        timeline.execute(name, data)
    streams = [("policy", p.slug) for p in history.active + history.retired]
    streams += [("regulatory-action", a.slug) for a in history.actions]
    assert len(streams) > 5
    fresh = Timeline(settings)  # another process's view: replays every stream from the store
    try:
        for kind, slug in streams:
            assert timeline.facts_of(kind, slug) == fresh.facts_of(kind, slug), slug
    finally:
        fresh.close()
