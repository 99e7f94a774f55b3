"""The ASGI app factory: `uvicorn entrypoints.asgi:create_app --factory`, and what
`timeline serve` and the Docker image run.

The app is composed here: services from the environment's settings (or given), with or
without the in-process projector, under the HTTP/GraphQL app of api/, which only translates
requests to the services and back.
"""

from __future__ import annotations

from dataclasses import fields

from fastapi import FastAPI

from api.app import create_app as build_app
from timeline.bootstrap import Services, bootstrap


class ServicesWithoutProjector(Services):
    """Services for an API process that only reads the read models: a separate worker
    (`timeline project`) keeps them up to date, as in docker-compose.yml."""

    def start_projector(self) -> None:
        """Nothing to start: the worker projects."""

    def stop_projector(self) -> None:
        """Nothing to stop."""


def create_app(services: Services | None = None, *, projector: bool = True) -> FastAPI:
    """The app over `services`; without them, services bootstrapped from the environment
    (TIMELINE_DATABASE_URL, ...) and closed when the app shuts down. With `projector` the
    app's lifespan keeps the read models up to date in this process."""
    owned = services is None
    if services is None:
        services = bootstrap()
    if not projector:
        services = without_projector(services)
    return build_app(services, owned=owned)


def without_projector(services: Services) -> Services:
    """The same services, whose start and stop of the projector do nothing."""
    return ServicesWithoutProjector(
        **{field.name: getattr(services, field.name) for field in fields(services)}
    )
