"""Per-request context: the services, who is asking (bearer token), and the dataloaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast

import strawberry
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from api.errors import ApiError, BadInput, Forbidden, NotProjectedYet, Unauthenticated
from projections import queries
from projections.models import ActorVersion, PolicyVersion, RegulatoryActionVersion
from timeline import proofs, tokens
from timeline.bootstrap import Services
from timeline.tokens import TokenInfo

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def described(description: str) -> Callable[[F], F]:
    """`@strawberry.field(description=...)` for resolvers, typed so mypy keeps the signature."""
    return cast(Callable[[F], F], strawberry.field(description=description))


#: A dataloader key: (slug, validAt, the log position answered at).
Key = tuple[str, datetime | None, int | None]


async def run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (a database read or a command) off the event loop."""
    return await run_in_threadpool(partial(function, *args, **kwargs))


def _batched(
    lookup: Callable[..., dict[str, Any]], engine: Any, default: Callable[[], Any]
) -> Callable[[list[Key]], Any]:
    """A batch function: one lookup per distinct (validAt, knownAt), usually exactly one."""

    async def load(keys: list[Key]) -> list[Any]:
        groups: dict[tuple[datetime | None, int | None], list[str]] = defaultdict(list)
        for slug, valid_at, known_at in keys:
            groups[(valid_at, known_at)].append(slug)
        found: dict[Key, Any] = {}
        for (valid_at, known_at), slugs in groups.items():
            answer = await run(lookup, engine, sorted(set(slugs)), valid_at, known_at)
            for slug in slugs:
                found[(slug, valid_at, known_at)] = answer.get(slug, default())
        return [found[key] for key in keys]

    return load


async def authenticate(engine: Any, authorization: str | None) -> TokenInfo:
    """The one bearer-token check of every transport (GraphQL over HTTP and websockets, the
    REST streams): the stored token an `Authorization: Bearer <token>` value names, or
    UNAUTHENTICATED saying what is wrong."""
    header = (authorization or "").strip()
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthenticated(
            "a bearer token is required: send 'Authorization: "
            "Bearer <token>' (create one with `timeline token "
            "create --scope write`)",
            "Authorization",
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'", "Authorization")
    info = await run(tokens.authenticate, engine, token.strip())
    if info is None:
        raise Unauthenticated("the bearer token is not valid (unknown or revoked)", "Authorization")
    return info


def allowed(token: TokenInfo, scope: str) -> TokenInfo:
    """`token` when it carries `scope` (write implies read); FORBIDDEN otherwise."""
    if not token.allows(scope):
        raise Forbidden(f"this token lacks the {scope!r} scope", "Authorization")
    return token


async def refuse_closed_read(request: HTTPConnection) -> JSONResponse | None:
    """For the REST reads: None while reads are open; with `read_requires_token`, the 401 or
    403 (`{"error": {code, field, message}}`) for a request without a read token."""
    services = getattr(request.app.state, "services", None)
    if services is None or not services.settings.read_requires_token:
        return None
    try:
        allowed(
            await authenticate(services.timeline.engine, request.headers.get("authorization")),
            "read",
        )
    except ApiError as error:
        return JSONResponse(
            status_code=401 if isinstance(error, Unauthenticated) else 403,
            content={"error": {"code": error.code, "field": error.field, "message": error.message}},
        )
    return None


class Context(BaseContext):
    """What every resolver sees as `info.context`."""

    def __init__(self, services: Services, authorization: str | None) -> None:
        super().__init__()
        self.services = services
        self.authorization = authorization
        self._token: TokenInfo | None = None
        engine = services.timeline.engine
        self.responses: DataLoader[Key, list[RegulatoryActionVersion]] = DataLoader(
            _batched(queries.responses_to, engine, list)
        )
        self.policies: DataLoader[Key, PolicyVersion | None] = DataLoader(
            _batched(queries.policies_at, engine, lambda: None)
        )
        self.actors: DataLoader[Key, ActorVersion | None] = DataLoader(
            _batched(queries.actors_at, engine, lambda: None)
        )

    @property
    def engine(self) -> Any:
        return self.services.timeline.engine

    async def authenticate(self) -> TokenInfo:
        """The caller's token, checked once per context: UNAUTHENTICATED without a valid one."""
        if self._token is None:
            self._token = await authenticate(self.engine, self.authorization)
        return self._token

    async def require(self, scope: str) -> TokenInfo:
        """The caller's token when it carries `scope`: UNAUTHENTICATED without a valid token,
        FORBIDDEN when the token lacks the scope."""
        return allowed(await self.authenticate(), scope)

    def for_operation(self) -> Context:
        """A context for one websocket operation: the connection's request, credentials and
        `connection_init` payload, with its own dataloaders (and its own token check, so a
        token revoked while the connection lives is refused from the next operation on)."""
        fresh = Context(self.services, self.authorization)
        fresh.request = self.request
        fresh.background_tasks = self.background_tasks
        fresh.response = self.response
        fresh.connection_params = self.connection_params
        return fresh

    async def basis(self, known_at: datetime | None, known_at_position: int | None) -> int:
        """The log position a point-in-time read answers at: `knownAtPosition`, or the one
        `knownAt` (default now) resolves to (`timeline.proofs.position_for`: both, negative or
        beyond the head are BAD_INPUT), once the read models include it (UNAVAILABLE if they
        do not within the read-your-writes timeout): the answer is the one given right after
        that position, then and later."""
        position = await run(proofs.position_for, self.engine, known_at, known_at_position)
        wait_for = getattr(self.services, "wait_for", None)
        if wait_for is not None and not await run(wait_for, position):
            raise NotProjectedYet(
                f"the read models have not reached log position {position} yet; retry shortly",
                "knownAtPosition" if known_at_position is not None else None,
            )
        return position

    async def authorize_read(self) -> None:
        """Reads are open unless the setting `read_requires_token` closes them."""
        if self.services.settings.read_requires_token:
            await self.require("read")

    def page_size(self, first: int | None, field: str = "first") -> int:
        """`first`, defaulted and bounded by the settings: too large is BAD_INPUT, not clipped."""
        settings = self.services.settings
        if first is None:
            return settings.default_page_size
        if first < 0:
            raise BadInput(field, "must not be negative")
        if first > settings.max_page_size:
            raise BadInput(
                field,
                f"{first} is more than the largest page, "
                f"{settings.max_page_size}; page with `after`",
            )
        return first


async def context_for(connection: HTTPConnection) -> Context:
    """The FastAPI dependency Strawberry uses to build the context (HTTP and WebSocket)."""
    services: Services = connection.app.state.services
    return Context(services, connection.headers.get("authorization"))
