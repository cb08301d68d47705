"""The local AWS answers SSM StartSession for a private bastion's task, and only for it.

The answer (SessionId, TokenValue, StreamUrl) is what the Session Manager plugin needs;
no data channel stands behind the StreamUrl, because the plugin that speaks it is in no
registry this machine reaches. test_private_local_session.py runs a stand-in plugin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from bastion.local.ecs_lifecycle import ecs_backend, find_task
from bastion.local.patching import ABSENT, PatchMismatch, replace_attribute
from tests.local.conftest import (
    ECS_CLUSTER,
    create_fargate_cluster,
    create_function,
    create_network,
)

pytestmark = pytest.mark.cli

DOCUMENT = "fargate-bastion-BastionSessionDocument-1A2B3C"
PORT_22 = {
    "schemaVersion": "1.0",
    "description": "the bastion's sshd, and nothing else",
    "sessionType": "Port",
    "inputs": {"portNumber": "22"},
}


@dataclass(frozen=True)
class Bastion:
    aws: LocalAws
    task_id: str
    runtime_id: str

    @property
    def target(self) -> str:
        return f"ecs:{ECS_CLUSTER}_{self.task_id}_{self.runtime_id}"

    def start_session(self, **changes: Any) -> dict[str, Any]:
        request = {"Target": self.target, "DocumentName": DOCUMENT, **changes}
        return dict(self.aws.client("ssm").start_session(**request))


def _ready_for_ecs_exec(aws: LocalAws, task_arn: str, runtime_id: str) -> Any:
    """The task as DescribeTasks shows a private bastion's once ECS Exec is ready:
    enableExecuteCommand, its container's runtimeId and a RUNNING ExecuteCommandAgent."""
    task = find_task(ecs_backend(aws._controls), task_arn)
    task.enable_execute_command = True
    task.containers[0].runtime_id = runtime_id
    task.containers[0].managed_agents = [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}]
    return task


@pytest.fixture
def bastion() -> Iterator[Bastion]:
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        aws.ecs_control.describes_until_running = 0
        create_fargate_cluster(aws)
        network = create_network(aws)
        cluster_arn = aws.client("ecs").describe_clusters(clusters=[ECS_CLUSTER])["clusters"][0][
            "clusterArn"
        ]
        environment = {"BASTION_ECS_CLUSTER": cluster_arn, "BASTION_SESSION_DOCUMENT": DOCUMENT}
        create_function(aws, "fargate-bastion-Validate-1", "echo", environment)
        aws.client("ssm").create_document(
            Name=DOCUMENT, DocumentType="Session", Content=json.dumps(PORT_22)
        )
        task = aws.client("ecs").run_task(
            cluster=ECS_CLUSTER,
            taskDefinition="bastion",
            launchType="FARGATE",
            enableExecuteCommand=True,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [network.subnet_id],
                    "assignPublicIp": "DISABLED",
                }
            },
        )["tasks"][0]
        task_id = task["taskArn"].rsplit("/", 1)[1]
        runtime_id = f"{task_id.replace('-', '')}-2531612879"
        _ready_for_ecs_exec(aws, task["taskArn"], runtime_id)
        yield Bastion(aws, task_id, runtime_id)


def test_a_running_bastion_task_gets_a_session(bastion: Bastion) -> None:
    answer = bastion.start_session()
    assert answer["SessionId"].startswith("bastion-local-")
    assert len(answer["TokenValue"]) >= 32
    assert answer["StreamUrl"].startswith("wss://ssmmessages.us-east-1.amazonaws.com/")
    assert answer["SessionId"] in answer["StreamUrl"]
    assert bastion.start_session()["SessionId"] != answer["SessionId"]


def test_a_session_terminated_is_ended_and_terminate_answers_as_aws_does(
    bastion: Bastion,
) -> None:
    # GIVEN two sessions on the bastion
    first, second = bastion.start_session()["SessionId"], bastion.start_session()["SessionId"]
    sessions = bastion.aws._controls.ssm_sessions
    assert sessions == {first: "Connected", second: "Connected"}
    # WHEN one is terminated (twice: AWS answers every call with the id it was given)
    ssm = bastion.aws.client("ssm")
    assert ssm.terminate_session(SessionId=first)["SessionId"] == first
    assert ssm.terminate_session(SessionId=first)["SessionId"] == first
    # THEN it alone is ended; an id it never opened changes nothing
    assert sessions == {first: "Terminated", second: "Connected"}
    assert ssm.terminate_session(SessionId="bastion-local-unknown")["SessionId"] == (
        "bastion-local-unknown"
    )
    assert sessions == {first: "Terminated", second: "Connected"}


def _refused(bastion: Bastion, **changes: Any) -> str:
    with pytest.raises(ClientError) as refused:
        bastion.start_session(**changes)
    return str(refused.value.response["Error"]["Code"])


@pytest.mark.parametrize(
    "document",
    [
        "AWS-StartPortForwardingSessionToRemoteHost",
        "AWS-StartSSHSession",
        "fargate-bastion-BastionSessionDocument-OTHER",
    ],
)
def test_any_other_document_is_refused(bastion: Bastion, document: str) -> None:
    assert _refused(bastion, DocumentName=document) == "InvalidDocument"


def test_a_document_the_stack_names_but_ssm_does_not_hold_is_refused(bastion: Bastion) -> None:
    bastion.aws.client("ssm").delete_document(Name=DOCUMENT)
    assert _refused(bastion) == "InvalidDocument"


def test_parameters_are_refused(bastion: Bastion) -> None:
    parameters = {"host": ["10.0.0.1"], "portNumber": ["443"]}
    assert _refused(bastion, Parameters=parameters) == "InvalidDocument"


def test_a_target_that_is_not_the_running_bastion_is_refused(bastion: Bastion) -> None:
    other_runtime = f"ecs:{ECS_CLUSTER}_{bastion.task_id}_{bastion.runtime_id}0"
    other_cluster = f"ecs:elsewhere_{bastion.task_id}_{bastion.runtime_id}"
    unknown_task = f"ecs:{ECS_CLUSTER}_{'0' * 32}_{'0' * 32}-1"
    for target in (other_runtime, other_cluster, unknown_task, "i-0123456789abcdef0"):
        assert _refused(bastion, Target=target) == "TargetNotConnected", target


def test_a_task_without_ecs_exec_ready_is_refused(bastion: Bastion) -> None:
    task = find_task(ecs_backend(bastion.aws._controls), bastion.task_id)
    task.containers[0].managed_agents = [{"name": "ExecuteCommandAgent", "lastStatus": "PENDING"}]
    assert _refused(bastion) == "TargetNotConnected"
    _ready_for_ecs_exec(bastion.aws, task.task_arn, bastion.runtime_id)
    task.enable_execute_command = False
    assert _refused(bastion) == "TargetNotConnected"


def test_a_stopped_bastion_is_refused(bastion: Bastion) -> None:
    bastion.aws.client("ecs").stop_task(cluster=ECS_CLUSTER, task=bastion.task_id)
    assert _refused(bastion) == "TargetNotConnected"


def test_an_added_action_is_refused_once_moto_has_its_own() -> None:
    # The index records StartSession as absent from moto: a moto that has one is not
    # silently replaced.
    class SimpleSystemManagerResponse:
        def start_session(self) -> None:
            return None

    SimpleSystemManagerResponse.__module__ = "moto.ssm.responses"
    SimpleSystemManagerResponse.__qualname__ = "SimpleSystemManagerResponse"
    with pytest.raises(PatchMismatch, match=f"expects {ABSENT}, moto has \\(self\\)"):
        replace_attribute(SimpleSystemManagerResponse, "start_session", lambda original: None)
