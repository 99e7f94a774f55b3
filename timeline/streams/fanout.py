"""One fan-out per API process: new events are read once and handed to every subscriber.

A subscriber first catches up from its cursor by reading the log itself (pages, in a worker
thread), then joins the fan-out and receives live events from a bounded buffer. Events are
handed out in log order and only those after the subscriber's last delivered position, so the
hand-over from backlog to live has no gap and no duplicate. A subscriber whose buffer fills is
dropped at once (writers and the other subscribers never wait for it) and told why; it resumes
from its last cursor.

Wake-ups come from the process's one wake-up source (`timeline.streams.wakeups.NewEvents`:
LISTEN/NOTIFY on PostgreSQL, `PRAGMA data_version` on SQLite, a hook after this process's
commits), shared with the projection runner; a modest poll of the log is the backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from timeline.application import Timeline
from timeline.streams.reader import EventFilter, EventReader, StreamEvent
from timeline.streams.settings import StreamSettings
from timeline.streams.wakeups import NewEvents

log = logging.getLogger("timeline.streams.fanout")

T = TypeVar("T")


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

    def __init__(
        self,
        timeline: Timeline,
        settings: StreamSettings | None = None,
        new_events: NewEvents | None = None,
    ) -> None:
        """`new_events` is the process's wake-up source (bootstrap passes the one it shares
        with the projection runner); without it the fan-out has one of its own."""
        self.timeline = timeline
        self.settings = settings or StreamSettings()
        self.new_events = new_events or NewEvents(timeline, self.settings.watch_interval)
        self.head = 0
        self._reader = EventReader(timeline)
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._postgres = timeline.engine.dialect.name == "postgresql"
        # Its own thread, so the fan-out's reads never queue behind other work in the
        # default executor (subscribers catching up, request handlers).
        self._executor: ThreadPoolExecutor | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start reading from the current head, woken by the shared wake-up source."""
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fanout")
        self.head = await self._in_thread(self.timeline.head_position)
        self._tasks.append(asyncio.create_task(self._run(), name="fanout"))
        self._unsubscribe = await asyncio.to_thread(self.new_events.subscribe, self.poke_threadsafe)

    async def stop(self) -> None:
        """Stop reading; live subscribers see their stream end (they resume by cursor)."""
        if self._unsubscribe is not None:
            await asyncio.to_thread(self._unsubscribe)
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for subscriber in self._subscribers:
            subscriber.ready.set()
        self._subscribers.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` on the fan-out's own reading thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

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
