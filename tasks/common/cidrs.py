"""Which networks may reach a bastion's SSH port.

One rule set for the session request and the container entry point: each entry is a
network in CIDR notation with no host bits set, never the whole internet, no wider
than the stack allows, and listed once.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class CidrError(ValueError):
    """An allowed-CIDR entry (or the list) breaks the rules.

    ``index`` is the entry's position in the list, or None when the list itself is wrong.
    """

    def __init__(self, problem: str, index: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.index = index


@dataclass(frozen=True)
class CidrPolicy:
    """How many networks, and how wide, the stack allows."""

    max_cidrs: int = 5
    widest_ipv4_prefix: int = 24
    widest_ipv6_prefix: int = 64


def parse_cidr(value: Any, policy: CidrPolicy) -> IPNetwork:
    """One allowed network; raise :class:`CidrError` (without index) if it breaks a rule."""
    if not isinstance(value, str):
        raise CidrError(f"must be a string in CIDR notation, got {type(value).__name__}")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            raise CidrError(
                f"{value!r} has host bits set (did you mean "
                f"{ipaddress.ip_network(value, strict=False)}?)"
            ) from None
        raise CidrError(f"{value!r} is not a network in CIDR notation") from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.scope_id:
        raise CidrError(f"{value!r} has a zone index, which security groups do not take")
    if network.prefixlen == 0:
        raise CidrError(f"{value!r} would open SSH to the whole internet")
    widest = policy.widest_ipv4_prefix if network.version == 4 else policy.widest_ipv6_prefix
    if network.prefixlen < widest:
        raise CidrError(
            f"{value!r} is wider than this stack allows for IPv{network.version} "
            f"(/{widest} at most)"
        )
    return network


def parse_cidrs(values: Any, policy: CidrPolicy) -> tuple[str, ...]:
    """The whole allowed list, normalized (``str`` of each network), in the given order."""
    if not isinstance(values, list) or not values:
        raise CidrError("must be a non-empty list of networks in CIDR notation")
    if len(values) > policy.max_cidrs:
        raise CidrError(f"has {len(values)} entries; at most {policy.max_cidrs} are allowed")
    seen: dict[IPNetwork, int] = {}
    for index, value in enumerate(values):
        try:
            network = parse_cidr(value, policy)
        except CidrError as error:
            raise CidrError(error.problem, index) from None
        if network in seen:
            raise CidrError(f"{value!r} repeats entry {seen[network]}", index)
        seen[network] = index
    return tuple(str(network) for network in seen)


def cidr_field(field: str, error: CidrError) -> str:
    """The field name to report: ``allowedCidrs`` or ``allowedCidrs[2]``."""
    return field if error.index is None else f"{field}[{error.index}]"


def is_ipv6(cidr: str) -> bool:
    """Whether a normalized CIDR is IPv6."""
    return ":" in cidr
