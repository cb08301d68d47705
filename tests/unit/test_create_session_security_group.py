"""CreateSessionSecurityGroup: SSH in from the allowed CIDRs, HTTPS out to the control plane
and the stack's egress destinations, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks.common.models import Session
from tasks.common.security_groups import session_group_name
from tasks.common.tags import SESSION_TAG, session_tags
from tasks.create_session_security_group import (
    CreateSessionSecurityGroupInput,
    SessionSecurityGroup,
    create_session_security_group,
    handler,
)
from tests.unit.support import (
    STACK,
    LambdaContextStub,
    Network,
    client,
    load_event,
    session_security_groups,
    tags_of,
)

pytestmark = pytest.mark.unit


def create(
    session: Session, network: Network, egress: tuple[str, ...] = ()
) -> SessionSecurityGroup:
    request = CreateSessionSecurityGroupInput(
        session=session,
        vpc_id=network.vpc_id,
        control_plane_group_id=network.control_plane_group_id,
    )
    return create_session_security_group(
        request, stack_name=STACK, ec2=client("ec2"), egress_destinations=egress
    )


def rules_of(group_id: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroupRules"]
    return rules


def summary(rules: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """(egress?, protocol, from, to, CIDR or group or prefix list) of each rule."""
    return {
        (
            rule["IsEgress"],
            rule["IpProtocol"],
            rule["FromPort"],
            rule["ToPort"],
            rule.get("CidrIpv4")
            or rule.get("CidrIpv6")
            or (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
            or rule.get("PrefixListId"),
        )
        for rule in rules
    }


SSH_RULES = {
    (False, "tcp", 22, 22, "203.0.113.7/32"),
    (False, "tcp", 22, 22, "2001:db8:1234::/64"),
}


def expected_rules(network: Network, *egress: str) -> set[tuple[Any, ...]]:
    """SSH from the session's CIDRs; HTTPS to the control plane and ``egress`` only."""
    return SSH_RULES | {
        (True, "tcp", 443, 443, destination)
        for destination in (network.control_plane_group_id, *egress)
    }


def test_creates_the_group_with_exactly_the_session_rules(
    network: Network, session: Session
) -> None:
    # WHEN the session group is created
    result = create(session, network)
    # THEN it is new, named after the session, tagged, in the cluster's VPC
    assert result.created is True
    (group,) = session_security_groups(session.session_id)
    assert group["GroupId"] == result.group_id
    assert group["GroupName"] == session_group_name("s-0001", STACK)
    assert group["VpcId"] == network.vpc_id
    assert "s-0001" in group["Description"]
    assert tags_of(group) == session_tags(session, STACK)
    # AND its rules are SSH from each allowed CIDR and HTTPS to the control plane's group
    # only: no address range anywhere in the VPC, let alone the internet
    rules = rules_of(result.group_id)
    assert summary(rules) == expected_rules(network)
    assert len(rules) == 3
    # AND every rule is tagged with the session and the SSH rules say what they are for
    for rule in rules:
        assert tags_of(rule)[SESSION_TAG] == "s-0001"
    ssh = [rule for rule in rules if rule["FromPort"] == 22]
    assert all(rule["Description"] == "SSH to fargate-bastion session s-0001" for rule in ssh)


def test_a_rerun_finds_the_group_and_duplicates_nothing(network: Network, session: Session) -> None:
    first = create(session, network)
    second = create(session, network)
    assert second == SessionSecurityGroup(first.group_id, created=False)
    assert len(session_security_groups(session.session_id)) == 1
    assert summary(rules_of(first.group_id)) == expected_rules(network)
    assert len(rules_of(first.group_id)) == 3


def test_a_rerun_after_a_partial_success_converges(network: Network, session: Session) -> None:
    # GIVEN the group of a first attempt that died right after creating it: no SSH rule,
    # and still the default allow-all egress
    ec2 = client("ec2")
    group_id = ec2.create_security_group(
        GroupName=session_group_name("s-0001", STACK),
        Description="fargate-bastion session s-0001",
        VpcId=network.vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [{"Key": k, "Value": v} for k, v in session_tags(session, STACK).items()],
            }
        ],
    )["GroupId"]
    assert (True, "-1", -1, -1, "0.0.0.0/0") in summary(rules_of(group_id))
    # WHEN the task runs again
    result = create(session, network)
    # THEN it adopts the group and its rules become exactly the session's
    assert result == SessionSecurityGroup(group_id, created=False)
    assert summary(rules_of(group_id)) == expected_rules(network)


def test_an_untagged_group_with_the_name_is_not_adopted(network: Network, session: Session) -> None:
    client("ec2").create_security_group(
        GroupName=session_group_name("s-0001", STACK),
        Description="someone else's",
        VpcId=network.vpc_id,
    )
    with pytest.raises(ClientError, match="InvalidGroup.Duplicate"):
        create(session, network)
    assert session_security_groups(session.session_id) == []


def test_the_handler_reads_the_event_file(
    network: Network, settings_env: object, context: LambdaContextStub
) -> None:
    event = load_event("create_session_security_group")
    event["controlPlane"]["vpcId"] = network.vpc_id
    event["controlPlane"]["controlPlaneSecurityGroupId"] = network.control_plane_group_id
    output = handler(event, context)
    assert output["created"] is True
    (group,) = session_security_groups("s-0001")
    assert output == {"groupId": group["GroupId"], "created": True}
    assert tags_of(group)["fargate-bastion:requested-by"] == event["session"]["requestedBy"]


def test_the_stacks_egress_destinations_get_https_and_nothing_more(
    network: Network, session: Session
) -> None:
    # GIVEN a stack naming its endpoints' group and a CIDR for the task's pull and logs
    endpoints_group = client("ec2").create_security_group(
        GroupName="vpc-endpoints", Description="interface endpoints", VpcId=network.vpc_id
    )["GroupId"]
    egress = (endpoints_group, "10.0.64.0/24")
    # WHEN the session group is created, then created again with another stack setting
    result = create(session, network, egress)
    assert summary(rules_of(result.group_id)) == expected_rules(network, *egress)
    create(session, network, ("10.0.64.0/24",))
    # THEN each rerun converges on exactly the destinations it was given
    assert summary(rules_of(result.group_id)) == expected_rules(network, "10.0.64.0/24")


@pytest.mark.parametrize(
    ("group_id", "problem"),
    [
        ("*", "controlPlaneSecurityGroupId must be a group id"),
        ("sg-*", "controlPlaneSecurityGroupId must be a group id"),
        ("0.0.0.0/0", "controlPlaneSecurityGroupId must be a group id"),
        ("", "controlPlaneSecurityGroupId must be a group id"),
    ],
)
def test_a_control_plane_group_that_is_not_a_group_id_is_refused(
    network: Network, session: Session, group_id: str, problem: str
) -> None:
    event = load_event("create_session_security_group")
    event["controlPlane"]["controlPlaneSecurityGroupId"] = group_id
    with pytest.raises(ValueError, match=problem):
        CreateSessionSecurityGroupInput.from_event(event)
    assert session_security_groups(session.session_id) == []


def private(session: Session) -> Session:
    """``session`` in private mode, still naming networks (as no private request may)."""
    from dataclasses import replace

    return replace(session, access_mode="private", requester_id="AROAEXAMPLE:alice")


def test_a_private_session_group_lets_nothing_in_even_if_the_session_names_networks(
    network: Network, session: Session
) -> None:
    # GIVEN a private session whose input still names networks
    hostile = private(session)
    assert hostile.allowed_cidrs
    # WHEN its group is created
    result = create(hostile, network, egress=("pl-0123456789abcdef0",))
    # THEN it has no ingress rule at all, and its egress is the public mode's
    rules = rules_of(result.group_id)
    assert [rule for rule in rules if not rule["IsEgress"]] == []
    (group,) = session_security_groups(session.session_id)
    assert group["IpPermissions"] == []
    assert summary(rules) == expected_rules(network, "pl-0123456789abcdef0") - SSH_RULES
    # AND the group carries the requester id
    assert tags_of(group)["fargate-bastion:requester-id"] == "AROAEXAMPLE:alice"


#: An inbound rule nobody asked for: SSH from anywhere.
SSH_FROM_ANYWHERE = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}


def test_a_rerun_of_a_private_session_removes_any_ingress_rule(
    network: Network, session: Session
) -> None:
    # GIVEN the private session's group with an SSH rule on it (put there by hand)
    first = create(private(session), network)
    client("ec2").authorize_security_group_ingress(
        GroupId=first.group_id,
        IpPermissions=[SSH_FROM_ANYWHERE],
    )
    # WHEN the step runs again
    create(private(session), network)
    # THEN the group lets nothing in
    assert [rule for rule in rules_of(first.group_id) if not rule["IsEgress"]] == []


def test_a_rerun_of_a_public_session_keeps_only_the_sessions_ssh_rules(
    network: Network, session: Session
) -> None:
    # GIVEN the public session's group with inbound rules it never asked for: SSH from
    # anywhere, every port from the VPC, and the control plane's group let in
    first = create(session, network)
    client("ec2").authorize_security_group_ingress(
        GroupId=first.group_id,
        IpPermissions=[
            SSH_FROM_ANYWHERE,
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "IpRanges": [{"CidrIp": "203.0.113.7/32"}],
            },
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": network.control_plane_group_id}]},
        ],
    )
    # WHEN the step runs again (a retry, or a group found by its name and tags)
    create(session, network)
    # THEN its rules are exactly the session's again: SSH from its networks, nothing else in
    assert summary(rules_of(first.group_id)) == expected_rules(network)
    assert len(rules_of(first.group_id)) == 3
