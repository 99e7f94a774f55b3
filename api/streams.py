"""REST event streams: SSE at /events/stream (resumes from Last-Event-ID), NDJSON at /events.

Both carry the CloudEvents 1.0 JSON envelope; an event's SSE `id` and its `position` are the
global log position, the cursor to resume from. Filters are query parameters (`aggregate`,
`type`, `actor`, `jurisdiction`, each repeatable), the same criteria as GraphQL's EventFilter.
The parameters are declared and read in api/rest_parameters.py.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from api import rest_parameters
from api.context import refuse_closed_read
from domain.errors import InvalidInput
from timeline.bootstrap import Services
from timeline.streams.fanout import Fanout, SubscriberTooSlow
from timeline.streams.reader import EventFilter, EventReader

router = APIRouter(tags=["events"])

#: The refusals of the streams, in the project's error shape (never FastAPI's 422).
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "field": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {"schema": _ERROR}}}
    for status, description in (
        (400, "BAD_INPUT: a parameter is refused; `field` names it."),
        (401, "UNAUTHENTICATED: `read_requires_token` is on and no valid token was given."),
        (403, "FORBIDDEN: the token lacks the `read` scope."),
        (503, "UNAVAILABLE: the database is unreachable; retry after `Retry-After`."),
    )
}


@asynccontextmanager
async def running(app: FastAPI, services: Services) -> AsyncIterator[None]:
    """Run this process's ways out (fan-out, webhook worker: timeline.bootstrap builds and
    starts them) for the app's lifetime, and hand them to the routes."""
    async with services.streaming() as streams:
        app.state.fanout, app.state.webhooks = streams.fanout, streams.webhooks
        spare_the_startup_heap()
        yield


def spare_the_startup_heap() -> None:
    """Move what startup built (modules, the schema, the engines: live for the process's
    life) out of the collector's reach: a full collection would otherwise walk it all and
    stall every subscriber for hundreds of milliseconds. Later garbage is collected as usual."""
    gc.collect()
    gc.freeze()


def bad_input(error: InvalidInput) -> JSONResponse:
    """400 naming the field and the reason; nothing else reaches the client."""
    return JSONResponse(
        status_code=400,
        content={"error": {"code": "BAD_INPUT", "field": error.field, "message": error.message}},
    )


def beyond_head(field: str, cursor: int, head: int) -> InvalidInput:
    """A cursor past the log's head: refused rather than waited on (it names no event this
    log has recorded: another database's cursor, or a typo)."""
    return InvalidInput(field, f"position {cursor} is beyond the log's head ({head})")


STREAM_PARAMETERS = (rest_parameters.AFTER, rest_parameters.LAST_EVENT_ID, *rest_parameters.FILTERS)
EXPORT_PARAMETERS = (rest_parameters.AFTER, rest_parameters.LIMIT, *rest_parameters.FILTERS)


def _fanout(request: Request) -> Fanout:
    fanout = getattr(request.app.state, "fanout", None)
    if not isinstance(fanout, Fanout):
        raise RuntimeError(
            "the event fan-out is not running (see timeline.bootstrap.Services.streaming)"
        )
    return fanout


@router.get(
    "/events/stream",
    response_class=Response,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: the backlog after the cursor, then live events.",
        },
        **REFUSALS,
    },
    openapi_extra=rest_parameters.openapi(*STREAM_PARAMETERS),
)
async def stream_events(request: Request) -> Response:
    """Events after the cursor, then live, in log order; `: ping` comments keep it alive. A
    subscriber that falls too far behind gets an `error` event naming its cursor, then EOF."""
    if (refusal := await refuse_closed_read(request)) is not None:
        return refusal
    try:
        rest_parameters.check_known(request, *STREAM_PARAMETERS)
        cursor = rest_parameters.stream_cursor(request)
        wanted = rest_parameters.event_filter(request)
    except InvalidInput as error:
        return bad_input(error)
    fanout = _fanout(request)
    # Reach the database before the 200 and the first byte: an outage is then a 503
    # (api/rest.Observe), not a stream that ends at once.
    head = await asyncio.to_thread(fanout.timeline.head_position)
    if cursor > head:
        named = "Last-Event-ID" if rest_parameters.LAST_EVENT_ID.value(request) else "after"
        return bad_input(beyond_head(named, cursor, head))

    async def messages() -> AsyncIterator[ServerSentEvent]:
        events = fanout.events(cursor, wanted)
        try:
            async for item in events:
                yield ServerSentEvent(data=item.cloudevent_json, id=str(item.position))
        except SubscriberTooSlow as error:
            yield ServerSentEvent(
                event="error",
                data=json.dumps(
                    {"code": error.code, "message": str(error), "cursor": str(error.cursor)}
                ),
            )
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    return EventSourceResponse(
        messages(), ping=fanout.settings.keepalive, headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/events",
    response_class=Response,
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "One CloudEvents JSON envelope per line, in log order.",
        },
        **REFUSALS,
    },
    openapi_extra=rest_parameters.openapi(*EXPORT_PARAMETERS),
)
async def export_events(request: Request) -> Response:
    """NDJSON export of the events after `after`; continue from the last line's `position`."""
    if (refusal := await refuse_closed_read(request)) is not None:
        return refusal
    try:
        rest_parameters.check_known(request, *EXPORT_PARAMETERS)
        cursor = rest_parameters.cursor(request)
        count = rest_parameters.limit(request)
        wanted = rest_parameters.event_filter(request)
    except InvalidInput as error:
        return bad_input(error)
    timeline = _fanout(request).timeline
    head = await asyncio.to_thread(timeline.head_position)
    if cursor > head:
        return bad_input(beyond_head("after", cursor, head))
    reader = EventReader(timeline, tags=wanted.needs_tags)
    # The whole page (at most `limit` events) is read before the 200: an outage is then a 503
    # (api/rest.Observe), and the headers can say where the next page starts.
    found, last, stopped = await asyncio.to_thread(_export_page, reader, wanted, cursor, count)
    headers = {LAST_POSITION: str(last)}
    if stopped:
        query = urlencode(_next_query(request, last))
        headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
    body = "".join(line + "\n" for line in found)
    return Response(body, media_type="application/x-ndjson", headers=headers)


#: The header of /events naming the last position it looked at: resume `after` it.
LAST_POSITION = "Timeline-Last-Position"


def _next_query(request: Request, last: int) -> list[tuple[str, str]]:
    """The request's own query with `after` moved on to `last`."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
    return [("after", str(last)), *kept]


def _export_page(
    reader: EventReader, wanted: EventFilter, cursor: int, count: int
) -> tuple[list[str], int, bool]:
    """Up to `count` matching events after `cursor` (CloudEvents JSON), the last position
    looked at, and whether the page stopped at `count` (more may follow)."""
    page_size = min(count, 1000) if wanted.selects_all else 1000
    found: list[str] = []
    position = cursor
    while True:
        page = reader.read(position, page_size)
        for item in page:
            position = item.position
            if wanted.matches(item):
                found.append(item.cloudevent_json)
                if len(found) == count:
                    return found, position, True
        if len(page) < page_size:
            return found, position, False
