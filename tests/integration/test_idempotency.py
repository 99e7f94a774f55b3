"""Idempotency keys: the same command twice stores one event and returns the same result."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest
from factories import actor, correction, policy, revision

from domain import InvalidInput, NothingChanged
from timeline.application import Timeline
from timeline.demo import DEMO_COMMANDS, load_demo
from timeline.settings import Settings
from timeline.store import CommandResult


@pytest.fixture
def seeded(timeline: Timeline) -> Timeline:
    timeline.register_actor(actor())
    timeline.announce_policy(policy())
    return timeline


@pytest.mark.parametrize(
    "command",
    [
        ("revisePolicy", revision(idempotencyKey="k-1")),
        ("announcePolicy", policy("acme/other", idempotencyKey="k-1")),
        (
            "correctEvent",
            {**correction("policy:acme/conduct@1", title="T"), "idempotencyKey": "k-1"},
        ),
    ],
    ids=["revise", "announce", "correct"],
)
def test_the_same_command_with_the_same_key_twice_stores_one_event_and_returns_the_same_result(
    seeded: Timeline,
    command: tuple[str, dict[str, Any]],
) -> None:
    name, data = command
    before = seeded.head_position()
    first = seeded.execute(name, data)
    second = seeded.execute(name, data)
    assert second == first
    assert [logged.position for logged in seeded.log(after=before)] == [first.position]


def test_a_refused_keyed_command_remembers_nothing_so_a_fixed_retry_may_use_the_key(
    seeded: Timeline,
) -> None:
    before = seeded.head_position()
    with pytest.raises(InvalidInput):
        seeded.revise_policy(revision(effective_at="2021-01-01T00:00:00Z", idempotencyKey="k-1"))
    assert seeded.head_position() == before
    result = seeded.revise_policy(revision(idempotencyKey="k-1"))
    assert result.version == 2 and result.position == before + 1


def test_a_retry_is_answered_even_after_the_stream_moved_on(seeded: Timeline) -> None:
    first = seeded.revise_policy(revision(idempotencyKey="k-1", expectedVersion=1))
    later = [{"id": "c1", "text": "Be kinder."}]  # a real change: a no-op is refused
    seeded.revise_policy(revision(effective_at="2022-03-01T00:00:00Z", amendClauses=later))
    assert seeded.revise_policy(revision(idempotencyKey="k-1", expectedVersion=1)) == first
    assert seeded.get_aggregate("policy", "acme/conduct").version == 3


def test_a_retry_through_another_application_instance_gets_the_first_result(
    seeded: Timeline,
    database_url: str,
) -> None:
    first = seeded.revise_policy(revision(idempotencyKey="k-1"))
    other = Timeline(Settings(database_url=database_url))
    try:
        assert other.revise_policy(revision(idempotencyKey="k-1")) == first
        assert other.head_position() == first.position
    finally:
        other.close()


def test_a_key_reused_for_a_different_command_is_refused_and_stores_nothing(
    seeded: Timeline,
) -> None:
    seeded.revise_policy(revision(idempotencyKey="k-1"))
    before = seeded.head_position()
    with pytest.raises(InvalidInput) as refused:
        seeded.revise_policy(revision(effective_at="2022-03-01T00:00:00Z", idempotencyKey="k-1"))
    assert refused.value.field == "idempotencyKey" and "different command" in refused.value.reason
    with pytest.raises(InvalidInput):
        seeded.announce_policy(policy("acme/other", idempotencyKey="k-1"))
    assert seeded.head_position() == before


def test_the_same_command_without_a_key_is_two_facts(seeded: Timeline) -> None:
    rename = {"id": "acme", "name": "Acme Inc.", "effectiveAt": "2022-01-01T00:00:00Z"}
    first = seeded.rename_actor(rename)
    second = seeded.rename_actor(rename)
    assert (first.version, second.version) == (2, 3)


def test_a_repeated_revision_without_a_key_is_judged_again_not_replayed(seeded: Timeline) -> None:
    """Without a key a repeat is a new command: this one now changes nothing, so it is
    refused (NothingChanged), not answered with the first result."""
    seeded.revise_policy(revision(title="Conduct"))
    head = seeded.head_position()
    with pytest.raises(NothingChanged) as refused:
        seeded.revise_policy(revision(title="Conduct"))
    assert refused.value.field == "title"
    assert seeded.head_position() == head


def test_loading_the_demo_twice_adds_nothing_the_second_time(timeline: Timeline) -> None:
    assert load_demo(timeline) == len(DEMO_COMMANDS)
    head = timeline.head_position()
    assert load_demo(timeline) == 0
    assert timeline.head_position() == head == len(DEMO_COMMANDS)


def test_every_demo_command_carries_its_own_idempotency_key() -> None:
    keys = [data["idempotencyKey"] for _, data in DEMO_COMMANDS]
    assert len(set(keys)) == len(keys) and all(k.startswith("demo:") for k in keys)


def _send_once(url: str, barrier: Barrier, results: Any) -> None:
    timeline = Timeline(Settings(database_url=url))
    try:
        barrier.wait(timeout=60)
        results.put(timeline.revise_policy(revision(idempotencyKey="race")).to_json())
    finally:
        timeline.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_processes_sending_the_same_keyed_command_store_it_once(postgres_url: str) -> None:
    setup = Timeline(Settings(database_url=postgres_url))
    setup.register_actor(actor())
    setup.announce_policy(policy())
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_send_once, args=(postgres_url, barrier, results)) for _ in range(2)
    ]
    for process in workers:
        process.start()
    answers = [CommandResult.from_json(results.get(timeout=120)) for _ in workers]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    try:
        assert answers[0] == answers[1]
        assert [logged.position for logged in setup.log(after=2)] == [answers[0].position]
    finally:
        setup.close()
