"""A whole private session on the local AWS: no public IP, no inbound rule, ECS Exec, the
requester's tag, the Session Manager target of the real task, and nothing left after.

The Session Manager data channel itself does not run here (its plugin is in no registry
this machine reaches): the local AWS answers StartSession for the target, and the CLI's
tests relay a stand-in plugin to the bastion's loopback sshd.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bastion.follow import error_message
from bastion.local import LocalAws
from bastion.local.api_gateway import user_id_of
from tasks.common.tags import REQUESTER_ID_TAG
from tests.workflow.harness import Harness, call_api, deploy_for_tests

pytestmark = pytest.mark.workflow

REQUESTER_ID = "AROAEXAMPLEROLEID:alice@example.com"


@pytest.fixture
def both_modes() -> Iterator[Harness]:
    """A stack allowing both modes, public first, its private sessions in the cluster's
    private subnets."""
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        cluster = aws.seed_cluster("payments", endpoint_private=True, endpoint_public=False)
        yield deploy_for_tests(
            aws,
            cluster=cluster,
            parameters={
                "AccessModes": "public,private",
                "PrivateSubnetIds": ",".join(cluster.private_subnet_ids),
            },
        )


def private_request(harness: Harness, **changes: Any) -> dict[str, Any]:
    """A valid private request (no allowedCidrs), with ``changes`` applied."""
    request = harness.request(accessMode="private", requesterId=REQUESTER_ID)
    del request["allowedCidrs"]
    return {**request, **changes}


def _env(task: dict[str, Any]) -> dict[str, str]:
    (override,) = task["overrides"]["containerOverrides"]
    return {item["name"]: item["value"] for item in override["environment"]}


def _tags(items: list[dict[str, str]], key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {item[key]: item[value] for item in items}


def test_a_private_session_opens_no_port_and_is_reached_through_its_own_task(
    both_modes: Harness,
) -> None:
    harness = both_modes
    # WHEN a private session starts and holds
    session_id, arn = harness.start(private_request(harness, durationMinutes=480))
    state = harness.wait_until_holding(arn, session_id)
    ready = state["ready"]
    [task] = harness.session_tasks(session_id)

    # THEN its task runs the private task definition with ECS Exec, in a private subnet,
    # with no public IP
    assert task["lastStatus"] == "RUNNING"
    assert task["taskDefinitionArn"] == harness.stack.outputs["PrivateBastionTaskDefinitionArn"]
    assert task["enableExecuteCommand"] is True
    group_id = state["sessionSecurityGroup"]["groupId"]
    (interface,) = harness.ec2.describe_network_interfaces(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["NetworkInterfaces"]
    assert "Association" not in interface
    assert interface["SubnetId"] in harness.cluster.private_subnet_ids
    # AND its sshd listens on the task's loopback only
    assert _env(task)["BASTION_LISTEN_ADDRESS"] == "127.0.0.1"

    # AND its group lets nothing in at all, and still reaches the control plane on 443
    (group,) = harness.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["IpPermissions"] == []
    assert {(rule["FromPort"], rule["ToPort"]) for rule in group["IpPermissionsEgress"]} == {
        (443, 443)
    }

    # AND the task and the group carry the requester's aws:userid, which the Session Manager
    # grant matches
    assert _tags(task["tags"], "key", "value")[REQUESTER_ID_TAG] == REQUESTER_ID
    assert _tags(group["Tags"])[REQUESTER_ID_TAG] == REQUESTER_ID

    # AND the ready document names the real task's ECS Exec target, the stack's session
    # document and the region, and no address
    (container,) = task["containers"]
    agents = {agent["name"]: agent["lastStatus"] for agent in container["managedAgents"]}
    assert agents == {"ExecuteCommandAgent": "RUNNING"}
    ecs_cluster = harness.stack.resources["BastionCluster"]
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    target = f"ecs:{ecs_cluster}_{task_id}_{container['runtimeId']}"
    document = harness.stack.outputs["BastionSessionDocumentName"]
    assert ready["accessMode"] == "private"
    assert ready["address"] == ""
    assert ready["sessionManager"] == {
        "target": target,
        "documentName": document,
        "region": "us-east-1",
    }
    assert ready["sshCommand"] == (
        f'ssh -o ProxyCommand="aws ssm start-session --target {target} '
        f'--document-name {document} --region us-east-1" bastion@{session_id}'
    )
    # AND Session Manager answers for that target with that document (the local AWS
    # checks the target's task, runtime id and agent as AWS does)
    started = harness.aws.client("ssm").start_session(Target=target, DocumentName=document)
    assert started["SessionId"] and started["StreamUrl"].startswith("wss://")

    # WHEN the user ends it
    answer = harness.end_session(session_id, "ended-by-user")
    assert answer["functionError"] is None, answer
    final = harness.finish(arn)

    # THEN it ended as a public session ends, and leaves nothing
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"]["reason"] == "ended-by-user"
    [stopped] = harness.session_tasks(session_id)
    assert stopped["lastStatus"] == "STOPPED"
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()


def test_a_private_session_that_names_networks_is_refused_before_anything_exists(
    both_modes: Harness,
) -> None:
    session_id, arn = both_modes.start(private_request(both_modes, allowedCidrs=["203.0.113.7/32"]))
    final = both_modes.finish(arn)
    assert (final["status"], final["error"]) == ("FAILED", "InvalidRequest"), final
    assert error_message(final["cause"]).startswith("allowedCidrs: ")
    assert "private sessions open no inbound port" in error_message(final["cause"])
    assert both_modes.aws.inventory(session_id).is_empty


def test_a_stack_allowing_only_public_refuses_a_private_session_before_anything_exists(
    harness: Harness,
) -> None:
    # GIVEN the default stack: AccessModes public
    session_id, arn = harness.start(private_request(harness))
    final = harness.finish(arn)
    # THEN the session fails in ValidateRequest, naming accessMode and the allowed modes
    assert (final["status"], final["error"]) == ("FAILED", "InvalidRequest"), final
    message = error_message(final["cause"])
    assert message.startswith("accessMode: ")
    assert "this stack allows only public" in message
    invoked = {call.function_name for call in harness.aws.invocations}
    assert not any("CreateSessionSecurityGroup" in name for name in invoked), invoked
    assert not any("RunBastionTask" in name for name in invoked), invoked
    assert harness.aws.inventory(session_id).is_empty


def test_the_api_starts_a_private_session_as_the_caller_and_shows_how_to_reach_it(
    both_modes: Harness,
) -> None:
    harness = both_modes
    caller = "arn:aws:sts::123456789012:assumed-role/Dev/alice@example.com"
    path = f"/clusters/{harness.cluster.name}/sessions"
    # WHEN a caller asks the API for a private session, naming no networks
    body = {"sshPublicKey": harness.request()["sshPublicKey"], "accessMode": "private"}
    answer = call_api(harness, "POST", path, caller=caller, body=body)
    assert answer.status == 201, answer
    session_id, arn = answer.body["sessionId"], answer.body["executionArn"]
    harness.started.append(arn)
    # THEN the execution's input carries the caller's aws:userid and no networks
    started = json.loads(harness.sfn.describe_execution(executionArn=arn)["input"])
    assert started["accessMode"] == "private"
    assert started["requesterId"] == user_id_of(caller)
    assert "allowedCidrs" not in started
    # AND once ready the API's view says how Session Manager reaches it
    harness.wait_until_holding(arn, session_id)
    view = call_api(harness, "GET", f"{path}/{session_id}", caller=caller).body
    assert view["phase"] == "ready"
    assert view["accessMode"] == "private"
    assert view["address"] == ""
    assert view["sessionManager"]["target"].startswith(
        f"ecs:{harness.stack.resources['BastionCluster']}_"
    )
    [task] = harness.session_tasks(session_id)
    assert _tags(task["tags"], "key", "value")[REQUESTER_ID_TAG] == user_id_of(caller)
    # AND the caller ends it, leaving nothing
    assert call_api(harness, "DELETE", f"{path}/{session_id}", caller=caller).status == 202
    assert harness.finish(arn)["status"] == "SUCCEEDED"
    assert harness.aws.inventory(session_id).is_empty


def test_the_api_does_not_default_a_private_sessions_networks_to_the_callers_address(
    both_modes: Harness,
) -> None:
    path = f"/clusters/{both_modes.cluster.name}/sessions"
    body = {
        "sshPublicKey": both_modes.request()["sshPublicKey"],
        "accessMode": "private",
        "allowedCidrs": ["203.0.113.7/32"],
    }
    answer = call_api(both_modes, "POST", path, body=body)
    assert (answer.status, answer.body["field"]) == (400, "allowedCidrs"), answer
    machine = both_modes.stack.state_machine_arn("SessionStateMachine")
    assert both_modes.sfn.list_executions(stateMachineArn=machine)["executions"] == []
