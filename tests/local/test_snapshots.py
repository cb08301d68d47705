"""A snapshot of a local AWS: another local AWS starts from exactly what it held."""

from __future__ import annotations

import json

import pytest

from bastion.local import LocalAws
from tests.local.conftest import create_function, create_state_machine, start

pytestmark = pytest.mark.local

PARAMETER = "/snapshot/kept"


def _echo_machine(aws: LocalAws) -> str:
    function_arn = create_function(aws, "echo", "echo")
    return create_state_machine(
        aws,
        "echoes",
        {
            "StartAt": "Echo",
            "States": {"Echo": {"Type": "Task", "Resource": function_arn, "End": True}},
        },
    )


def test_a_restored_local_aws_holds_what_the_snapshot_held_and_nothing_done_after() -> None:
    # GIVEN a local AWS with a group, a parameter, a function and a state machine
    with LocalAws(region="us-east-1") as aws:
        ec2 = aws.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
        group_id = ec2.create_security_group(
            GroupName="kept", Description="made before the snapshot", VpcId=vpc_id
        )["GroupId"]
        aws.client("ssm").put_parameter(Name=PARAMETER, Value="before", Type="String")
        machine = _echo_machine(aws)
        # WHEN it is copied, then changed
        snapshot = aws.snapshot()
        ec2.delete_security_group(GroupId=group_id)
        aws.client("ssm").put_parameter(Name=PARAMETER, Value="after", Overwrite=True)
        ec2.create_vpc(CidrBlock="10.31.0.0/16")

    for _ in range(2):
        with LocalAws(region="us-east-1") as restored:
            restored.restore(snapshot)
            ec2 = restored.client("ec2")
            # THEN each restore holds what the snapshot held, not what came after
            assert ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
            value = restored.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"]
            assert value == "before"
            cidrs = {vpc["CidrBlock"] for vpc in ec2.describe_vpcs()["Vpcs"]}
            assert "10.31.0.0/16" not in cidrs
            assert "10.30.0.0/16" in cidrs
            # AND its state machine runs its function, which answers
            arn = start(restored, machine, "after-restore", {"hello": "world"})
            final = restored.wait_for_execution(arn)
            assert final["status"] == "SUCCEEDED", final
            assert json.loads(final["output"])["event"] == {"hello": "world"}
            # AND what one restore does never reaches the next
            ec2.delete_security_group(GroupId=group_id)
            assert restored.invocations, "the function ran in this local AWS"


def test_a_snapshot_is_refused_once_an_execution_has_started() -> None:
    with LocalAws(region="us-east-1") as aws:
        machine = _echo_machine(aws)
        waits = create_state_machine(
            aws,
            "waits",
            {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}},
        )
        # WHEN an execution runs, THEN the copy is refused, naming it
        running = start(aws, waits, "running", {})
        with pytest.raises(RuntimeError, match="while executions run") as refused:
            aws.snapshot()
        assert running in str(refused.value)
        aws.client("stepfunctions").stop_execution(executionArn=running)
        aws.wait_for_execution(running)
        # AND once executions have run, moto holds their locks: refused, saying so
        aws.wait_for_execution(start(aws, machine, "ran", {}))
        with pytest.raises(RuntimeError, match="cannot be copied now"):
            aws.snapshot()


def test_a_snapshot_is_restored_only_into_a_local_aws_that_holds_nothing_like_it() -> None:
    with LocalAws(region="us-east-1") as aws:
        aws.client("ssm").put_parameter(Name=PARAMETER, Value="before", Type="String")
        snapshot = aws.snapshot()

    with LocalAws(region="us-east-1") as busy:
        busy.client("ec2").create_vpc(CidrBlock="10.32.0.0/16")
        with pytest.raises(RuntimeError, match="already holds resources of ec2"):
            busy.restore(snapshot)
    with LocalAws(region="eu-west-1") as elsewhere, pytest.raises(ValueError, match="us-east-1"):
        elsewhere.restore(snapshot)
    with LocalAws(region="us-east-1", iam_managed_policies=True) as other:
        with pytest.raises(ValueError, match="iam_managed_policies"):
            other.restore(snapshot)


def test_a_cluster_seeded_after_a_restore_gets_a_network_of_its_own() -> None:
    with LocalAws(region="us-east-1") as aws:
        first = aws.seed_cluster("payments")
        snapshot = aws.snapshot()

    with LocalAws(region="us-east-1") as restored:
        restored.restore(snapshot)
        second = restored.seed_cluster("orders")
        ec2 = restored.client("ec2")
        cidrs = {
            vpc["VpcId"]: vpc["CidrBlock"]
            for vpc in ec2.describe_vpcs(VpcIds=[first.vpc_id, second.vpc_id])["Vpcs"]
        }
    assert cidrs[first.vpc_id] != cidrs[second.vpc_id]
