"""Every setup step's failure ends the session FAILED with its error, after teardown."""

from __future__ import annotations

import json

import pytest

from bastion.follow import error_message, history
from tasks.common import session_states
from tasks.common.session_states import SETUP_STEPS
from tests.workflow.harness import (
    FAILED_AFTER_TEARDOWN,
    FAILED_WITH_ITS_CAUSE_AFTER_TEARDOWN,
    Harness,
    ed25519_public_key,
)
from workflows.failure import NO_CAUSE, STEP_FAILED, STEP_TIMED_OUT
from workflows.session import RETRY_READY_LOOK

pytestmark = pytest.mark.workflow


def _assert_failed_cleanly(harness: Harness, arn: str, session_id: str, error: str) -> dict:
    final = harness.finish(arn)
    assert final["status"] == "FAILED", final
    assert final["error"] == error, final
    entered = harness.states_entered(arn)
    assert any(
        entered[-len(tail) :] == tail
        for tail in (FAILED_AFTER_TEARDOWN, FAILED_WITH_ITS_CAUSE_AFTER_TEARDOWN)
    ), entered[-12:]
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    return final


@pytest.mark.parametrize("step", SETUP_STEPS)
def test_injected_failure_in_each_setup_step_fails_after_teardown(
    harness: Harness, step: str
) -> None:
    # GIVEN the step's function fails once with an error of its own
    rules_before = harness.control_plane_rules()
    harness.aws.faults.fail_invocation(
        f"{step}Function", error_type="InjectedFault", message=f"{step} broke", times=1
    )

    # WHEN a session starts
    session_id, arn = harness.start()

    # THEN it fails with that step's error and cause, and nothing is left
    final = _assert_failed_cleanly(harness, arn, session_id, "InjectedFault")
    assert f"{step} broke" in error_message(final["cause"])
    entered = harness.states_entered(arn)
    assert step in entered
    assert harness.control_plane_rules() == rules_before


@pytest.mark.parametrize(
    "step", ["CreateSessionSecurityGroup", "RunBastionTask", "AuthorizeControlPlaneIngress"]
)
def test_a_step_that_crashes_after_its_aws_call_leaks_nothing(harness: Harness, step: str) -> None:
    # GIVEN the step does its work, then its function crashes before answering
    harness.aws.faults.fail_invocation(
        f"{step}Function", error_type="InjectedCrash", message="after the call", crash_after=True
    )
    session_id, arn = harness.start()

    # THEN teardown finds what the step made, by its tags, and removes it
    _assert_failed_cleanly(harness, arn, session_id, "InjectedCrash")


def test_aws_refusing_to_create_the_group_fails_the_session(harness: Harness) -> None:
    harness.aws.faults.fail_aws_call(
        "ec2", "CreateSecurityGroup", code="UnauthorizedOperation", message="not allowed", times=1
    )
    session_id, arn = harness.start()
    final = _assert_failed_cleanly(harness, arn, session_id, "ClientError")
    assert "UnauthorizedOperation" in error_message(final["cause"])
    assert_cause_is_the_message(harness, arn, final)


def assert_cause_is_the_message(harness: Harness, arn: str, final: dict) -> None:
    """The execution's cause is the failing function's message: the history has the
    function's error answer, with its stack trace; the cause has only its message."""
    failed = [
        event["lambdaFunctionFailedEventDetails"]["cause"]
        for event in history(harness.sfn, arn)
        if event["type"] == "LambdaFunctionFailed"
    ]
    answer = json.loads(failed[-1])
    assert answer["stackTrace"], answer  # a real exception, raised in the function's code
    assert final["cause"] == answer["errorMessage"]
    for leak in ("stackTrace", "Traceback", ".py", "/tasks/", "File "):
        assert leak not in final["cause"], final["cause"]


def test_a_refusal_is_caused_by_its_message_alone(harness: Harness) -> None:
    # GIVEN a request the validation refuses (two keys where one is allowed)
    key = ed25519_public_key()
    session_id, arn = harness.start(harness.request(sshPublicKey=f"{key}\n{key}"))

    # WHEN it fails, THEN its cause is the refusal's message, no stack trace, no paths
    final = harness.finish(arn)
    assert (final["status"], final["error"]) == ("FAILED", "InvalidRequest"), final
    assert final["cause"].startswith("sshPublicKey:"), final["cause"]
    assert_cause_is_the_message(harness, arn, final)
    assert harness.aws.inventory(session_id).is_empty


@pytest.mark.parametrize(
    ("error", "cause", "shown"),
    [
        (
            "InvalidRequest",
            json.dumps(
                {
                    "errorMessage": "cluster: no such cluster",
                    "errorType": "InvalidRequest",
                    "stackTrace": ['  File "/var/task/tasks/validate_request.py", line 9\n'],
                }
            ),
            "cluster: no such cluster",
        ),
        ("Lambda.ServiceException", "Lambda failed (Status Code: 500)", None),
        ("SessionNotHeld", None, NO_CAUSE),
        ("Odd", '{"not": "a function error"', None),
    ],
    ids=["function error", "plain cause", "no cause", "brace but no function error"],
)
def test_failing_with_a_message_never_fails_itself(
    error: str, cause: str | None, shown: str | None
) -> None:
    final = _fail_with(error, cause)

    # THEN it fails with the error, its cause the message (or the cause, or a fixed one)
    assert (final["status"], final["error"]) == ("FAILED", error), final
    assert final["cause"] == (cause if shown is None else shown)


@pytest.mark.parametrize(
    ("error", "renamed"),
    [
        ("States.Timeout", STEP_TIMED_OUT),
        ("States.HeartbeatTimeout", STEP_TIMED_OUT),
        ("States.TaskFailed", STEP_FAILED),
        ("States.Permissions", STEP_FAILED),
        ("States.ParameterPathFailure", STEP_FAILED),
        ("States.ResultPathMatchFailure", STEP_FAILED),
        ("States.IntrinsicFailure", STEP_FAILED),
    ],
)
def test_a_reserved_error_name_is_not_raised_again(error: str, renamed: str) -> None:
    # GIVEN a step that failed with one of the names the States Language reserves (a
    # machine may not raise them itself: the interpreter turns the attempt into
    # States.Runtime, and the failure would lose its name and cause)
    final = _fail_with(error, "the step did not answer in time")

    # THEN the machine fails with the project's name for it, the reserved name kept in the cause
    assert (final["status"], final["error"]) == ("FAILED", renamed), final
    assert final["cause"] == f"{error}: the step did not answer in time"


def _fail_with(error: str, cause: str | None) -> dict:
    from bastion.local import LocalAws
    from tests.local.conftest import create_state_machine, start
    from workflows.asl import Pass, StateMachine
    from workflows.failure import fail_with_message

    # GIVEN the states a machine fails through, alone, and an error in each shape
    definition = StateMachine(
        comment="fail with a message",
        states=[
            Pass(name="Start", comment="", result_path="$.unused", next="ReadFailedCause"),
            *fail_with_message("Failed", comment="", error_source="$.error"),
        ],
    ).to_asl()
    caught = {"Error": error} if cause is None else {"Error": error, "Cause": cause}
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        machine = create_state_machine(aws, "fail-with-a-message", definition)
        arn = start(aws, machine, "one", {"error": caught})
        return aws.wait_for_execution(arn)


def test_task_stopping_before_it_runs_fails_with_bastion_task_stopped(harness: Harness) -> None:
    harness.aws.ecs_control.fail_before_running(
        reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        times=1,
    )
    session_id, arn = harness.start()
    final = _assert_failed_cleanly(harness, arn, session_id, "BastionTaskStopped")
    assert "CannotPullContainerError" in error_message(final["cause"])


def test_a_bastion_that_never_says_it_started_is_never_ready_and_is_torn_down(
    harness: Harness,
) -> None:
    # GIVEN a bastion task that runs and has its address, but whose sshd never accepts:
    # its stream holds sshd's lines and no started line
    listening = json.dumps({"event": "sshd", "message": "Server listening on :: port 22."})
    harness.aws.ecs_control.write_instead_of_started(lambda started: (listening,))

    # WHEN a session starts
    session_id, arn = harness.start()

    # THEN it is never ready: after its last look the wait gives up, and the session fails
    # after teardown
    final = _assert_failed_cleanly(harness, arn, session_id, "BastionNotReady")
    assert "did not say that sshd accepts connections" in error_message(final["cause"])
    assert session_states.BASTION_READY not in harness.states_entered(arn)
    timeouts = [event for event in history(harness.sfn, arn) if event["type"] == "TaskTimedOut"]
    assert len(timeouts) == RETRY_READY_LOOK.max_attempts + 1


def test_a_started_line_with_a_bad_host_key_fails_clearly_after_teardown(
    harness: Harness,
) -> None:
    # GIVEN a bastion whose started line reports a host key that is not a key
    def bad_key(started: dict) -> tuple[str, ...]:
        first = {**started["hostPublicKeys"][0], "key": "bm90IGEga2V5"}
        return (json.dumps({**started, "hostPublicKeys": [first]}),)

    harness.aws.ecs_control.write_instead_of_started(bad_key)

    # WHEN a session starts
    session_id, arn = harness.start()

    # THEN it fails at once (no poll waits it out), saying why, and nothing is left
    final = _assert_failed_cleanly(harness, arn, session_id, "BastionStartedInvalid")
    assert "ssh-ed25519 host key" in error_message(final["cause"])
    assert session_states.BASTION_READY not in harness.states_entered(arn)


def test_cluster_deleted_after_validation_fails_with_cluster_not_found(harness: Harness) -> None:
    # GIVEN the cluster disappears between ValidateRequest and FindControlPlane
    harness.aws.faults.fail_aws_call(
        "eks",
        "DescribeCluster",
        code="ResourceNotFoundException",
        message="gone",
        times=1,
        after=1,
    )
    session_id, arn = harness.start()
    _assert_failed_cleanly(harness, arn, session_id, "ClusterNotFound")
