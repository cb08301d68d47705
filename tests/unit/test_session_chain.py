"""Every task's output is the next task's input: one session, task by task, on the local AWS.

The workflow tier runs the state machines; this checks the tasks' contracts fit each other
and that teardown leaves nothing behind, with the handlers called as Lambda calls them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks import (
    authorize_control_plane_ingress,
    create_session_security_group,
    delete_hold_parameter,
    delete_session_security_group,
    find_control_plane,
    hold_session,
    revoke_control_plane_ingress,
    run_bastion_task,
    stop_bastion_task,
    validate_request,
    wait_for_bastion_address,
)
from tasks.common.errors import SessionSecurityGroupInUse
from tests.unit.support import (
    EKS_CLUSTER,
    PARAMETER_PREFIX,
    LambdaContextStub,
    load_event,
    local_stack,
    record_task_answers,
)

pytestmark = pytest.mark.unit


def test_one_session_from_request_to_nothing_left(
    local_aws: Any, monkeypatch: pytest.MonkeyPatch, context: LambdaContextStub
) -> None:
    # GIVEN the stack's settings as the functions' environment
    stack = local_stack(local_aws)
    for name, value in {
        "BASTION_ECS_CLUSTER": stack.settings.ecs_cluster,
        "BASTION_TASK_DEFINITION": stack.settings.task_definition,
        "BASTION_SUBNETS": ",".join(stack.settings.subnets),
        "BASTION_LOG_GROUP": stack.settings.bastion_log_group,
        "ALLOWED_CLUSTERS": EKS_CLUSTER,
    }.items():
        monkeypatch.setenv(name, value)
    # The session machine, whose running executions the caps count (none run here).
    machine_arn = local_aws.client("stepfunctions").create_state_machine(
        name="fargate-bastion-session",
        definition='{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}',
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("SESSION_STATE_MACHINE_ARN", machine_arn)
    local_aws.ec2_control.eni_release_dependency_violations = 1

    # WHEN the setup tasks run in the workflow's order
    session = validate_request.handler(load_event("validate_request"), context)
    session_id = session["sessionId"]
    # Each step is given the session id and earlier steps' whole results, as the machine does.
    step = {"sessionId": session_id, "session": session}
    control_plane = find_control_plane.handler(step, context)
    assert control_plane["clusterSecurityGroupId"] == stack.cluster_security_group_id
    group = create_session_security_group.handler({**step, "controlPlane": control_plane}, context)
    task = run_bastion_task.handler(
        {**step, "controlPlane": control_plane, "sessionSecurityGroup": group}, context
    )
    ingress = authorize_control_plane_ingress.handler(
        {**step, "controlPlane": control_plane, "sessionSecurityGroup": group}, context
    )
    answers = record_task_answers(monkeypatch, "tasks.wait_for_bastion_address")
    ready_step = {**step, "controlPlane": control_plane, "bastionTask": task}
    for attempt in range(5):  # the ready wait's looks: its own, then the signal's or a timeout's
        looked = wait_for_bastion_address.handler(
            {**ready_step, "taskToken": f"t{attempt}"}, context
        )
        if looked["outcome"] == "ready":
            break
    (answer,) = answers.sent
    ready = json.loads(answer["output"])
    hold_session.handler({**step, "taskToken": "token"}, context)

    # THEN the session owns one of each resource, all found by its tags
    owned = local_aws.inventory(session_id)
    assert [len(owned.security_groups), len(owned.running_tasks)] == [1, 1]
    assert [r.resource_id for r in owned.control_plane_rules] == [ingress["ruleId"]]
    assert len(owned.hold_parameters) == 1
    # AND the ready document is whole: the session's, where to connect, with which host
    # keys (two, as the bastion reported them), the rule's scope
    assert [key["type"] for key in ready["hostPublicKeys"]] == [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
    ]
    assert ready == {
        "sessionId": session_id,
        "cluster": session["cluster"],
        "address": ready["address"],
        "sshUser": "bastion",
        "sshCommand": f"ssh bastion@{ready['address']}",
        "expiresAt": session["expiresAt"],
        "controlPlaneRuleScope": control_plane["controlPlaneRuleScope"],
        "holdSeconds": ready["holdSeconds"],
        "hostPublicKeys": ready["hostPublicKeys"],
        "accessMode": "public",
    }

    # WHEN the teardown tasks run from the session id alone
    teardown = {"sessionId": session_id}
    assert stop_bastion_task.handler(teardown, context) == {"stoppedTaskArns": [task["taskArn"]]}
    revoked = revoke_control_plane_ingress.handler(teardown, context)["revokedRules"]
    assert [(door["groupId"], door["sessionGroupId"]) for door in revoked] == [
        (control_plane["controlPlaneSecurityGroupId"], group["groupId"])
    ]
    with pytest.raises(SessionSecurityGroupInUse):  # the interface is released late
        delete_session_security_group.handler(teardown, context)
    assert delete_session_security_group.handler(teardown, context) == {
        "deletedGroupIds": [group["groupId"]]
    }
    assert delete_hold_parameter.handler(teardown, context) == {
        "deletedParameters": [f"{PARAMETER_PREFIX}/{session_id}"]
    }

    # THEN nothing is left, and a second teardown finds nothing to do
    assert local_aws.inventory(session_id).is_empty, local_aws.inventory(session_id).render()
    assert stop_bastion_task.handler(teardown, context) == {"stoppedTaskArns": []}
    assert revoke_control_plane_ingress.handler(teardown, context) == {
        "revokedRules": [],
        "revokedRuleIds": [],
    }
    assert delete_session_security_group.handler(teardown, context) == {"deletedGroupIds": []}
    assert delete_hold_parameter.handler(teardown, context) == {"deletedParameters": []}
