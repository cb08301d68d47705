"""Lambda invocations run the function's handler in-process."""

from __future__ import annotations

import json
import os
import threading

import boto3
import pytest
from moto import mock_aws

from bastion.local import SUCCEEDED, Invocation, LocalAws
from bastion.local.lambda_runtime import invocations_paused
from bastion.local.waits import WAIT_SECONDS
from tests.local import handlers_for_tests
from tests.local.conftest import create_function, invoke, role_arn

pytestmark = pytest.mark.local


def test_invoke_runs_the_handler_with_its_environment_and_context(aws: LocalAws) -> None:
    # GIVEN a function with an environment variable
    arn = create_function(aws, "echo", "echo", environment={"GREETING": "hello"})

    # WHEN it is invoked
    error, payload = invoke(aws, "echo", {"widget": 1})

    # THEN the handler ran with the event, the context and the function's environment
    assert error is None
    assert payload["event"] == {"widget": 1}
    assert payload["functionName"] == "echo"
    assert payload["invokedFunctionArn"] == arn
    assert payload["memoryLimitInMb"] == 128
    assert payload["logGroupName"] == "/aws/lambda/echo"
    assert payload["requestId"]
    assert 0 < payload["remainingMs"] <= 30_000
    assert payload["greeting"] == "hello"
    assert payload["region"] == payload["defaultRegion"] == "us-east-1"
    assert payload["lambdaName"] == "echo"
    assert payload["traceDisabled"] == "true"
    # ... and the environment is restored afterwards
    assert "GREETING" not in os.environ
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ
    assert aws.invocations == [Invocation("echo", {"widget": 1}, SUCCEEDED)]


def test_an_exception_answers_unhandled_with_its_class_name(aws: LocalAws) -> None:
    create_function(aws, "jam", "jam")

    error, payload = invoke(aws, "jam", {"widget": 7})

    assert error == "Unhandled"
    assert payload["errorType"] == "WidgetJammed"
    assert payload["errorMessage"] == "widget 7 is jammed"
    assert any("handlers_for_tests.py" in frame for frame in payload["stackTrace"])
    assert aws.invocations[-1].outcome == "WidgetJammed"
    assert not aws.invocations[-1].succeeded


def test_runtime_errors_are_named_like_the_lambda_runtime(aws: LocalAws) -> None:
    aws.client("lambda").create_function(
        FunctionName="missing",
        Runtime="python3.11",
        Role=role_arn(aws),
        Handler="tests.local.no_such_module.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    create_function(aws, "unserializable", "unserializable")

    assert invoke(aws, "missing", {})[1]["errorType"] == "Runtime.ImportModuleError"
    assert invoke(aws, "unserializable", {})[1]["errorType"] == "Runtime.MarshalError"


def test_a_function_that_dies_is_named_as_lambda_names_it(aws: LocalAws) -> None:
    # GIVEN functions whose process exits, that run out of memory, that run past a 1 s timeout
    create_function(aws, "exits", "exit_process")
    create_function(aws, "hungry", "exhaust_memory")
    create_function(aws, "slow", "overrun", timeout=1)

    # WHEN each is invoked
    exited = invoke(aws, "exits", {"status": 3})
    hungry = invoke(aws, "hungry", {})
    slow = invoke(aws, "slow", {})

    # THEN each answers Unhandled with Lambda's name and message, and no stack trace
    assert exited[0] == hungry[0] == slow[0] == "Unhandled"
    assert exited[1]["errorType"] == "Runtime.ExitError"
    assert exited[1]["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert hungry[1]["errorType"] == "Runtime.OutOfMemory"
    assert hungry[1]["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert slow[1]["errorType"] == "Sandbox.Timedout"
    assert slow[1]["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert "answered" not in slow[1]
    for _error, payload in (exited, hungry, slow):
        assert payload["stackTrace"] == []
        assert payload["errorMessage"].startswith(f"RequestId: {payload['requestId']} ")
    assert [invocation.outcome for invocation in aws.invocations] == [
        "Runtime.ExitError",
        "Runtime.OutOfMemory",
        "Sandbox.Timedout",
    ]


def test_an_injected_invocation_fault_answers_before_the_handler(aws: LocalAws) -> None:
    # GIVEN a fault on the function, once
    create_function(aws, "creator", "create_group")
    vpc_id = aws.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    aws.faults.fail_invocation("creator", error_type="Boom", message="injected", times=1)

    # WHEN it is invoked twice
    first = invoke(aws, "creator", {"name": "first", "vpcId": vpc_id})
    second = invoke(aws, "creator", {"name": "second", "vpcId": vpc_id})

    # THEN the first answered the injected error without running the handler
    assert first == ("Unhandled", {**first[1], "errorType": "Boom", "errorMessage": "injected"})
    names = _group_names(aws, vpc_id)
    assert "first" not in names
    # ... and the second ran normally
    assert second[0] is None
    assert "second" in names
    assert [i.outcome for i in aws.invocations] == ["Boom", SUCCEEDED]


def test_a_crash_after_fault_runs_the_handler_then_fails(aws: LocalAws) -> None:
    create_function(aws, "creator", "create_group")
    vpc_id = aws.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    aws.faults.fail_invocation("creator", error_type="Crashed", crash_after=True)

    error, payload = invoke(aws, "creator", {"name": "made-anyway", "vpcId": vpc_id})

    assert (error, payload["errorType"]) == ("Unhandled", "Crashed")
    assert "made-anyway" in _group_names(aws, vpc_id)


def test_a_fault_for_one_session_spares_every_other_session(aws: LocalAws) -> None:
    # GIVEN a fault on the function for session "stuck" only, every time
    create_function(aws, "echo", "echo")
    aws.faults.fail_invocation("echo", error_type="Boom", times=None, session_id="stuck")

    # WHEN the function is invoked for another session, for none, and for "stuck"
    other = invoke(aws, "echo", {"sessionId": "other"})
    no_session = invoke(aws, "echo", {})
    stuck = [invoke(aws, "echo", {"sessionId": "stuck"}) for _ in range(2)]

    # THEN only the invocations for "stuck" failed, each of them
    assert other[0] is None and no_session[0] is None
    assert [(error, payload["errorType"]) for error, payload in stuck] == [
        ("Unhandled", "Boom")
    ] * 2
    assert [i.outcome for i in aws.invocations] == [SUCCEEDED, SUCCEEDED, "Boom", "Boom"]


def test_a_result_edit_changes_the_next_answer_only(aws: LocalAws) -> None:
    # GIVEN a field dropped from the next answer, then a field of 300,000 characters added
    create_function(aws, "echo", "echo")
    aws.faults.drop_result_field("echo", "functionName")
    aws.faults.inflate_result("echo", 300_000)

    # WHEN the function is invoked three times
    dropped, inflated, plain = (invoke(aws, "echo", {"n": n})[1] for n in range(3))

    # THEN the first answers without the field, the second with the padding, the third as is
    assert "functionName" not in dropped and dropped["event"] == {"n": 0}
    assert len(inflated["padding"]) == 300_000 and inflated["functionName"] == "echo"
    assert "padding" not in plain and plain["functionName"] == "echo"


def test_a_result_edit_for_one_session_spares_every_other_session(aws: LocalAws) -> None:
    create_function(aws, "echo", "echo")
    aws.faults.drop_result_field("echo", "functionName", session_id="stuck")

    other = invoke(aws, "echo", {"sessionId": "other"})[1]
    stuck = invoke(aws, "echo", {"sessionId": "stuck"})[1]

    assert other["functionName"] == "echo"
    assert "functionName" not in stuck


def test_a_fault_finds_the_logical_id_in_a_generated_function_name(aws: LocalAws) -> None:
    # CloudFormation style names, one of them cut to Lambda's 64 characters
    short = "fargate-bastion-RunBastionTaskFunction-AB12CD34EF56"
    cut = "fargate-bastion-AuthorizeControlPlaneIngressFunctio-AB12CD34EF56"
    create_function(aws, short, "echo")
    create_function(aws, cut, "echo")
    aws.faults.fail_invocation("RunBastionTaskFunction", error_type="Boom")
    aws.faults.fail_invocation("AuthorizeControlPlaneIngressFunction", error_type="Bang")

    assert invoke(aws, short, {})[1]["errorType"] == "Boom"
    assert invoke(aws, cut, {})[1]["errorType"] == "Bang"
    assert invoke(aws, short, {})[0] is None


def test_a_pause_an_invocation_outlasts_fails_instead_of_reading_beside_it(aws: LocalAws) -> None:
    # GIVEN an invocation that runs until released
    create_function(aws, "holds", "hold_until_released")
    handlers_for_tests.holding.clear()
    handlers_for_tests.released.clear()
    answers: list[object] = []
    invoking = threading.Thread(target=lambda: answers.append(invoke(aws, "holds", {})))
    invoking.start()
    try:
        assert handlers_for_tests.holding.wait(WAIT_SECONDS)
        # WHEN a reader waits for it past the deadline, THEN it fails, saying so
        with pytest.raises(TimeoutError, match="invocation still runs"):
            with invocations_paused(timeout=0.1):
                pytest.fail("read while an invocation runs")
    finally:
        handlers_for_tests.released.set()
        invoking.join(WAIT_SECONDS)
    # AND once it has answered, the pause begins at once
    assert answers == [(None, {"released": True})]
    with invocations_paused(timeout=0):
        pass


def test_patches_are_inert_without_a_local_aws() -> None:
    # GIVEN the patches are installed (a LocalAws ran in this process)
    with LocalAws():
        pass

    # WHEN plain moto is used without a LocalAws
    with mock_aws(config={"lambda": {"use_docker": False}}):
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="plain", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.create_function(
            FunctionName="plain",
            Runtime="python3.11",
            Role=role,
            Handler="tests.local.handlers_for_tests.jam",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )
        response = client.invoke(FunctionName="plain", Payload=json.dumps({"a": 1}))

    # THEN moto echoes the payload as it always did: the handler did not run
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"a": 1}


def _group_names(aws: LocalAws, vpc_id: str) -> set[str]:
    groups = aws.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    return {group["GroupName"] for group in groups}
