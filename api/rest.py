"""REST for what is not a graph: liveness, readiness (database and projection lag), metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import unavailable
from api.context import run
from api.limits import BodyTooLarge
from timeline.bootstrap import Services

log = logging.getLogger("api.rest")
router = APIRouter(tags=["operations"])


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "timeline_http_requests_total",
            "HTTP requests handled.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "timeline_http_request_duration_seconds",
            "Time to handle an HTTP request.",
            ["method", "route"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "timeline_projection_lag_events",
            "Events in the log not yet applied to the read models.",
            registry=self.registry,
        )
        self.head = Gauge(
            "timeline_log_head_position", "Position of the latest event.", registry=self.registry
        )


def projection_lag(services: Services) -> tuple[int, int]:
    """(log head, events behind) of the read models."""
    from projections.runner import tracked_position

    head = services.timeline.head_position()
    return head, max(0, head - tracked_position(services.timeline.engine))


def route_of(request: Request, status: int) -> str:
    """The route template (`/graphql`), never a raw unknown path, to bound label cardinality."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return str(path)
    return request.url.path if status != 404 else "unmatched"


class Observe:
    """Middleware: count requests and time them; an unexpected error becomes a bare 500.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware adds a
    task group and a body relay to every request, a measurable share of a 5 ms lookup."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        begun = False

        async def watch(message: Message) -> None:
            nonlocal status, begun
            if message["type"] == "http.response.start":
                status, begun = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            if begun or isinstance(error, BodyTooLarge):  # half sent; or a 413 said outside
                raise
            request = Request(scope)
            if unavailable.is_unavailable(error):  # an outage, not a bug: 503, retry
                response: Response = unavailable.response()
            else:
                response = internal_error(request)
            status = response.status_code
            await response(scope, receive, send)
        finally:
            metrics: Metrics = scope["app"].state.metrics
            route = route_of(Request(scope), status)
            method = scope["method"]
            metrics.latency.labels(method, route).observe(time.perf_counter() - started)
            metrics.requests.labels(method, route, str(status)).inc()


def internal_error(request: Request) -> JSONResponse:
    """A bare 500 for a bug: logged here (with the exception being handled), no detail out."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {
            "errors": [
                {
                    "message": "internal error; it has been logged",
                    "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                }
            ]
        },
        status_code=500,
    )


@router.get("/healthz", summary="Liveness: the process answers.")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


_READY: dict[str, Any] = {
    "type": "object",
    "required": ["status", "database"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "catching up", "unavailable"]},
        "database": {"type": "string", "enum": ["ok", "unreachable"]},
        "head": {"type": "integer", "description": "The log's last position."},
        "projectionLag": {"type": "integer", "description": "Events not yet projected."},
        "maxLag": {"type": "integer", "description": "TIMELINE_READINESS_MAX_LAG."},
        "error": {"type": "object", "description": "With `unavailable`: code and message."},
    },
}


@router.get(
    "/readyz",
    summary="Readiness: database reachable, projections caught up.",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "`ready`: the database answers and the projections are within "
            "TIMELINE_READINESS_MAX_LAG events of the log's head.",
            "content": {"application/json": {"schema": _READY}},
        },
        503: {
            "description": "`catching up` (projections more than maxLag behind; database "
            "`ok`) or `unavailable` (database `unreachable`, with Retry-After: 1).",
            "content": {"application/json": {"schema": _READY}},
        },
    },
)
async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    bound = services.settings.readiness_max_lag
    try:
        head, lag = await run(projection_lag, services)
    except Exception as error:
        if not unavailable.is_unavailable(error):
            raise  # a bug (say, a missing table): the middleware's 500, logged
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "unreachable",
                "error": {"code": unavailable.UNAVAILABLE, "message": unavailable.REST_MESSAGE},
            },
            503,
            headers={"Retry-After": "1"},
        )
    ready = lag <= bound
    return JSONResponse(
        {
            "status": "ready" if ready else "catching up",
            "database": "ok",
            "head": head,
            "projectionLag": lag,
            "maxLag": bound,
        },
        200 if ready else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latencies, projection lag.",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format.",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    registry: Metrics = request.app.state.metrics
    try:
        head, lag = await run(projection_lag, services)
        registry.head.set(head)
        registry.lag.set(lag)
    except Exception as error:
        log.warning("metrics: projection lag unavailable: %s", error)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
