"""The ASGI app factory: `uvicorn entrypoints.asgi:create_app --factory`, as `timeline serve`
and the Docker image start it.

The app is built here from the environment's settings; api/ only translates HTTP, GraphQL
and streams to the services and back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from timeline.bootstrap import Services


def create_app(services: Services | None = None) -> FastAPI:
    """The app over `services`; without them, services bootstrapped from the environment
    (TIMELINE_DATABASE_URL, ...) and closed when the app shuts down."""
    from api.app import create_app as build_app

    return build_app(services)
