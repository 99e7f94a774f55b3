"""The /graphql endpoint: Strawberry's router, with its own HTTP refusals as GraphQL errors.

Websockets speak graphql-transport-ws only, through `api.graphql_ws` (checked messages, the
body limit per message, the token in `connection_init`, a context per operation).

Strawberry answers a malformed request (a batch, a body that is not JSON, another content
type, a mutation over GET, ...) with plain text. Clients expect every error from /graphql as
`{"errors": [{"message", "extensions": {"code"}}]}`, so those refusals are restated here as
BAD_INPUT with a message saying what to send instead.

GraphQL over HTTP (the graphql-http audit): a client that accepts
`application/graphql-response+json` gets that media type, and a request error (parse,
validation, variable coercion: nothing executed) as 400; under `application/json` a request
error stays 200, as legacy clients expect. Either way a request error has no `data` key. A
mutation over GET is 405 (Allow: POST); a page request (`Accept: text/html`) when GraphiQL is
off is 406.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cross_web import HTTPException
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UNSET, UnsetType

from api import browser, graphql_ws
from api.context import Context

#: Strawberry's reason (its start) -> (field, a clearer message).
_CLEARER: dict[str, tuple[str | None, str]] = {
    "Batching is not enabled": (
        "body",
        "batching is not enabled: send one operation per request, a JSON object "
        '{"query": ..., "variables": {...}}, not a list',
    ),
    "Unable to parse request body as JSON": (
        "body",
        'the request body is not valid JSON: send {"query": ..., "variables": {...}}',
    ),
    "Not a JSON object": (
        "body",
        'the request is a bare JSON value: send an object {"query": ..., "variables": {...}}',
    ),
    "Unsupported content type": (
        "Content-Type",
        "unsupported Content-Type: send the operation as application/json",
    ),
    "mutations are not allowed when using GET": (
        None,
        "mutations are not allowed over GET: send them with POST",
    ),
    "subscriptions are not allowed": (
        "query",
        "subscriptions are served over websockets only: connect to /graphql with the "
        "graphql-transport-ws subprotocol",
    ),
    "No GraphQL query found in the request": ("query", "no GraphQL query in the request"),
    "Not Found": (
        "Accept",
        "the in-browser IDE (GraphiQL) is served only in development (TIMELINE_DEVELOPMENT=1); "
        "send queries as POST application/json, or GET with ?query=",
    ),
}

#: The media type of GraphQL over HTTP; application/json is its legacy alternative.
GRAPHQL_RESPONSE = "application/graphql-response+json"

#: Methods other than GET and POST, answered here rather than with the framework's 405.
OTHER_METHODS = ["PUT", "PATCH", "DELETE", "HEAD", "TRACE"]

#: What /graphql answers to, as OPTIONS (and every 405) says.
ALLOW = "GET, POST, OPTIONS"


def request_error(status: int, message: str, field: str | None = None) -> JSONResponse:
    """A GraphQL-over-HTTP request error: no `data`, one error with code BAD_INPUT."""
    extensions: dict[str, Any] = {"code": "BAD_INPUT"}
    if field:
        extensions["field"] = field
    return JSONResponse(
        status_code=status, content={"errors": [{"message": message, "extensions": extensions}]}
    )


def clearer(reason: str) -> tuple[str | None, str]:
    """The field and message for one of Strawberry's refusals (its own words otherwise)."""
    for start, found in _CLEARER.items():
        if reason.startswith(start):
            return found
    return None, reason


def _quality(accept: str) -> dict[str, float]:
    """Media range -> q of an Accept header (parameters other than q ignored)."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind:
            ranges[kind.lower()] = max(q, ranges.get(kind.lower(), 0.0))
    return ranges


def wants_graphql_response(request: Request) -> bool:
    """Whether the client prefers application/graphql-response+json to application/json
    (no Accept, or one preferring JSON, keeps the legacy type)."""
    ranges = _quality(request.headers.get("accept", ""))
    ours = ranges.get(GRAPHQL_RESPONSE, 0.0)
    return ours > 0 and ours >= ranges.get("application/json", 0.0)


def accepts_json(request: Request) -> bool:
    """Whether any JSON answer is acceptable (an absent Accept accepts anything)."""
    accept = request.headers.get("accept")
    if accept is None:
        return True
    ranges = _quality(accept)
    return any(
        ranges.get(kind, 0.0) > 0
        for kind in (GRAPHQL_RESPONSE, "application/json", "application/*", "*/*")
    )


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing was executed: the document did not parse or validate, or the variables did not
    coerce (errors without a path, no data)."""
    if isinstance(result, PreExecutionError):
        return True
    errors = result.errors or []
    return result.data is None and bool(errors) and all(not e.path for e in errors)


async def method_not_allowed() -> JSONResponse:
    """405 in the project's error shape, naming the methods that are served."""
    response = request_error(405, "GraphQL is served over GET (queries) and POST only")
    response.headers["Allow"] = ALLOW
    return response


async def options() -> Response:
    """OPTIONS (not a CORS preflight, which the CORS middleware answers): what is served."""
    return Response(status_code=204, headers={"Allow": ALLOW})


class GraphQLHttp(GraphQLRouter[Any, None]):
    """GraphQLRouter whose HTTP-level refusals are JSON GraphQL errors with a code, serving
    websockets with graphql-transport-ws only (the legacy `graphql-ws` is refused, 4406).

    A browser's websocket from another origin is accepted when `allowed_origins` lists it or
    `origin_regex` matches it (the CORS middleware's rules; browsers apply no CORS to
    websockets), else refused with 403 before the handshake completes."""

    websocket_adapter_class = graphql_ws.WebSocketMessages
    graphql_transport_ws_handler_class = graphql_ws.TransportWsHandler

    def __init__(
        self,
        *args: Any,
        max_message_bytes: int,
        origin_regex: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        super().__init__(*args, **kwargs)
        self.max_message_bytes = max_message_bytes
        self.origin_regex = re.compile(origin_regex) if origin_regex else None
        self.add_api_route(
            kwargs.get("path", ""),
            method_not_allowed,
            methods=OTHER_METHODS,
            include_in_schema=False,
        )
        self.add_api_route(
            kwargs.get("path", ""), options, methods=["OPTIONS"], include_in_schema=False
        )

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        """A listed origin, or one `origin_regex` matches whole (as Starlette's CORS does)."""
        if super().is_websocket_origin_allowed(request, origin):
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL with its assets from this server (Strawberry's page loads them from CDNs)."""
        return browser.graphiql_html()

    def parse_json(self, data: str | bytes) -> Any:
        """JSON of the request, refused with 400 when it is not JSON (invalid UTF-8 or nesting
        too deep included) or is a bare value rather than an object (or a list, for batches)."""
        try:
            value = json.loads(data)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(value, dict | list):
            raise HTTPException(400, "Not a JSON object")
        return value

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        """`connection_init`: a presented token must be valid (else 4403 Forbidden)."""
        if isinstance(context, Context):
            await graphql_ws.accept_connection(context)
        unset: UnsetType = UNSET
        return unset

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        """A request error has no `data` (nothing was executed); noted for the status."""
        response = await super().process_result(request, result)
        if isinstance(request, Request) and is_request_error(result):
            response.pop("data", None)
            request.state.graphql_request_error = True
        return response

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if (
            isinstance(request, Request)
            and self.graphql_ide is None
            and self.should_render_graphql_ide(self.request_adapter_class(request))
            and not accepts_json(request)
        ):
            field, message = clearer("Not Found")
            return self._negotiated(request, request_error(406, message, field))
        try:
            response = await super().run(request, context=context, root_value=root_value)
        except HTTPException as error:
            reason = str(error.reason)
            field, message = clearer(reason)
            if reason.startswith("mutations are not allowed when using GET"):
                refused = request_error(405, message, field)
                refused.headers["Allow"] = "POST"
                return self._negotiated(request, refused)
            return self._negotiated(request, request_error(error.status_code, message, field))
        if isinstance(request, Request) and isinstance(response, Response):
            return self._negotiated(request, response)
        return response

    @staticmethod
    def _negotiated(request: Any, response: Response) -> Response:
        """`response` under the media type the client asked for (see the module docstring)."""
        if not isinstance(request, Request) or not wants_graphql_response(request):
            return response
        if response.headers.get("content-type", "").startswith("application/json"):
            response.headers["content-type"] = GRAPHQL_RESPONSE + "; charset=utf-8"
            if response.status_code == 200 and getattr(
                request.state, "graphql_request_error", False
            ):
                response.status_code = 400
        return response
