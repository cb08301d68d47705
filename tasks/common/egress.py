"""Where a bastion task may connect besides its cluster's control plane: the stack's
``BastionEgressDestinations``, each one HTTPS (443) egress rule of the session group.

A destination is a security group (``sg-``: for example the VPC interface endpoints'
group for ECR and CloudWatch Logs), a managed prefix list (``pl-``: for example the S3
gateway endpoint's, where ECR keeps image layers) or a CIDR (``0.0.0.0/0`` is the wide
choice: AWS's public endpoints through an internet or NAT gateway).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from tasks.common.cidrs import is_ipv6

GROUP_ID = re.compile(r"sg-[0-9a-f]{8,17}")
PREFIX_LIST_ID = re.compile(r"pl-[0-9a-f]{8,17}")
#: At most this many: one rule each, within the group's 60-rule quota beside SSH's.
MAX_DESTINATIONS = 10


class EgressDestinationError(ValueError):
    """A destination that is neither a group, a prefix list nor a CIDR."""


def check_destinations(destinations: tuple[str, ...], name: str) -> tuple[str, ...]:
    """``destinations`` if each is a group id, a prefix list id or a CIDR; else an error."""
    if len(destinations) > MAX_DESTINATIONS:
        raise EgressDestinationError(
            f"{name} lists {len(destinations)} destinations; at most {MAX_DESTINATIONS}"
        )
    for destination in destinations:
        if GROUP_ID.fullmatch(destination) or PREFIX_LIST_ID.fullmatch(destination):
            continue
        try:
            network = ipaddress.ip_network(destination, strict=True)
        except ValueError:
            raise EgressDestinationError(
                f"{name} must list security group ids (sg-...), prefix list ids (pl-...) or "
                f"CIDRs, got {destination!r}"
            ) from None
        if str(network) != destination:
            raise EgressDestinationError(f"{name}: write {destination!r} as {network}")
    return destinations


def https_to(destination: str, description: str) -> dict[str, Any]:
    """The IpPermission for HTTPS to one destination."""
    base: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}
    if destination.startswith("sg-"):
        return base | {"UserIdGroupPairs": [{"GroupId": destination, "Description": description}]}
    if destination.startswith("pl-"):
        return base | {"PrefixListIds": [{"PrefixListId": destination, "Description": description}]}
    if is_ipv6(destination):
        return base | {"Ipv6Ranges": [{"CidrIpv6": destination, "Description": description}]}
    return base | {"IpRanges": [{"CidrIp": destination, "Description": description}]}


def rule_destination(rule: dict[str, Any]) -> str | None:
    """The destination of a DescribeSecurityGroupRules egress rule on 443, else None."""
    if not (
        rule.get("IsEgress")
        and rule.get("IpProtocol") == "tcp"
        and rule.get("FromPort") == 443
        and rule.get("ToPort") == 443
    ):
        return None
    referenced = (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
    return referenced or rule.get("PrefixListId") or rule.get("CidrIpv4") or rule.get("CidrIpv6")
