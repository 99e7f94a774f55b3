"""The fan-out's wake-ups without its poll: a writer with its own engine (as another process
would be) reaches the subscribers through the SQLite file watch or PostgreSQL's NOTIFY, and a
commit of the fan-out's own timeline through the in-process hook; each event once, in order.

The backstop poll is set to ten minutes, so a wake-up that does not work leaves the subscriber
waiting and the test fails at its time limit (a hang guard, not a measured time)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from factories import statement, world

from api.fanout import Fanout, StreamSettings, file_signature, sqlite_files
from timeline.application import Timeline
from timeline.event_stream import EventFilter
from timeline.settings import Settings

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


def test_the_watched_sqlite_files_change_with_a_commit_by_another_engine(sqlite_url: str) -> None:
    writer = Timeline(Settings(database_url=sqlite_url))
    world(writer)
    files = sqlite_files(sqlite_url.removeprefix("sqlite:///"))
    before = file_signature(files)
    writer.record_statement(statement("spokesperson/changes-the-files"))
    after = file_signature(files)
    writer.close()
    assert [path.name for path in files] == ["timeline.db", "timeline.db-wal"]
    assert before != after


@pytest.mark.parametrize("database", [None, "", ":memory:", "file:shared?mode=memory&cache=shared"])
def test_an_in_memory_sqlite_database_has_no_files_to_watch(database: str | None) -> None:
    assert sqlite_files(database) == []


def test_a_file_uri_is_watched_at_its_path(tmp_path: Path) -> None:
    files = sqlite_files(f"file:{tmp_path / 'x.db'}?mode=rwc")
    assert files == [tmp_path / "x.db", tmp_path / "x.db-wal"]
