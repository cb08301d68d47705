"""The stack's egress destinations: groups, prefix lists and CIDRs, nothing looser."""

from __future__ import annotations

import pytest

from tasks.common.egress import https_to
from tasks.common.settings import Settings, SettingsError

pytestmark = pytest.mark.unit

NAME = "BASTION_EGRESS_DESTINATIONS"


def test_groups_prefix_lists_and_cidrs_are_read_in_order() -> None:
    settings = Settings.from_environ(
        {NAME: "sg-0123456789abcdef0, pl-63a5400a,10.0.64.0/24,2001:db8::/56"}
    )
    assert settings.egress_destinations == (
        "sg-0123456789abcdef0",
        "pl-63a5400a",
        "10.0.64.0/24",
        "2001:db8::/56",
    )
    assert Settings.from_environ({}).egress_destinations == ()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("*", "must list security group ids"),
        ("sg-*", "must list security group ids"),
        ("pl-", "must list security group ids"),
        ("example.com", "must list security group ids"),
        ("10.0.64.1/24", "must list security group ids"),
        ("10.0.64.0/33", "must list security group ids"),
        ("010.0.64.0/24", "must list security group ids"),
        (",".join(f"10.0.{n}.0/24" for n in range(11)), "at most 10"),
    ],
)
def test_anything_else_is_refused_naming_the_variable(value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem) as refused:
        Settings.from_environ({NAME: value})
    assert NAME in str(refused.value)


def test_each_destination_is_one_https_permission() -> None:
    assert https_to("sg-0123456789abcdef0", "d")["UserIdGroupPairs"] == [
        {"GroupId": "sg-0123456789abcdef0", "Description": "d"}
    ]
    assert https_to("pl-63a5400a", "d")["PrefixListIds"] == [
        {"PrefixListId": "pl-63a5400a", "Description": "d"}
    ]
    assert https_to("2001:db8::/56", "d")["Ipv6Ranges"] == [
        {"CidrIpv6": "2001:db8::/56", "Description": "d"}
    ]
    permission = https_to("0.0.0.0/0", "d")
    assert (permission["FromPort"], permission["ToPort"], permission["IpProtocol"]) == (
        443,
        443,
        "tcp",
    )
