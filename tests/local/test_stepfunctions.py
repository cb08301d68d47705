"""Step Functions on the local AWS: Lambda tasks, time scale, callbacks, stop, history."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from bastion.local.waits import WAIT_SECONDS
from tests.local.conftest import create_function, create_state_machine, start

pytestmark = pytest.mark.local

INVOKE = "arn:aws:states:::lambda:invoke"
#: Ten hours of workflow time in a second. A wait of hours that ends within a test's
#: deadline (minutes) shows the time scale applied, however slow the machine.
HOURS_IN_SECONDS = 36_000.0
INVOKE_WAIT = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def _task(function: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": INVOKE,
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        "ResultSelector": {"result.$": "$.Payload"},
        **fields,
    }


def _hold(**fields: Any) -> dict[str, Any]:
    """A callback task whose handler stores its token in SSM under the session id."""
    return {
        "Type": "Task",
        "Resource": INVOKE_WAIT,
        "Parameters": {
            "FunctionName": "store-token",
            "Payload": {"sessionId.$": "$.sessionId", "taskToken.$": "$$.Task.Token"},
        },
        "TimeoutSecondsPath": "$.timeout",
        **fields,
    }


def _wait_for_token(aws: LocalAws, session_id: str, timeout: float = WAIT_SECONDS) -> str:
    ssm = aws.client("ssm")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            name = f"/fargate-bastion/sessions/{session_id}"
            return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            time.sleep(0.02)
    raise TimeoutError(f"no task token stored for {session_id}")


def test_a_lambda_task_returns_the_handlers_result(aws: LocalAws) -> None:
    create_function(aws, "echo", "echo", environment={"GREETING": "hi"})
    machine = create_state_machine(
        aws, "echo", {"StartAt": "Echo", "States": {"Echo": _task("echo", End=True)}}
    )

    final = aws.wait_for_execution(start(aws, machine, "run-1", {"widget": 5}))

    output = json.loads(final["output"])
    assert final["status"] == "SUCCEEDED"
    assert output["result"]["event"] == {"widget": 5}
    assert output["result"]["greeting"] == "hi"


def test_a_handlers_exception_class_is_the_error_name_catch_sees(aws: LocalAws) -> None:
    create_function(aws, "jam", "jam")
    definition = {
        "StartAt": "Jam",
        "States": {
            "Jam": _task(
                "jam",
                Catch=[
                    {"ErrorEquals": ["WidgetJammed"], "ResultPath": "$.error", "Next": "Caught"}
                ],
                End=True,
            ),
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    machine = create_state_machine(aws, "jam", definition)

    final = aws.wait_for_execution(start(aws, machine, "run-1", {"widget": 9}))

    error = json.loads(final["output"])["error"]
    assert final["status"] == "SUCCEEDED"
    assert error["Error"] == "WidgetJammed"
    assert json.loads(error["Cause"])["errorMessage"] == "widget 9 is jammed"
    failed = [e for e in aws.history(final["executionArn"]) if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "WidgetJammed"


def test_an_injected_invocation_fault_fails_the_task_with_its_error_type(aws: LocalAws) -> None:
    create_function(aws, "echo", "echo")
    machine = create_state_machine(
        aws, "echo", {"StartAt": "Echo", "States": {"Echo": _task("echo", End=True)}}
    )
    aws.faults.fail_invocation("echo", error_type="Boom", message="injected")

    final = aws.wait_for_execution(start(aws, machine, "run-1", {}))

    assert (final["status"], final["error"]) == ("FAILED", "Boom")


@pytest.fixture
def fast_aws() -> Iterator[LocalAws]:
    """A local AWS in which ten hours of workflow time pass in a second."""
    with LocalAws(time_scale=HOURS_IN_SECONDS) as aws:
        yield aws


def test_retry_intervals_are_divided_by_the_time_scale(fast_aws: LocalAws) -> None:
    # GIVEN a task retried twice after five hours each (ten hours of waiting on AWS)
    create_function(fast_aws, "flaky", "succeed_on_attempt")
    interval = {"IntervalSeconds": 5 * 3600, "MaxAttempts": 5, "BackoffRate": 1}
    retry = [{"ErrorEquals": ["NotYetThere"], **interval}]
    machine = create_state_machine(
        fast_aws,
        "flaky",
        {"StartAt": "Flaky", "States": {"Flaky": _task("flaky", Retry=retry, End=True)}},
    )

    # WHEN it runs, THEN it succeeds on the third attempt within the test's deadline
    run = start(fast_aws, machine, "run-1", {"key": "retry", "succeedOn": 3})
    final = fast_aws.wait_for_execution(run)
    assert json.loads(final["output"])["result"] == {"attempts": 3}


def test_wait_states_are_divided_by_the_time_scale(fast_aws: LocalAws) -> None:
    # GIVEN a Wait of ten hours
    definition = {
        "StartAt": "Pause",
        "States": {"Pause": {"Type": "Wait", "Seconds": 10 * 3600, "End": True}},
    }
    machine = create_state_machine(fast_aws, "pause", definition)
    # WHEN it runs, THEN it is over within the test's deadline
    final = fast_aws.wait_for_execution(start(fast_aws, machine, "run-1", {}))
    assert final["status"] == "SUCCEEDED"


def test_time_scale_one_waits_in_real_time() -> None:
    with LocalAws(time_scale=1.0) as aws:
        definition = {
            "StartAt": "Pause",
            "States": {"Pause": {"Type": "Wait", "Seconds": 1, "End": True}},
        }
        machine = create_state_machine(aws, "pause", definition)

        began = time.monotonic()
        final = aws.wait_for_execution(start(aws, machine, "run-1", {}))

    assert final["status"] == "SUCCEEDED"
    assert time.monotonic() - began >= 0.9


def test_a_callback_timeout_is_divided_by_the_time_scale(fast_aws: LocalAws) -> None:
    # GIVEN a hold of ten hours (TimeoutSecondsPath) whose expiry is caught
    create_function(fast_aws, "store-token", "store_token")
    definition = {
        "StartAt": "Hold",
        "States": {
            "Hold": _hold(
                Catch=[
                    {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Expired"}
                ],
                End=True,
            ),
            "Expired": {"Type": "Pass", "End": True},
        },
    }
    machine = create_state_machine(fast_aws, "hold", definition)

    # WHEN nobody sends the token back
    request = {"sessionId": "s-1", "timeout": 10 * 3600}
    final = fast_aws.wait_for_execution(start(fast_aws, machine, "s-1", request))

    # THEN it expired as States.Timeout within the test's deadline, not ten hours on
    assert json.loads(final["output"])["error"]["Error"] == "States.Timeout"


def test_send_task_failure_keeps_its_cause(aws: LocalAws) -> None:
    create_function(aws, "store-token", "store_token")
    definition = {
        "StartAt": "Hold",
        "States": {
            "Hold": _hold(
                Catch=[
                    {"ErrorEquals": ["SessionBroken"], "ResultPath": "$.error", "Next": "Broken"}
                ],
                End=True,
            ),
            "Broken": {"Type": "Pass", "End": True},
        },
    }
    machine = create_state_machine(aws, "hold", definition)
    arn = start(aws, machine, "s-1", {"sessionId": "s-1", "timeout": 3600})

    aws.client("stepfunctions").send_task_failure(
        taskToken=_wait_for_token(aws, "s-1"), error="SessionBroken", cause="the bastion exited"
    )
    final = aws.wait_for_execution(arn)

    assert json.loads(final["output"])["error"] == {
        "Error": "SessionBroken",
        "Cause": "the bastion exited",
    }


def test_stop_execution_during_a_callback_aborts_at_once_and_for_good(aws: LocalAws) -> None:
    # GIVEN two holds waiting for their token: one for an hour, one for 60 s (1 s at 60x)
    create_function(aws, "store-token", "store_token")
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3}]
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Teardown"}]
    definition = {
        "StartAt": "Hold",
        "States": {
            "Hold": _hold(Retry=retry, Catch=catch, End=True),
            "Teardown": {"Type": "Pass", "End": True},
        },
    }
    machine = create_state_machine(aws, "hold", definition)
    sfn = aws.client("stepfunctions")
    long_hold = start(aws, machine, "long", {"sessionId": "long", "timeout": 3600})
    short_hold = start(aws, machine, "short", {"sessionId": "short", "timeout": 60})
    _wait_for_token(aws, "long")
    _wait_for_token(aws, "short")

    # WHEN both are stopped
    sfn.stop_execution(executionArn=long_hold, error="UserStopped", cause="console")
    sfn.stop_execution(executionArn=short_hold)

    # THEN the hour-long hold (a minute at 60x) is ABORTED well before it could time out
    assert aws.wait_for_execution(long_hold, timeout=30)["status"] == "ABORTED"
    # ... and the short one stays ABORTED after its timeout has passed: no retry, no catch
    assert aws.wait_for_execution(short_hold)["status"] == "ABORTED"
    time.sleep(1.5)
    assert sfn.describe_execution(executionArn=short_hold)["status"] == "ABORTED"
    for arn in (long_hold, short_hold):
        events = [event["type"] for event in aws.history(arn)]
        assert events[-1] == "ExecutionAborted"
        assert "TaskTimedOut" not in events and "ExecutionFailed" not in events


def test_wait_for_execution_times_out_with_the_status_and_last_events(aws: LocalAws) -> None:
    definition = {
        "StartAt": "Pause",
        "States": {"Pause": {"Type": "Wait", "Seconds": 3600, "End": True}},
    }
    machine = create_state_machine(aws, "pause", definition)
    arn = start(aws, machine, "run-1", {})

    with pytest.raises(TimeoutError, match="still RUNNING.*WaitStateEntered"):
        aws.wait_for_execution(arn, timeout=0.3)


def test_leaving_the_local_aws_stops_running_executions() -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    with LocalAws() as aws:
        definition = {
            "StartAt": "Pause",
            "States": {"Pause": {"Type": "Wait", "Seconds": 3600, "End": True}},
        }
        machine = create_state_machine(aws, "pause", definition)
        arn = start(aws, machine, "run-1", {})
        # moto's own execution object outlives the mock: keep it to look at afterwards
        execution = stepfunctions_parser_backends[aws.account_id][aws.region].describe_execution(
            arn
        )
        assert execution.status == "RUNNING"

    assert execution.status == "ABORTED"


def test_lambda_service_errors_are_named_lambda_code_for_both_resource_forms(
    aws: LocalAws,
) -> None:
    # GIVEN a function called by ARN and through the lambda:invoke integration
    function_arn = create_function(aws, "echo", "echo")
    by_arn = create_state_machine(
        aws,
        "by-arn",
        {
            "StartAt": "Echo",
            "States": {"Echo": {"Type": "Task", "Resource": function_arn, "End": True}},
        },
    )
    by_integration = create_state_machine(
        aws, "by-integration", {"StartAt": "Echo", "States": {"Echo": _task("echo", End=True)}}
    )

    # WHEN the Lambda service itself fails each call
    aws.faults.fail_aws_call(
        "lambda", "Invoke", code="ServiceException", message="lambda broke", times=2
    )
    errors = [
        aws.wait_for_execution(start(aws, machine, "run-1", {}))["error"]
        for machine in (by_arn, by_integration)
    ]

    # THEN both name it as AWS does, which the recommended Lambda retrier matches
    assert errors == ["Lambda.ServiceException", "Lambda.ServiceException"]


def test_an_execution_started_without_a_name_gets_a_unique_one(aws: LocalAws) -> None:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    machine = create_state_machine(aws, "unnamed", definition)
    sfn = aws.client("stepfunctions")

    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(2)]

    names = [aws.wait_for_execution(arn)["name"] for arn in arns]
    assert len(set(names)) == 2 and "None" not in names


def test_an_execution_stopped_right_after_it_starts_is_aborted() -> None:
    # moto's worker builds its environment in a thread: a stop that came first crashed.

    with LocalAws(region="us-east-1") as aws:
        sfn = aws.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="waits",
            definition=json.dumps(
                {
                    "StartAt": "Hold",
                    "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}},
                }
            ),
            roleArn="arn:aws:iam::123456789012:role/x",
        )["stateMachineArn"]
        for number in range(5):
            arn = sfn.start_execution(stateMachineArn=machine, name=f"stop-{number}")[
                "executionArn"
            ]
            sfn.stop_execution(executionArn=arn)
            assert aws.wait_for_execution(arn)["status"] == "ABORTED"


def test_each_parse_of_a_definition_has_its_own_query_language_scopes(aws: LocalAws) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    # GIVEN one parse in the middle of a definition, a scope open
    first, second = Preprocessor(), Preprocessor()
    first._query_language_per_scope.append("an open scope")

    # THEN another parse, as another execution's worker starts, does not see it
    assert second._query_language_per_scope == []
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    program, _ = AmazonStateLanguageParser.parse(json.dumps(definition))
    assert program is not None
    assert first._query_language_per_scope == ["an open scope"]


def test_a_definition_is_parsed_once_and_each_execution_gets_components_of_its_own(
    aws: LocalAws,
) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    # GIVEN a definition parsed once
    definition = json.dumps(
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "End": True}}}
    )
    first_program, first_tree = AmazonStateLanguageParser.parse(definition)

    # WHEN it is parsed again, as the next execution starts
    second_program, second_tree = AmazonStateLanguageParser.parse(definition)

    # THEN the tree is the one kept, and the components (which hold an execution's state)
    # are new
    assert second_tree is first_tree
    assert second_program is not first_program
    # AND a definition that does not parse fails every time, as moto's parse does
    for _ in range(2):
        with pytest.raises(ASLParserException):
            AmazonStateLanguageParser.parse('{"StartAt": ')


def _ending_after_parameters(monkeypatch: pytest.MonkeyPatch, task_class: Any) -> None:
    """Cut every evaluation of ``task_class`` short just after its parameters, as when
    another iteration of its Map fails or its execution is stopped at that moment."""
    evaluate_parameters = task_class._eval_parameters

    def parameters_then_end(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        parameters = evaluate_parameters(self, env, *args, **kwargs)
        env.set_ended()
        return parameters

    monkeypatch.setattr(task_class, "_eval_parameters", parameters_then_end)


def _scheduled_details(aws: LocalAws, machine: str, execution_input: Any) -> dict[str, Any]:
    """Run ``machine``; the details of its one task's scheduled event, read from the API."""
    arn = start(aws, machine, "run-1", execution_input)
    aws.wait_for_execution(arn)
    events = aws.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    (details,) = [
        event.get("lambdaFunctionScheduledEventDetails") or event["taskScheduledEventDetails"]
        for event in events
        if event["type"] in ("LambdaFunctionScheduled", "TaskScheduled")
    ]
    return dict(details)


def test_a_task_cut_short_after_its_parameters_keeps_the_history_readable(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    # GIVEN a task calling a function by ARN, with a fixed timeout, cut short
    function_arn = create_function(aws, "echo", "echo")
    task = {"Type": "Task", "Resource": function_arn, "TimeoutSeconds": 30, "End": True}
    machine = create_state_machine(aws, "cut", {"StartAt": "Echo", "States": {"Echo": task}})
    _ending_after_parameters(monkeypatch, StateTaskLambda)

    # WHEN it runs, THEN its scheduled event carries its timeout, not the state's input
    assert _scheduled_details(aws, machine, {"widget": 5})["timeoutInSeconds"] == 30


def test_a_callback_task_cut_short_keeps_its_timeout_path_and_heartbeat(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )

    # GIVEN a callback task whose timeout is read from its input, with a heartbeat, cut short
    create_function(aws, "store-token", "store_token")
    hold = _hold(HeartbeatSeconds=20, End=True)
    machine = create_state_machine(aws, "cut", {"StartAt": "Hold", "States": {"Hold": hold}})
    _ending_after_parameters(monkeypatch, StateTaskService)

    # WHEN it runs, THEN its scheduled event carries both, read as they were meant to be
    details = _scheduled_details(aws, machine, {"sessionId": "s-1", "timeout": 45})
    assert (details["timeoutInSeconds"], details["heartbeatInSeconds"]) == (45, 20)


def test_each_attempt_of_a_retried_callback_task_gets_its_own_token(aws: LocalAws) -> None:
    # GIVEN a callback task whose handler stores its token and then dies, once, and whose
    # retry waits at a gate until the test has looked at the first attempt's token
    create_function(aws, "store-token", "store_token")
    aws.faults.fail_invocation("store-token", error_type="Runtime.ExitError", crash_after=True)
    gate = aws.faults.gate_invocation("store-token", after=1)
    retry = {"ErrorEquals": ["Runtime.ExitError"], "IntervalSeconds": 1, "MaxAttempts": 2}
    definition = {"StartAt": "Hold", "States": {"Hold": _hold(Retry=[retry], End=True)}}
    machine = create_state_machine(aws, "hold", definition)
    arn = start(aws, machine, "s-1", {"sessionId": "s-1", "timeout": 3600})
    sfn = aws.client("stepfunctions")

    # WHEN the first attempt has died and the retry waits
    assert gate.reached.wait(WAIT_SECONDS)
    first = _wait_for_token(aws, "s-1")
    # THEN the first attempt's token is over: answering it is refused
    with pytest.raises(ClientError) as refused:
        sfn.send_task_success(taskToken=first, output="{}")
    assert refused.value.response["Error"]["Code"] == "TaskDoesNotExist"

    # WHEN the retry runs, THEN it stores a new token, and that one ends the task
    gate.opened.set()
    deadline = time.monotonic() + WAIT_SECONDS
    while (second := _wait_for_token(aws, "s-1")) == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert second != first
    sfn.send_task_success(taskToken=second, output='{"ended": true}')
    final = aws.wait_for_execution(arn)
    assert final["status"] == "SUCCEEDED", final


def _function_task(function_arn: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": function_arn, **fields}


CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
RETRY_ALL = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}]


@pytest.mark.parametrize(
    "broken",
    [
        {"Parameters": {"vpcId.$": "$.controlPlane.vpcId"}},
        {"TimeoutSecondsPath": "$.bastion.holdSeconds"},
    ],
    ids=["Parameters path", "TimeoutSecondsPath"],
)
def test_a_runtime_error_fails_the_execution_past_states_all(
    aws: LocalAws, broken: dict[str, Any]
) -> None:
    # GIVEN a task reading a path its input lacks, retrying and catching States.ALL
    # (and naming States.Runtime itself)
    arn = create_function(aws, "echo", "echo")
    catch = [{**CATCH_ALL[0], "ErrorEquals": ["States.Runtime"]}, *CATCH_ALL]
    definition = {
        "StartAt": "Read",
        "States": {
            "Read": _function_task(arn, Retry=RETRY_ALL, Catch=catch, End=True, **broken),
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    machine = create_state_machine(aws, "runtime", definition)

    # WHEN it runs, THEN the execution fails at once with States.Runtime: no retry, no catch
    final = aws.wait_for_execution(start(aws, machine, "run-1", {"widget": 1}))
    assert (final["status"], final.get("error")) == ("FAILED", "States.Runtime"), final
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in aws.history(final["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    assert entered == ["Read"]
    assert aws.invocations == []


def test_data_limit_exceeded_passes_states_all_but_not_its_own_name(aws: LocalAws) -> None:
    # GIVEN a function answering more than 256 KiB, caught by States.ALL in one machine
    # and by its own name in another
    arn = create_function(aws, "oversized", "oversized")
    by_name = [{**CATCH_ALL[0], "ErrorEquals": ["States.DataLimitExceeded"]}]
    finals = []
    for name, catch in (("all", CATCH_ALL), ("named", by_name)):
        definition = {
            "StartAt": "Big",
            "States": {
                "Big": _function_task(arn, Catch=catch, End=True),
                "Caught": {
                    "Type": "Pass",
                    "Parameters": {"caught.$": "$.error.Error"},
                    "End": True,
                },
            },
        }
        machine = create_state_machine(aws, f"big-{name}", definition)
        finals.append(aws.wait_for_execution(start(aws, machine, "run-1", {})))

    # THEN States.ALL lets it through and the execution fails; the named catcher catches it
    caught_by_all, caught_by_name = finals
    assert (caught_by_all["status"], caught_by_all["error"]) == (
        "FAILED",
        "States.DataLimitExceeded",
    ), caught_by_all
    assert caught_by_name["status"] == "SUCCEEDED", caught_by_name
    assert json.loads(caught_by_name["output"]) == {"caught": "States.DataLimitExceeded"}


def test_an_execution_whose_worker_has_not_started_is_listed_running(aws: LocalAws) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    # GIVEN an execution caught between its creation and its worker's start (moto lists it
    # then, with no status yet; a status filter over it raised AttributeError)
    definition = {
        "StartAt": "Pause",
        "States": {"Pause": {"Type": "Wait", "Seconds": 3600, "End": True}},
    }
    machine = create_state_machine(aws, "pause", definition)
    arn = start(aws, machine, "run-1", {})
    backend = stepfunctions_parser_backends[aws.account_id][aws.region]
    execution = backend.describe_execution(arn)
    started = execution.exec_status
    execution.exec_status = None
    try:
        # WHEN a caller lists the machine's running executions
        listed = aws.client("stepfunctions").list_executions(
            stateMachineArn=machine, statusFilter="RUNNING"
        )["executions"]
    finally:
        execution.exec_status = started

    # THEN it is listed RUNNING, as AWS lists an execution once StartExecution has answered
    assert [(e["executionArn"], e["status"]) for e in listed] == [(arn, "RUNNING")]
