"""What the unit tests share besides fixtures: constants, builders, stubs, assertions."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from bastion.local.waits import WAIT_SECONDS
from tasks.common.models import Session
from tasks.common.settings import DEFAULT_STACK_NAME, session_parameter_prefix
from tasks.common.tags import SESSION_TAG
from tests.unit.keys import ed25519_key

REGION = "us-east-1"
EVENTS = Path(__file__).resolve().parent.parent / "events"
ECS_CLUSTER = "fargate-bastion"
CONTAINER_NAME = "bastion"
EKS_CLUSTER = "demo"
STACK = DEFAULT_STACK_NAME
PARAMETER_PREFIX = session_parameter_prefix(STACK)


@dataclass(frozen=True)
class Network:
    """A VPC with an EKS cluster, a control-plane group and an ECS cluster for bastions."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    cluster_name: str
    control_plane_group_id: str
    task_definition_arn: str


def make_session(session_id: str = "s-0001", **changes: Any) -> Session:
    """A validated session, as ValidateRequest would return it."""
    session = Session(
        session_id=session_id,
        cluster=EKS_CLUSTER,
        ssh_public_key=ed25519_key("alice@laptop"),
        allowed_cidrs=("203.0.113.7/32", "2001:db8:1234::/64"),
        duration_minutes=60,
        requested_by="arn:aws:iam::123456789012:user/alice",
        started_at="2026-11-27T10:00:00Z",
        expires_at="2026-11-27T11:00:00Z",
    )
    return replace(session, **changes)


def load_event(name: str) -> dict[str, Any]:
    """The JSON event payload ``tests/events/<name>.json``."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


@dataclass(frozen=True)
class LambdaContextStub:
    """The parts of the Lambda context powertools reads."""

    function_name: str = "fargate-bastion-task"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:fargate-bastion-task"
    )
    aws_request_id: str = "5f0c9a2e-0000-4000-8000-000000000000"


@cache
def client(service: str) -> Any:
    """A boto3 client for arranging and asserting on what AWS holds.

    Cached for the whole run (making a client costs tens of milliseconds); moto
    intercepts clients made before a mock starts as well as after.
    """
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def failing_client(
    service: str,
    fail: dict[str, str] | None = None,
    *,
    code: str = "ThrottlingException",
    status: int = 400,
) -> Any:
    """A new moto-backed client whose named operations answer with an AWS error.

    ``fail`` maps an operation name (``DeleteSecurityGroup``) to the error code it answers
    with; None makes every operation answer ``code``. The error comes back through botocore
    as a real HTTP ``status`` answer would (paginators included), not from a mock object.
    """
    failing = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    def answer_with_error(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        answer = code if fail is None else fail.get(model.name)
        if answer is None:
            return None
        body = {
            "Error": {"Code": answer, "Message": f"injected {answer}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("https://injected.invalid", status, {}, None), body

    failing.meta.events.register("before-call", answer_with_error)
    return failing


def session_security_groups(session_id: str) -> list[dict[str, Any]]:
    """The security groups tagged with the session."""
    groups: list[dict[str, Any]] = client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{SESSION_TAG}", "Values": [session_id]}]
    )["SecurityGroups"]
    return groups


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    """An EC2/SSM resource's tags as a dict."""
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def assert_nothing_created(session_id: str) -> None:
    """No security group, rule, task or parameter exists for the session."""
    ec2 = client("ec2")
    assert session_security_groups(session_id) == []
    named = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"fargate-bastion-{session_id}"]}]
    )["SecurityGroups"]
    assert named == []
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": f"tag:{SESSION_TAG}", "Values": [session_id]}]
    )["SecurityGroupRules"]
    assert rules == []
    ecs = client("ecs")
    for cluster in ecs.list_clusters()["clusterArns"]:
        assert ecs.list_tasks(cluster=cluster)["taskArns"] == []
    assert client("ssm").describe_parameters()["Parameters"] == []


@dataclass(frozen=True)
class LocalStack:
    """A bastion stack on the local AWS: a seeded private cluster, ECS, a session group."""

    settings: Any
    vpc_id: str
    cluster_security_group_id: str
    session_group_id: str


#: The bastions' log group of the stand-in stack (template.yaml: /ecs/<stack>/bastion).
BASTION_LOG_GROUP = f"/ecs/{STACK}/bastion"


def local_stack(aws: Any, *, assign_public_ip: bool = True) -> LocalStack:
    """Seed a private cluster and the ECS side of the stack into ``aws`` (a LocalAws): the
    bastion container logs to its group as template.yaml says (its simulated bastion writes
    its started line there)."""
    from tasks.common.bastion_started import BASTION_LOG_STREAM_PREFIX
    from tasks.common.settings import Settings

    cluster = aws.seed_cluster(EKS_CLUSTER, endpoint_private=True, endpoint_public=False)
    aws.client("logs").create_log_group(logGroupName=BASTION_LOG_GROUP)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=ECS_CLUSTER)
    log_configuration = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": BASTION_LOG_GROUP,
            "awslogs-region": REGION,
            "awslogs-stream-prefix": BASTION_LOG_STREAM_PREFIX,
        },
    }
    task_definition = ecs.register_task_definition(
        family="fargate-bastion",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": CONTAINER_NAME,
                "image": "bastion:test",
                "logConfiguration": log_configuration,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    session_group = aws.client("ec2").create_security_group(
        GroupName="stand-in-session-group", Description="session", VpcId=cluster.vpc_id
    )["GroupId"]
    settings = Settings(
        ecs_cluster=ECS_CLUSTER,
        task_definition=task_definition,
        container_name=CONTAINER_NAME,
        subnets=cluster.public_subnet_ids if assign_public_ip else cluster.private_subnet_ids,
        assign_public_ip=assign_public_ip,
        bastion_log_group=BASTION_LOG_GROUP,
    )
    return LocalStack(settings, cluster.vpc_id, cluster.cluster_security_group_id, session_group)


PRIVATE_FAMILY = "fargate-bastion-private"
#: The stand-in stack's Session Manager document.
SESSION_DOCUMENT = "fargate-bastion-BastionSessionDocument-TEST"


def private_stack(aws: Any, **changes: Any) -> LocalStack:
    """:func:`local_stack` allowing both modes, with a private task definition, private
    subnets apart from the bastion subnets (which assign public IPs), and a session
    document; ``changes`` change its settings."""
    stack = local_stack(aws)
    definition = aws.client("ecs").describe_task_definition(
        taskDefinition=stack.settings.task_definition
    )["taskDefinition"]
    private_definition = aws.client("ecs").register_task_definition(
        family=PRIVATE_FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=definition["containerDefinitions"],
    )["taskDefinition"]["taskDefinitionArn"]
    cluster = aws.client("ec2").describe_subnets(SubnetIds=list(stack.settings.subnets))
    vpc_id = cluster["Subnets"][0]["VpcId"]
    private_subnets = tuple(
        subnet["SubnetId"]
        for subnet in aws.client("ec2").describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )["Subnets"]
        if subnet["SubnetId"] not in stack.settings.subnets
    )
    assert private_subnets
    values: dict[str, Any] = {
        "access_modes": ("public", "private"),
        "private_subnets": private_subnets,
        "private_task_definition": private_definition,
        "assign_public_ip": True,
        "session_document": SESSION_DOCUMENT,
        **changes,
    }
    settings = replace(stack.settings, **values)
    return replace(stack, settings=settings)


def private_session(session_id: str = "s-0001") -> Session:
    """A validated private session: no networks, the requester's aws:userid."""
    return make_session(
        session_id, access_mode="private", allowed_cidrs=(), requester_id="AIDAEXAMPLE"
    )


def wait_until(predicate: Any, timeout: float = WAIT_SECONDS, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s of waiting")
        time.sleep(interval)


#: The API endpoint host FindControlPlane reports for a cluster, as EKS writes it.
ENDPOINT_HOST = "0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"


class TaskAnswers:
    """Stands in for the Step Functions client of a task module: records the answers it
    sends to task tokens (a unit test has no execution waiting on them)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def send_task_success(self, **arguments: str) -> None:
        self.sent.append({"kind": "success", **arguments})

    def send_task_failure(self, **arguments: str) -> None:
        self.sent.append({"kind": "failure", **arguments})


def record_task_answers(monkeypatch: Any, module: str) -> TaskAnswers:
    """Make ``module``'s ``client("stepfunctions")`` a :class:`TaskAnswers`; other services
    stay the local AWS's."""
    answers = TaskAnswers()
    monkeypatch.setattr(
        f"{module}.client",
        lambda service: answers if service == "stepfunctions" else client(service),
    )
    return answers
