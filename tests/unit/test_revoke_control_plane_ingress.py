"""RevokeControlPlaneIngress (teardown): close the session's door on the control plane."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.authorize_control_plane_ingress import (
    AuthorizeControlPlaneIngressInput,
    authorize_control_plane_ingress,
)
from tasks.common.models import Session
from tasks.create_session_security_group import (
    CreateSessionSecurityGroupInput,
    create_session_security_group,
)
from tasks.revoke_control_plane_ingress import (
    RevokeControlPlaneIngressInput,
    RevokedRules,
    handler,
    revoke_control_plane_ingress,
)
from tests.unit.support import STACK, LambdaContextStub, Network, client, load_event, make_session

pytestmark = pytest.mark.unit


def open_door(session: Session, network: Network) -> tuple[str, str]:
    """The session group and its rule on the control plane, as the setup tasks make them."""
    group_id = create_session_security_group(
        CreateSessionSecurityGroupInput(
            session=session,
            vpc_id=network.vpc_id,
            control_plane_group_id=network.control_plane_group_id,
        ),
        stack_name=STACK,
        ec2=client("ec2"),
    ).group_id
    rule_id = authorize_control_plane_ingress(
        AuthorizeControlPlaneIngressInput(
            session=session,
            cluster_security_group_id=network.control_plane_group_id,
            session_security_group_id=group_id,
        ),
        stack_name=STACK,
        ec2=client("ec2"),
    ).rule_id
    return group_id, rule_id


def revoke(session_id: str = "s-0001") -> RevokedRules:
    request = RevokeControlPlaneIngressInput(session_id=session_id)
    return revoke_control_plane_ingress(request, stack_name=STACK, ec2=client("ec2"))


def rule_ids(group_id: str) -> set[str]:
    rules: list[dict[str, Any]] = client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroupRules"]
    return {rule["SecurityGroupRuleId"] for rule in rules}


def test_revokes_the_sessions_rule_only(network: Network, session: Session) -> None:
    # GIVEN this session's door and another session's, on the same control plane
    group_id, rule_id = open_door(session, network)
    _, other_rule = open_door(make_session("s-0002"), network)
    own_rules = rule_ids(group_id)
    # WHEN the session's ingress is revoked
    result = revoke()
    # THEN its rule is gone, the other session's stays, and the session group's own
    # rules are left for the group's deletion
    assert [door.to_dict() for door in result.revoked] == [
        {
            "groupId": network.control_plane_group_id,
            "sessionGroupId": group_id,
            "ipProtocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
        }
    ]
    remaining = rule_ids(network.control_plane_group_id)
    assert rule_id not in remaining
    assert other_rule in remaining
    assert rule_ids(group_id) == own_rules


def test_a_rerun_or_nothing_there_is_success(network: Network, session: Session) -> None:
    assert revoke() == RevokedRules(())
    _, rule_id = open_door(session, network)
    assert len(revoke().revoked) == 1
    assert rule_id not in rule_ids(network.control_plane_group_id)
    assert revoke() == RevokedRules(())


def test_an_untagged_rule_referring_to_the_session_group_is_revoked(
    network: Network, session: Session
) -> None:
    # GIVEN rules made without tags (by hand, or by an older version) that let the
    # session group in: on the control plane and on another group
    group_id = create_session_security_group(
        CreateSessionSecurityGroupInput(
            session=session,
            vpc_id=network.vpc_id,
            control_plane_group_id=network.control_plane_group_id,
        ),
        stack_name=STACK,
        ec2=client("ec2"),
    ).group_id
    ec2 = client("ec2")
    elsewhere = ec2.create_security_group(
        GroupName="database", Description="db", VpcId=network.vpc_id
    )["GroupId"]
    made = []
    for target, port in ((network.control_plane_group_id, 443), (elsewhere, 5432)):
        response = ec2.authorize_security_group_ingress(
            GroupId=target,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "UserIdGroupPairs": [{"GroupId": group_id}],
                }
            ],
        )
        made.append(response["SecurityGroupRules"][0]["SecurityGroupRuleId"])
    # WHEN the session's ingress is revoked
    result = revoke()
    # THEN both are gone
    assert sorted((door.group_id, door.from_port) for door in result.revoked) == sorted(
        [(network.control_plane_group_id, 443), (elsewhere, 5432)]
    )
    assert not set(made) & (rule_ids(network.control_plane_group_id) | rule_ids(elsewhere))


def test_the_handler_reads_the_event_file(
    network: Network, session: Session, context: LambdaContextStub
) -> None:
    group_id, rule_id = open_door(session, network)
    result = handler(load_event("revoke_control_plane_ingress"), context)
    assert result["revokedRules"] == [
        {
            "groupId": network.control_plane_group_id,
            "sessionGroupId": group_id,
            "ipProtocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
        }
    ]
    assert rule_id not in rule_ids(network.control_plane_group_id)


def test_a_permission_shared_with_another_group_loses_only_the_session_group(
    network: Network, session: Session
) -> None:
    # GIVEN one permission on the control plane that lets both the session group and an
    # unrelated group in on 443
    group_id, _ = open_door(session, network)
    ec2 = client("ec2")
    neighbour = ec2.create_security_group(
        GroupName="neighbour", Description="not a session", VpcId=network.vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=network.control_plane_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": neighbour}],
            }
        ],
    )
    # WHEN the session's ingress is revoked
    revoke()
    # THEN the neighbour's way in stays, and the session group's is gone
    referenced = {
        (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
        for rule in ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [network.control_plane_group_id]}]
        )["SecurityGroupRules"]
        if not rule["IsEgress"]
    }
    assert neighbour in referenced
    assert group_id not in referenced
