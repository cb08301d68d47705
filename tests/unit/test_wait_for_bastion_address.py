"""WaitForBastionAddress: one look at the task and its log stream; BastionNotReady until it
has an address and its bastion has logged its started line, then the whole ready document,
with the host keys the bastion reported."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from bastion.local.simulated_bastion import generate_host_keys
from tasks.common.bastion_started import HEAD_EVENTS, bastion_log_stream
from tasks.common.errors import (
    BastionNotReady,
    BastionStartedInvalid,
    BastionTaskStopped,
    StepInputInvalid,
)
from tasks.common.host_keys import parse_host_keys
from tasks.common.models import CLUSTER_SECURITY_GROUP, CONTROL_PLANE_ONLY, Session
from tasks.common.ready_wait import ReadyWait, read_ready_wait, ready_parameter_name
from tasks.common.settings import Settings, SettingsError
from tasks.run_bastion_task import RunBastionTaskInput, run_bastion_task
from tasks.wait_for_bastion_address import (
    ReadyBastion,
    WaitForBastionAddressInput,
    handler,
    look_at_bastion,
)
from tests.unit.support import (
    BASTION_LOG_GROUP,
    ECS_CLUSTER,
    ENDPOINT_HOST,
    SESSION_DOCUMENT,
    LambdaContextStub,
    LocalStack,
    client,
    load_event,
    private_session,
    private_stack,
)
from tests.unit.support import local_stack as make_local_stack

pytestmark = pytest.mark.unit

EXPIRES_AT = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
NOW = EXPIRES_AT - timedelta(minutes=59, seconds=59.5)


def start(session: Session, settings: Settings, session_group: str) -> str:
    request = RunBastionTaskInput(
        session=session, session_security_group_id=session_group, endpoint_host=ENDPOINT_HOST
    )
    return run_bastion_task(request, settings=settings, ecs=client("ecs")).task_arn


def ready_wait(session: Session, task_arn: str, rule_scope: str = CONTROL_PLANE_ONLY) -> ReadyWait:
    return ReadyWait(
        task_token="token",
        session_id=session.session_id,
        cluster=session.cluster,
        expires_at=session.expires_at,
        task_arn=task_arn,
        rule_scope=rule_scope,
        access_mode=session.access_mode,
    )


def look(
    session: Session,
    settings: Settings,
    task_arn: str,
    now: datetime = NOW,
    rule_scope: str = CONTROL_PLANE_ONLY,
) -> ReadyBastion:
    return look_at_bastion(
        ready_wait(session, task_arn, rule_scope),
        settings=settings,
        ecs=client("ecs"),
        ec2=client("ec2"),
        logs=client("logs"),
        now=now,
    )


def stream_lines(task_arn: str) -> list[str]:
    """What the task's bastion wrote to its log stream."""
    stream = bastion_log_stream("bastion", task_arn.rsplit("/", 1)[-1])
    events = client("logs").get_log_events(
        logGroupName=BASTION_LOG_GROUP, logStreamName=stream, startFromHead=True
    )["events"]
    return [str(event["message"]) for event in events]


def reported_keys(task_arn: str) -> list[dict[str, str]]:
    """The host keys the task's bastion reported in its started line."""
    (line,) = [line for line in stream_lines(task_arn) if '"started"' in line]
    keys: list[dict[str, str]] = json.loads(line)["hostPublicKeys"]
    return keys


def interface_of(task_arn: str) -> dict:
    (task,) = client("ecs").describe_tasks(cluster=ECS_CLUSTER, tasks=[task_arn])["tasks"]
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    (interface,) = client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]]
    )["NetworkInterfaces"]
    return interface


@pytest.fixture
def local_stack(local_aws) -> LocalStack:
    return make_local_stack(local_aws)


def test_not_ready_while_provisioning_then_the_public_address(
    local_stack: LocalStack, session: Session
) -> None:
    # GIVEN a bastion task just started (Fargate: PROVISIONING, then PENDING)
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    # WHEN the first look finds it pending
    with pytest.raises(BastionNotReady, match="PENDING"):
        look(session, local_stack.settings, task_arn)
    # THEN the next look, once it runs, answers the ready document, with its public address
    ready = look(session, local_stack.settings, task_arn)
    public_ip = interface_of(task_arn)["Association"]["PublicIp"]
    assert ready.to_dict() == {
        "sessionId": session.session_id,
        "cluster": session.cluster,
        "address": public_ip,
        "sshUser": "bastion",
        "sshCommand": f"ssh bastion@{public_ip}",
        "expiresAt": "2026-11-27T11:00:00Z",
        "controlPlaneRuleScope": CONTROL_PLANE_ONLY,
        "holdSeconds": 3600,
        "hostPublicKeys": reported_keys(task_arn),
        "accessMode": "public",
    }
    assert [key.key_type for key in parse_host_keys(ready.to_dict()["hostPublicKeys"])] == [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
    ]


def test_running_with_an_address_is_not_ready_until_the_bastion_says_it_started(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # GIVEN a bastion that runs and has its address, but whose sshd never says it accepts
    local_aws.ecs_control.describes_until_running = 0
    local_aws.ecs_control.write_instead_of_started(
        lambda started: (json.dumps({"event": "sshd", "message": "Server listening"}),)
    )
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    assert stream_lines(task_arn)
    # THEN it is not ready, saying what it waits for, however often it is asked
    for _ in range(3):
        with pytest.raises(BastionNotReady, match="has not logged that sshd accepts"):
            look(session, local_stack.settings, task_arn)


def test_a_bastion_without_a_log_stream_yet_is_not_ready(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    local_aws.ecs_control.describes_until_running = 0
    local_aws.ecs_control.write_instead_of_started(lambda started: ())
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    with pytest.raises(BastionNotReady, match="has not logged"):
        look(session, local_stack.settings, task_arn)


def swap_key(started: dict, key: dict[str, str]) -> tuple[str, ...]:
    return (json.dumps({**started, "hostPublicKeys": [key, *started["hostPublicKeys"][1:]]}),)


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        # a key that is not an ssh public key
        (
            lambda started: swap_key(
                started, {**started["hostPublicKeys"][0], "key": "bm90IGEga2V5"}
            ),
            "host key",
        ),
        # a key type no known_hosts line may carry (a certificate authority)
        (
            lambda started: swap_key(
                started, {**started["hostPublicKeys"][0], "type": "@cert-authority"}
            ),
            "not accepted",
        ),
        # another session's line
        (lambda started: (json.dumps({**started, "sessionId": "mallory-1"}),), "mallory-1"),
        # too long to be the entry point's
        (lambda started: (json.dumps({**started, "padding": "x" * 20_000}),), "longer than"),
    ],
)
def test_a_started_line_that_cannot_be_trusted_is_bastion_started_invalid(
    local_aws, local_stack: LocalStack, session: Session, rewrite, reason: str
) -> None:
    local_aws.ecs_control.describes_until_running = 0
    local_aws.ecs_control.write_instead_of_started(rewrite)
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    with pytest.raises(BastionStartedInvalid, match=reason):
        look(session, local_stack.settings, task_arn)


def test_a_started_line_cut_short_is_not_the_bastions_word(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # GIVEN a bastion whose started line is not JSON (cut short), as a filter pattern on
    # $.event would not pass it either
    local_aws.ecs_control.describes_until_running = 0
    local_aws.ecs_control.write_instead_of_started(lambda started: (json.dumps(started)[:-1],))
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    # THEN it is not ready (and the session's wait for it ends in its teardown)
    with pytest.raises(BastionNotReady, match="has not logged"):
        look(session, local_stack.settings, task_arn)


def test_only_the_first_started_line_counts(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # GIVEN a bastion that writes its started line, then another one with other keys
    local_aws.ecs_control.describes_until_running = 0
    local_aws.ecs_control.write_instead_of_started(
        lambda started: (
            json.dumps(started),
            json.dumps({**started, "hostPublicKeys": started["hostPublicKeys"][1:]}),
        )
    )
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    first = json.loads(stream_lines(task_arn)[0])["hostPublicKeys"]
    # THEN the ready document carries the first line's keys
    assert look(session, local_stack.settings, task_arn).to_dict()["hostPublicKeys"] == first


def test_a_stream_whose_head_holds_no_started_line_is_bastion_started_invalid(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    local_aws.ecs_control.describes_until_running = 0
    noise = json.dumps({"event": "sshd", "message": "Invalid user admin"})
    local_aws.ecs_control.write_instead_of_started(
        lambda started: (*[noise] * HEAD_EVENTS, json.dumps(started))
    )
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    with pytest.raises(BastionStartedInvalid, match=f"first {HEAD_EVENTS} lines"):
        look(session, local_stack.settings, task_arn)


def test_without_public_ip_the_private_address_is_used(local_aws, session: Session) -> None:
    stack = make_local_stack(local_aws, assign_public_ip=False)
    local_aws.ecs_control.describes_until_running = 0
    task_arn = start(session, stack.settings, stack.session_group_id)
    ready = look(session, stack.settings, task_arn, rule_scope=CLUSTER_SECURITY_GROUP)
    private_ip = interface_of(task_arn)["PrivateIpAddress"]
    assert ready.address == private_ip
    assert ready.to_dict()["sshCommand"] == f"ssh bastion@{private_ip}"
    assert ready.to_dict()["controlPlaneRuleScope"] == CLUSTER_SECURITY_GROUP


def test_hold_seconds_is_at_least_one(local_stack: LocalStack, session: Session) -> None:
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    with pytest.raises(BastionNotReady):
        look(session, local_stack.settings, task_arn)
    late = look(session, local_stack.settings, task_arn, now=EXPIRES_AT + timedelta(minutes=5))
    assert late.hold_seconds == 1


def test_a_task_that_fails_to_start_is_bastion_task_stopped(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # GIVEN a task that will stop before it runs (its image cannot be pulled)
    local_aws.ecs_control.fail_before_running("CannotPullContainerError: pull image manifest")
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    with pytest.raises(BastionNotReady):
        look(session, local_stack.settings, task_arn)
    # WHEN it stops, THEN the look says so, with the reason
    with pytest.raises(BastionTaskStopped, match="CannotPullContainerError"):
        look(session, local_stack.settings, task_arn)


def test_a_task_that_stopped_by_itself_is_bastion_task_stopped(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    local_aws.ecs_control.describes_until_running = 0
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    local_aws.stop_task_by_itself(task_arn, reason="Essential container exited")
    with pytest.raises(BastionTaskStopped, match="Essential container exited") as raised:
        look(session, local_stack.settings, task_arn)
    assert task_arn in str(raised.value)


def test_an_unknown_task_is_bastion_task_stopped(local_stack: LocalStack, session: Session) -> None:
    missing = "arn:aws:ecs:us-east-1:123456789012:task/fargate-bastion/0123456789abcdef"
    with pytest.raises(BastionTaskStopped, match="no longer exists"):
        look(session, local_stack.settings, missing)


def test_running_without_its_public_ip_yet_is_not_ready(settings: Settings, network) -> None:
    # GIVEN (plain moto) a task that runs, whose bastion said it started, but whose
    # interface has no public IP yet
    session = Session.from_dict(load_event("run_bastion_task")["session"])
    group = client("ec2").create_security_group(
        GroupName="g", Description="session", VpcId=network.vpc_id
    )["GroupId"]
    task_arn = start(session, settings, group)
    write_started_line(task_arn, session.session_id)
    with pytest.raises(BastionNotReady, match="no public IP yet"):
        look(session, settings, task_arn)
    # WHEN the address is associated, THEN the look succeeds
    ec2 = client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(
        AllocationId=allocation["AllocationId"],
        NetworkInterfaceId=interface_of(task_arn)["NetworkInterfaceId"],
    )
    assert look(session, settings, task_arn).address == allocation["PublicIp"]


def write_started_line(task_arn: str, session_id: str) -> None:
    """The started line a bastion writes, put to its stream as the awslogs driver would."""
    logs = client("logs")
    stream = bastion_log_stream("bastion", task_arn.rsplit("/", 1)[-1])
    logs.create_log_group(logGroupName=BASTION_LOG_GROUP)
    logs.create_log_stream(logGroupName=BASTION_LOG_GROUP, logStreamName=stream)
    keys = [key.as_event_entry() for key in generate_host_keys()]
    line = {"event": "started", "sessionId": session_id, "port": 22, "hostPublicKeys": keys}
    logs.put_log_events(
        logGroupName=BASTION_LOG_GROUP,
        logStreamName=stream,
        logEvents=[
            {"timestamp": int(datetime.now(UTC).timestamp() * 1000), "message": json.dumps(line)}
        ],
    )


def test_the_handler_reads_the_event_file(
    local_aws, local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, context: LambdaContextStub
) -> None:
    # GIVEN the function's environment, and a running task of the event's session
    settings = local_stack.settings
    for name, value in {
        "BASTION_ECS_CLUSTER": settings.ecs_cluster,
        "BASTION_TASK_DEFINITION": settings.task_definition,
        "BASTION_SUBNETS": ",".join(settings.subnets),
        "BASTION_LOG_GROUP": BASTION_LOG_GROUP,
    }.items():
        monkeypatch.setenv(name, value)
    local_aws.ecs_control.describes_until_running = 0
    event = load_event("wait_for_bastion_address")
    event["bastionTask"]["taskArn"] = start(
        Session.from_dict(event["session"]), settings, local_stack.session_group_id
    )
    answered: list[dict] = []

    class Recorder:
        def send_task_success(self, **arguments: str) -> None:
            answered.append(arguments)

    real_client = client
    monkeypatch.setattr(
        "tasks.wait_for_bastion_address.client",
        lambda service: Recorder() if service == "stepfunctions" else real_client(service),
    )
    # WHEN the function runs
    before = datetime.now(UTC)
    output = handler(event, context)
    after = datetime.now(UTC)
    # THEN, the bastion being ready, it answered its token at once, and deleted the wait
    # it kept for the signal (settled: nothing more to find there)
    kept = read_ready_wait(
        client("ssm"), ready_parameter_name(settings.parameter_name(event["sessionId"]))
    )
    assert kept is None
    assert output == {"outcome": "ready"}
    (answer,) = answered
    assert answer["taskToken"] == event["taskToken"]
    sent = json.loads(answer["output"])
    interface = interface_of(event["bastionTask"]["taskArn"])
    assert sent["address"] == interface["Association"]["PublicIp"]
    assert sent["controlPlaneRuleScope"] == event["controlPlane"]["controlPlaneRuleScope"]
    assert sent["sshCommand"] == f"ssh bastion@{sent['address']}"
    assert sent["hostPublicKeys"] == reported_keys(event["bastionTask"]["taskArn"])
    left_after = math.floor((EXPIRES_AT - after).total_seconds())
    left_before = math.ceil((EXPIRES_AT - before).total_seconds())
    assert max(1, left_after) <= sent["holdSeconds"] <= max(1, left_before)


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ("bastionTask", "taskArn"),
        ("controlPlane", "controlPlaneRuleScope"),
        ("session", "expiresAt"),
        ("bastionTask", None),
        ("controlPlane", None),
        ("taskToken", None),
    ],
)
def test_an_input_without_a_field_it_needs_is_step_input_invalid(
    part: str, field: str | None
) -> None:
    # GIVEN an earlier step's result without the field (or no result at all)
    event = load_event("wait_for_bastion_address")
    if field is None:
        del event[part]
    else:
        del event[part][field]
    # THEN the input is refused, naming what is missing
    with pytest.raises(StepInputInvalid, match=part if field is None else f"{part}.{field}"):
        WaitForBastionAddressInput.from_event(event)


def test_a_rule_scope_no_step_writes_is_step_input_invalid() -> None:
    event = load_event("wait_for_bastion_address")
    event["controlPlane"]["controlPlaneRuleScope"] = "everywhere"
    with pytest.raises(StepInputInvalid, match="controlPlaneRuleScope"):
        WaitForBastionAddressInput.from_event(event)


# ----------------------------------------------------------------------- private sessions


def running_private_bastion(local_aws, **changes) -> tuple[LocalStack, Session, str]:
    """A private session's bastion, running and ready but for what a test changes: the
    stand-in stack (its settings changed by ``changes``), the session, the task."""
    stack = private_stack(local_aws, **changes)
    local_aws.ecs_control.describes_until_running = 0
    session = private_session()
    return stack, session, start(session, stack.settings, stack.session_group_id)


def exec_agent(local_aws, task_arn: str, status: str | None, runtime_id: str | None = "keep"):
    """Set the task's container's ExecuteCommandAgent (None: no agent) and runtime id
    (None: none yet) as DescribeTasks will show them."""
    from bastion.local.ecs_lifecycle import ecs_backend, find_task

    (container,) = find_task(ecs_backend(local_aws._controls), task_arn).containers
    container.managed_agents = (
        [{"name": "ExecuteCommandAgent", "lastStatus": status}] if status else None
    )
    if runtime_id != "keep":
        container.runtime_id = runtime_id


def test_a_private_bastion_is_ready_once_ecs_exec_can_reach_it_and_says_how(local_aws) -> None:
    # GIVEN a private session's bastion that runs and has said sshd accepts
    stack, session, task_arn = running_private_bastion(local_aws)
    assert any('"started"' in line for line in stream_lines(task_arn))
    # WHEN its ECS Exec agent is not running yet, or its container has no runtime id yet
    exec_agent(local_aws, task_arn, "PENDING")
    with pytest.raises(BastionNotReady, match="ExecuteCommandAgent is PENDING"):
        look(session, stack.settings, task_arn)
    exec_agent(local_aws, task_arn, None)
    with pytest.raises(BastionNotReady, match="ExecuteCommandAgent is not there"):
        look(session, stack.settings, task_arn)
    exec_agent(local_aws, task_arn, "RUNNING", runtime_id=None)
    with pytest.raises(BastionNotReady, match="runtime id"):
        look(session, stack.settings, task_arn)
    # THEN it is not ready; once both are there, the ready document names its target
    task_id = task_arn.rsplit("/", 1)[-1]
    runtime_id = f"{task_id}-0123456789"
    exec_agent(local_aws, task_arn, "RUNNING", runtime_id=runtime_id)
    ready = look(session, stack.settings, task_arn).to_dict()
    target = f"ecs:{ECS_CLUSTER}_{task_id}_{runtime_id}"
    proxy = (
        f"aws ssm start-session --target {target} --document-name {SESSION_DOCUMENT} "
        "--region us-east-1"
    )
    assert ready == {
        "sessionId": session.session_id,
        "cluster": session.cluster,
        "address": "",
        "sshUser": "bastion",
        "sshCommand": f'ssh -o ProxyCommand="{proxy}" bastion@{session.session_id}',
        "expiresAt": "2026-11-27T11:00:00Z",
        "controlPlaneRuleScope": CONTROL_PLANE_ONLY,
        "holdSeconds": 3600,
        "hostPublicKeys": reported_keys(task_arn),
        "accessMode": "private",
        "sessionManager": {
            "target": target,
            "documentName": SESSION_DOCUMENT,
            "region": "us-east-1",
        },
    }
    # AND the task has no public IP to offer anyway
    assert "Association" not in interface_of(task_arn)


@pytest.mark.parametrize(
    "runtime_id",
    [
        '0123abcd-1" -oProxyCommand="touch /tmp/owned',
        "0123abcd-1 --region eu-west-1",
        "0123abcd-1;id",
        "0123abcd-1\nssh evil",
        "../0123abcd-1",
        "0123abcd",
        "A" * 4096 + "-1",
    ],
)
def test_a_runtime_id_not_of_a_runtime_ids_shape_never_reaches_the_ssh_command(
    local_aws, runtime_id: str
) -> None:
    # GIVEN a private bastion whose task, as DescribeTasks shows it, has a hostile runtime id
    stack, session, task_arn = running_private_bastion(local_aws)
    exec_agent(local_aws, task_arn, "RUNNING", runtime_id=runtime_id)
    # WHEN the wait looks at it
    # THEN the session is never ready (a final error: it is torn down), the error names it
    with pytest.raises(BastionStartedInvalid, match="runtime id .* is not <task id>-<number>"):
        look(session, stack.settings, task_arn)


def test_a_private_bastion_with_the_local_aws_agent_is_ready_with_its_runtime_id(
    local_aws,
) -> None:
    stack, session, task_arn = running_private_bastion(local_aws)
    ready = look(session, stack.settings, task_arn).to_dict()
    (task,) = client("ecs").describe_tasks(cluster=ECS_CLUSTER, tasks=[task_arn])["tasks"]
    runtime_id = task["containers"][0]["runtimeId"]
    assert ready["sessionManager"]["target"] == (
        f"ecs:{ECS_CLUSTER}_{task_arn.rsplit('/', 1)[-1]}_{runtime_id}"
    )


def test_a_private_look_without_the_session_document_is_a_settings_error(local_aws) -> None:
    stack, session, task_arn = running_private_bastion(local_aws, session_document="")
    with pytest.raises(SettingsError, match="BASTION_SESSION_DOCUMENT"):
        look(session, stack.settings, task_arn)
