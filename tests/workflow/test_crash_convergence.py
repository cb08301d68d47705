"""A task that dies right after its AWS call is retried, and the retry converges.

Every Lambda task state retries ``Lambda.Unknown`` (the function died: timeout, out of
memory, crash), perhaps after its AWS call took effect. Each test here makes one mutating
task do its work and then crash once (``crash_after=True``), and shows that the retried
run finds what the first run made: one of each resource while the session lives, the
session ending as it should, and nothing left afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bastion.follow import follow
from bastion.local.lambda_runtime import SUCCEEDED, invocations_paused
from bastion.local.waits import WAIT_SECONDS
from tasks.common.session_states import TEARDOWN_STEPS
from tasks.common.settings import DEFAULT_STACK_NAME, session_parameter_prefix
from tasks.common.tags import SESSION_TAG
from tests.workflow.harness import Harness, call_api, ghost_session

pytestmark = pytest.mark.workflow

#: The error Step Functions sees when a function's process dies without answering.
FUNCTION_DIED = "Runtime.ExitError"
#: Every name Lambda gives a function that died without answering (Lambda developer
#: guide, "Troubleshoot invocation issues"; Step Functions developer guide, "Handle
#: Lambda service exceptions", for the older ``Lambda.Unknown``).
FUNCTION_DEATHS = ("Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory", "Lambda.Unknown")
#: The setup steps that change something in AWS (the others only read).
MUTATING_SETUP_STEPS = (
    "CreateSessionSecurityGroup",
    "RunBastionTask",
    "AuthorizeControlPlaneIngress",
    "HoldSession",
)
HOLD_PARAMETER_PREFIX = f"{session_parameter_prefix(DEFAULT_STACK_NAME)}/"
TEARDOWN_RULE = "TeardownStateMachineSessionEndedAbnormally"
SWEEP_SCHEDULE = "SweeperStateMachineSweepSchedule"
#: What a retried teardown step answers when the run that died had done its work already.
NOTHING_LEFT_TO_DO = {
    "StopBastionTask": {"stoppedTaskArns": []},
    "RevokeControlPlaneIngress": {"revokedRules": [], "revokedRuleIds": []},
    "DeleteSessionSecurityGroup": {"deletedGroupIds": []},
    "DeleteHoldParameter": {"deletedParameters": []},
}
#: Where a retried setup step says it found what the run that died had made.
FOUND_NOT_MADE = {
    "CreateSessionSecurityGroup": ("sessionSecurityGroup", "created"),
    "RunBastionTask": ("bastionTask", "started"),
}
#: Long enough that a session only ends early (at 60x it would hold 8 minutes).
LONG_SESSION_MINUTES = 480


# ----------------------------------------------------------------------- helpers


def crash_after_the_call(harness: Harness, task: str) -> None:
    """The next invocation of ``task`` does its work, then dies before answering."""
    harness.aws.faults.fail_invocation(
        f"{task}Function",
        error_type=FUNCTION_DIED,
        message=f"{task} died after its AWS call",
        crash_after=True,
        times=1,
    )


def invocation_outcomes(harness: Harness, task: str, session_id: str | None = None) -> list[str]:
    """How each invocation of ``task`` ended (for ``session_id`` only, if given), oldest first."""
    name = harness.stack.function_name(f"{task}Function")
    return [
        invocation.outcome
        for invocation in harness.aws.invocations
        if invocation.function_name == name
        and (session_id is None or _event_session(invocation.event) == session_id)
    ]


def _event_session(event: Any) -> str | None:
    """The session id a task's input names (HoldSession's is in its Lambda payload)."""
    if not isinstance(event, dict):
        return None
    return event.get("sessionId")


def state_attempts(harness: Harness, arn: str, state: str) -> list[str]:
    """How each attempt of ``state`` ended in the execution's history: SUCCEEDED or the error."""
    outcomes: list[str] = []
    current = ""
    for event in harness.aws.history(arn):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif current != state:
            continue
        elif kind in ("LambdaFunctionSucceeded", "TaskSucceeded"):
            outcomes.append(SUCCEEDED)
        elif kind in ("LambdaFunctionFailed", "TaskFailed"):
            details = next(v for k, v in event.items() if k.endswith("EventDetails"))
            outcomes.append(str(details["error"]))
    return outcomes


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll until ``condition`` holds (an AssertionError naming ``what`` if it never does)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def wait_until_entered(harness: Harness, arn: str, state: str) -> None:
    """Wait until the execution has entered ``state``."""
    description = follow(
        harness.sfn,
        arn,
        lambda _step: None,
        until=lambda step: step.kind == "entered" and step.state == state,
        timeout_seconds=WAIT_SECONDS,
    )
    assert description["status"] == "RUNNING", description


@contextmanager
def functions_held_back() -> Iterator[None]:
    """No workflow or rule may invoke a function meanwhile (they wait); this thread may."""
    with invocations_paused():
        yield


def creations(harness: Harness, action: str) -> int:
    """How many times anyone called ``action`` (``ec2:DeleteSecurityGroup``)."""
    return sum(1 for done in harness.aws.actions if done.call == action and done.action == action)


def hold_tokens(harness: Harness, session_id: str) -> list[str]:
    """The task tokens HoldSession was given for the session, oldest first."""
    name = harness.stack.function_name("HoldSessionFunction")
    return [
        str(invocation.event["taskToken"])
        for invocation in harness.aws.invocations
        if invocation.function_name == name and _event_session(invocation.event) == session_id
    ]


def assert_one_of_each(harness: Harness, session_id: str, ready: dict[str, Any]) -> None:
    """While the session holds: exactly one of each resource, and none made twice."""
    inventory = harness.aws.inventory(session_id)
    counts = {
        "security groups": len(inventory.security_groups),
        "control-plane rules": len(inventory.control_plane_rules),
        "running tasks": len(inventory.running_tasks),
        "hold parameters": len(inventory.hold_parameters),
    }
    assert set(counts.values()) == {1}, inventory.render()

    # The one session group is the one the workflow carried on with
    group_id = ready["sessionSecurityGroup"]["groupId"]
    tagged = harness.ec2.describe_security_groups(
        Filters=[{"Name": f"tag:{SESSION_TAG}", "Values": [session_id]}]
    )["SecurityGroups"]
    assert [group["GroupId"] for group in tagged] == [group_id]
    # ... and no second group was ever created and removed again (a retried creation
    # meets the name taken and carries on with the first group)
    assert creations(harness, "ec2:DeleteSecurityGroup") == 0

    # One rule on the control plane lets that group in, on 443
    rules = harness.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [harness.cluster.cluster_security_group_id]}]
    )["SecurityGroupRules"]
    doors = [
        (rule["FromPort"], rule["ToPort"])
        for rule in rules
        if (rule.get("ReferencedGroupInfo") or {}).get("GroupId") == group_id
    ]
    assert doors == [(443, 443)]
    assert [rule.resource_id for rule in inventory.control_plane_rules] == [
        ready["controlPlaneIngress"]["ruleId"]
    ]

    # One bastion task was ever started for the session (stopped ones count too)
    tasks = harness.session_tasks(session_id)
    assert [(task["taskArn"], task["lastStatus"]) for task in tasks] == [
        (ready["bastionTask"]["taskArn"], "RUNNING")
    ]
    assert creations(harness, "ecs:RunTask") == 1

    # One hold parameter, holding the token of the hold that waits now (the last attempt's)
    ssm = harness.aws.client("ssm")
    stored = ssm.get_parameters_by_path(Path=HOLD_PARAMETER_PREFIX, Recursive=True)["Parameters"]
    assert [parameter["Name"] for parameter in stored] == [HOLD_PARAMETER_PREFIX + session_id]
    assert json.loads(stored[0]["Value"])["taskToken"] == hold_tokens(harness, session_id)[-1]


def assert_ended_cleanly(
    harness: Harness, arn: str, session_id: str, rules_before: list[str], reason: str
) -> dict[str, Any]:
    """The session ended SUCCEEDED for ``reason``, its teardown complete, nothing left."""
    final = harness.finish(arn)
    assert final["status"] == "SUCCEEDED", final
    output = json.loads(final["output"])
    assert output["end"]["reason"] == reason
    assert "teardownFailure" not in output, output["teardownFailure"]
    assert "error" not in output, output["error"]
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before
    assert {task["lastStatus"] for task in harness.session_tasks(session_id)} == {"STOPPED"}
    return final


def start_and_hold(harness: Harness) -> tuple[str, str, dict[str, Any]]:
    """A long session, holding: (session id, execution ARN, ready document)."""
    session_id, arn = harness.start(harness.request(durationMinutes=LONG_SESSION_MINUTES))
    ready = harness.wait_until_holding(arn, session_id)
    return session_id, arn, ready


def end_early(harness: Harness, session_id: str) -> None:
    answer = harness.end_session(session_id, "ended-by-user")
    assert answer["functionError"] is None, answer


def disable(harness: Harness, rule_logical_id: str) -> None:
    harness.aws.client("events").disable_rule(Name=harness.stack.resources[rule_logical_id])


# ----------------------------------------------------------------------- the session's steps


@pytest.mark.parametrize("step", MUTATING_SETUP_STEPS)
def test_a_setup_step_that_dies_after_its_call_is_retried_into_one_session(
    harness: Harness, step: str
) -> None:
    # GIVEN the step's function does its AWS call, then dies before answering, once
    rules_before = harness.control_plane_rules()
    crash_after_the_call(harness, step)

    # WHEN a session starts: it must reach its hold all the same
    session_id, arn = harness.start(harness.request(durationMinutes=LONG_SESSION_MINUTES))
    ready = harness.wait_until_holding(arn, session_id)
    # (the crashed hold stored its token too: wait for the retried hold's)
    wait_until(
        lambda: invocation_outcomes(harness, step, session_id) == [FUNCTION_DIED, SUCCEEDED],
        f"{step} is retried",
    )

    # THEN the step was attempted twice, the first attempt dying
    assert state_attempts(harness, arn, step) == (
        [FUNCTION_DIED] if step == "HoldSession" else [FUNCTION_DIED, SUCCEEDED]
    )
    # AND the session holds exactly one of each resource: the retry found the first run's
    assert_one_of_each(harness, session_id, ready)
    if step in FOUND_NOT_MADE:
        result, made = FOUND_NOT_MADE[step]
        assert ready[result][made] is False, ready[result]

    # WHEN the session is ended early
    end_early(harness, session_id)

    # THEN it ends as it should, and nothing of it is left
    assert_ended_cleanly(harness, arn, session_id, rules_before, "ended-by-user")
    assert state_attempts(harness, arn, step) == [FUNCTION_DIED, SUCCEEDED]


@pytest.mark.parametrize("step", TEARDOWN_STEPS)
def test_a_teardown_step_that_dies_after_its_call_is_retried_and_teardown_completes(
    harness: Harness, step: str
) -> None:
    # GIVEN a holding session with one of each resource, and a teardown step that will do
    # its AWS call and then die before answering, once
    rules_before = harness.control_plane_rules()
    session_id, arn, ready = start_and_hold(harness)
    assert_one_of_each(harness, session_id, ready)
    crash_after_the_call(harness, step)

    # WHEN the session is ended early, and its teardown runs
    end_early(harness, session_id)

    # THEN the session ends SUCCEEDED for its reason, and nothing of it is left
    final = assert_ended_cleanly(harness, arn, session_id, rules_before, "ended-by-user")
    # AND the step ran twice: the run that died had done the work, the retry found it done
    assert state_attempts(harness, arn, step) == [FUNCTION_DIED, SUCCEEDED]
    assert json.loads(final["output"])["teardown"][step] == NOTHING_LEFT_TO_DO[step]
    assert invocation_outcomes(harness, step, session_id) == [FUNCTION_DIED, SUCCEEDED]
    # AND every other teardown step ran once
    for other in TEARDOWN_STEPS:
        if other != step:
            assert state_attempts(harness, arn, other) == [SUCCEEDED], other


def test_teardown_steps_that_die_in_the_teardown_machine_are_retried_and_it_completes(
    harness: Harness,
) -> None:
    # GIVEN a holding session stopped from the console (no teardown runs in an aborted
    # execution: the rule starts the teardown machine), and every teardown step doing its
    # AWS call and then dying before answering, once each
    rules_before = harness.control_plane_rules()
    session_id, arn, ready = start_and_hold(harness)
    assert_one_of_each(harness, session_id, ready)
    for step in TEARDOWN_STEPS:
        crash_after_the_call(harness, step)

    # WHEN the execution is stopped
    harness.sfn.stop_execution(executionArn=arn, error="Console", cause="stopped by hand")
    assert harness.finish(arn)["status"] == "ABORTED"

    # THEN the teardown machine the rule started succeeds, each step attempted twice
    teardown_machine = harness.stack.state_machine_arn("TeardownStateMachine")
    delivery = harness.aws.events.wait_for_delivery(
        lambda d: d.target_arn == teardown_machine and d.event["detail"].get("name") == session_id
    )
    assert delivery.rule_name == harness.stack.resources[TEARDOWN_RULE]
    teardown_arn = str(delivery.result)
    teardown = harness.aws.wait_for_execution(teardown_arn)
    assert teardown["status"] == "SUCCEEDED", teardown
    output = json.loads(teardown["output"])["teardown"]
    for step in TEARDOWN_STEPS:
        assert state_attempts(harness, teardown_arn, step) == [FUNCTION_DIED, SUCCEEDED], step
        assert output[step] == NOTHING_LEFT_TO_DO[step], step
    # AND it was the only teardown of the session, and nothing is left
    listed = harness.sfn.list_executions(stateMachineArn=teardown_machine)["executions"]
    assert [execution["executionArn"] for execution in listed] == [teardown_arn]
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before


# ----------------------------------------------------------------------- Lambda's names


@pytest.mark.parametrize("death", FUNCTION_DEATHS)
def test_a_function_that_dies_once_under_any_of_lambdas_names_is_retried(
    harness: Harness, death: str
) -> None:
    # GIVEN a setup step and a teardown step whose functions each die once before acting,
    # reported under one of the names Lambda gives a function that died
    rules_before = harness.control_plane_rules()
    for step in ("CreateSessionSecurityGroup", "DeleteSessionSecurityGroup"):
        harness.aws.faults.fail_invocation(
            f"{step}Function", error_type=death, message=f"{step}: {death}", times=1
        )

    # WHEN a session starts: it must reach its hold all the same
    session_id, arn, ready = start_and_hold(harness)

    # THEN the setup step was retried, and the session holds one of each resource
    assert state_attempts(harness, arn, "CreateSessionSecurityGroup") == [death, SUCCEEDED]
    assert_one_of_each(harness, session_id, ready)

    # WHEN the session ends early, THEN its teardown retries the step and completes
    end_early(harness, session_id)
    assert_ended_cleanly(harness, arn, session_id, rules_before, "ended-by-user")
    assert state_attempts(harness, arn, "DeleteSessionSecurityGroup") == [death, SUCCEEDED]


def test_an_early_end_between_two_attempts_of_the_hold_ends_the_session(
    harness: Harness,
) -> None:
    # GIVEN a hold whose first attempt stores its token and then dies, and whose retry
    # waits (at a gate) before its function runs
    rules_before = harness.control_plane_rules()
    crash_after_the_call(harness, "HoldSession")
    gate = harness.aws.faults.gate_invocation("HoldSessionFunction", after=1)
    session_id, arn = harness.start(harness.request(durationMinutes=LONG_SESSION_MINUTES))
    assert gate.reached.wait(WAIT_SECONDS), "the hold was never retried"
    [first_token] = hold_tokens(harness, session_id)

    # WHEN the user ends the session now, while no attempt holds
    answer = harness.end_session(session_id, "ended-by-user")

    # THEN EndSession records the end (the stored token is the dead attempt's)
    assert answer["functionError"] is None, answer
    assert answer["payload"]["reason"] == "ended-by-user"
    with pytest.raises(harness.sfn.exceptions.TaskDoesNotExist):
        harness.sfn.send_task_success(taskToken=first_token, output="{}")

    # WHEN the retried hold runs
    gate.opened.set()

    # THEN it holds with a token of its own, finds the end and ends the session at once
    assert_ended_cleanly(harness, arn, session_id, rules_before, "ended-by-user")
    tokens = hold_tokens(harness, session_id)
    assert len(tokens) == 2 and tokens[1] != first_token, tokens
    assert state_attempts(harness, arn, "HoldSession") == [FUNCTION_DIED, SUCCEEDED]
    # AND EndSession after the end says so
    after = harness.end_session(session_id, "ended-by-user")
    assert after["payload"]["errorType"] == "SessionNotHeld", after


# ----------------------------------------------------------------------- EndSession


@pytest.mark.parametrize("retried", ["while-tearing-down", "after-the-session-ended"])
def test_end_session_called_again_after_it_died_ends_the_session_once(
    harness: Harness, retried: str
) -> None:
    # GIVEN a holding session, and EndSession that answers the hold, then dies, once
    rules_before = harness.control_plane_rules()
    session_id, arn, ready = start_and_hold(harness)
    assert_one_of_each(harness, session_id, ready)
    crash_after_the_call(harness, "EndSession")

    # WHEN the caller (the CLI, or the API) invokes EndSession and sees it die
    with functions_held_back():
        first = harness.end_session(session_id, "ended-by-user")
        assert first["functionError"] == "Unhandled", first
        assert first["payload"]["errorType"] == FUNCTION_DIED
        # (the hold was answered all the same: the session is already tearing down)
        wait_until_entered(harness, arn, "StopBastionTask")
        # AND calls it again while the teardown is under way (held back here) ...
        if retried == "while-tearing-down":
            again = harness.end_session(session_id, "ended-by-user")
    if retried == "after-the-session-ended":
        # ... or once the session has ended
        harness.finish(arn)
        again = harness.end_session(session_id, "ended-by-user")

    # THEN the second call is the contract's named answer for "nothing holds": SessionNotHeld
    # (the CLI takes it as "was not holding"; the API looks at the execution instead)
    assert again["functionError"] == "Unhandled", again
    assert again["payload"]["errorType"] == "SessionNotHeld"
    expected = "has already ended" if retried == "while-tearing-down" else "is not holding"
    assert again["payload"]["errorMessage"] == f"session {session_id} {expected}"

    # AND the session ended once, for the first call's reason, and nothing is left
    assert_ended_cleanly(harness, arn, session_id, rules_before, "ended-by-user")
    assert state_attempts(harness, arn, "HoldSession") == [SUCCEEDED]
    end_session = harness.stack.function_name("EndSessionFunction")
    direct = [
        invocation.outcome
        for invocation in harness.aws.invocations
        if invocation.function_name == end_session and "source" not in invocation.event
    ]
    assert direct == [FUNCTION_DIED, "SessionNotHeld"]


def test_deleting_a_session_again_after_end_session_died_answers_that_it_is_ending(
    harness: Harness,
) -> None:
    # GIVEN a holding session, and EndSession that answers the hold, then dies, once
    rules_before = harness.control_plane_rules()
    session_id, arn, _ready = start_and_hold(harness)
    crash_after_the_call(harness, "EndSession")

    with functions_held_back():
        # WHEN the user deletes the session through the API
        first = call_api(harness, "DELETE", f"/clusters/payments/sessions/{session_id}")
        # THEN the API says EndSession failed (it cannot know the end took effect)
        assert first.status == 502, first
        assert f"EndSession failed: {FUNCTION_DIED}" in first.body["message"]
        wait_until_entered(harness, arn, "StopBastionTask")

        # WHEN the user retries the delete while the teardown runs
        again = call_api(harness, "DELETE", f"/clusters/payments/sessions/{session_id}")

    # THEN the API answers that the session is already ending: no second end, no stop
    assert again.status == 202, again
    assert again.body["message"] == "the session is already ending"
    assert_ended_cleanly(harness, arn, session_id, rules_before, "ended-by-user")
    # AND a delete after the end says so
    after = call_api(harness, "DELETE", f"/clusters/payments/sessions/{session_id}")
    assert after.status == 409, after
    assert "already ended (SUCCEEDED)" in after.body["message"]


# ----------------------------------------------------------------------- the sweeper


def test_a_sweep_whose_search_dies_is_retried_and_tears_each_orphan_down_once(
    harness: Harness,
) -> None:
    # GIVEN a session aborted while the teardown rule was off, and the resources of a session
    # whose execution never existed: two orphans
    rules_before = harness.control_plane_rules()
    disable(harness, TEARDOWN_RULE)
    aborted_id, aborted_arn, _ready = start_and_hold(harness)
    harness.sfn.stop_execution(executionArn=aborted_arn)
    assert harness.finish(aborted_arn)["status"] == "ABORTED"
    ghost_session(harness, "ghost-session")
    orphans = sorted([aborted_id, "ghost-session"])
    # AND FindOrphanedSessions will run its search, then die before answering, once
    crash_after_the_call(harness, "FindOrphanedSessions")

    # WHEN the sweeper's schedule fires
    (delivery,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    assert delivery.succeeded, delivery
    sweep_arn = str(delivery.result)
    sweep = harness.aws.wait_for_execution(sweep_arn)

    # THEN the search was attempted twice, and the sweep found both orphans once
    assert sweep["status"] == "SUCCEEDED", sweep
    assert state_attempts(harness, sweep_arn, "FindOrphanedSessions") == [
        FUNCTION_DIED,
        SUCCEEDED,
    ]
    assert sorted(json.loads(sweep["output"])["orphans"]["sessionIds"]) == orphans
    # AND the search changes nothing in AWS (it only reads), so the dead run started nothing:
    # the sweeper's own Map tears down, and no teardown execution was started
    searcher = harness.stack.function_name("FindOrphanedSessionsFunction")
    searched = {done.call for done in harness.aws.actions if done.principal.name == searcher}
    assert searched
    assert all(call.split(":")[1].startswith(("Describe", "List", "Get")) for call in searched)
    teardown_machine = harness.stack.state_machine_arn("TeardownStateMachine")
    assert harness.sfn.list_executions(stateMachineArn=teardown_machine)["executions"] == []
    # AND each orphan went through the teardown chain exactly once, and nothing is left
    for orphan in orphans:
        for step in TEARDOWN_STEPS:
            assert invocation_outcomes(harness, step, orphan) == [SUCCEEDED], (orphan, step)
        inventory = harness.aws.inventory(orphan)
        assert inventory.is_empty, inventory.render()
    assert harness.aws.inventory().is_empty
    assert harness.control_plane_rules() == rules_before
