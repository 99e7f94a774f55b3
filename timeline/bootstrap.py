"""The one place that wires the service from settings: event store, read models, runner, and
the ways events go out (the wake-up source, the fan-out, the webhook worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from projections.runner import ProjectionRunner
from timeline.application import Timeline
from timeline.settings import Settings
from timeline.streams.settings import StreamSettings
from timeline.streams.wakeups import NewEvents

if TYPE_CHECKING:  # imported when streaming starts: a CLI read never loads this stack
    from timeline.streams.fanout import Fanout
    from timeline.streams.webhooks import WebhookWorker


@dataclass(frozen=True)
class Streams:
    """The running ways out of one process: the fan-out to live subscribers, the webhooks."""

    fanout: Fanout
    webhooks: WebhookWorker


@dataclass
class Services:
    """Everything a process (API, CLI, worker) needs, built once from settings.

    `projections` is the runner of the read models over the event store's engine; it applies
    events only while started (`start_projector`) or when asked (`projections.catch_up()`).
    `new_events` is the process's one wake-up source, shared by the runner and the fan-out.
    """

    settings: Settings
    timeline: Timeline
    projections: ProjectionRunner
    new_events: NewEvents

    def start_projector(self) -> None:
        """Keep the read models up to date in this process (stands by if a worker is active)."""
        self.projections.start()

    def stop_projector(self) -> None:
        self.projections.stop()

    @asynccontextmanager
    async def streaming(self, settings: StreamSettings | None = None) -> AsyncIterator[Streams]:
        """Run this process's fan-out and webhook worker on the running event loop while the
        block runs; the fan-out shares the wake-up source and pokes the worker."""
        from timeline.streams.fanout import Fanout
        from timeline.streams.webhooks import WebhookWorker

        fanout = Fanout(self.timeline, settings or self.settings.stream, self.new_events)
        worker = WebhookWorker(self.timeline, self.settings.webhook)
        await fanout.start()
        try:
            await worker.start()
            try:
                fanout.on_advance(worker.poke)
                yield Streams(fanout, worker)
            finally:
                await worker.stop()
        finally:
            await fanout.stop()

    def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Read-your-writes: block until the read models include log `position` (a command
        result's `position`); False when `timeout` (default: the setting) ran out first."""
        if timeout is None:
            timeout = self.settings.read_your_writes_timeout
        return self.projections.wait_for(position, timeout)

    def close(self) -> None:
        """Stop the projections and the wake-ups and close the store, returning its pooled
        connections (the library's close leaves the engine's pool open)."""
        self.projections.stop()
        self.new_events.close()
        engine = self.timeline.engine
        self.timeline.close()
        engine.dispose()


def bootstrap(
    settings: Settings | None = None, *, run_projections: bool = False, read_only: bool = False
) -> Services:
    """Build the services for `settings` (from the environment by default); with
    `run_projections`, the in-process projection runner is started as well. With `read_only`
    the database must already hold the event log (LogMissing otherwise; see Timeline)."""
    settings = settings or Settings()
    timeline = Timeline(settings, read_only=read_only)
    new_events = NewEvents(timeline, settings.stream.watch_interval)
    services = Services(
        settings=settings,
        timeline=timeline,
        projections=ProjectionRunner(timeline.engine, timeline, new_events=new_events),
        new_events=new_events,
    )
    if run_projections:
        services.start_projector()
    return services
