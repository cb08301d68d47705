"""The second and third lines of defence, end to end on the deployed stack.

Second line: EventBridge rules. A session execution that ends ABORTED, TIMED_OUT or FAILED
starts the teardown machine for it; a bastion task that stops by itself ends its session
through EndSession. Third line: the sweeper, on its schedule, tears down whatever sessions
that no longer run still own. Nothing here calls EndSession or the teardown machine by
hand: the rules and the schedule do.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bastion.local import LocalAws
from bastion.local.deploy import ParameterError, load_template
from bastion.local.eventbridge import EventDelivery
from bastion.local.waits import WAIT_SECONDS
from tests.workflow.harness import (
    TEMPLATE,
    TEST_IMAGE,
    Harness,
    ghost_session,
)
from workflows.sweeper_machine import SWEEP_CONCURRENCY

pytestmark = pytest.mark.workflow

TEARDOWN_RULE = "TeardownStateMachineSessionEndedAbnormally"
TASK_STOPPED_RULE = "EndSessionFunctionBastionTaskStopped"
SWEEP_SCHEDULE = "SweeperStateMachineSweepSchedule"


def teardown_delivery(harness: Harness, session_id: str) -> EventDelivery:
    """The teardown machine's start for ``session_id`` by the rule (waits for it)."""
    teardown = harness.stack.state_machine_arn("TeardownStateMachine")
    return harness.aws.events.wait_for_delivery(
        lambda d: d.target_arn == teardown and d.event["detail"].get("name") == session_id
    )


def assert_torn_down_by_the_rule(harness: Harness, session_id: str) -> dict[str, Any]:
    delivery = teardown_delivery(harness, session_id)
    assert delivery.succeeded, delivery
    assert delivery.rule_name == harness.stack.resources[TEARDOWN_RULE]
    teardown = harness.aws.wait_for_execution(str(delivery.result))
    assert teardown["status"] == "SUCCEEDED", teardown
    assert teardown["name"] == f"{session_id}-teardown-1"
    assert json.loads(teardown["input"]) == {"sessionId": session_id}
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    return teardown


def disable(harness: Harness, rule_logical_id: str) -> None:
    harness.aws.client("events").disable_rule(Name=harness.stack.resources[rule_logical_id])


# ---------------------------------------------------------------- second line: executions


def test_stopping_a_session_execution_tears_it_down_through_the_rule(harness: Harness) -> None:
    # GIVEN a holding session, with every door open
    rules_before = harness.control_plane_rules()
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    harness.wait_until_holding(arn, session_id)
    held = harness.aws.inventory(session_id)
    assert held.security_groups and held.control_plane_rules and held.running_tasks

    # WHEN someone presses "Stop execution" (no teardown runs inside an aborted execution)
    harness.sfn.stop_execution(executionArn=arn, error="Console", cause="stopped from the console")
    assert harness.finish(arn)["status"] == "ABORTED"

    # THEN the rule starts the teardown machine for the session, and nothing is left
    assert_torn_down_by_the_rule(harness, session_id)
    assert harness.control_plane_rules() == rules_before


def test_a_session_that_fails_with_resources_left_is_finished_by_the_rule(
    harness: Harness,
) -> None:
    # GIVEN a session whose own teardown cannot delete its group (a fault nothing retries):
    # the execution ends FAILED (TeardownIncomplete), its group still there
    harness.aws.faults.fail_invocation(
        "DeleteSessionSecurityGroupFunction", error_type="InjectedFault", message="EC2 is down"
    )
    session_id, arn = harness.start(harness.request(durationMinutes=1))

    final = harness.finish(arn)

    assert final["status"] == "FAILED", final
    assert final["error"] == "TeardownIncomplete"
    failed_steps = [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in harness.aws.history(arn)
        if e["type"] == "LambdaFunctionFailed"
    ]
    # (BastionNotReady is WaitForBastionAddress's poll)
    assert [error for error in failed_steps if error != "BastionNotReady"] == ["InjectedFault"]
    # THEN the FAILED status starts the teardown machine, which removes the group
    assert_torn_down_by_the_rule(harness, session_id)


def test_a_session_that_failed_cleanly_gets_a_harmless_second_teardown(harness: Harness) -> None:
    # GIVEN a session that fails in setup and tears itself down (the first line)
    harness.aws.faults.fail_invocation("RunBastionTaskFunction", error_type="InjectedFault")
    session_id, arn = harness.start()
    assert harness.finish(arn)["status"] == "FAILED"
    assert harness.aws.inventory(session_id).is_empty
    # THEN the rule's teardown finds nothing to remove, and succeeds
    teardown = assert_torn_down_by_the_rule(harness, session_id)
    output = json.loads(teardown["output"])["teardown"]
    assert output["StopBastionTask"] == {"stoppedTaskArns": []}
    assert output["DeleteSessionSecurityGroup"] == {"deletedGroupIds": []}


def test_sessions_that_end_normally_start_no_teardown(harness: Harness) -> None:
    session_id, arn = harness.start(harness.request(durationMinutes=1))
    assert harness.finish(arn)["status"] == "SUCCEEDED"
    harness.aws.events.wait_until_idle()
    teardown = harness.stack.state_machine_arn("TeardownStateMachine")
    assert [d for d in harness.aws.events_delivered if d.target_arn == teardown] == []
    # The session's end was announced (RUNNING, SUCCEEDED) and matched no rule.
    listed = harness.sfn.list_executions(stateMachineArn=teardown)["executions"]
    assert listed == []


# ---------------------------------------------------------------- second line: the bastion task


def test_a_bastion_stopping_by_itself_ends_its_session_through_the_event(
    harness: Harness,
) -> None:
    # GIVEN a holding session
    rules_before = harness.control_plane_rules()
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    ready = harness.wait_until_holding(arn, session_id)
    task_arn = ready["bastionTask"]["taskArn"]

    # WHEN its container exits on its own (idle timeout, say), and nobody calls EndSession
    harness.aws.stop_task_by_itself(task_arn, reason="Essential container in task exited")

    # THEN the ECS event reaches EndSession, and the session ends SUCCEEDED, saying why
    final = harness.finish(arn)
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"]["reason"] == "bastion-stopped"
    assert "MarkSessionExpired" not in harness.states_entered(arn)
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before
    # AND EndSession ran only for that event
    harness.aws.events.wait_until_idle()
    end_session = harness.stack.function_arn("EndSessionFunction")
    (delivery,) = [d for d in harness.aws.events_delivered if d.target_arn == end_session]
    assert delivery.rule_name == harness.stack.resources[TASK_STOPPED_RULE]
    assert delivery.event["detail"]["taskArn"] == task_arn
    assert json.loads(str(delivery.result))["reason"] == "bastion-stopped"
    calls = [i for i in harness.aws.invocations if "EndSessionFunction" in i.function_name]
    assert [call.event.get("source") for call in calls] == ["aws.ecs"]


def test_the_stop_that_teardown_makes_is_a_quiet_no_op_for_end_session(harness: Harness) -> None:
    # GIVEN a session that simply expires: its teardown stops the task
    session_id, arn = harness.start(harness.request(durationMinutes=1))
    final = harness.finish(arn)
    assert json.loads(final["output"])["end"]["reason"] == "expired"

    # THEN the task's STOPPED event reaches EndSession, which answers without an error
    end_session = harness.stack.function_arn("EndSessionFunction")
    delivery = harness.aws.events.wait_for_delivery(lambda d: d.target_arn == end_session)
    assert delivery.succeeded, delivery
    answer = json.loads(str(delivery.result))
    assert answer["sessionId"] == session_id
    # the hold timed out: its token answers TaskTimedOut, which EndSession takes as "ended"
    assert "already ended" in answer["ignored"]
    assert harness.aws.inventory(session_id).is_empty


# ---------------------------------------------------------------- third line: the sweeper


def test_one_sweep_removes_what_crashed_sessions_left_and_spares_a_live_one(
    harness: Harness,
) -> None:
    # GIVEN a live session, holding
    live_id, live_arn = harness.start(harness.request(durationMinutes=480))
    harness.wait_until_holding(live_arn, live_id)
    live_before = harness.aws.inventory(live_id)
    # AND a session aborted while the teardown rule was off (a crash of the second line)
    disable(harness, TEARDOWN_RULE)
    aborted_id, aborted_arn = harness.start(harness.request(durationMinutes=480))
    harness.wait_until_holding(aborted_arn, aborted_id)
    harness.sfn.stop_execution(executionArn=aborted_arn)
    assert harness.finish(aborted_arn)["status"] == "ABORTED"
    # AND the resources of a session whose execution never existed
    ghost_session(harness, "ghost-session")
    assert not harness.aws.inventory(aborted_id).is_empty
    assert not harness.aws.inventory("ghost-session").is_empty

    # WHEN the sweeper's schedule fires once
    (delivery,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    assert delivery.succeeded, delivery
    sweep = harness.aws.wait_for_execution(str(delivery.result))

    # THEN it found exactly the two orphans and tore both down
    assert sweep["status"] == "SUCCEEDED", sweep
    output = json.loads(sweep["output"])
    assert sorted(output["orphans"]["sessionIds"]) == sorted([aborted_id, "ghost-session"])
    assert output["orphans"]["examined"] == 3
    for orphan in (aborted_id, "ghost-session"):
        inventory = harness.aws.inventory(orphan)
        assert inventory.is_empty, inventory.render()
    # AND the live session is untouched, still holding
    assert harness.aws.inventory(live_id) == live_before
    assert harness.sfn.describe_execution(executionArn=live_arn)["status"] == "RUNNING"


def test_an_orphan_that_cannot_be_torn_down_never_stops_the_sweep_of_the_others(
    harness: Harness,
) -> None:
    # GIVEN more orphans than the sweep tears down at once
    orphans = [f"ghost-{index}" for index in range(SWEEP_CONCURRENCY + 2)]
    for orphan in orphans:
        ghost_session(harness, orphan)
    # AND the first one's group cannot be deleted, for good (its teardown fails fast,
    # while the others are still being torn down and the last ones not yet started)
    stuck = orphans[0]
    harness.aws.faults.fail_invocation(
        "DeleteSessionSecurityGroupFunction",
        error_type="AccessDenied",
        times=None,
        session_id=stuck,
    )

    # WHEN the sweeper's schedule fires once
    (delivery,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    sweep = harness.aws.wait_for_execution(str(delivery.result))

    # THEN every other orphan is torn down
    for orphan in orphans[1:]:
        inventory = harness.aws.inventory(orphan)
        assert inventory.is_empty, inventory.render()
    # AND the sweep ends SweepIncomplete, naming the stuck session alone
    assert sweep["status"] == "FAILED", sweep
    assert sweep["error"] == "SweepIncomplete", sweep
    assert sweep["cause"] == (
        f'These sessions could not be torn down; the next sweep retries them: ["{stuck}"]'
    )
    # AND the stuck session keeps only its group, still tagged, and nothing else
    left = harness.aws.inventory(stuck)
    assert left.resources == left.security_groups, left.render()
    assert len(left.security_groups) == 1, left.render()

    # WHEN the cause is gone and the schedule fires again
    harness.aws.faults.clear()
    (delivery,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    second = harness.aws.wait_for_execution(str(delivery.result))

    # THEN the next sweep tears down the stuck session too
    assert second["status"] == "SUCCEEDED", second
    assert json.loads(second["output"])["teardowns"] == [{"swept": stuck}]
    assert harness.aws.inventory().is_empty, harness.aws.inventory().render()


def test_a_sweep_with_nothing_to_do_succeeds(harness: Harness) -> None:
    (delivery,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    sweep = harness.aws.wait_for_execution(str(delivery.result))
    assert sweep["status"] == "SUCCEEDED", sweep
    assert json.loads(sweep["output"])["orphans"] == {
        "sessionIds": [],
        "examined": 0,
        "deferred": 0,
    }


# ---------------------------------------------------------------- what was deployed


def test_the_rules_are_deployed_as_the_template_says(harness: Harness) -> None:
    events = harness.aws.client("events")
    stack = harness.stack

    def described(logical_id: str) -> dict[str, Any]:
        name = stack.resources[logical_id]
        rule = events.describe_rule(Name=name)
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        return {**rule, "target": target}

    teardown = described(TEARDOWN_RULE)
    pattern = json.loads(teardown["EventPattern"])
    assert pattern["detail"] == {
        "stateMachineArn": [stack.state_machine_arn("SessionStateMachine")],
        "status": ["ABORTED", "TIMED_OUT", "FAILED"],
    }
    assert teardown["target"]["Arn"] == stack.state_machine_arn("TeardownStateMachine")
    assert teardown["target"]["InputTransformer"]["InputPathsMap"] == {"sessionId": "$.detail.name"}

    stopped = described(TASK_STOPPED_RULE)
    assert json.loads(stopped["EventPattern"])["detail"] == {
        "clusterArn": [stack.outputs["BastionClusterArn"]],
        "startedBy": ["fargate-bastion"],
        "lastStatus": ["STOPPED"],
    }
    assert stopped["target"]["Arn"] == stack.function_arn("EndSessionFunction")

    sweep = described(SWEEP_SCHEDULE)
    assert sweep["ScheduleExpression"] == "rate(15 minutes)"
    assert sweep["target"]["Arn"] == stack.state_machine_arn("SweeperStateMachine")


def test_the_sweeper_schedule_is_a_rate_or_cron_parameter() -> None:
    spec = load_template(TEMPLATE)["Parameters"]["SweeperSchedule"]
    assert spec["Default"] == "rate(15 minutes)"
    for good in ("rate(15 minutes)", "rate(1 hour)", "rate(2 days)", "cron(0/15 * * * ? *)"):
        assert re.fullmatch(spec["AllowedPattern"], good), good
    for bad in ("every 15 minutes", "rate(0 minutes)", "rate(15 weeks)", "rate(15 minutes"):
        assert not re.fullmatch(spec["AllowedPattern"], bad), bad
    refused = pytest.raises(ParameterError, match="SweeperSchedule")
    with LocalAws(region="us-east-1") as aws, refused:
        aws.deploy(
            TEMPLATE,
            parameters={
                "BastionSubnetIds": "subnet-0123456789abcdef0",
                "BastionImageUri": TEST_IMAGE,
                "AllowedClusters": "payments",
                "ApiAllowedPrincipals": "*",
                "SweeperSchedule": "every 15 minutes",
            },
        )


def test_two_sweeps_at_once_tear_each_orphan_down_and_neither_fails(harness: Harness) -> None:
    # GIVEN three sessions aborted while the teardown rule was off, and a ghost's resources
    disable(harness, TEARDOWN_RULE)
    orphans = ["ghost-session"]
    for _ in range(3):
        session_id, arn = harness.start(harness.request(durationMinutes=480))
        harness.wait_until_holding(arn, session_id)
        harness.sfn.stop_execution(executionArn=arn)
        assert harness.finish(arn)["status"] == "ABORTED"
        orphans.append(session_id)
    ghost_session(harness, "ghost-session")
    # AND both sweeps' searches held back until both sweeps have started, so that each
    # finds every orphan (a sweep of 40 orphans can outlast the 15-minute schedule)
    gates = [harness.aws.faults.gate_invocation("FindOrphanedSessionsFunction") for _ in "ab"]

    # WHEN the schedule fires twice, and both searches run
    (first,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    (second,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    for gate in gates:
        assert gate.reached.wait(WAIT_SECONDS), "a sweep never searched"
    for gate in gates:
        gate.opened.set()
    sweeps = [harness.aws.wait_for_execution(str(d.result)) for d in (first, second)]

    # THEN both sweeps found every orphan and both succeeded: no teardown step failed
    for sweep in sweeps:
        assert sweep["status"] == "SUCCEEDED", sweep
        output = json.loads(sweep["output"])
        assert sorted(output["orphans"]["sessionIds"]) == sorted(orphans), output
        assert output["sweep"]["notSwept"] == [], output
    # AND nothing of any orphan is left, and nothing else was started
    for orphan in orphans:
        inventory = harness.aws.inventory(orphan)
        assert inventory.is_empty, inventory.render()
    teardown_machine = harness.stack.state_machine_arn("TeardownStateMachine")
    assert harness.sfn.list_executions(stateMachineArn=teardown_machine)["executions"] == []
