"""EndSession: answer the hold's task token, so the session's execution tears down."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks.common.errors import InvalidRequest, SessionNotHeld
from tasks.common.models import Session
from tasks.common.settings import Settings
from tasks.end_session import EndedSession, EndSessionInput, TaskStopped, end_session, handler
from tasks.hold_session import HoldSessionInput, hold_session
from tests.unit.support import (
    PARAMETER_PREFIX,
    LambdaContextStub,
    client,
    failing_client,
    load_event,
    wait_until,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 10, 30, 5, tzinfo=UTC)
NAME = f"{PARAMETER_PREFIX}/s-0001"


def end(reason: str = "ended-by-user", sfn: Any = None) -> EndedSession:
    request = EndSessionInput.from_event({"sessionId": "s-0001", "reason": reason})
    return end_session(
        request,
        settings=Settings(),
        ssm=client("ssm"),
        sfn=sfn or client("stepfunctions"),
        now=NOW,
    )


def holding_execution(aws: Any, session: Session, timeout_seconds: int) -> str:
    """A state machine whose HoldSession state runs the real handler; its running execution."""
    role = aws.client("iam").create_role(
        RoleName="fargate-bastion-test",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("README", "the handler runs in-process from the project")
    function_arn = aws.client("lambda").create_function(
        FunctionName="fargate-bastion-HoldSession",
        Runtime="python3.12",
        Role=role,
        Handler="tasks.hold_session.handler",
        Code={"ZipFile": package.getvalue()},
    )["FunctionArn"]
    definition = {
        "StartAt": "HoldSession",
        "States": {
            "HoldSession": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": function_arn,
                    "Payload": {
                        "sessionId.$": "$.session.sessionId",
                        "taskToken.$": "$$.Task.Token",
                        "session.$": "$.session",
                    },
                },
                "TimeoutSeconds": timeout_seconds,
                "End": True,
            }
        },
    }
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="hold", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    execution: str = sfn.start_execution(
        stateMachineArn=machine,
        name=session.session_id,
        input=json.dumps({"session": session.to_dict()}),
    )["executionArn"]
    return execution


def parameter_exists() -> bool:
    return bool(client("ssm").describe_parameters()["Parameters"])


def test_ends_a_holding_session_with_the_reason(local_aws, session: Session) -> None:
    # GIVEN a session execution holding on its task token (stored by the real HoldSession)
    execution = holding_execution(local_aws, session, timeout_seconds=3600)
    wait_until(parameter_exists)
    # WHEN the session is ended by its user
    ended = end("ended-by-user")
    # THEN the execution ends SUCCEEDED, its output saying why and when
    assert ended == EndedSession("s-0001", "ended-by-user", "2026-11-27T10:30:05Z")
    described = local_aws.wait_for_execution(execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {
        "reason": "ended-by-user",
        "endedAt": "2026-11-27T10:30:05Z",
    }
    # AND the parameter stays for teardown to delete
    assert client("ssm").get_parameter(Name=NAME)["Parameter"]["Name"] == NAME
    # AND ending it again says it is not held any more
    with pytest.raises(SessionNotHeld, match="already ended"):
        end("bastion-stopped")


def test_a_hold_that_timed_out_is_not_held(local_aws, session: Session) -> None:
    # GIVEN a session whose hold timed out (expired)
    execution = holding_execution(local_aws, session, timeout_seconds=1)
    described = local_aws.wait_for_execution(execution)
    assert described["status"] != "RUNNING"
    wait_until(parameter_exists)
    # WHEN it is ended, THEN it is not held
    with pytest.raises(SessionNotHeld):
        end()


def test_no_parameter_is_not_held(mocked_aws: None) -> None:
    with pytest.raises(SessionNotHeld, match="s-0001 is not holding"):
        end()


def _hold(token: str, sfn: Any = None) -> None:
    hold_session(
        HoldSessionInput(
            task_token=token, session=Session.from_dict(load_event("hold_session")["session"])
        ),
        settings=Settings(),
        ssm=client("ssm"),
        sfn=sfn or client("stepfunctions"),
    )


def test_a_hold_that_timed_out_answers_that_it_already_ended(mocked_aws: None) -> None:
    # A hold that timed out is never retried (its timeout is the session's expiry).
    _hold("old-token")
    sfn = failing_client("stepfunctions", {"SendTaskSuccess": "TaskTimedOut"})
    with pytest.raises(SessionNotHeld, match="already ended"):
        end(sfn=sfn)


@pytest.mark.parametrize("code", ["InvalidToken", "TaskDoesNotExist"])
def test_an_end_between_two_attempts_of_the_hold_ends_the_next_one(
    mocked_aws: None, code: str
) -> None:
    # GIVEN a hold whose stored token is its dead first attempt's
    _hold("dead-token")

    # WHEN the session is ended: no token can be answered
    ended = end(sfn=failing_client("stepfunctions", {"SendTaskSuccess": code}))

    # THEN the end is recorded
    assert ended.reason == "ended-by-user"
    recorded = client("ssm").get_parameter(Name=f"{NAME}/end")["Parameter"]["Value"]
    assert json.loads(recorded) == {"reason": "ended-by-user", "endedAt": "2026-11-27T10:30:05Z"}

    # WHEN the hold's next attempt stores its token
    answered: list[tuple[str, str]] = []

    class StepFunctions:
        def send_task_success(self, taskToken: str, output: str) -> None:  # noqa: N803
            answered.append((taskToken, output))

    _hold("next-token", sfn=StepFunctions())

    # THEN it answers its own token with the recorded end at once
    assert answered == [("next-token", recorded)]
    # AND a second end says the session has already ended
    with pytest.raises(SessionNotHeld, match="already ended"):
        end()


def test_a_hold_with_no_end_recorded_only_stores_its_token(mocked_aws: None) -> None:
    class StepFunctions:
        def send_task_success(self, **_: Any) -> None:
            raise AssertionError("nothing asked to end the session")

    _hold("token", sfn=StepFunctions())
    assert json.loads(client("ssm").get_parameter(Name=NAME)["Parameter"]["Value"])["taskToken"]


def test_a_token_replaced_by_a_retried_hold_is_answered(mocked_aws: None) -> None:
    # GIVEN a hold whose first attempt's token died, replaced by the retry's token meanwhile
    session = Session.from_dict(load_event("hold_session")["session"])
    hold_session(
        HoldSessionInput(task_token="dead-token", session=session),
        settings=Settings(),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
    )
    answered: list[str] = []

    class StepFunctions:
        def send_task_success(self, taskToken: str, output: str) -> None:  # noqa: N803
            answered.append(taskToken)
            if taskToken == "dead-token":
                hold_session(
                    HoldSessionInput(task_token="new-token", session=session),
                    settings=Settings(),
                    ssm=client("ssm"),
                    sfn=client("stepfunctions"),
                )
                error = {"Error": {"Code": "TaskDoesNotExist", "Message": "gone"}}
                raise ClientError(error, "SendTaskSuccess")

    # WHEN the session is ended
    ended = end(sfn=StepFunctions())

    # THEN the new token was answered after the dead one
    assert answered == ["dead-token", "new-token"]
    assert ended.reason == "ended-by-user"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"sessionId": "s-0001", "reason": "Ended By User"}, "reason"),
        ({"sessionId": "s-0001", "reason": ""}, "reason"),
        ({"sessionId": "s-0001", "reason": "x" * 65}, "reason"),
        ({"sessionId": "s-0001", "reason": 7}, "reason"),
        ({"sessionId": "../other", "reason": "ended-by-user"}, "sessionId"),
    ],
    ids=["capitals", "empty", "too-long", "not-a-string", "bad-session-id"],
)
def test_refuses_a_bad_request(mocked_aws: None, event: dict, field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        EndSessionInput.from_event(event)
    assert raised.value.field == field


def test_the_handler_reads_the_event_file(
    local_aws, session: Session, context: LambdaContextStub
) -> None:
    execution = holding_execution(local_aws, session, timeout_seconds=3600)
    wait_until(parameter_exists)
    output = handler(load_event("end_session"), context)
    assert output["sessionId"] == "s-0001"
    assert output["reason"] == "ended-by-user"
    assert output["endedAt"].endswith("Z")
    assert local_aws.wait_for_execution(execution)["status"] == "SUCCEEDED"


# ------------------------------------------------------------------ the ECS task-stopped event


def task_stopped_event(
    session_id: str | None = "s-0001", last_status: str = "STOPPED"
) -> dict[str, Any]:
    """An ECS "Task State Change" as EventBridge delivers it for a bastion task."""
    environment = [{"name": "BASTION_CLUSTER_NAME", "value": "demo"}]
    if session_id is not None:
        environment.append({"name": "BASTION_SESSION_ID", "value": session_id})
    task_arn = "arn:aws:ecs:us-east-1:123456789012:task/fargate-bastion/0123456789abcdef"
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2026-11-27T10:30:05Z",
        "region": "us-east-1",
        "resources": [task_arn],
        "detail": {
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/fargate-bastion",
            "taskArn": task_arn,
            "lastStatus": last_status,
            "desiredStatus": "STOPPED",
            "startedBy": "fargate-bastion",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "overrides": {"containerOverrides": [{"name": "bastion", "environment": environment}]},
        },
    }


def test_the_bastion_stopping_ends_its_holding_session(
    local_aws, session: Session, context: LambdaContextStub
) -> None:
    # GIVEN a holding session
    execution = holding_execution(local_aws, session, timeout_seconds=3600)
    wait_until(parameter_exists)
    # WHEN its bastion task's STOPPED event arrives (no sessionId, no reason in it)
    output = handler(task_stopped_event(), context)
    # THEN the session ends, saying the bastion stopped
    assert output["sessionId"] == "s-0001"
    assert output["reason"] == "bastion-stopped"
    described = local_aws.wait_for_execution(execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["reason"] == "bastion-stopped"


def test_the_event_of_a_session_that_is_not_holding_is_a_no_op(
    local_aws, session: Session, context: LambdaContextStub
) -> None:
    # GIVEN a session ended already (every teardown's StopTask sends this event too)
    holding_execution(local_aws, session, timeout_seconds=3600)
    wait_until(parameter_exists)
    handler(task_stopped_event(), context)
    # WHEN the event comes again (or EventBridge retries it), THEN it is a quiet no-op
    output = handler(task_stopped_event(), context)
    assert output["sessionId"] == "s-0001"
    assert "already ended" in output["ignored"]
    # AND with no hold parameter at all (a task that stopped during setup) as well
    assert "is not holding" in handler(task_stopped_event("s-0002"), context)["ignored"]
    # while the direct path keeps its named error
    with pytest.raises(SessionNotHeld):
        handler({"sessionId": "s-0002", "reason": "bastion-stopped"}, context)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (task_stopped_event(session_id=None), "no session id"),
        (task_stopped_event(last_status="RUNNING"), "task is RUNNING"),
    ],
    ids=["not-a-bastion", "not-stopped"],
)
def test_events_of_other_tasks_are_ignored(
    mocked_aws: None, context: LambdaContextStub, event: dict[str, Any], why: str
) -> None:
    output = handler(event, context)
    assert output["ignored"] == why
    assert client("ssm").describe_parameters()["Parameters"] == []


def test_an_event_naming_a_malformed_session_id_is_refused(
    mocked_aws: None, context: LambdaContextStub
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        handler(task_stopped_event(session_id="../other"), context)
    assert raised.value.field == "sessionId"


@pytest.mark.parametrize(
    ("stopped_at", "expires_at", "reason"),
    [
        ("2026-11-27T11:00:00.000Z", "2026-11-27T11:00:00Z", "expired"),
        ("2026-11-27T11:00:01.250Z", "2026-11-27T11:00:00Z", "expired"),
        ("2026-11-27T10:59:59.999Z", "2026-11-27T11:00:00Z", "bastion-stopped"),
        ("2026-11-27T10:30:05.000Z", "2026-11-27T11:00:00Z", "bastion-stopped"),
        (None, "2026-11-27T11:00:00Z", "bastion-stopped"),
        ("2026-11-27T11:00:01.000Z", None, "bastion-stopped"),
        ("not a time", "2026-11-27T11:00:00Z", "bastion-stopped"),
        ("2026-11-27T11:00:01.000Z", "tomorrow", "bastion-stopped"),
    ],
    ids=[
        "at-expiry",
        "after-expiry",
        "just-before",
        "mid-session",
        "no-stop-time",
        "no-expiry",
        "bad-stop-time",
        "bad-expiry",
    ],
)
def test_a_task_that_stopped_at_its_expiry_ends_its_session_as_expired(
    stopped_at: str | None, expires_at: str | None, reason: str
) -> None:
    # The container exits at its own expiry, and its event may reach EndSession before the
    # hold's timeout acts: the session expired all the same.
    event = task_stopped_event()
    detail = event["detail"]
    if stopped_at is not None:
        detail["stoppedAt"] = stopped_at
    if expires_at is not None:
        environment = detail["overrides"]["containerOverrides"][0]["environment"]
        environment.append({"name": "BASTION_EXPIRES_AT", "value": expires_at})

    request = TaskStopped.from_event(event).as_request()

    assert request is not None
    assert (request.session_id, request.reason) == ("s-0001", reason)
