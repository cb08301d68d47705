"""The teardown machine, given only a session id, removes whatever the session left."""

from __future__ import annotations

import json

import pytest

from bastion.follow import error_message
from tests.workflow.harness import Harness

pytestmark = pytest.mark.workflow


def _without_the_teardown_rule(harness: Harness) -> None:
    """Here the teardown machine is run by hand: keep the stack's rule from starting it for
    the aborted session first (tests/workflow/test_defence_lines.py tests the rule)."""
    rule = harness.stack.resources["TeardownStateMachineSessionEndedAbnormally"]
    harness.aws.client("events").disable_rule(Name=rule)


def _run_teardown(harness: Harness, payload: dict, name: str) -> dict:
    arn = harness.sfn.start_execution(
        stateMachineArn=harness.stack.state_machine_arn("TeardownStateMachine"),
        name=name,
        input=json.dumps(payload),
    )["executionArn"]
    return harness.finish(arn)


def test_teardown_removes_what_an_aborted_session_left(harness: Harness) -> None:
    # GIVEN a session stopped from the console while it held
    _without_the_teardown_rule(harness)
    rules_before = harness.control_plane_rules()
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    harness.wait_until_holding(arn, session_id)
    harness.sfn.stop_execution(executionArn=arn, error="Console", cause="stopped by hand")
    assert harness.finish(arn)["status"] == "ABORTED"
    left = harness.aws.inventory(session_id)
    assert left.security_groups and left.control_plane_rules and left.running_tasks

    # WHEN the teardown machine runs for it
    final = _run_teardown(harness, {"sessionId": session_id}, f"teardown-{session_id}")

    # THEN nothing of the session is left
    assert final["status"] == "SUCCEEDED", final
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before


def test_teardown_of_a_session_with_nothing_left_succeeds(harness: Harness) -> None:
    final = _run_teardown(harness, {"sessionId": "never-existed"}, "teardown-never-existed")
    assert final["status"] == "SUCCEEDED", final
    output = json.loads(final["output"])
    assert output["teardown"]["DeleteSessionSecurityGroup"] == {"deletedGroupIds": []}
    assert output["teardown"]["StopBastionTask"] == {"stoppedTaskArns": []}


@pytest.mark.parametrize("payload", [{}, {"sessionId": 42}, {"session": "x"}])
def test_teardown_without_a_session_id_fails_clearly(harness: Harness, payload: dict) -> None:
    final = _run_teardown(harness, payload, f"teardown-bad-{len(json.dumps(payload))}")
    assert final["status"] == "FAILED"
    assert final["error"] == "InvalidRequest"
    assert error_message(final["cause"]).startswith("sessionId:")
    assert harness.aws.invocations == []


def test_teardown_that_cannot_finish_fails_naming_the_step(harness: Harness) -> None:
    # GIVEN a session's leftovers, and a group that stays in use beyond every retry
    _without_the_teardown_rule(harness)
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    harness.wait_until_holding(arn, session_id)
    harness.sfn.stop_execution(executionArn=arn)
    harness.finish(arn)
    harness.aws.ec2_control.eni_release_dependency_violations = 1000
    # Run the ~15 minutes of retries fast: 3000x instead of the fixture's 60x.
    harness.aws.time_scale = 3000.0

    final = _run_teardown(harness, {"sessionId": session_id}, f"teardown-stuck-{session_id}")

    assert final["status"] == "FAILED"
    assert final["error"] == "TeardownIncomplete"
    assert "is still in use" in final["cause"]
    # the cause is the message alone: no stack trace, no source file of the function
    assert final["cause"] == error_message(final["cause"])
    assert "stackTrace" not in final["cause"] and ".py" not in final["cause"]
    left = harness.aws.inventory(session_id)
    # the other steps still ran: the task is stopped and the rule revoked
    assert not left.running_tasks and not left.control_plane_rules
    assert left.security_groups
