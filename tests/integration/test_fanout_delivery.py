"""The fan-out hands every subscriber the same event object, and the GraphQL subscription
builds its `Event` from it once: the shared object must be exactly what building it per
subscriber gives (the slow path), for every kind of event."""

from __future__ import annotations

import asyncio

from factories import action, correction, policy, revision, statement, world

from api.events import event_from
from api.subscriptions import graphql_event
from timeline.application import Timeline
from timeline.streams.fanout import Fanout
from timeline.streams.reader import EventReader, StreamEvent
from timeline.streams.settings import StreamSettings


def record_every_kind(timeline: Timeline) -> None:
    world(timeline)
    timeline.announce_policy(policy())
    timeline.revise_policy(revision())
    timeline.announce_regulatory_action(action())
    timeline.record_statement(statement())
    timeline.correct_event(correction("statement:spokesperson/reply@1", text="We agree."))


def test_the_shared_graphql_event_is_what_building_it_per_subscriber_gives(
    timeline: Timeline,
) -> None:
    record_every_kind(timeline)
    items = EventReader(timeline).read(0, 100)
    assert {item.fact.type for item in items} >= {
        "ActorRegistered",
        "PolicyAnnounced",
        "PolicyRevised",
        "RegulatoryActionAnnounced",
        "StatementRecorded",
        "EventCorrected",
    }
    for item in items:
        shared = graphql_event(item)
        assert shared == event_from(item.logged, item.slug)
        assert graphql_event(item) is shared  # built once, however many ask


async def test_every_live_subscriber_receives_the_same_event_object_in_log_order(
    timeline: Timeline,
) -> None:
    world(timeline)
    fanout = Fanout(timeline, StreamSettings(poll_interval=600, postgres_poll_interval=600))
    await fanout.start()
    start = timeline.head_position()

    async def receive() -> list[StreamEvent]:
        received: list[StreamEvent] = []
        source = fanout.events(start)
        async for item in source:
            received.append(item)
            if len(received) == 4:
                break
        await source.aclose()  # type: ignore[attr-defined]
        return received

    try:
        tasks = [asyncio.create_task(receive()) for _ in range(5)]
        while fanout.subscriber_count < 5:
            await asyncio.sleep(0.01)
        written = []
        for n in range(4):
            result = await asyncio.to_thread(
                timeline.record_statement, statement(f"spokesperson/shared-{n}")
            )
            written.append(result.position)
        received = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        await fanout.stop()
    for events in received:
        assert [item.position for item in events] == written
    for index in range(4):
        assert all(events[index] is received[0][index] for events in received)
