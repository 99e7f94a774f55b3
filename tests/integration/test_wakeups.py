"""One wake-up source per process: the projection runner and the fan-out are woken by the same
`NewEvents` (one LISTEN connection on PostgreSQL, one data_version watch on SQLite), and a
write by another engine (as another process would be) reaches both through it.

Every backstop poll is set to ten minutes, so a wake-up that does not reach a consumer leaves
it waiting and the test fails at its hang guard (not a measured time)."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from factories import statement, world

from projections.runner import tracked_position
from timeline.application import Timeline
from timeline.bootstrap import bootstrap
from timeline.settings import Settings
from timeline.streams.reader import EventFilter
from timeline.streams.settings import StreamSettings

QUIET = StreamSettings(poll_interval=600, postgres_poll_interval=600)
HANG_GUARD = 60


async def projected(database_url: str, position: int) -> None:
    """Return once the read models (of whichever runner) reached `position`."""
    writer = Timeline(Settings(database_url=database_url))
    try:
        while await asyncio.to_thread(tracked_position, writer.engine) < position:
            await asyncio.sleep(0.02)
    finally:
        writer.close()


def listening_connections(application_name: str) -> int:
    """Connections of `application_name` whose last statement was a LISTEN (idle in it)."""
    from conftest import POSTGRES_DSN

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND query ILIKE 'LISTEN%%'",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_the_runner_and_the_fanout_share_one_wake_up_source(database_url: str) -> None:
    name = f"wakeups-{uuid.uuid4().hex[:8]}"  # names this process's PostgreSQL connections
    url = (
        database_url
        if database_url.startswith("sqlite")
        else f"{database_url}&application_name={name}"
    )
    services = bootstrap(Settings(database_url=url))
    services.projections.safety_interval = 600  # only a wake-up brings the runner along
    writer = Timeline(Settings(database_url=database_url))  # another engine: another process
    try:
        world(writer)
        services.start_projector()
        async with services.streaming(QUIET) as streams:
            assert streams.fanout.new_events is services.projections.new_events
            head = writer.head_position()
            await asyncio.wait_for(projected(database_url, head), HANG_GUARD)  # runner is live
            subscription = streams.fanout.events(head, EventFilter())
            first = asyncio.ensure_future(anext(subscription))
            while streams.fanout.subscriber_count < 1:
                await asyncio.sleep(0.01)
            written = await asyncio.to_thread(
                writer.record_statement, statement("spokesperson/woken")
            )
            received = await asyncio.wait_for(first, HANG_GUARD)
            await asyncio.wait_for(projected(database_url, written.position), HANG_GUARD)
            await subscription.aclose()  # type: ignore[attr-defined]

            assert received.position == written.position
            assert services.new_events.connections == 1  # one watch, however many consumers
            if services.new_events.postgres:
                assert await asyncio.to_thread(listening_connections, name) == 1
        services.stop_projector()
        assert not services.new_events.running  # the last consumer left: nobody watches
    finally:
        services.close()
        writer.close()
