"""The egress policy's address rule and allow-list, pure (no sockets): public destinations in
every IPv6 wrapping pass, any IPv4 address in a refused range is refused however it is wrapped,
and the allow-list setting is parsed strictly."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from timeline.egress import EgressPolicy, EgressSettings, address_refusal

PUBLIC = ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]
REFUSED_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "192.0.0.0/24",
        "192.0.2.0/24",
    )
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass_also_when_wrapped_in_ipv6(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@given(
    st.sampled_from(REFUSED_V4).flatmap(
        lambda n: st.integers(0, n.num_addresses - 1).map(lambda i: n[i])
    )
)
def test_a_refused_ipv4_address_is_refused_in_every_ipv6_wrapping(
    address: ipaddress.IPv4Address,
) -> None:
    wrapped = [
        address,
        ipaddress.IPv6Address(f"::ffff:{address}"),  # IPv4-mapped
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address)),  # NAT64
        ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80)),  # 6to4
        ipaddress.IPv6Address(int(address)),  # IPv4-compatible
    ]
    assert all(address_refusal(a) is not None for a in wrapped), wrapped


def test_the_allow_list_is_comma_separated_names_and_cidrs() -> None:
    settings = EgressSettings(allowed_hosts=" hooks.corp , *.lan,10.20.0.0/16, 127.0.0.1,")
    policy = EgressPolicy.from_settings(settings)

    assert settings.allowed_hosts == ["hooks.corp", "*.lan", "10.20.0.0/16", "127.0.0.1/32"]
    assert policy.allows_host("HOOKS.corp.") and policy.allows_host("x.y.lan")
    assert not policy.allows_host("lan") and not policy.allows_host("evil-hooks.corp")
    assert policy.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None  # mapped, listed
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) == "a loopback address"


@pytest.mark.parametrize("entry", ["http://hooks.corp/", "hooks.corp:8080", "*corp", "a b"])
def test_a_malformed_allow_list_entry_stops_start_up(entry: str) -> None:
    with pytest.raises(ValidationError):
        EgressSettings(allowed_hosts=entry)
