"""Fixtures for the unit tier: moto in-process, no sockets, fake credentials."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws
from moto.moto_api import state_manager

# Before any task module is imported: the tracer must not look for an X-Ray daemon.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
# Speed: no tests need moto's catalogue of default AMIs (about 0.5 s per mock).
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

from bastion.local import LocalAws  # noqa: E402
from tasks.common.aws import reset_clients  # noqa: E402
from tasks.common.models import Session  # noqa: E402
from tasks.common.settings import Settings  # noqa: E402
from tests.unit.support import (  # noqa: E402
    BASTION_LOG_GROUP,
    CONTAINER_NAME,
    ECS_CLUSTER,
    EKS_CLUSTER,
    REGION,
    LambdaContextStub,
    Network,
    client,
    make_session,
)

#: Every environment variable Settings reads: cleared so the host cannot leak in.
SETTINGS_VARIABLES = (
    "BASTION_ECS_CLUSTER",
    "BASTION_TASK_DEFINITION",
    "BASTION_CONTAINER_NAME",
    "BASTION_SUBNETS",
    "BASTION_ASSIGN_PUBLIC_IP",
    "DEFAULT_DURATION_MINUTES",
    "MAX_DURATION_MINUTES",
    "WIDEST_IPV4_PREFIX",
    "WIDEST_IPV6_PREFIX",
    "MAX_ALLOWED_CIDRS",
    "ALLOWED_CLUSTERS",
    "IDLE_TIMEOUT_MINUTES",
    "SESSION_PARAMETER_PREFIX",
    "BASTION_SSH_USER",
    "SESSION_STATE_MACHINE_ARN",
    "BASTION_LOG_GROUP",
    "MAX_SESSIONS_PER_CALLER",
    "MAX_SESSIONS_PER_CLUSTER",
    "MAX_SESSIONS_PER_STACK",
    "BASTION_ACCESS_MODES",
    "BASTION_PRIVATE_SUBNETS",
    "BASTION_PRIVATE_TASK_DEFINITION",
    "BASTION_SESSION_DOCUMENT",
)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region; fresh clients for every test."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    """moto, with ECS tasks that stay RUNNING until stopped (as Fargate tasks do)."""
    # Keeping boto3's default session between mocks makes clients cheap to create.
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
        )
        try:
            yield
        finally:
            state_manager.unset_transition(model_name="ecs::task")


@pytest.fixture
def network(mocked_aws: None) -> Network:
    """The AWS side of a stack: a VPC, a control-plane group, ECS (see ``eks_cluster``)."""
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # Fargate in awsvpc mode wants DNS hostnames (moto's run_task too).
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnet_ids = tuple(
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))
    )
    control_plane = ec2.create_security_group(
        GroupName=f"eks-cluster-sg-{EKS_CLUSTER}-123456",
        Description="EKS created security group",
        VpcId=vpc_id,
    )["GroupId"]
    ecs = client("ecs")
    ecs.create_cluster(clusterName=ECS_CLUSTER)
    task_definition = ecs.register_task_definition(
        family="fargate-bastion",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        # Container-level memory as well: moto's run_task needs it.
        containerDefinitions=[{"name": CONTAINER_NAME, "image": "bastion:test", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    return Network(vpc_id, subnet_ids, EKS_CLUSTER, control_plane, task_definition)


@pytest.fixture
def eks_cluster(network: Network) -> str:
    """A private EKS cluster in ``network``, as plain moto has it (no cluster SG, no VPC id)."""
    client("eks").create_cluster(
        name=EKS_CLUSTER,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={
            "subnetIds": list(network.subnet_ids),
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
        },
    )
    return EKS_CLUSTER


@pytest.fixture
def settings(network: Network) -> Settings:
    """The stack's settings for ``network``."""
    return Settings(
        ecs_cluster=ECS_CLUSTER,
        task_definition=network.task_definition_arn,
        container_name=CONTAINER_NAME,
        subnets=network.subnet_ids,
        bastion_log_group=BASTION_LOG_GROUP,
    )


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """The same settings, as the Lambda function's environment (for handler tests)."""
    monkeypatch.setenv("BASTION_ECS_CLUSTER", settings.ecs_cluster)
    monkeypatch.setenv("BASTION_TASK_DEFINITION", settings.task_definition)
    monkeypatch.setenv("BASTION_CONTAINER_NAME", settings.container_name)
    monkeypatch.setenv("BASTION_SUBNETS", ",".join(settings.subnets))
    monkeypatch.setenv("BASTION_LOG_GROUP", settings.bastion_log_group)
    # Every cluster, and the session machine whose running executions the caps count.
    monkeypatch.setenv("ALLOWED_CLUSTERS", ",".join(settings.allowed_clusters) or "*")
    monkeypatch.setenv(
        "SESSION_STATE_MACHINE_ARN",
        f"arn:aws:states:{REGION}:123456789012:stateMachine:fargate-bastion-session",
    )
    return settings


@pytest.fixture
def local_aws() -> Iterator[LocalAws]:
    """The project's embedded local AWS: moto with Fargate, EKS and EC2 behaviour filled in."""
    with LocalAws(region=REGION) as aws:
        yield aws


@pytest.fixture
def session() -> Session:
    """One session."""
    return make_session()


@pytest.fixture
def context() -> LambdaContextStub:
    """A Lambda context for calling handlers."""
    return LambdaContextStub()


@pytest.fixture
def session_group(network: Network) -> str:
    """A stand-in for the session group (CreateSessionSecurityGroup is tested elsewhere)."""
    group_id: str = client("ec2").create_security_group(
        GroupName="fargate-bastion-s-0001", Description="session", VpcId=network.vpc_id
    )["GroupId"]
    return group_id
