"""RunBastionTask: one Fargate task per session, configured only through its environment."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tasks.common.container_contract import CONTAINER_ENVIRONMENT
from tasks.common.errors import CapacityUnavailable, InvalidRequest
from tasks.common.models import Session
from tasks.common.settings import Settings, SettingsError
from tasks.common.tags import session_tags
from tasks.run_bastion_task import (
    BastionTask,
    RunBastionTaskInput,
    client_token,
    handler,
    run_bastion_task,
)
from tests.unit.support import (
    ECS_CLUSTER,
    ENDPOINT_HOST,
    STACK,
    LambdaContextStub,
    Network,
    client,
    load_event,
    local_stack,
    make_session,
    private_session,
    private_stack,
)

pytestmark = pytest.mark.unit


def run(session: Session, settings: Settings, session_group: str) -> BastionTask:
    request = RunBastionTaskInput(
        session=session, session_security_group_id=session_group, endpoint_host=ENDPOINT_HOST
    )
    return run_bastion_task(request, settings=settings, ecs=client("ecs"))


def describe(task_arn: str) -> dict:
    (task,) = client("ecs").describe_tasks(cluster=ECS_CLUSTER, tasks=[task_arn], include=["TAGS"])[
        "tasks"
    ]
    return task


def test_starts_a_fargate_task_with_the_container_contract(
    network: Network, settings: Settings, session: Session, session_group: str
) -> None:
    # WHEN the bastion task is run
    result = run(session, replace(settings, idle_timeout_minutes=20), session_group)
    # THEN one Fargate task of the stack's task definition runs, started by the bastion
    assert result.started is True
    task = describe(result.task_arn)
    assert task["launchType"] == "FARGATE"
    assert task["taskDefinitionArn"] == settings.task_definition
    assert task["startedBy"] == "fargate-bastion"
    # AND it carries the session's tags
    assert {tag["key"]: tag["value"] for tag in task["tags"]} == session_tags(session, STACK)
    # AND its container gets exactly the contract's variables
    (override,) = task["overrides"]["containerOverrides"]
    assert override["name"] == "bastion"
    environment = {item["name"]: item["value"] for item in override["environment"]}
    assert tuple(environment) == CONTAINER_ENVIRONMENT
    assert environment == {
        "BASTION_SESSION_ID": "s-0001",
        "BASTION_CLUSTER_NAME": "demo",
        "BASTION_AUTHORIZED_KEY": session.ssh_public_key,
        # The hard stop: the latest the session may be extended to (here its own expiry)
        "BASTION_EXPIRES_AT": session.latest_expiry,
        # What users are warned of: the session's own expiry
        "BASTION_SESSION_EXPIRES_AT": session.expires_at,
        "BASTION_IDLE_TIMEOUT_SECONDS": "1200",
        "BASTION_ENDPOINT_HOST": ENDPOINT_HOST,
        "BASTION_MODE": "tunnel",
    }
    # AND its network interface is in the stack's subnets, in the session group only
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    (interface,) = client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]]
    )["NetworkInterfaces"]
    assert interface["SubnetId"] in network.subnet_ids
    assert [group["GroupId"] for group in interface["Groups"]] == [session_group]


def test_a_rerun_finds_the_running_task(
    settings: Settings, session: Session, session_group: str
) -> None:
    first = run(session, settings, session_group)
    second = run(session, settings, session_group)
    assert second == BastionTask(first.task_arn, started=False)
    assert client("ecs").list_tasks(cluster=ECS_CLUSTER)["taskArns"] == [first.task_arn]


def test_a_stopped_task_or_another_sessions_task_is_not_reused(
    settings: Settings, session: Session, session_group: str
) -> None:
    # GIVEN another session's running task, and this session's task, stopped
    other = run(make_session("s-0002"), settings, session_group)
    stopped = run(session, settings, session_group)
    client("ecs").stop_task(cluster=ECS_CLUSTER, task=stopped.task_arn, reason="test")
    # WHEN the task is run again
    result = run(session, settings, session_group)
    # THEN a new task starts
    assert result.started is True
    assert result.task_arn not in (other.task_arn, stopped.task_arn)


def test_no_subnets_is_a_clear_settings_error(
    settings: Settings, session: Session, session_group: str
) -> None:
    with pytest.raises(SettingsError, match="BASTION_SUBNETS"):
        run(session, replace(settings, subnets=()), session_group)
    assert client("ecs").list_tasks(cluster=ECS_CLUSTER)["taskArns"] == []


def test_no_capacity_is_capacity_unavailable(local_aws, session: Session) -> None:
    # GIVEN Fargate answering RunTask with failures instead of a task
    stack = local_stack(local_aws)
    local_aws.ecs_control.refuse_capacity()
    # WHEN the bastion task is run
    with pytest.raises(CapacityUnavailable, match="Capacity is unavailable") as raised:
        run(session, stack.settings, stack.session_group_id)
    # THEN the error carries RunTask's reason, and no task exists
    assert "RunTask started no bastion task" in str(raised.value)
    assert local_aws.client("ecs").list_tasks(cluster=ECS_CLUSTER)["taskArns"] == []


def test_the_client_token_is_the_session_id_or_a_digest() -> None:
    assert client_token("s-0001") == "s-0001"
    assert client_token("a" * 64) == "a" * 64
    long_token = client_token("a" * 80)
    assert len(long_token) == 64
    assert long_token == client_token("a" * 80) != client_token("a" * 79 + "b")


def test_the_handler_reads_the_event_file(
    settings_env: Settings, session_group: str, context: LambdaContextStub
) -> None:
    event = load_event("run_bastion_task")
    event["sessionSecurityGroupId"] = session_group
    output = handler(event, context)
    assert output["started"] is True
    assert client("ecs").list_tasks(cluster=ECS_CLUSTER)["taskArns"] == [output["taskArn"]]


def test_runtask_gets_the_session_id_as_client_token(local_aws, session: Session) -> None:
    # GIVEN the local AWS, which remembers RunTask client tokens as ECS does
    stack = local_stack(local_aws)
    # WHEN the bastion task is run
    result = run(session, stack.settings, stack.session_group_id)
    # THEN a retried RunTask with the same token would find this task
    tasks = local_aws.ecs_control.tasks_for_client_token(ECS_CLUSTER, "s-0001")
    assert tasks == [result.task_arn]


@pytest.mark.parametrize(
    "host",
    ["*", "any host", "10.0.12.7", "a.example:443", "https://a.example", "", "a.." + "b"],
)
def test_an_endpoint_that_is_not_a_host_name_is_refused_before_anything_starts(
    network: Network, settings: Settings, session: Session, session_group: str, host: str
) -> None:
    # The endpoint becomes sshd's PermitOpen: a wildcard, a list or an address would
    # forward wider than the cluster's API.
    event = load_event("run_bastion_task")
    event["controlPlane"]["endpointHost"] = host
    with pytest.raises(ValueError, match="endpointHost must be the DNS host name"):
        RunBastionTaskInput.from_event(event)
    assert client("ecs").list_tasks(cluster=ECS_CLUSTER)["taskArns"] == []


def test_the_stacks_mode_reaches_the_container(
    network: Network, settings: Settings, session: Session, session_group: str
) -> None:
    result = run(session, replace(settings, bastion_mode="shell"), session_group)
    (override,) = describe(result.task_arn)["overrides"]["containerOverrides"]
    environment = {item["name"]: item["value"] for item in override["environment"]}
    assert environment["BASTION_MODE"] == "shell"


def test_the_bastions_own_expiry_is_the_latest_the_session_may_be_extended_to() -> None:
    # The container cannot be told of an extension: it stops at the session's hard stop,
    # and the workflow's hold ends the session earlier (docs/security.md).
    from dataclasses import replace as changed

    from tasks.common.container_contract import (
        EXPIRES_AT,
        SESSION_EXPIRES_AT,
        container_environment,
    )
    from tests.unit.support import make_session

    session = changed(make_session(), latest_expires_at="2026-11-27T18:00:00Z")
    environment = container_environment(session, 60, endpoint_host=ENDPOINT_HOST, mode="tunnel")
    assert environment[EXPIRES_AT] == "2026-11-27T18:00:00Z"
    # Users are warned of, and the banner names, the session's own expiry
    assert environment[SESSION_EXPIRES_AT] == session.expires_at == "2026-11-27T11:00:00Z"


# ----------------------------------------------------------------------- access modes


def run_on(aws: Any, session: Session, stack: Any) -> dict[str, Any]:
    request = RunBastionTaskInput(
        session=session,
        session_security_group_id=stack.session_group_id,
        endpoint_host=ENDPOINT_HOST,
    )
    result = run_bastion_task(request, settings=stack.settings, ecs=aws.client("ecs"))
    (task,) = aws.client("ecs").describe_tasks(
        cluster=ECS_CLUSTER, tasks=[result.task_arn], include=["TAGS"]
    )["tasks"]
    return dict(task)


def interface_of(aws: Any, task: dict[str, Any]) -> dict[str, Any]:
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    (interface,) = aws.client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]]
    )["NetworkInterfaces"]
    return dict(interface)


def test_a_private_session_runs_with_ecs_exec_no_public_ip_and_sshd_on_the_loopback(
    local_aws: Any,
) -> None:
    # GIVEN a stack that assigns public IPs to its (public) bastions
    stack = private_stack(local_aws)
    session = private_session()
    # WHEN a private session's bastion runs
    task = run_on(local_aws, session, stack)
    # THEN it runs the private task definition, with ECS Exec, in the private subnets
    assert task["taskDefinitionArn"] == stack.settings.private_task_definition
    assert task["enableExecuteCommand"] is True
    interface = interface_of(local_aws, task)
    assert interface["SubnetId"] in stack.settings.private_subnets
    # AND it has no public IP, whatever AssignPublicIp says
    assert "Association" not in interface
    # AND sshd listens on the loopback only, besides the contract's variables
    (override,) = task["overrides"]["containerOverrides"]
    environment = {item["name"]: item["value"] for item in override["environment"]}
    assert tuple(environment) == (*CONTAINER_ENVIRONMENT, "BASTION_LISTEN_ADDRESS")
    assert environment["BASTION_LISTEN_ADDRESS"] == "127.0.0.1"
    # AND it carries the requester id the Session Manager grant matches
    tags = {tag["key"]: tag["value"] for tag in task["tags"]}
    assert tags == session_tags(session, STACK)
    assert tags["fargate-bastion:requester-id"] == "AIDAEXAMPLE"


def test_a_public_session_on_the_same_stack_runs_as_before_without_ecs_exec(
    local_aws: Any, session: Session
) -> None:
    stack = private_stack(local_aws)
    task = run_on(local_aws, session, stack)
    assert task["taskDefinitionArn"] == stack.settings.task_definition
    assert task["enableExecuteCommand"] is False
    interface = interface_of(local_aws, task)
    assert interface["SubnetId"] in stack.settings.subnets
    assert interface["Association"]["PublicIp"]
    (override,) = task["overrides"]["containerOverrides"]
    assert tuple(item["name"] for item in override["environment"]) == CONTAINER_ENVIRONMENT


def test_a_private_session_on_a_stack_that_allows_only_public_starts_nothing(
    local_aws: Any,
) -> None:
    stack = private_stack(local_aws, access_modes=("public",))
    with pytest.raises(InvalidRequest, match="accessMode: 'private' is not a mode this stack"):
        run_on(local_aws, private_session(), stack)
    assert local_aws.client("ecs").list_tasks(cluster=ECS_CLUSTER)["taskArns"] == []


def test_a_private_session_without_a_private_task_definition_is_a_settings_error(
    local_aws: Any,
) -> None:
    stack = private_stack(local_aws, private_task_definition="")
    with pytest.raises(SettingsError, match="BASTION_PRIVATE_TASK_DEFINITION"):
        run_on(local_aws, private_session(), stack)
    assert local_aws.client("ecs").list_tasks(cluster=ECS_CLUSTER)["taskArns"] == []
