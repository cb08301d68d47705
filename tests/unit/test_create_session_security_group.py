"""CreateSessionSecurityGroup: SSH in from the allowed CIDRs, HTTPS out, and nothing else."""

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


def create(session: Session, network: Network) -> SessionSecurityGroup:
    request = CreateSessionSecurityGroupInput(session=session, vpc_id=network.vpc_id)
    return create_session_security_group(request, stack_name=STACK, ec2=client("ec2"))


def rules_of(group_id: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroupRules"]
    return rules


def summary(rules: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """(egress?, protocol, from, to, CIDR) of each rule."""
    return {
        (
            rule["IsEgress"],
            rule["IpProtocol"],
            rule["FromPort"],
            rule["ToPort"],
            rule.get("CidrIpv4") or rule.get("CidrIpv6"),
        )
        for rule in rules
    }


EXPECTED_RULES = {
    (False, "tcp", 22, 22, "203.0.113.7/32"),
    (False, "tcp", 22, 22, "2001:db8:1234::/64"),
    (True, "tcp", 443, 443, "0.0.0.0/0"),
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
    # AND its rules are SSH from each allowed CIDR and HTTPS out, nothing else
    rules = rules_of(result.group_id)
    assert summary(rules) == EXPECTED_RULES
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
    assert summary(rules_of(first.group_id)) == EXPECTED_RULES
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
    assert summary(rules_of(group_id)) == EXPECTED_RULES


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
    event["vpcId"] = network.vpc_id
    output = handler(event, context)
    assert output["created"] is True
    (group,) = session_security_groups("s-0001")
    assert output == {"groupId": group["GroupId"], "created": True}
    assert tags_of(group)["fargate-bastion:requested-by"] == event["session"]["requestedBy"]
