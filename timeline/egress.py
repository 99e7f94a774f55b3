"""The egress policy: which URLs, hosts and addresses webhooks may be sent to (SSRF defence).

A webhook URL is chosen by a token holder, so without a policy the service would POST, from
inside the network, wherever it is told: to loopback admin ports, the cloud metadata service,
private networks. By default only globally reachable unicast addresses are allowed; the
setting `TIMELINE_WEBHOOK_ALLOWED_HOSTS` lists on-premises receivers (hostnames and CIDRs).
The policy is checked at registration (URL syntax, literal addresses in every spelling a
resolver reads, the names' current addresses) and again at delivery on the very addresses
connected to (`timeline/egress_http.py`), so DNS that changes after registration cannot
smuggle a private address in.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Ends every refusal, so that an operator knows the way out for on-premises receivers.
ONLY_PUBLIC = (
    "webhooks go to public addresses only (TIMELINE_WEBHOOK_ALLOWED_HOSTS lists on-premises"
    " receivers)"
)

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # shared address space (RFC 6598)
_IETF_PROTOCOL = ipaddress.IPv4Network("192.0.0.0/24")  # RFC 6890; not global before 3.12.4
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"),)

#: Why an address is refused: the first label whose test holds. `ipaddress` knows IANA's
#: special-purpose registries; the explicit networks fill the gaps of older Pythons.
_REFUSALS: Sequence[tuple[str, Callable[[Any], bool]]] = (
    ("an unspecified address", lambda a: a.is_unspecified),
    ("a loopback address", lambda a: a.is_loopback),
    ("a link-local address", lambda a: a.is_link_local),
    ("a multicast address", lambda a: a.is_multicast),
    ("a Teredo tunnel address", lambda a: getattr(a, "teredo", None) is not None),
    ("a shared (CGNAT) address", lambda a: a in _CGNAT),
    ("a private or special-purpose address", lambda a: a.is_private or a in _IETF_PROTOCOL),
    ("a reserved address", lambda a: a.is_reserved),
    ("a site-local address", lambda a: getattr(a, "is_site_local", False)),
    ("a non-global address", lambda a: not a.is_global),
)


class EgressRefused(InvalidInput):
    """The policy refuses this destination (at registration: BAD_INPUT naming `url`)."""

    def __init__(self, reason: str) -> None:
        super().__init__("url", reason)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and routes to: IPv4-mapped (::ffff:a.b.c.d),
    NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def address_refusal(address: IPAddress) -> str | None:
    """Why the default policy refuses `address` ('a loopback address', ...), or None for a
    public one. An IPv6 address that wraps an IPv4 one is judged by the address it wraps."""
    address = _without_scope(address)
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = address_refusal(inner)
            return None if reason is None else f"{reason} wrapped in an IPv6 one"
    return next((label for label, test in _REFUSALS if test(address)), None)


def _without_scope(address: IPAddress) -> IPAddress:
    """fe80::1%eth0 -> fe80::1: the zone names an interface, not another address."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return address


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, or None for a name. IPv4 must be four decimal numbers:
    the forms resolvers also read as addresses (2130706433, 0x7f.1, 017700000001, 127.1) are
    refused, because parsers disagree on them."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        spelled = socket.inet_aton(host)
    except (OSError, ValueError):
        return None
    raise EgressRefused(
        f"{host!r} is read by resolvers as the IPv4 address {ipaddress.IPv4Address(spelled)};"
        " write an IPv4 address as four decimal numbers (a.b.c.d)"
    )


def check_url(url: str) -> str:
    """An http(s) URL with a host, without credentials, spaces or control characters (a CR or
    LF would split the request line; credentials would be sent to whoever holds the name).
    Returns the host as the HTTP client reads it (lower case, IDNA)."""
    if len(url) > 2_000 or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidInput(
            "url",
            "must be an http(s) URL of at most 2000 characters, without spaces or control"
            " characters",
        )
    import httpx  # here, not at import: the settings (and so the CLI) import this module

    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 -- a bad port raises here
        host = httpx.URL(url).host  # the client's own reading: no parser disagreement
    except (ValueError, httpx.InvalidURL):
        raise InvalidInput("url", f"{url!r} is not a well-formed URL") from None
    if parts.scheme not in ("http", "https") or not hostname or not host:
        raise InvalidInput("url", f"{url!r} is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url", "must not carry credentials (user:password@)")
    return host


def _allowed_entry(entry: str) -> str:
    """A hostname or a CIDR/address of the allow-list, normalised; a bad one fails start-up."""
    text = entry.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        pass
    wildcard_ok = not text.startswith("*") or text.startswith("*.")
    if not text or any(ch in text for ch in "/:@ ") or not wildcard_ok:
        raise ValueError(f"{entry!r} is neither a hostname, '*.domain', nor a CIDR")
    return text


class EgressSettings(BaseSettings):
    """Where webhooks may go and what one delivery may cost (`TIMELINE_WEBHOOK_*`)."""

    model_config = SettingsConfigDict(env_prefix="TIMELINE_WEBHOOK_", extra="ignore")

    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated hostnames ('hooks.corp', '*.corp') and CIDRs "
        "('10.0.0.0/8', '127.0.0.1') that webhooks may reach although not public.",
    )
    deadline: float = Field(
        default=15.0,
        gt=0,
        description="Seconds one delivery attempt may take in all: resolve, connect, send, read.",
    )
    max_response_bytes: int = Field(
        default=65_536, ge=0, description="Bytes of a receiver's answer read; the rest is cut."
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        return [_allowed_entry(str(v)) for v in value if str(v).strip()]


Resolver = Callable[[str, int | None], Iterable[IPAddress]]


def resolve(host: str, port: int | None) -> list[IPAddress]:
    """The addresses `host` resolves to now (blocking; registration runs in a thread)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


@dataclass(frozen=True)
class EgressPolicy:
    """The default rule (public unicast only) plus the operator's allow-list."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: EgressSettings | None = None) -> EgressPolicy:
        entries = (settings or EgressSettings()).allowed_hosts
        networks, hosts = [], set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry))
            except ValueError:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Listed by name (exactly, or under a listed '*.domain')."""
        name = host.lower().rstrip(".")
        return name in self.hosts or any(
            h.startswith("*.") and name.endswith(h[1:]) for h in self.hosts
        )

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be reached, or None (public, or in a listed network)."""
        plain = _without_scope(address)
        inner = embedded_ipv4(plain) if isinstance(plain, ipaddress.IPv6Address) else None
        if any(a in n for n in self.networks for a in (plain, inner) if a is not None):
            return None
        return address_refusal(plain)

    def vet(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """Refuse unless every address of `host` may be reached (one bad address refuses all:
        a name that mixes public and private addresses is an attack, not a receiver)."""
        if self.allows_host(host):
            return
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise EgressRefused(f"{host!r} resolves to {reason}; {ONLY_PUBLIC}")

    def check_url(self, url: str, resolver: Resolver | None = resolve) -> str:
        """The URL if the policy allows it: syntax, then the host's literal address, then (with
        a resolver: at registration) the name's current addresses, `localhost` being loopback
        whatever DNS says. A name that does not resolve now is accepted: it is checked again at
        delivery, on the addresses connected to."""
        host = check_url(url)
        if self.allows_host(host):
            return url
        literal = literal_address(host)
        if literal is not None:
            reason = self.refusal(literal)
            if reason is not None:
                raise EgressRefused(f"{host} is {reason}; {ONLY_PUBLIC}")
            return url
        if resolver is None:
            return url
        name = host.rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
            self.vet(host, _LOOPBACK)
            return url
        try:
            addresses = list(resolver(host, urlsplit(url).port))
        except (OSError, UnicodeError):
            return url  # not resolvable now; delivery checks again
        self.vet(host, addresses)
        return url
