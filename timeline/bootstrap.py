"""The one place that wires the service from settings: event store, read models, runner."""

from __future__ import annotations

from dataclasses import dataclass

from timeline.application import Timeline
from timeline.settings import Settings


@dataclass
class Services:
    """Everything a process (API, CLI, worker) needs, built once from settings."""

    settings: Settings
    timeline: Timeline

    def close(self) -> None:
        self.timeline.close()


def bootstrap(settings: Settings | None = None) -> Services:
    """Build the services for `settings` (from the environment by default)."""
    settings = settings or Settings()
    return Services(settings=settings, timeline=Timeline(settings))
