"""The control-plane rule lands on the narrowest group the cluster offers, and the ready
document says which.

A cluster with an additional security group marked ``fargate-bastion:control-plane`` =
its name gets the session's rule on that group (``control-plane-only``), never on its
cluster security group, which EKS also attaches to nodes and Fargate pods; a cluster with
none gets it on the cluster security group, and the ready document says
``cluster-security-group``. Teardown removes the rule from wherever it landed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tasks.common.models import CLUSTER_SECURITY_GROUP, CONTROL_PLANE_ONLY
from tasks.common.tags import CONTROL_PLANE_GROUP_TAG
from tests.workflow.harness import Harness, deploy_for_tests

pytestmark = pytest.mark.workflow

MARKED_CLUSTER = "orders"


def inbound_from(ec2: Any, group_id: str, source_group: str) -> list[dict[str, Any]]:
    """The inbound rules of ``group_id`` that let ``source_group`` in."""
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroupRules"
    ]
    return [
        rule
        for rule in rules
        if not rule["IsEgress"]
        and (rule.get("ReferencedGroupInfo") or {}).get("GroupId") == source_group
    ]


@pytest.fixture
def marked() -> Iterator[tuple[Harness, str, str]]:
    """A stack allowed two clusters of one VPC: ``payments`` (no marked group) and
    ``orders``, whose additional group is marked for bastions. Yields the harness, the
    marked group and orders' cluster security group."""
    from bastion.local import LocalAws

    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        payments = aws.seed_cluster("payments", endpoint_private=True, endpoint_public=False)
        ec2 = aws.client("ec2")
        marked_group = ec2.create_security_group(
            GroupName="orders-control-plane",
            Description="orders: the control plane's interfaces only",
            VpcId=payments.vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": CONTROL_PLANE_GROUP_TAG, "Value": MARKED_CLUSTER}],
                }
            ],
        )["GroupId"]
        eks = aws.client("eks")
        eks.create_cluster(
            name=MARKED_CLUSTER,
            roleArn="arn:aws:iam::123456789012:role/payments-eks-cluster-role",
            resourcesVpcConfig={
                "subnetIds": list(payments.private_subnet_ids),
                "securityGroupIds": [marked_group],
                "endpointPrivateAccess": True,
                "endpointPublicAccess": False,
            },
        )
        cluster_group = eks.describe_cluster(name=MARKED_CLUSTER)["cluster"]["resourcesVpcConfig"][
            "clusterSecurityGroupId"
        ]
        harness = deploy_for_tests(
            aws,
            cluster=payments,
            parameters={"AllowedClusters": f"payments,{MARKED_CLUSTER}"},
        )
        yield harness, marked_group, cluster_group


def test_the_rule_lands_on_the_marked_control_plane_group(
    marked: tuple[Harness, str, str],
) -> None:
    harness, marked_group, cluster_group = marked
    # GIVEN a session on the cluster with a marked control-plane-only group
    session_id, arn = harness.start(harness.request(cluster=MARKED_CLUSTER, durationMinutes=480))
    # WHEN it holds
    ready = harness.wait_until_holding(arn, session_id)
    # THEN the ready document says the rule reaches the control plane only
    assert ready["ready"]["controlPlaneRuleScope"] == CONTROL_PLANE_ONLY
    # AND the rule is on the marked group, and nothing lets the session into the cluster
    # security group (nodes and Fargate pods)
    (session_group,) = [
        g["GroupId"]
        for g in harness.ec2.describe_security_groups(
            Filters=[{"Name": "tag:fargate-bastion:session", "Values": [session_id]}]
        )["SecurityGroups"]
    ]
    (rule,) = inbound_from(harness.ec2, marked_group, session_group)
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
    assert inbound_from(harness.ec2, cluster_group, session_group) == []
    # WHEN the session ends, THEN the rule is gone from the marked group too
    assert harness.end_session(session_id, "ended-by-user")["functionError"] is None
    assert harness.finish(arn)["status"] == "SUCCEEDED"
    assert inbound_from(harness.ec2, marked_group, session_group) == []
    inventory = harness.aws.inventory()
    assert inventory.is_empty, inventory.render()


def test_without_a_marked_group_the_ready_document_says_cluster_security_group(
    marked: tuple[Harness, str, str],
) -> None:
    harness, _, _ = marked
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    ready = harness.wait_until_holding(arn, session_id)
    assert ready["ready"]["controlPlaneRuleScope"] == CLUSTER_SECURITY_GROUP
    assert len(harness.control_plane_rules()) == 2  # EKS's own rule, and the session's
    assert harness.end_session(session_id, "ended-by-user")["functionError"] is None
    assert harness.finish(arn)["status"] == "SUCCEEDED"
