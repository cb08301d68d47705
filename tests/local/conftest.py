"""Fixtures of the local AWS's own tests: a fresh LocalAws per test, functions, a network."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bastion.local import LocalAws

HANDLERS = "tests.local.handlers_for_tests"


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with LocalAws(region="us-east-1", time_scale=60.0) as local:
        yield local


def _code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "the handler runs in-process; this zip is never read")
    return buffer.getvalue()


def role_arn(aws: LocalAws, name: str = "local-test-role") -> str:
    """An IAM role for test functions and state machines (created once per LocalAws)."""
    iam = aws.client("iam")
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        document = json.dumps({"Version": "2012-10-17", "Statement": []})
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"])


def create_function(
    aws: LocalAws,
    name: str,
    handler: str,
    environment: dict[str, str] | None = None,
    timeout: int = 30,
) -> str:
    """A Lambda function whose Handler is ``tests.local.handlers_for_tests.<handler>``."""
    response = aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role_arn(aws),
        Handler=f"{HANDLERS}.{handler}",
        Code={"ZipFile": _code_zip()},
        Timeout=timeout,
        Environment={"Variables": environment or {}},
    )
    return str(response["FunctionArn"])


def invoke(aws: LocalAws, name: str, event: Any) -> tuple[str | None, Any]:
    """Invoke a function synchronously: (FunctionError or None, decoded payload)."""
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def create_state_machine(aws: LocalAws, name: str, definition: dict[str, Any]) -> str:
    """A standard state machine with ``definition``; its ARN."""
    response = aws.client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=role_arn(aws)
    )
    return str(response["stateMachineArn"])


def start(aws: LocalAws, machine_arn: str, name: str, execution_input: Any) -> str:
    """Start a named execution; its ARN."""
    response = aws.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input)
    )
    return str(response["executionArn"])


@dataclass(frozen=True)
class Network:
    """A VPC with one subnet, and a security group in it."""

    vpc_id: str
    subnet_id: str
    group_id: str


def create_network(aws: LocalAws, *, dns_hostnames: bool = False) -> Network:
    """A small VPC (DNS hostnames off unless asked: moto's ECS used to crash on that)."""
    ec2 = aws.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    if dns_hostnames:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group_id = ec2.create_security_group(
        GroupName="session-sg", Description="a session's group", VpcId=vpc_id
    )["GroupId"]
    return Network(vpc_id=vpc_id, subnet_id=subnet_id, group_id=group_id)


#: The ECS cluster :func:`create_fargate_cluster` makes.
ECS_CLUSTER = "bastions"


def create_fargate_cluster(aws: LocalAws, *, essential: bool = True) -> None:
    """An ECS cluster and a Fargate task definition ``bastion`` sized at task level."""
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=ECS_CLUSTER)
    container: dict[str, object] = {"name": "bastion", "image": "bastion:test"}
    if essential:
        container["essential"] = True
    ecs.register_task_definition(
        family="bastion",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )
