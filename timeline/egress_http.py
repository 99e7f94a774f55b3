"""Requests out through the egress policy: the one adapter over httpx and httpcore internals.

httpx connects inside httpcore's network backend, after its own DNS lookup. `VettedBackend`
wraps httpcore's default backend: it resolves the host itself, vets every address with the
policy and connects to a vetted address, so no DNS answer can change between check and
connect (no rebinding window). TLS SNI, certificate verification and the Host header stay
those of the URL's hostname. httpx has no public way to hand its transport a network backend;
`vetted_client` replaces the transport's pool (`_pool`), hence the upper bounds on httpx and
httpcore in pyproject.toml. `post` makes one capped attempt and names its failure generically.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import typing
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass

import anyio
import httpcore
import httpx

from domain.errors import InvalidInput
from timeline.egress import EgressPolicy, EgressRefused, IPAddress

log = logging.getLogger("timeline.egress")


class VettedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = _unique(ipaddress.ip_address(str(info[4][0])) for info in found)
        self.policy.vet(host, addresses)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:
                failure = error
        raise failure or httpcore.ConnectError(f"no address for {host!r}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("webhooks do not go to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _unique(addresses: typing.Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))


def vetted_client(policy: EgressPolicy, timeout: float) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through `VettedBackend`; it ignores proxy
    variables (a proxy would connect for us, unvetted) and follows no redirects."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # httpx internals: pinned in pyproject
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=VettedBackend(policy),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, trust_env=False, follow_redirects=False
    )


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: the status (None if none came back) and, unless it was a 2xx,
    a generic reason that names no internal address or port."""

    status: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None


async def post(
    client: httpx.AsyncClient,
    policy: EgressPolicy,
    url: str,
    body: str,
    headers: dict[str, str],
    *,
    deadline: float,
    max_response_bytes: int,
) -> Attempt:
    """POST within `deadline` seconds in all; read at most `max_response_bytes` of the
    answer (raw bytes, never decompressed). A status line received counts, even if reading
    the rest is cut. Never raises (but for cancellation): every failure is an Attempt."""
    try:
        policy.check_url(url, resolver=None)  # rows stored before the policy, or tightened
    except EgressRefused:
        return Attempt(None, "refused by egress policy")
    except InvalidInput:
        return Attempt(None, "invalid URL")
    status: int | None = None
    try:
        async with (
            asyncio.timeout(deadline),
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            status = response.status_code
            await _read_capped(response, max_response_bytes)
    except Exception as failure:
        if status is None:
            reason = failure_reason(failure)
            if reason == "delivery failed":
                log.warning("webhook POST failed unexpectedly", exc_info=failure)
            return Attempt(None, reason)
    return Attempt(status, None if 200 <= status < 300 else f"HTTP {status}")


async def _read_capped(response: httpx.Response, limit: int) -> None:
    """Read and drop the answer up to `limit` bytes; leaving the rest unread closes the
    connection instead of returning it to the pool."""
    read = 0
    raw = typing.cast(AsyncGenerator[bytes, None], response.aiter_raw())  # an async generator
    async with contextlib.aclosing(raw) as chunks:
        async for chunk in chunks:
            read += len(chunk)
            if read >= limit:
                return


#: Generic reasons, first match wins, for every failure in the exception's chain.
_REASONS: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("refused by egress policy", (EgressRefused,)),
    ("timed out", (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException)),
    ("invalid URL", (httpx.InvalidURL, httpx.UnsupportedProtocol, InvalidInput, UnicodeError)),
    ("host not found", (socket.gaierror,)),
    ("TLS handshake failed", (ssl.SSLError, ssl.CertificateError)),
    ("connection refused", (ConnectionRefusedError,)),
    ("connection failed", (httpx.ConnectError, httpcore.ConnectError)),
    ("bad HTTP response", (httpx.RemoteProtocolError, httpx.DecodingError)),
    ("connection lost", (httpx.TransportError, OSError)),
)


def failure_reason(failure: BaseException) -> str:
    """A reason for the delivery log that names no host, address or port."""
    chain = list(_chain(failure))
    for reason, kinds in _REASONS:
        if any(isinstance(link, kinds) for link in chain):
            return reason
    return "delivery failed"


def _chain(failure: BaseException) -> Iterator[BaseException]:
    """The failure, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    todo = [failure]
    while todo:
        link = todo.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        if isinstance(link, BaseExceptionGroup):
            todo.extend(link.exceptions)
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)
