"""The FastAPI app: GraphQL at /graphql, REST beside it, safe defaults from the settings.

`create_app(services)` builds it over services built elsewhere: the entrypoint
(entrypoints/asgi.py, what uvicorn and `timeline serve` run) builds them from the settings.
The app's lifespan starts and stops the in-process projector, so that reads follow writes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import browser, evidence_rest, log_redaction, reading, rest, streams
from api.context import context_for
from api.graphql_http import GraphQLHttp
from api.limits import BodySizeLimit
from api.schema import build_schema
from timeline import tokens
from timeline.bootstrap import Services

log = logging.getLogger("api.app")


def create_app(services: Services, *, owned: bool = False) -> FastAPI:
    """Build the app over `services`; with `owned`, its shutdown closes them."""
    log_redaction.install()  # before uvicorn logs a request: `?token=` never reaches a log
    settings = services.settings
    tokens.create_tables(services.timeline.engine)
    # Touch the event store once before the projector and the fan-out threads do: its first
    # transaction switches SQLite to WAL mode, which fails ("database is locked") in a race.
    services.timeline.head_position()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start_projector()  # a no-op when a `timeline project` worker projects
        try:
            async with streams.running(app, services):  # fan-out, webhooks
                yield
        finally:
            services.stop_projector()
            if owned:
                services.close()

    app = FastAPI(
        title="Policy Timeline",
        summary="Event-sourced, bitemporal timeline of corporate policy and regulatory "
        "responses. GraphQL at /graphql; this page documents the REST endpoints.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # api.browser serves /docs with Swagger UI from the installation
        redoc_url=None,
    )
    app.state.services = services
    app.state.metrics = rest.Metrics()
    graphql = GraphQLHttp(
        build_schema(settings),
        context_getter=context_for,
        graphql_ide="graphiql" if settings.development else None,
        max_message_bytes=settings.max_body_bytes,
        allowed_origins=settings.cors_origins,
        origin_regex=browser.origin_regex(settings),
    )
    app.include_router(graphql, prefix="/graphql", include_in_schema=False)
    app.include_router(rest.router)
    app.include_router(streams.router)
    app.include_router(evidence_rest.router)
    reading.install(app)  # the reading room at / (before browser's routes: it owns /)
    browser.install(app, settings)
    app.add_middleware(rest.Observe)
    if settings.cors_origins or browser.origin_regex(settings):
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_origin_regex=browser.origin_regex(settings),
            allow_credentials=False,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
