"""The inventory lists what sessions still own, and is empty once they cleaned up."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.local import LocalAws, SeededCluster

pytestmark = pytest.mark.local

SESSION_TAG = "fargate-bastion:session"


def _open_session(aws: LocalAws, cluster: SeededCluster, session_id: str) -> dict[str, Any]:
    """What a session creates: its group, a rule on the control plane, a task, a parameter."""
    ec2, ecs, ssm = aws.client("ec2"), aws.client("ecs"), aws.client("ssm")
    tags = [{"Key": SESSION_TAG, "Value": session_id}]
    group_id = ec2.create_security_group(
        GroupName=f"bastion-{session_id}",
        Description="session",
        VpcId=cluster.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
    )["GroupId"]
    rule = ec2.authorize_security_group_ingress(
        GroupId=cluster.cluster_security_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": group_id}],
            }
        ],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": tags}],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    task_arn = ecs.run_task(
        cluster="bastions",
        taskDefinition="bastion",
        launchType="FARGATE",
        startedBy=session_id,
        tags=[{"key": SESSION_TAG, "value": session_id}],
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [cluster.public_subnet_ids[0]],
                "securityGroups": [group_id],
                "assignPublicIp": "ENABLED",
            }
        },
    )["tasks"][0]["taskArn"]
    parameter = f"/fargate-bastion/sessions/{session_id}"
    ssm.put_parameter(Name=parameter, Value="task-token", Type="String")
    return {"group": group_id, "rule": rule, "task": task_arn, "parameter": parameter}


def _close_session(aws: LocalAws, cluster: SeededCluster, owned: dict[str, Any]) -> None:
    ec2 = aws.client("ec2")
    aws.client("ecs").stop_task(cluster="bastions", task=owned["task"])
    ec2.revoke_security_group_ingress(
        GroupId=cluster.cluster_security_group_id, SecurityGroupRuleIds=[owned["rule"]]
    )
    ec2.delete_security_group(GroupId=owned["group"])
    aws.client("ssm").delete_parameter(Name=owned["parameter"])


@pytest.fixture
def cluster(aws: LocalAws) -> SeededCluster:
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="bastions")
    ecs.register_task_definition(
        family="bastion",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "bastion", "image": "bastion:test"}],
    )
    return aws.seed_cluster("demo")


def test_the_inventory_lists_each_sessions_resources(aws: LocalAws, cluster: SeededCluster) -> None:
    # GIVEN two open sessions
    first = _open_session(aws, cluster, "s-1")
    _open_session(aws, cluster, "s-2")

    # WHEN the inventory of one, then of all, is read
    mine = aws.inventory("s-1")
    everything = aws.inventory()

    # THEN it lists exactly that session's resources, by kind
    assert [r.resource_id for r in mine.security_groups] == [first["group"]]
    assert [r.resource_id for r in mine.control_plane_rules] == [first["rule"]]
    assert [r.resource_id for r in mine.running_tasks] == [first["task"]]
    assert [r.resource_id for r in mine.hold_parameters] == [first["parameter"]]
    assert mine.session_ids == {"s-1"}
    assert not mine.is_empty
    assert len(everything.resources) == 8 and everything.session_ids == {"s-1", "s-2"}
    table = mine.render()
    assert first["group"] in table and first["task"] in table and "s-1" in table
    assert table.splitlines()[-1].startswith("4 session-owned resources:")


def test_the_inventory_does_not_advance_a_tasks_lifecycle(
    aws: LocalAws, cluster: SeededCluster
) -> None:
    aws.ecs_control.describes_until_running = 1
    owned = _open_session(aws, cluster, "s-1")

    aws.inventory()
    aws.inventory()

    described = aws.client("ecs").describe_tasks(cluster="bastions", tasks=[owned["task"]])
    assert described["tasks"][0]["lastStatus"] == "RUNNING"  # the first counted describe


def test_an_untagged_rule_that_references_a_session_group_is_listed(
    aws: LocalAws, cluster: SeededCluster
) -> None:
    owned = _open_session(aws, cluster, "s-1")
    ec2 = aws.client("ec2")
    ec2.authorize_security_group_ingress(
        GroupId=cluster.cluster_security_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": owned["group"]}],
            }
        ],
    )

    rules = aws.inventory("s-1").control_plane_rules

    assert len(rules) == 2 and {rule.session_id for rule in rules} == {"s-1"}


def test_the_inventory_is_empty_once_sessions_cleaned_up(
    aws: LocalAws, cluster: SeededCluster
) -> None:
    owned = _open_session(aws, cluster, "s-1")

    _close_session(aws, cluster, owned)
    inventory = aws.inventory()

    assert inventory.is_empty, inventory.render()
    assert inventory.render() == "No session-owned resources."
