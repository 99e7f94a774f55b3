"""The one place that wires the service from settings: event store, read models, runner."""

from __future__ import annotations

from dataclasses import dataclass

from projections.runner import ProjectionRunner
from timeline.application import Timeline
from timeline.settings import Settings


@dataclass
class Services:
    """Everything a process (API, CLI, worker) needs, built once from settings.

    `projections` is the runner of the read models over the event store's engine; it applies
    events only while started (`start_projector`) or when asked (`projections.catch_up()`).
    """

    settings: Settings
    timeline: Timeline
    projections: ProjectionRunner

    def start_projector(self) -> None:
        """Keep the read models up to date in this process (stands by if a worker is active)."""
        self.projections.start()

    def stop_projector(self) -> None:
        self.projections.stop()

    def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Read-your-writes: block until the read models include log `position` (a command
        result's `position`); False when `timeout` (default: the setting) ran out first."""
        if timeout is None:
            timeout = self.settings.read_your_writes_timeout
        return self.projections.wait_for(position, timeout)

    def close(self) -> None:
        """Stop the projections and close the store, returning its pooled connections (the
        library's close leaves the engine's pool open)."""
        self.projections.stop()
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
    if not read_only:
        # Imported here: the CLI's read-only commands never load the webhook stack.
        from timeline.streams.webhooks import registry

        registry.create_tables(timeline.engine)  # once at set-up; webhook reads create nothing
    services = Services(
        settings=settings,
        timeline=timeline,
        projections=ProjectionRunner(timeline.engine, timeline),
    )
    if run_projections:
        services.start_projector()
    return services
