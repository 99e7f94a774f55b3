"""One fan-out per API process: new events are read once and handed to every subscriber.

A subscriber first catches up from its cursor by reading the log itself (pages, in a worker
thread), then joins the fan-out and receives live events from a bounded buffer. Events are
handed out in log order and only those after the subscriber's last delivered position, so the
hand-over from backlog to live has no gap and no duplicate. A subscriber whose buffer fills is
dropped at once (writers and the other subscribers never wait for it) and told why; it resumes
from its last cursor.

Wake-ups: PostgreSQL LISTEN on the event store's NOTIFY channel (every API process on one
database sees every write), an in-process hook after each commit of this process, on SQLite a
look every few milliseconds at `PRAGMA data_version` (no table read: it changes when any other
connection, in any process, commits; the cross-process signal), and a modest poll of the log
as the backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event as sa_event

from timeline.application import Timeline
from timeline.streams.reader import EventFilter, EventReader, StreamEvent

log = logging.getLogger("timeline.streams.fanout")

T = TypeVar("T")


class StreamSettings(BaseSettings):
    """Tuning of the event streams (`TIMELINE_STREAM_*`)."""

    model_config = SettingsConfigDict(env_prefix="TIMELINE_STREAM_", extra="ignore")

    buffer: int = Field(
        default=1_000,
        ge=1,
        description="Live events buffered per subscriber before it is disconnected as too slow.",
    )
    page: int = Field(default=500, ge=1, description="Events read from the store at once.")
    poll_interval: float = Field(
        default=0.25,
        gt=0,
        description="Seconds between polls of the log on SQLite (backstop of the commit watch).",
    )
    watch_interval: float = Field(
        default=0.01,
        gt=0,
        description="Seconds between looks at SQLite's data_version (no table read): the "
        "wake-up for commits by other processes.",
    )
    postgres_poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between polls on PostgreSQL, behind LISTEN/NOTIFY."
    )
    keepalive: float = Field(
        default=15.0, gt=0, description="Seconds between SSE keep-alive comments on an idle stream."
    )


class SubscriberTooSlow(Exception):
    """The subscriber's buffer filled up: it was disconnected and may resume from `cursor`."""

    code = "SLOW_SUBSCRIBER"

    def __init__(self, cursor: int, buffer: int) -> None:
        self.cursor = cursor
        self.buffer = buffer
        super().__init__(
            f"subscriber too slow: {buffer} events were waiting in its buffer, so it was "
            f'disconnected; resume from cursor {cursor} (after: "{cursor}" or '
            f"Last-Event-ID: {cursor})"
        )


class Subscriber:
    """One live subscription's bounded buffer of events, filled by the fan-out."""

    def __init__(self, event_filter: EventFilter, size: int) -> None:
        self.filter = event_filter
        self.size = size
        self.buffer: deque[StreamEvent] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    def offer(self, event: StreamEvent) -> bool:
        """Buffer `event` if wanted; False when the buffer is full (the subscriber is dropped)."""
        if not self.filter.matches(event):
            return True
        if len(self.buffer) >= self.size:
            self.overflowed = True
            self.ready.set()
            return False
        self.buffer.append(event)
        self.ready.set()
        return True


class Fanout:
    """Reads each new event once and offers it to every live subscriber of this process."""

    def __init__(self, timeline: Timeline, settings: StreamSettings | None = None) -> None:
        self.timeline = timeline
        self.settings = settings or StreamSettings()
        self.head = 0
        self._reader = EventReader(timeline)
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._commit_hook: Callable[..., None] | None = None
        self._postgres = timeline.engine.dialect.name == "postgresql"
        path = None if self._postgres else sqlite_path(timeline.engine.url.database)
        self._commits = CommitWatch(path) if path else None
        self._seen: int | None = None
        # Its own thread, so the fan-out's reads never queue behind other work in the
        # default executor (subscribers catching up, request handlers).
        self._executor: ThreadPoolExecutor | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start reading from the current head; hook commit and NOTIFY wake-ups."""
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fanout")
        self._seen = self._commits.version() if self._commits else None
        self.head = await self._in_thread(self.timeline.head_position)
        maker = self._session_maker()
        if maker is not None:
            self._commit_hook = lambda *_: self.poke_threadsafe()
            sa_event.listen(maker, "after_commit", self._commit_hook)
        self._tasks.append(asyncio.create_task(self._run(), name="fanout"))
        if self._postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="fanout-listen"))
        elif self._commits is not None:
            self._tasks.append(asyncio.create_task(self._watch(), name="fanout-watch"))

    async def stop(self) -> None:
        maker = self._session_maker()
        if self._commit_hook is not None and maker is not None:
            sa_event.remove(maker, "after_commit", self._commit_hook)
            self._commit_hook = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for subscriber in self._subscribers:
            subscriber.ready.set()
        self._subscribers.clear()
        if self._commits is not None:
            self._commits.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` on the fan-out's own reading thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _session_maker(self) -> Any:
        datastore = getattr(self.timeline.recorder, "datastore", None)
        return getattr(datastore, "session_maker", None)

    def poke(self) -> None:
        """Ask the fan-out to look for new events now (call on the event loop)."""
        self._wake.set()

    def poke_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    def on_advance(self, listener: Callable[[int], None]) -> None:
        """Call `listener(head)` on the event loop whenever new events were read (webhooks)."""
        self._listeners.append(listener)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # -- subscribing -------------------------------------------------------------------------

    async def events(
        self, after: int, event_filter: EventFilter | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Every event after position `after` that passes the filter, in log order: the
        backlog first, then live. Raises SubscriberTooSlow if the consumer falls behind."""
        wanted = event_filter or EventFilter()
        reader = EventReader(self.timeline, tags=wanted.needs_tags)
        cursor = after
        while True:  # catch up outside the fan-out, so a long backlog fills no buffer
            page = await asyncio.to_thread(reader.read, cursor, self.settings.page)
            for item in page:
                cursor = item.position
                if wanted.matches(item):
                    yield item
            if len(page) < self.settings.page and cursor >= self.head:
                break
        subscriber = Subscriber(wanted, self.settings.buffer)
        self._subscribers.add(subscriber)
        boundary = self.head
        try:
            while cursor < boundary:  # what the fan-out handed out before we joined
                page = await asyncio.to_thread(reader.read, cursor, self.settings.page, boundary)
                if not page:
                    break
                for item in page:
                    cursor = item.position
                    if wanted.matches(item):
                        yield item
            while True:
                if subscriber.overflowed:
                    raise SubscriberTooSlow(cursor, subscriber.size)
                if not subscriber.buffer:
                    if subscriber not in self._subscribers:
                        return  # the fan-out stopped
                    subscriber.ready.clear()
                    await subscriber.ready.wait()
                    continue
                item = subscriber.buffer.popleft()
                if item.position > cursor:
                    cursor = item.position
                    yield item
        finally:
            self._subscribers.discard(subscriber)

    # -- the reading loop --------------------------------------------------------------------

    async def _run(self) -> None:
        interval = (
            self.settings.postgres_poll_interval if self._postgres else self.settings.poll_interval
        )
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            # Taken before reading: a commit after this point changes the version again.
            self._seen = self._commits.version() if self._commits else None
            try:
                await self._catch_up()
            except Exception:
                log.exception("fan-out could not read the log; retrying")
                await asyncio.sleep(1.0)

    async def _catch_up(self) -> None:
        while True:
            page = await self._in_thread(self._reader.read, self.head, self.settings.page)
            if not page:
                return
            self._publish(page)
            if len(page) < self.settings.page:
                return

    def _publish(self, page: list[StreamEvent]) -> None:
        """Offer the page to every subscriber (no await: atomic with joining)."""
        for item in page:
            if item.position <= self.head:
                continue
            for subscriber in list(self._subscribers):
                if not subscriber.offer(item):
                    self._subscribers.discard(subscriber)
                    log.warning("dropped a slow subscriber at position %d", item.position)
            self.head = item.position
        for listener in self._listeners:
            try:
                listener(self.head)
            except Exception:
                log.exception("fan-out listener failed")

    async def _listen(self) -> None:
        """LISTEN on the store's NOTIFY channel; reconnect when the connection drops."""
        import psycopg

        url = self.timeline.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        channel: str = getattr(self.timeline.recorder, "channel_name", "timeline_events")
        while True:
            try:
                connection: Any = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                async with connection:
                    await connection.execute(f"LISTEN {channel}")
                    self.poke()  # whatever was written while we were not listening
                    async for _ in connection.notifies():
                        self.poke()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("LISTEN %s failed; reconnecting", channel)
                await asyncio.sleep(1.0)

    async def _watch(self) -> None:
        """Wake the fan-out when another connection committed to the SQLite database since
        the last read (a commit is visible once data_version moves, so the read sees it)."""
        assert self._commits is not None
        while True:
            await asyncio.sleep(self.settings.watch_interval)
            version = self._commits.version()
            if version is None or version != self._seen:
                self._wake.set()


def sqlite_path(database: str | None) -> str | None:
    """The file of the SQLite database `database`, None for an in-memory database."""
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    return database.removeprefix("file:").partition("?")[0] or None


class CommitWatch:
    """`PRAGMA data_version` on a connection of its own that never writes: the number moves
    whenever any other connection, in this process or another, commits to the database. A
    look reads the write-ahead log's index, not a table: microseconds, so it runs on the loop."""

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, timeout=0, check_same_thread=False)

    def version(self) -> int | None:
        """The current data version, or None when it could not be read (look again)."""
        try:
            # fetchall: the statement runs to its end, so no read transaction stays open.
            rows = self._connection.execute("PRAGMA data_version").fetchall()
        except sqlite3.Error:
            return None
        return int(rows[0][0])

    def close(self) -> None:
        self._connection.close()
