"""The allowed-CIDR rules."""

from __future__ import annotations

import pytest

from tasks.common.cidrs import CidrError, CidrPolicy, cidr_field, parse_cidrs

pytestmark = pytest.mark.unit

POLICY = CidrPolicy(max_cidrs=3, widest_ipv4_prefix=24, widest_ipv6_prefix=64)


def test_normalizes_and_keeps_order() -> None:
    assert parse_cidrs(["198.51.100.0/24", "2001:DB8:0:0::/64", "192.0.2.9"], POLICY) == (
        "198.51.100.0/24",
        "2001:db8::/64",
        "192.0.2.9/32",
    )


@pytest.mark.parametrize(
    ("values", "index", "problem"),
    [
        ("10.0.0.0/24", None, "non-empty list"),
        ([], None, "non-empty list"),
        (["10.0.0.1/32"] * 4, None, "at most 3"),
        ([42], 0, "must be a string"),
        (["10.0.0.1/32", "not-a-network"], 1, "not a network"),
        (["10.0.0.1/24"], 0, "host bits set .*10.0.0.0/24"),
        (["0.0.0.0/0"], 0, "whole internet"),
        (["::/0"], 0, "whole internet"),
        (["10.0.0.0/16"], 0, "wider than .* IPv4 .*/24"),
        (["2001:db8::/48"], 0, "wider than .* IPv6 .*/64"),
        (["fe80::1%eth0/128"], 0, "zone index"),
        (["10.0.0.1/32", "10.0.0.1"], 1, "repeats entry 0"),
    ],
    ids=[
        "not-a-list",
        "empty",
        "too-many",
        "not-a-string",
        "not-a-network",
        "host-bits",
        "ipv4-anywhere",
        "ipv6-anywhere",
        "ipv4-too-wide",
        "ipv6-too-wide",
        "zone-index",
        "duplicate",
    ],
)
def test_rejects(values: object, index: int | None, problem: str) -> None:
    with pytest.raises(CidrError, match=problem) as raised:
        parse_cidrs(values, POLICY)
    assert raised.value.index == index


def test_anywhere_is_refused_even_when_any_width_is_allowed() -> None:
    permissive = CidrPolicy(max_cidrs=5, widest_ipv4_prefix=1, widest_ipv6_prefix=1)
    with pytest.raises(CidrError, match="whole internet"):
        parse_cidrs(["0.0.0.0/0"], permissive)


def test_field_names_carry_the_index() -> None:
    assert cidr_field("allowedCidrs", CidrError("x", 2)) == "allowedCidrs[2]"
    assert cidr_field("allowedCidrs", CidrError("x")) == "allowedCidrs"
