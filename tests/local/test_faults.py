"""AWS-call fault injection: the named action answers with the named error code."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from tests.local.conftest import create_function, create_network, invoke

pytestmark = pytest.mark.local


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_an_ec2_query_action_fails_with_the_injected_code(aws: LocalAws) -> None:
    ec2 = aws.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    aws.faults.fail_aws_call(
        "ec2", "CreateSecurityGroup", code="UnauthorizedOperation", message="not you", times=1
    )

    with pytest.raises(ClientError) as refused:
        ec2.create_security_group(GroupName="a", Description="a", VpcId=vpc_id)
    created = ec2.create_security_group(GroupName="a", Description="a", VpcId=vpc_id)

    assert _code(refused) == "UnauthorizedOperation"
    assert refused.value.response["Error"]["Message"] == "not you"
    assert created["GroupId"].startswith("sg-")


def test_a_json_action_fails_with_the_injected_code_as_often_as_asked(aws: LocalAws) -> None:
    ecs = aws.client("ecs")
    aws.faults.fail_aws_call("ecs", "CreateCluster", code="ServerException", times=2)

    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            ecs.create_cluster(clusterName="bastions")
        codes.append(_code(refused))

    assert codes == ["ServerException", "ServerException"]
    assert ecs.create_cluster(clusterName="bastions")["cluster"]["status"] == "ACTIVE"


def test_a_fault_reaches_the_calls_a_handler_makes(aws: LocalAws) -> None:
    network = create_network(aws)
    create_function(aws, "creator", "create_group")
    aws.faults.fail_aws_call("ec2", "CreateSecurityGroup", code="UnauthorizedOperation")

    error, payload = invoke(aws, "creator", {"name": "x", "vpcId": network.vpc_id})

    assert error == "Unhandled"
    assert payload["errorType"] == "ClientError"
    assert "UnauthorizedOperation" in payload["errorMessage"]


def test_clear_disarms_every_fault(aws: LocalAws) -> None:
    aws.faults.fail_aws_call("ecs", "ListClusters", code="ServerException", times=None)
    aws.faults.fail_invocation("anything", times=None)

    aws.faults.clear()

    assert aws.client("ecs").list_clusters()["clusterArns"] == []


def test_after_lets_the_first_calls_through(aws: LocalAws) -> None:
    ecs = aws.client("ecs")
    aws.faults.fail_aws_call("ecs", "ListClusters", code="ServerException", times=1, after=2)

    outcomes = []
    for _ in range(4):
        try:
            ecs.list_clusters()
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    assert outcomes == ["ok", "ok", "ServerException", "ok"]
