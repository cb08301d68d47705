"""Every setup step's failure ends the session FAILED with its error, after teardown."""

from __future__ import annotations

import pytest

from bastion.follow import error_message
from tests.workflow.harness import FAILED_AFTER_TEARDOWN, Harness
from workflows.session import SETUP_STEPS

pytestmark = pytest.mark.workflow


def _assert_failed_cleanly(harness: Harness, arn: str, session_id: str, error: str) -> dict:
    final = harness.finish(arn)
    assert final["status"] == "FAILED", final
    assert final["error"] == error, final
    entered = harness.states_entered(arn)
    assert entered[-len(FAILED_AFTER_TEARDOWN) :] == FAILED_AFTER_TEARDOWN
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


def test_task_stopping_before_it_runs_fails_with_bastion_task_stopped(harness: Harness) -> None:
    harness.aws.ecs_control.fail_before_running(
        reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        times=1,
    )
    session_id, arn = harness.start()
    final = _assert_failed_cleanly(harness, arn, session_id, "BastionTaskStopped")
    assert "CannotPullContainerError" in error_message(final["cause"])


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
