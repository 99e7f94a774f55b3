"""The fan-out's wake-ups without its poll: a writer with its own engine (as another process
would be) reaches the subscribers through SQLite's data_version or PostgreSQL's NOTIFY, and a
commit of the fan-out's own timeline through the in-process hook; each event once, in order.

The backstop poll is set to ten minutes, so a wake-up that does not work leaves the subscriber
waiting and the test fails at its time limit (a hang guard, not a measured time)."""

from __future__ import annotations

import asyncio

import pytest
from factories import statement, world

from timeline.application import Timeline
from timeline.settings import Settings
from timeline.streams.fanout import Fanout
from timeline.streams.reader import EventFilter
from timeline.streams.settings import StreamSettings
from timeline.streams.wakeups import CommitWatch, sqlite_path

QUIET = StreamSettings(poll_interval=600, postgres_poll_interval=600)
HANG_GUARD = 60


async def receive(fanout: Fanout, after: int, count: int) -> list[int]:
    """The positions of the next `count` events the fan-out hands to one subscriber."""
    positions: list[int] = []
    source = fanout.events(after, EventFilter())
    async for item in source:
        positions.append(item.position)
        if len(positions) == count:
            break
    await source.aclose()  # type: ignore[attr-defined]
    return positions


async def write_while_subscribed(
    fanout: Fanout, writer: Timeline, after: int, count: int, subscribers: int = 3
) -> tuple[list[int], list[list[int]]]:
    """Subscribe, wait until every subscriber is live, then write `count` statements one by one."""
    receiving = [asyncio.create_task(receive(fanout, after, count)) for _ in range(subscribers)]
    while fanout.subscriber_count < subscribers:
        await asyncio.sleep(0.01)
    written = []
    for n in range(count):
        slug = f"spokesperson/live-{after}-{n}"
        result = await asyncio.to_thread(writer.record_statement, statement(slug))
        written.append(result.position)
        await asyncio.sleep(0.02)  # separate commits, each needing its own wake-up
    received = await asyncio.wait_for(asyncio.gather(*receiving), HANG_GUARD)
    return written, list(received)


async def test_writes_by_another_engine_reach_the_subscribers_without_the_poll(
    database_url: str,
) -> None:
    writer = Timeline(Settings(database_url=database_url))
    reader = Timeline(Settings(database_url=database_url))
    world(writer)
    fanout = Fanout(reader, QUIET)
    await fanout.start()
    try:
        start = reader.head_position()
        written, received = await write_while_subscribed(fanout, writer, start, 12)
    finally:
        await fanout.stop()
        reader.close()
        writer.close()
    assert len(written) == 12
    assert received == [written] * 3


async def test_a_commit_of_the_fanouts_own_timeline_wakes_it_without_the_poll(
    database_url: str,
) -> None:
    timeline = Timeline(Settings(database_url=database_url))
    world(timeline)
    fanout = Fanout(timeline, QUIET)
    await fanout.start()
    try:
        start = timeline.head_position()
        written, received = await write_while_subscribed(fanout, timeline, start, 5)
    finally:
        await fanout.stop()
        timeline.close()
    assert received == [written] * 3


def test_the_commit_watch_moves_with_each_commit_by_another_connection_only(
    sqlite_url: str,
) -> None:
    writer = Timeline(Settings(database_url=sqlite_url))
    world(writer)
    path = sqlite_path(sqlite_url.removeprefix("sqlite:///"))
    assert path is not None
    watch = CommitWatch(path)
    before = watch.version()
    unchanged = watch.version()
    writer.record_statement(statement("spokesperson/moves-the-version"))
    after = watch.version()
    writer.record_statement(statement("spokesperson/moves-it-again"))
    again = watch.version()
    watch.close()
    writer.close()
    assert before == unchanged
    assert len({before, after, again}) == 3


@pytest.mark.parametrize("database", [None, "", ":memory:", "file:shared?mode=memory&cache=shared"])
def test_an_in_memory_sqlite_database_has_no_file_to_watch(database: str | None) -> None:
    assert sqlite_path(database) is None


def test_a_file_uri_is_watched_at_its_path() -> None:
    assert sqlite_path("file:/data/x.db?mode=rwc") == "/data/x.db"
    assert sqlite_path("/data/timeline.db") == "/data/timeline.db"
