"""A whole session on the rendered ASL and the real handlers: hold, expire, end early."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tasks.common.models import parse_timestamp
from tests.workflow.harness import Harness

pytestmark = pytest.mark.workflow

TEARDOWN = [
    "StopBastionTask",
    "RevokeControlPlaneIngress",
    "DeleteSessionSecurityGroup",
    "DeleteHoldParameter",
]


#: A session of 480 minutes holds 8 minutes at 60x: one that ends within this many seconds
#: was ended by something other than its hold timing out.
BEFORE_THE_HOLD_TIMES_OUT = 240


def _env(task: dict) -> dict[str, str]:
    overrides = task["overrides"]["containerOverrides"][0]
    return {item["name"]: item["value"] for item in overrides["environment"]}


def test_session_holds_with_only_the_requested_doors_open(harness: Harness) -> None:
    # GIVEN a session long enough to look at while it holds, however slow the machine
    request = harness.request(
        allowedCidrs=["203.0.113.7/32", "198.51.100.0/28"], durationMinutes=480
    )

    # WHEN a session starts and holds
    session_id, arn = harness.start(request)
    ready = harness.wait_until_holding(arn, session_id)

    # THEN the ready state says where to connect (the task's public IP) and until when
    session_group_id = ready["sessionSecurityGroup"]["groupId"]
    (interface,) = harness.ec2.describe_network_interfaces(
        Filters=[{"Name": "group-id", "Values": [session_group_id]}]
    )["NetworkInterfaces"]
    public_ip = interface["Association"]["PublicIp"]
    assert ready["ready"]["sessionId"] == session_id
    assert ready["ready"]["address"] == public_ip
    assert ready["ready"]["sshCommand"] == f"ssh bastion@{public_ip}"
    assert ready["ready"]["expiresAt"] == ready["session"]["expiresAt"]

    # AND the session group lets in SSH from the requested CIDRs only
    group = harness.ec2.describe_security_groups(GroupIds=[session_group_id])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in group["IpPermissions"]] == [
        ("tcp", 22, 22)
    ]
    assert sorted(r["CidrIp"] for r in group["IpPermissions"][0]["IpRanges"]) == sorted(
        request["allowedCidrs"]
    )
    assert not group["IpPermissions"][0].get("UserIdGroupPairs")

    # AND the control plane admits the session group on 443
    control_plane = harness.ec2.describe_security_groups(
        GroupIds=[harness.cluster.cluster_security_group_id]
    )["SecurityGroups"][0]
    admitted = [
        (p.get("FromPort"), pair["GroupId"])
        for p in control_plane["IpPermissions"]
        for pair in p.get("UserIdGroupPairs", [])
    ]
    assert (443, session_group_id) in admitted

    # AND the bastion task runs with the session's key, cluster and expiry
    [task] = harness.session_tasks(session_id)
    assert task["lastStatus"] == "RUNNING"
    env = _env(task)
    assert env["BASTION_AUTHORIZED_KEY"] == request["sshPublicKey"]
    assert env["BASTION_CLUSTER_NAME"] == "payments"
    assert env["BASTION_EXPIRES_AT"] == ready["session"]["expiresAt"]
    assert harness.aws.inventory(session_id).hold_parameters

    # AND the ready document carries the host keys the bastion's started line reported
    (started,) = [line for line in harness.bastion_log_lines(task) if '"started"' in line]
    assert ready["ready"]["hostPublicKeys"] == json.loads(started)["hostPublicKeys"]


def test_a_session_expires_when_its_time_is_up_and_leaves_nothing(harness: Harness) -> None:
    # GIVEN the control plane's rules before any session
    rules_before = harness.control_plane_rules()
    # WHEN a session holds, and its time is up (a minute: a second at 60x)
    session_id, arn = harness.start(harness.request(durationMinutes=1))
    final = harness.finish(arn)

    # THEN it ends SUCCEEDED because it expired, and nothing of it is left
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"] == {"reason": "expired"}
    entered = harness.states_entered(arn)
    assert entered[entered.index("HoldSession") :] == [
        "HoldSession",
        "MarkSessionExpired",
        *TEARDOWN,
        "IsTeardownComplete",
        "DidSessionFail",
        "SessionEnded",
    ]
    [task] = harness.session_tasks(session_id)
    assert task["lastStatus"] == "STOPPED"
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before


def test_early_end_tears_down_at_once_and_says_why(harness: Harness) -> None:
    rules_before = harness.control_plane_rules()
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    harness.wait_until_holding(arn, session_id)

    answer = harness.end_session(session_id, "ended-by-user")

    assert answer["functionError"] is None, answer
    final = harness.finish(arn, timeout=BEFORE_THE_HOLD_TIMES_OUT)
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"]["reason"] == "ended-by-user"
    assert "MarkSessionExpired" not in harness.states_entered(arn)
    assert harness.aws.inventory(session_id).is_empty
    assert harness.control_plane_rules() == rules_before


def test_bastion_stopping_by_itself_ends_the_session_the_same_way(harness: Harness) -> None:
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    ready = harness.wait_until_holding(arn, session_id)

    # WHEN the container exits on its own and EndSession is called for it (by hand here: the
    # stack's rule that calls it on the ECS event is tested in test_defence_lines.py)
    rule = harness.stack.resources["EndSessionFunctionBastionTaskStopped"]
    harness.aws.client("events").disable_rule(Name=rule)
    harness.aws.stop_task_by_itself(
        ready["bastionTask"]["taskArn"], reason="Essential container in task exited"
    )
    answer = harness.end_session(session_id, "bastion-stopped")

    assert answer["functionError"] is None, answer
    final = harness.finish(arn, timeout=BEFORE_THE_HOLD_TIMES_OUT)
    assert final["status"] == "SUCCEEDED"
    assert json.loads(final["output"])["end"]["reason"] == "bastion-stopped"
    assert harness.aws.inventory(session_id).is_empty


def test_a_bastion_exiting_at_its_expiry_before_the_hold_times_out_reports_expired(
    harness: Harness,
) -> None:
    # GIVEN a holding session (its hold times out a little after the expiry, rounded up)
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    ready = harness.wait_until_holding(arn, session_id)
    expires_at = parse_timestamp(ready["session"]["expiresAt"])

    # WHEN the container's own expiry acts first: it exits at the expiry, and the stack's
    # rule calls EndSession with the task-stopped event while the hold still holds
    harness.aws.stop_task_by_itself(ready["bastionTask"]["taskArn"], at=expires_at)

    # THEN the session is reported expired, as when the hold's timeout acts first
    final = harness.finish(arn, timeout=BEFORE_THE_HOLD_TIMES_OUT)
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"]["reason"] == "expired"
    assert "MarkSessionExpired" not in harness.states_entered(arn)
    assert harness.aws.inventory(session_id).is_empty


def test_a_bastion_stopping_a_second_before_its_expiry_is_not_reported_expired(
    harness: Harness,
) -> None:
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    ready = harness.wait_until_holding(arn, session_id)
    expires_at = parse_timestamp(ready["session"]["expiresAt"])

    harness.aws.stop_task_by_itself(
        ready["bastionTask"]["taskArn"], exit_code=137, at=expires_at - timedelta(seconds=1)
    )

    final = harness.finish(arn, timeout=BEFORE_THE_HOLD_TIMES_OUT)
    assert json.loads(final["output"])["end"]["reason"] == "bastion-stopped"


def test_ending_a_session_that_is_not_holding_is_a_named_error(harness: Harness) -> None:
    answer = harness.end_session("no-such-session", "ended-by-user")
    assert answer["functionError"] == "Unhandled"
    assert answer["payload"]["errorType"] == "SessionNotHeld"


def test_group_deletion_waits_out_the_slow_release_of_the_task_interface(
    harness: Harness,
) -> None:
    # GIVEN AWS keeps the stopped task's network interface for a while
    harness.aws.ec2_control.eni_release_dependency_violations = 3
    session_id, arn = harness.start(harness.request(durationMinutes=1))

    final = harness.finish(arn)

    assert final["status"] == "SUCCEEDED", final
    failures = [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in harness.aws.history(arn)
        if e["type"] == "LambdaFunctionFailed"
    ]
    assert failures.count("SessionSecurityGroupInUse") == 3
    assert harness.aws.inventory(session_id).is_empty


def test_starting_the_same_session_twice_gives_one_bastion(harness: Harness) -> None:
    request = harness.request(durationMinutes=480)
    session_id, first = harness.start(request, session_id="same-session")
    _, second = harness.start(request, session_id="same-session")
    assert first == second
    harness.wait_until_holding(first, session_id)

    assert len(harness.session_tasks(session_id)) == 1
    assert len(harness.aws.inventory(session_id).security_groups) == 1

    # A different request under the same id is refused outright.
    with pytest.raises(harness.sfn.exceptions.ExecutionAlreadyExists):
        harness.start(harness.request(durationMinutes=30), session_id="same-session")
    harness.end_session(session_id, "ended-by-user")
    assert harness.finish(first)["status"] == "SUCCEEDED"
    assert harness.aws.inventory(session_id).is_empty
