"""EC2 security groups and interfaces behave as the bastion's teardown meets them on AWS."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from tests.local.conftest import create_network

pytestmark = pytest.mark.local

SESSION_TAG = "fargate-bastion:session"


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _https_from(group_id: str, description: str | None = None) -> list[dict[str, Any]]:
    pair: dict[str, str] = {"GroupId": group_id}
    if description is not None:
        pair["Description"] = description
    return [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [pair]}]


def _control_plane_group(aws: LocalAws, vpc_id: str) -> str:
    return str(
        aws.client("ec2").create_security_group(
            GroupName="control-plane", Description="cluster", VpcId=vpc_id
        )["GroupId"]
    )


def test_a_group_used_by_an_interface_cannot_be_deleted(aws: LocalAws) -> None:
    ec2 = aws.client("ec2")
    network = create_network(aws)
    eni = ec2.create_network_interface(SubnetId=network.subnet_id, Groups=[network.group_id])

    with pytest.raises(ClientError) as refused:
        ec2.delete_security_group(GroupId=network.group_id)
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"])
    ec2.delete_security_group(GroupId=network.group_id)

    assert _code(refused) == "DependencyViolation"
    assert network.group_id in refused.value.response["Error"]["Message"]


def test_a_group_referenced_by_another_groups_rule_cannot_be_deleted(aws: LocalAws) -> None:
    ec2 = aws.client("ec2")
    network = create_network(aws)
    control_plane = _control_plane_group(aws, network.vpc_id)
    ec2.authorize_security_group_ingress(
        GroupId=control_plane, IpPermissions=_https_from(network.group_id)
    )

    with pytest.raises(ClientError) as refused:
        ec2.delete_security_group(GroupId=network.group_id)
    ec2.revoke_security_group_ingress(
        GroupId=control_plane, IpPermissions=_https_from(network.group_id)
    )
    ec2.delete_security_group(GroupId=network.group_id)

    assert _code(refused) == "DependencyViolation"


def test_a_self_referencing_rule_does_not_block_deletion(aws: LocalAws) -> None:
    ec2 = aws.client("ec2")
    network = create_network(aws)
    ec2.authorize_security_group_ingress(
        GroupId=network.group_id,
        IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": network.group_id}]}],
    )

    ec2.delete_security_group(GroupId=network.group_id)

    assert not ec2.describe_security_groups(
        Filters=[{"Name": "group-id", "Values": [network.group_id]}]
    )["SecurityGroups"]


def test_rule_matching_ignores_the_description(aws: LocalAws) -> None:
    # GIVEN a group-pair rule with a description
    ec2 = aws.client("ec2")
    network = create_network(aws)
    control_plane = _control_plane_group(aws, network.vpc_id)
    ec2.authorize_security_group_ingress(
        GroupId=control_plane, IpPermissions=_https_from(network.group_id, "bastion s-1")
    )

    # WHEN the same pair is authorized again with another description
    with pytest.raises(ClientError) as duplicate:
        ec2.authorize_security_group_ingress(
            GroupId=control_plane, IpPermissions=_https_from(network.group_id, "other")
        )
    # ... and revoked without any description
    ec2.revoke_security_group_ingress(
        GroupId=control_plane, IpPermissions=_https_from(network.group_id)
    )

    # THEN the second was a duplicate and the revoke found the rule
    assert _code(duplicate) == "InvalidPermission.Duplicate"
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [control_plane]}]
    )["SecurityGroupRules"]
    assert not [rule for rule in rules if not rule["IsEgress"]]


def test_rules_are_tagged_found_by_tag_and_id_and_revoked_by_id(aws: LocalAws) -> None:
    ec2 = aws.client("ec2")
    network = create_network(aws)
    control_plane = _control_plane_group(aws, network.vpc_id)
    authorized = ec2.authorize_security_group_ingress(
        GroupId=control_plane,
        IpPermissions=_https_from(network.group_id, "bastion s-1"),
        TagSpecifications=[
            {"ResourceType": "security-group-rule", "Tags": [{"Key": SESSION_TAG, "Value": "s-1"}]}
        ],
    )
    rule_id = authorized["SecurityGroupRules"][0]["SecurityGroupRuleId"]

    def found(**query: Any) -> list[str]:
        rules = ec2.describe_security_group_rules(**query)["SecurityGroupRules"]
        return [rule["SecurityGroupRuleId"] for rule in rules]

    assert found(Filters=[{"Name": f"tag:{SESSION_TAG}", "Values": ["s-1"]}]) == [rule_id]
    assert found(Filters=[{"Name": "tag-key", "Values": [SESSION_TAG]}]) == [rule_id]
    assert rule_id in found(Filters=[{"Name": "group-id", "Values": [control_plane]}])
    described = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])
    assert described["SecurityGroupRules"][0]["Description"] == "bastion s-1"

    ec2.revoke_security_group_ingress(GroupId=control_plane, SecurityGroupRuleIds=[rule_id])
    with pytest.raises(ClientError) as missing:
        ec2.revoke_security_group_ingress(GroupId=control_plane, SecurityGroupRuleIds=[rule_id])
    assert _code(missing) == "InvalidPermission.NotFound"
    assert found(Filters=[{"Name": "tag-key", "Values": [SESSION_TAG]}]) == []


def test_interfaces_get_a_private_dns_name_without_vpc_dns_hostnames(aws: LocalAws) -> None:
    network = create_network(aws, dns_hostnames=False)

    eni = aws.client("ec2").create_network_interface(SubnetId=network.subnet_id)

    assert eni["NetworkInterface"]["PrivateDnsName"].endswith(".ec2.internal")
