"""graphql-transport-ws as this service speaks it: Strawberry's handler behind one wall.

Strawberry's handler trusts each message's shape (a list, `null` or a string payload raised
TypeError and dropped the connection with 1006), shares one context across a connection's
operations (so dataloaders cached across them) and reads messages of any size. Here every
message is checked against the protocol's shapes first (4400 naming the field), a message over
the body limit closes with 4413, each operation gets a fresh context, and the bearer token may
come in `connection_init`'s payload (browsers cannot set headers on a websocket). This is the
only module that reaches Strawberry's handler internals; pyproject.toml pins its upper bound.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import suppress
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError
from starlette.websockets import WebSocket, WebSocketState
from starlette.websockets import WebSocketDisconnected as ClosedSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    Message,
    SubscribeMessage,
)
from strawberry.utils.aio import aclosing

from api.context import Context
from api.errors import ApiError

#: The longest operation id: clients use UUIDs (36 characters); ids are echoed in close reasons.
MAX_ID_LENGTH = 128
#: RFC 6455 leaves 123 bytes for a close frame's reason.
MAX_REASON_BYTES = 123
#: Keys of `connection_init`'s payload that may carry the token, in the order they are read.
TOKEN_KEYS = ("Authorization", "authorization", "token")

#: Our close code for a message over the limit (HTTP's 413); the protocol's own are 44xx too.
MESSAGE_TOO_LARGE = 4413


class MessageTooLarge(Exception):
    """A message longer than the body limit; refused before it is decoded."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"message: larger than the limit of {limit} bytes (maxBodyBytes)")
        self.reason = str(self)


class _Lenient(BaseModel):
    """Extra keys are ignored, as the protocol's reference implementation does."""

    model_config = ConfigDict(extra="ignore")


class _WithPayload(_Lenient):
    payload: dict[str, Any] | None = None


class ConnectionInit(_WithPayload):
    type: Literal["connection_init"]


class Ping(_WithPayload):
    type: Literal["ping"]


class Pong(_WithPayload):
    type: Literal["pong"]


OperationId = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_LENGTH)]


class SubscribePayload(_Lenient):
    query: StrictStr
    variables: dict[str, Any] | None = None
    operationName: StrictStr | None = None
    extensions: dict[str, Any] | None = None


class Subscribe(_Lenient):
    type: Literal["subscribe"]
    id: OperationId
    payload: SubscribePayload


class Complete(_Lenient):
    type: Literal["complete"]
    id: OperationId


ClientMessage = TypeAdapter(
    Annotated[
        ConnectionInit | Ping | Pong | Subscribe | Complete,
        Field(discriminator="type"),
    ]
)


_JSON_NAMES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def shape_error(message: object) -> str | None:
    """Why `message` is not a graphql-transport-ws client message (field first), or None."""
    if not isinstance(message, dict):
        return f"message: must be a JSON object, not {_JSON_NAMES.get(type(message), 'that')}"
    try:
        ClientMessage.validate_python(message)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            return "type: must be one of connection_init, ping, pong, subscribe, complete"
        where = ".".join(str(part) for part in first["loc"][1:])  # [0] is the message type
        return f"{where or 'message'}: {first['msg']}"
    return None


def close_reason(reason: str) -> str:
    """`reason` cut to what a close frame can carry, on a character boundary."""
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def authorization_in(params: Mapping[str, object] | None) -> str | None:
    """The `Authorization` value carried by `connection_init`'s payload, if any: the
    `Authorization`/`authorization` value as is, or a bare `token` as `Bearer <token>`.
    A value that is not a string is refused (the connection closes with 4403)."""
    for key in TOKEN_KEYS:
        value = (params or {}).get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConnectionRejectionError  # closes 4403, as any other bad credential
        return f"Bearer {value}" if key == "token" else value
    return None


async def accept_connection(context: Context) -> None:
    """Take the token from `connection_init` (else the handshake's header) and check it once:
    a token that is presented and not valid closes the connection with 4403 Forbidden. No
    token is anonymous: each operation that needs one answers UNAUTHENTICATED."""
    presented = authorization_in(cast(Mapping[str, object] | None, context.connection_params))
    if presented is not None:
        context.authorization = presented
    if context.authorization:
        try:
            await context.authenticate()
        except ApiError:
            raise ConnectionRejectionError from None


class WebSocketMessages(ASGIWebSocketAdapter):
    """Strawberry's ASGI adapter, reading at most `max_bytes` per message and refusing JSON
    that is not JSON at all (invalid, or nested beyond the decoder's recursion limit)."""

    def __init__(self, view: Any, request: WebSocket, response: WebSocket) -> None:
        super().__init__(view, request, response)
        self.socket = response
        self.max_bytes: int = view.max_message_bytes

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        while self.socket.application_state != WebSocketState.DISCONNECTED:  # closed by us
            received = await self.socket.receive()
            if received["type"] == "websocket.disconnect":
                return
            text = received.get("text")
            if text is None:
                raise NonTextMessageReceived
            if len(text) > self.max_bytes or (
                len(text) * 4 > self.max_bytes and len(text.encode()) > self.max_bytes
            ):
                raise MessageTooLarge(self.max_bytes)
            try:
                message = json.loads(text)
            except (ValueError, RecursionError) as error:
                raise NonJsonMessageReceived from error
            yield message

    async def send_json(self, message: Mapping[str, object]) -> None:
        """Send, or drop the message when the connection is gone (closed by us, or the client
        left while an operation was running): there is no one left to read it."""
        if self.socket.application_state == WebSocketState.DISCONNECTED:
            return
        with suppress(ClosedSocket, WebSocketDisconnected):
            await super().send_json(message)

    async def close(self, code: int, reason: str) -> None:
        if self.socket.application_state != WebSocketState.DISCONNECTED:
            await super().close(code, close_reason(reason))


class TransportWsHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler with checked messages, a 4413 size limit, the
    subscription limit as a coded error, and a fresh `Context` for each operation."""

    async def handle(self) -> None:
        try:
            await super().handle()
        except MessageTooLarge as error:
            with suppress(Exception):  # the peer may already be gone
                await self.websocket.close(MESSAGE_TOO_LARGE, error.reason)

    async def handle_message(self, message: Message) -> None:
        reason = shape_error(message)
        if reason is not None:
            await self.handle_invalid_message(reason)
            return
        if message["type"] == "connection_init" and message.get("payload") is None:
            message["payload"] = {}
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        {
                            "message": f"at most {limit} operations may run at once on one "
                            "connection; complete one first",
                            "extensions": {
                                "code": "BAD_INPUT",
                                "limit": "maxSubscriptionsPerConnection",
                            },
                        }
                    ],
                }
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's `run_operation` with one change: the operation's own context."""
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context.for_operation(),
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message(
                CompleteMessage(id=operation.id, type="complete")
            )
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
