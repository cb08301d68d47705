"""Fargate tasks: RunTask works, tasks have a lifecycle, an interface, a public address."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from tests.local.conftest import ECS_CLUSTER, Network, create_fargate_cluster, create_network

pytestmark = pytest.mark.local

CLUSTER = ECS_CLUSTER
SESSION_TAG = "fargate-bastion:session"


@pytest.fixture
def network(aws: LocalAws) -> Network:
    """A VPC without DNS hostnames, an ECS cluster and a Fargate task definition sized
    only at task level: the three things moto's RunTask used to crash on."""
    create_fargate_cluster(aws)
    return create_network(aws, dns_hostnames=False)


def _run(aws: LocalAws, network: Network, **overrides: Any) -> dict[str, Any]:
    awsvpc: dict[str, Any] = {"subnets": [network.subnet_id], "assignPublicIp": "ENABLED"}
    awsvpc.update(overrides.pop("awsvpc", {}))
    request: dict[str, Any] = {
        "cluster": CLUSTER,
        "taskDefinition": "bastion",
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": awsvpc},
        "startedBy": "s-1",
        "tags": [{"key": SESSION_TAG, "value": "s-1"}],
        **overrides,
    }
    response = aws.client("ecs").run_task(**request)
    assert response["failures"] == []
    return dict(response["tasks"][0])


def _describe(aws: LocalAws, task_arn: str) -> dict[str, Any]:
    tasks = aws.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[task_arn], include=["TAGS"])
    return dict(tasks["tasks"][0])


def _interface_id(task: dict[str, Any]) -> str:
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    return details["networkInterfaceId"]


def test_run_task_starts_a_fargate_task_in_the_vpcs_default_group(
    aws: LocalAws, network: Network
) -> None:
    # WHEN a Fargate task runs without securityGroups, in a VPC without DNS hostnames
    task = _run(aws, network, awsvpc={"assignPublicIp": "DISABLED"})

    # THEN it has an interface in the subnet, in the VPC's default group
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["subnetId"] == network.subnet_id
    address = ipaddress.ip_address(details["privateIPv4Address"])
    assert address in ipaddress.ip_network("10.20.1.0/24")
    eni = aws.client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]]
    )["NetworkInterfaces"][0]
    default_group = aws.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [network.vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]["GroupId"]
    assert [group["GroupId"] for group in eni["Groups"]] == [default_group]
    assert eni["Status"] == "in-use" and eni["RequesterManaged"]
    assert "Association" not in eni
    assert (task["cpu"], task["memory"], task["launchType"]) == ("256", "512", "FARGATE")


def test_a_task_goes_provisioning_pending_running_and_stays_running(
    aws: LocalAws, network: Network
) -> None:
    aws.ecs_control.describes_until_running = 2

    task = _run(aws, network, awsvpc={"securityGroups": [network.group_id]})
    seen = [task["lastStatus"]] + [_describe(aws, task["taskArn"])["lastStatus"] for _ in range(4)]

    assert seen == ["PROVISIONING", "PENDING", "RUNNING", "RUNNING", "RUNNING"]
    running = _describe(aws, task["taskArn"])
    assert running["startedAt"] and running["desiredStatus"] == "RUNNING"
    assert running["containers"][0]["lastStatus"] == "RUNNING"


def test_zero_describes_until_running_starts_tasks_running(aws: LocalAws, network: Network) -> None:
    aws.ecs_control.describes_until_running = 0

    assert _run(aws, network)["lastStatus"] == "RUNNING"


def test_assign_public_ip_gives_the_interface_a_public_address(
    aws: LocalAws, network: Network
) -> None:
    task = _run(aws, network, awsvpc={"securityGroups": [network.group_id]})

    eni = aws.client("ec2").describe_network_interfaces(NetworkInterfaceIds=[_interface_id(task)])[
        "NetworkInterfaces"
    ][0]

    assert ipaddress.ip_address(eni["Association"]["PublicIp"]).is_global
    assert [group["GroupId"] for group in eni["Groups"]] == [network.group_id]


def test_tags_and_started_by_are_kept_and_listed(aws: LocalAws, network: Network) -> None:
    ecs = aws.client("ecs")
    task = _run(aws, network)

    assert _describe(aws, task["taskArn"])["tags"] == [{"key": SESSION_TAG, "value": "s-1"}]
    assert ecs.list_tags_for_resource(resourceArn=task["taskArn"])["tags"] == [
        {"key": SESSION_TAG, "value": "s-1"}
    ]
    assert task["startedBy"] == "s-1"
    listed = ecs.list_tasks(cluster=CLUSTER, startedBy="s-1", desiredStatus="RUNNING")
    assert listed["taskArns"] == [task["taskArn"]]
    assert ecs.list_tasks(cluster=CLUSTER, startedBy="someone-else")["taskArns"] == []


def test_stop_task_stops_it_and_releases_its_interface(aws: LocalAws, network: Network) -> None:
    ecs, ec2 = aws.client("ecs"), aws.client("ec2")
    task = _run(aws, network, awsvpc={"securityGroups": [network.group_id]})

    stopped = ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason="session ended")["task"]
    again = ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason="twice")["task"]

    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "session ended")
    assert stopped["stoppedAt"]
    assert again["stoppedReason"] == "session ended"
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []  # AWS lists RUNNING by default
    assert ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"] == [task["taskArn"]]
    with pytest.raises(ClientError):
        ec2.describe_network_interfaces(NetworkInterfaceIds=[_interface_id(task)])
    ec2.delete_security_group(GroupId=network.group_id)


def test_the_interface_outlives_the_task_for_the_configured_attempts(
    aws: LocalAws, network: Network
) -> None:
    # GIVEN AWS's slow release: 3 more DeleteSecurityGroup attempts fail after the stop
    ecs, ec2 = aws.client("ecs"), aws.client("ec2")
    aws.ec2_control.eni_release_dependency_violations = 3
    task = _run(aws, network, awsvpc={"securityGroups": [network.group_id]})

    # WHEN the group is deleted while the task runs, then after it stopped
    with pytest.raises(ClientError) as while_running:
        ec2.delete_security_group(GroupId=network.group_id)
    ecs.stop_task(cluster=CLUSTER, task=task["taskArn"])
    codes = []
    for _ in range(3):
        with pytest.raises(ClientError) as refused:
            ec2.delete_security_group(GroupId=network.group_id)
        codes.append(refused.value.response["Error"]["Code"])

    # THEN it was refused while running and three times after, and the fourth try works
    assert while_running.value.response["Error"]["Code"] == "DependencyViolation"
    assert codes == ["DependencyViolation"] * 3
    ec2.delete_security_group(GroupId=network.group_id)
    with pytest.raises(ClientError):
        ec2.describe_network_interfaces(NetworkInterfaceIds=[_interface_id(task)])


def test_a_task_can_stop_by_itself(aws: LocalAws, network: Network) -> None:
    aws.ecs_control.describes_until_running = 0
    task = _run(aws, network)

    aws.stop_task_by_itself(task["taskArn"], reason="Essential container in task exited")
    stopped = _describe(aws, task["taskArn"])

    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert stopped["containers"][0]["exitCode"] == 0


def test_fail_before_running_stops_the_next_task_before_it_runs(
    aws: LocalAws, network: Network
) -> None:
    aws.ecs_control.describes_until_running = 2
    aws.ecs_control.fail_before_running(reason="CannotPullContainerError: pull access denied")

    failing = _run(aws, network)
    statuses = [_describe(aws, failing["taskArn"])["lastStatus"] for _ in range(3)]
    healthy = _run(aws, network)
    healthy_statuses = [_describe(aws, healthy["taskArn"])["lastStatus"] for _ in range(2)]

    assert statuses == ["PENDING", "STOPPED", "STOPPED"]
    stopped = _describe(aws, failing["taskArn"])
    assert stopped["stoppedReason"] == "CannotPullContainerError: pull access denied"
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert healthy_statuses == ["PENDING", "RUNNING"]


def test_a_client_token_starts_one_task(aws: LocalAws, network: Network) -> None:
    first = _run(aws, network, clientToken="session-s-1")
    second = _run(aws, network, clientToken="session-s-1")

    assert first["taskArn"] == second["taskArn"]
    assert len(aws.client("ecs").list_tasks(cluster=CLUSTER)["taskArns"]) == 1


def test_refused_capacity_answers_with_failures(aws: LocalAws, network: Network) -> None:
    aws.ecs_control.refuse_capacity()

    response = aws.client("ecs").run_task(
        cluster=CLUSTER,
        taskDefinition="bastion",
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [network.subnet_id]}},
    )

    assert response["tasks"] == []
    assert response["failures"][0]["reason"].startswith("Capacity is unavailable")


def _exec_view(task: dict[str, Any]) -> tuple[Any, Any, Any]:
    (container,) = task["containers"]
    return (
        task.get("enableExecuteCommand"),
        container.get("runtimeId"),
        container.get("managedAgents"),
    )


def test_a_task_started_with_ecs_exec_has_a_running_agent_once_it_runs(
    aws: LocalAws, network: Network
) -> None:
    # GIVEN a task started with ECS Exec that takes two describes to run
    aws.ecs_control.describes_until_running = 2
    task = _run(aws, network, enableExecuteCommand=True)
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    # THEN until it runs its agent is PENDING and its container has no runtime id
    enabled, runtime_id, agents = _exec_view(task)
    assert enabled is True
    assert runtime_id is None
    assert [(a["name"], a["lastStatus"]) for a in agents] == [("ExecuteCommandAgent", "PENDING")]
    # WHEN it runs
    _describe(aws, task["taskArn"])
    enabled, runtime_id, agents = _exec_view(_describe(aws, task["taskArn"]))
    # THEN its container has a runtime id of the task's, and the agent runs
    assert enabled is True
    assert runtime_id.startswith(f"{task_id}-") and runtime_id.split("-")[-1].isdigit()
    assert [(a["name"], a["lastStatus"]) for a in agents] == [("ExecuteCommandAgent", "RUNNING")]
    # AND the runtime id stays what it was
    assert _exec_view(_describe(aws, task["taskArn"]))[1] == runtime_id
    # WHEN it stops, its agent stops too
    aws.client("ecs").stop_task(cluster=CLUSTER, task=task["taskArn"], reason="test")
    stopped = _exec_view(_describe(aws, task["taskArn"]))
    assert [(a["name"], a["lastStatus"]) for a in stopped[2]] == [
        ("ExecuteCommandAgent", "STOPPED")
    ]


def test_a_task_started_running_with_ecs_exec_has_its_agent_running_at_once(
    aws: LocalAws, network: Network
) -> None:
    aws.ecs_control.describes_until_running = 0
    enabled, runtime_id, agents = _exec_view(_run(aws, network, enableExecuteCommand=True))
    assert enabled is True and runtime_id
    assert [(a["name"], a["lastStatus"]) for a in agents] == [("ExecuteCommandAgent", "RUNNING")]


@pytest.mark.parametrize("asked", [{}, {"enableExecuteCommand": False}])
def test_a_task_started_without_ecs_exec_says_so_and_has_no_agent(
    aws: LocalAws, network: Network, asked: dict[str, Any]
) -> None:
    aws.ecs_control.describes_until_running = 0
    task = _run(aws, network, **asked)
    enabled, runtime_id, agents = _exec_view(_describe(aws, task["taskArn"]))
    assert enabled is False
    # A running container has a runtime id whatever the task's ECS Exec
    assert runtime_id
    assert agents is None
