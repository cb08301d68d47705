"""AuthorizeControlPlaneIngress: HTTPS from the session group to the control plane."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.authorize_control_plane_ingress import (
    AuthorizeControlPlaneIngressInput,
    ControlPlaneIngress,
    authorize_control_plane_ingress,
    handler,
)
from tasks.common.errors import ControlPlaneRuleQuotaReached
from tasks.common.models import Session
from tasks.common.tags import session_tags
from tests.unit.support import STACK, LambdaContextStub, Network, client, load_event, tags_of

pytestmark = pytest.mark.unit


def authorize(session: Session, network: Network, session_group: str) -> ControlPlaneIngress:
    request = AuthorizeControlPlaneIngressInput(
        session=session,
        cluster_security_group_id=network.control_plane_group_id,
        session_security_group_id=session_group,
    )
    return authorize_control_plane_ingress(request, stack_name=STACK, ec2=client("ec2"))


def rules_from(group_id: str, source_group: str) -> list[dict[str, Any]]:
    rules = client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroupRules"]
    return [
        rule
        for rule in rules
        if (rule.get("ReferencedGroupInfo") or {}).get("GroupId") == source_group
    ]


def test_adds_a_tagged_https_rule_from_the_session_group(
    network: Network, session: Session, session_group: str
) -> None:
    # WHEN the control-plane ingress is authorized
    result = authorize(session, network, session_group)
    # THEN the control-plane group has one rule: TCP 443 from the session group
    (rule,) = rules_from(network.control_plane_group_id, session_group)
    assert result == ControlPlaneIngress(
        rule["SecurityGroupRuleId"], network.control_plane_group_id
    )
    assert (rule["IsEgress"], rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == (
        False,
        "tcp",
        443,
        443,
    )
    # (moto's DescribeSecurityGroupRules omits a group pair's Description: read the group)
    (group,) = client("ec2").describe_security_groups(GroupIds=[network.control_plane_group_id])[
        "SecurityGroups"
    ]
    pairs = [pair for perm in group["IpPermissions"] for pair in perm["UserIdGroupPairs"]]
    assert {pair["GroupId"]: pair["Description"] for pair in pairs} == {
        session_group: f"fargate-bastion session s-0001 (stack {STACK})"
    }
    # AND it carries the session's tags, so teardown finds it
    assert tags_of(rule) == session_tags(session, STACK)


def test_a_rerun_returns_the_same_rule(
    network: Network, session: Session, session_group: str
) -> None:
    first = authorize(session, network, session_group)
    second = authorize(session, network, session_group)
    assert second == first
    assert len(rules_from(network.control_plane_group_id, session_group)) == 1


def test_a_full_control_plane_group_is_a_named_error(
    network: Network, session: Session, session_group: str
) -> None:
    # GIVEN a control-plane group already holding the 60 inbound rules a group may have
    client("ec2").authorize_security_group_ingress(
        GroupId=network.control_plane_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": f"10.9.{i}.0/24"} for i in range(60)],
            }
        ],
    )
    # WHEN the session's rule is authorized
    with pytest.raises(ControlPlaneRuleQuotaReached) as raised:
        authorize(session, network, session_group)
    # THEN the error names the group and the quota
    assert network.control_plane_group_id in str(raised.value)
    assert "60" in str(raised.value)
    assert rules_from(network.control_plane_group_id, session_group) == []


def test_the_handler_reads_the_event_file(
    network: Network, session_group: str, context: LambdaContextStub
) -> None:
    event = load_event("authorize_control_plane_ingress")
    event["controlPlane"]["controlPlaneSecurityGroupId"] = network.control_plane_group_id
    event["sessionSecurityGroup"]["groupId"] = session_group
    output = handler(event, context)
    (rule,) = rules_from(network.control_plane_group_id, session_group)
    assert output == {
        "ruleId": rule["SecurityGroupRuleId"],
        "clusterSecurityGroupId": network.control_plane_group_id,
    }
