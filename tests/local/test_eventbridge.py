"""EventBridge in the local AWS: service events, rule matching, delivery, input, schedules."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest

from bastion.local import LocalAws
from bastion.local.eventbridge import EventDelivery, target_input, transform_input
from bastion.local.waits import WAIT_SECONDS
from tests.local.conftest import (
    ECS_CLUSTER,
    create_fargate_cluster,
    create_function,
    create_network,
    create_state_machine,
    role_arn,
)

pytestmark = pytest.mark.local

HERE = "tests.local.test_eventbridge"
CLUSTER = ECS_CLUSTER
PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
FAIL_MACHINE = {"StartAt": "Broken", "States": {"Broken": {"Type": "Fail", "Error": "Broken"}}}
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/r"


# --- handlers the tests' functions run (this module is importable in-process) ---------------


def stop_a_task(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stop a task from inside a Lambda invocation, as StopBastionTask does."""
    boto3.client("ecs").stop_task(cluster=event["cluster"], task=event["task"], reason="done")
    return {"stopped": event["task"]}


def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"got": event}


# --- helpers --------------------------------------------------------------------------------


def rule(
    aws: LocalAws,
    name: str,
    targets: list[dict[str, Any]],
    pattern: dict[str, Any] | None = None,
    schedule: str | None = None,
    state: str = "ENABLED",
) -> str:
    events = aws.client("events")
    arn = events.put_rule(
        Name=name,
        State=state,
        **({"EventPattern": json.dumps(pattern)} if pattern else {}),
        **({"ScheduleExpression": schedule} if schedule else {}),
    )["RuleArn"]
    events.put_targets(Rule=name, Targets=targets)
    return str(arn)


def own_function(aws: LocalAws, name: str, handler: str) -> str:
    """A function whose handler is one of this module's."""
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("README.txt", "the handler runs in-process")
    return str(
        aws.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn(aws),
            Handler=f"{HERE}.{handler}",
            Code={"ZipFile": package.getvalue()},
            Timeout=30,
        )["FunctionArn"]
    )


def machine_target(aws: LocalAws, machine_arn: str, **extra: Any) -> dict[str, Any]:
    return {"Id": "machine", "Arn": machine_arn, "RoleArn": role_arn(aws), **extra}


def put(aws: LocalAws, detail: dict[str, Any], source: str = "test.source") -> None:
    answered = aws.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "Thing Happened", "Detail": json.dumps(detail)}]
    )
    assert answered["FailedEntryCount"] == 0


def delivered_to(aws: LocalAws, target_id: str) -> list[EventDelivery]:
    aws.events.wait_until_idle()
    return [d for d in aws.events_delivered if d.target_id == target_id]


# --- input ----------------------------------------------------------------------------------

EVENT = {
    "id": "1",
    "source": "aws.states",
    "time": "2026-11-27T10:00:00Z",
    "detail": {"name": "alice-1", "status": "ABORTED", "count": 3, "tags": ["a", "b"]},
}


def test_input_transformer_quotes_values_outside_strings_only() -> None:
    transformer = {
        "InputPathsMap": {
            "name": "$.detail.name",
            "count": "$.detail.count",
            "tag": "$.detail.tags[1]",
            "nothing": "$.detail.absent",
        },
        "InputTemplate": (
            '{"sessionId": <name>, "n": <count>, "tag": <tag>, "none": <nothing>, '
            '"text": "session <name> ended (<count>)", "rule": <aws.events.rule-name>}'
        ),
    }
    output = json.loads(transform_input(transformer, EVENT, "r", RULE_ARN))
    assert output == {
        "sessionId": "alice-1",
        "n": 3,
        "tag": "b",
        "none": None,
        "text": "session alice-1 ended (3)",
        "rule": "r",
    }


def test_input_transformer_may_make_plain_text() -> None:
    paths = {"name": "$.detail.name", "status": "$.detail.status"}
    transformer = {"InputPathsMap": paths, "InputTemplate": '<name> is in state "<status>"'}
    assert transform_input(transformer, EVENT, "r", RULE_ARN) == 'alice-1 is in state "ABORTED"'


def test_the_predefined_event_variables() -> None:
    transformer = {"InputTemplate": '{"event": <aws.events.event>, "all": <aws.events.event.json>}'}
    output = json.loads(transform_input(transformer, EVENT, "r", RULE_ARN))
    assert output["all"] == EVENT
    assert output["event"] == {k: v for k, v in EVENT.items() if k != "detail"}


def test_input_input_path_and_the_whole_event() -> None:
    assert target_input({"Input": '{"fixed": true}'}, EVENT, "r", RULE_ARN) == '{"fixed": true}'
    assert (
        json.loads(target_input({"InputPath": "$.detail"}, EVENT, "r", RULE_ARN))
        == (EVENT["detail"])
    )
    assert json.loads(target_input({}, EVENT, "r", RULE_ARN)) == EVENT


# --- matching and delivery ------------------------------------------------------------------


def test_put_events_start_a_state_machine_through_the_transformer(aws: LocalAws) -> None:
    # GIVEN a rule on a source and a detail field, targeting a state machine
    machine = create_state_machine(aws, "target", PASS_MACHINE)
    transformer = {"InputPathsMap": {"who": "$.detail.who"}, "InputTemplate": '{"who": <who>}'}
    rule(
        aws,
        "things",
        [machine_target(aws, machine, InputTransformer=transformer)],
        pattern={"source": ["test.source"], "detail": {"kind": ["wanted", "also-wanted"]}},
    )
    # WHEN a matching and a non-matching event are put
    put(aws, {"kind": "unwanted", "who": "nobody"})
    put(aws, {"kind": "also-wanted", "who": "alice"})
    # THEN only the matching one starts an execution, named after the rule, with the input
    (delivery,) = delivered_to(aws, "machine")
    assert delivery.succeeded, delivery
    assert delivery.input == '{"who": "alice"}'
    execution = aws.wait_for_execution(str(delivery.result))
    assert execution["status"] == "SUCCEEDED"
    assert execution["name"] == "things-target-1"
    assert json.loads(execution["input"]) == {"who": "alice"}


def test_prefix_and_anything_but_patterns(aws: LocalAws) -> None:
    function = create_function(aws, "answer", "echo")
    pattern = {"detail": {"name": [{"prefix": "bastion-"}], "status": [{"anything-but": "OK"}]}}
    rule(aws, "filtered", [{"Id": "function", "Arn": function}], pattern=pattern)
    put(aws, {"name": "bastion-1", "status": "OK"})
    put(aws, {"name": "other-1", "status": "BAD"})
    put(aws, {"name": "bastion-2", "status": "BAD"})
    (delivery,) = delivered_to(aws, "function")
    assert delivery.event["detail"]["name"] == "bastion-2"


def test_disabled_and_schedule_only_rules_deliver_no_events(aws: LocalAws) -> None:
    function = create_function(aws, "answer", "echo")
    rule(
        aws,
        "off",
        [{"Id": "disabled", "Arn": function}],
        pattern={"source": ["test.source"]},
        state="DISABLED",
    )
    rule(aws, "timer", [{"Id": "scheduled", "Arn": function}], schedule="rate(1 hour)")
    rule(aws, "on", [{"Id": "enabled", "Arn": function}], pattern={"source": ["test.source"]})
    put(aws, {"kind": "anything"})
    aws.events.wait_until_idle()
    assert [d.target_id for d in aws.events_delivered] == ["enabled"]


def test_lambda_targets_get_the_event_and_their_answers_are_recorded(aws: LocalAws) -> None:
    good = own_function(aws, "good", "answer")
    bad = create_function(aws, "bad", "jam")
    rule(
        aws,
        "both",
        [
            {"Id": "good", "Arn": good, "InputPath": "$.detail"},
            {"Id": "bad", "Arn": bad, "Input": '{"widget": 7}'},
        ],
        pattern={"source": ["test.source"]},
    )
    put(aws, {"kind": "x"})
    (good_delivery,) = delivered_to(aws, "good")
    (bad_delivery,) = delivered_to(aws, "bad")
    assert good_delivery.succeeded
    assert json.loads(str(good_delivery.result)) == {"got": {"kind": "x"}}
    assert not bad_delivery.succeeded
    assert "widget 7 is jammed" in str(bad_delivery.result)


# --- events the services emit ---------------------------------------------------------------


def test_executions_ending_emit_status_change_events(aws: LocalAws) -> None:
    # GIVEN a rule on one machine's executions that end FAILED or ABORTED
    watched = create_state_machine(aws, "watched", FAIL_MACHINE)
    other = create_state_machine(aws, "other", FAIL_MACHINE)
    teardown = create_state_machine(aws, "teardown", PASS_MACHINE)
    transformer = {"InputPathsMap": {"id": "$.detail.name"}, "InputTemplate": '{"sessionId": <id>}'}
    rule(
        aws,
        "ended",
        [machine_target(aws, teardown, InputTransformer=transformer)],
        pattern={
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"stateMachineArn": [watched], "status": ["FAILED", "ABORTED"]},
        },
    )
    sfn = aws.client("stepfunctions")
    # WHEN one execution of each fails
    for machine, name in ((watched, "alice-1"), (other, "bob-1")):
        arn = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
        assert aws.wait_for_execution(arn)["status"] == "FAILED"
    # THEN only the watched one's starts the teardown, for its name
    delivery = aws.events.wait_for_delivery(lambda d: d.target_id == "machine")
    assert delivery.event["detail"]["status"] == "FAILED"
    assert delivery.event["detail"]["error"] == "Broken"
    teardown_run = aws.wait_for_execution(str(delivery.result))
    assert teardown_run["name"] == "alice-1-teardown-1"
    assert json.loads(teardown_run["input"]) == {"sessionId": "alice-1"}
    assert len(delivered_to(aws, "machine")) == 1


def test_execution_names_stay_within_80_characters(aws: LocalAws) -> None:
    watched = create_state_machine(aws, "watched", FAIL_MACHINE)
    teardown = create_state_machine(aws, "teardown", PASS_MACHINE)
    pattern = {"source": ["aws.states"], "detail": {"stateMachineArn": [watched]}}
    rule(aws, "long", [machine_target(aws, teardown, Input="{}")], pattern=pattern)
    sfn = aws.client("stepfunctions")
    name = "s" * 80
    arn = sfn.start_execution(stateMachineArn=watched, name=name, input="{}")["executionArn"]
    aws.wait_for_execution(arn)
    # RUNNING (however fast it failed) and FAILED: two teardowns, numbered
    deliveries = delivered_to(aws, "machine")
    assert sorted(d.event["detail"]["status"] for d in deliveries) == ["FAILED", "RUNNING"]
    names = sorted(str(d.result).rsplit(":", 1)[-1] for d in deliveries)
    stem = "s" * (80 - len("-teardown-1"))
    assert names == [f"{stem}-teardown-1", f"{stem}-teardown-2"]
    assert all(len(n) <= 80 for n in names)


@pytest.fixture
def task(aws: LocalAws) -> dict[str, str]:
    """A running Fargate task, with a container override like the bastion's."""
    create_fargate_cluster(aws, essential=False)
    ecs = aws.client("ecs")
    network = create_network(aws)
    started = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition="bastion",
        launchType="FARGATE",
        startedBy="fargate-bastion",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [network.subnet_id]}},
        overrides={
            "containerOverrides": [
                {"name": "bastion", "environment": [{"name": "BASTION_SESSION_ID", "value": "s-1"}]}
            ]
        },
    )["tasks"][0]
    return {"cluster": CLUSTER, "task": started["taskArn"]}


def ecs_stopped_rule(aws: LocalAws, function_arn: str) -> None:
    pattern = {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"lastStatus": ["STOPPED"], "startedBy": ["fargate-bastion"]},
    }
    rule(aws, "stopped", [{"Id": "function", "Arn": function_arn}], pattern=pattern)


def test_a_task_stopping_by_itself_emits_its_state_change(
    aws: LocalAws, task: dict[str, str]
) -> None:
    ecs_stopped_rule(aws, create_function(aws, "answer", "echo"))
    aws.stop_task_by_itself(task["task"], reason="Essential container in task exited")
    (delivery,) = delivered_to(aws, "function")
    detail = delivery.event["detail"]
    assert (detail["taskArn"], detail["lastStatus"]) == (task["task"], "STOPPED")
    assert detail["stoppedReason"] == "Essential container in task exited"
    assert detail["stopCode"] == "EssentialContainerExited"
    assert detail["clusterArn"].endswith(f":cluster/{CLUSTER}")
    (container,) = detail["overrides"]["containerOverrides"]
    assert container["environment"] == [{"name": "BASTION_SESSION_ID", "value": "s-1"}]


def test_a_task_stopped_inside_an_invocation_is_delivered_after_it(
    aws: LocalAws, task: dict[str, str]
) -> None:
    # GIVEN the stopped-task rule invokes a function, and another function stops the task
    ecs_stopped_rule(aws, create_function(aws, "answer", "echo"))
    own_function(aws, "stopper", "stop_a_task")
    # WHEN the stopping function runs (holding the in-process Lambda runtime)
    answered = aws.client("lambda").invoke(FunctionName="stopper", Payload=json.dumps(task))
    assert "FunctionError" not in answered
    # THEN the event reaches the other function once the first has returned: no deadlock
    (delivery,) = delivered_to(aws, "function")
    assert delivery.succeeded
    assert sorted(call.function_name for call in aws.invocations) == ["answer", "stopper"]


# --- schedules ------------------------------------------------------------------------------


def test_firing_a_schedule_starts_its_target(aws: LocalAws) -> None:
    machine = create_state_machine(aws, "sweeper", PASS_MACHINE)
    rule(aws, "every-15", [machine_target(aws, machine)], schedule="rate(15 minutes)")
    (delivery,) = aws.fire_schedule("every-15")
    assert delivery.succeeded
    execution = aws.wait_for_execution(str(delivery.result))
    assert execution["name"] == "every-15-sweeper-1"
    event = json.loads(execution["input"])
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    assert aws.fire_schedule("every-15")[0].result != delivery.result


def test_a_disabled_schedule_fires_nothing(aws: LocalAws) -> None:
    machine = create_state_machine(aws, "sweeper", PASS_MACHINE)
    rule(aws, "off", [machine_target(aws, machine)], schedule="rate(1 hour)", state="DISABLED")
    assert aws.fire_schedule("off") == []
    with pytest.raises(KeyError, match="no rule 'nope'"):
        aws.fire_schedule("nope")


def test_nothing_is_delivered_once_the_local_aws_stops() -> None:
    with LocalAws() as aws:
        function = create_function(aws, "answer", "echo")
        rule(aws, "on", [{"Id": "function", "Arn": function}], pattern={"source": ["test.source"]})
        put(aws, {"kind": "before"})
        assert len(delivered_to(aws, "function")) == 1
        events = aws.events
    events.put({"source": "test.source", "detail-type": "Thing Happened", "detail": {}})
    events.wait_until_idle(timeout=1)
    assert [d.event["detail"] for d in events.delivered] == [{"kind": "before"}]


def test_a_delivery_that_outlasts_the_close_fails_it_by_name() -> None:
    from tests.local import handlers_for_tests

    # GIVEN a delivery in progress to a function that runs until released
    handlers_for_tests.holding.clear()
    handlers_for_tests.released.clear()
    with LocalAws() as aws:
        function = create_function(aws, "holds", "hold_until_released")
        rule(aws, "on", [{"Id": "function", "Arn": function}], pattern={"source": ["test.source"]})
        put(aws, {"kind": "held"})
        assert handlers_for_tests.holding.wait(WAIT_SECONDS)
        try:
            # WHEN the bus is closed and the delivery outlasts the deadline, THEN it says so
            with pytest.raises(RuntimeError, match="EventBridge delivery in progress still runs"):
                aws.events.close(timeout=0.1)
        finally:
            handlers_for_tests.released.set()
