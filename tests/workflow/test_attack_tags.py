"""Attacks by a co-tenant who may tag resources: tags make a resource look like a session's.

Anyone with ``ec2:CreateTags`` on a security group (or rule) can give it this stack's
session and stack tags. The sweeper and the teardown find a session's resources by those
tags, and the functions' IAM is scoped by them, so a group or rule the stack never made
must still never be deleted or revoked because of tags someone else wrote.
"""

from __future__ import annotations

import pytest

from tasks.common.tags import SESSION_TAG, STACK_TAG
from tests.workflow.harness import Harness
from tests.workflow.test_stack_scoping import sweep

pytestmark = pytest.mark.workflow

FORGED_SESSION = "forged-by-a-co-tenant"


def test_the_sweeper_never_deletes_a_group_or_rule_it_did_not_make_whatever_its_tags(
    harness: Harness,
) -> None:
    ec2 = harness.ec2
    forged = [
        {"Key": STACK_TAG, "Value": harness.stack.stack_name},
        {"Key": SESSION_TAG, "Value": FORGED_SESSION},
    ]
    # GIVEN another team's group in the cluster's VPC, and a node rule on the cluster's
    # security group, both tagged by a co-tenant as if a session of this stack owned them
    group_id = ec2.create_security_group(
        GroupName="payments-app", Description="another team's", VpcId=harness.cluster.vpc_id
    )["GroupId"]
    cluster_group = harness.cluster.cluster_security_group_id
    rule_ids = [
        rule["SecurityGroupRuleId"]
        for rule in ec2.authorize_security_group_ingress(
            GroupId=cluster_group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 10250,
                    "ToPort": 10250,
                    "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
                }
            ],
        )["SecurityGroupRules"]
    ]
    ec2.create_tags(Resources=[group_id, *rule_ids], Tags=forged)

    # WHEN the stack's sweeper runs
    sweep(harness)

    # THEN both are still there
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroups"
    ]
    assert [group["GroupId"] for group in groups] == [group_id]
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "security-group-rule-id", "Values": rule_ids}]
    )["SecurityGroupRules"]
    assert sorted(rule["SecurityGroupRuleId"] for rule in rules) == sorted(rule_ids)
