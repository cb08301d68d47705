"""The ``session`` state machine: open a per-session door, hold it, close it.

The steps before RunTask are as few as they can be (validate, find the control plane,
create the session group), and the control-plane rule is authorized right after
RunTask, while Fargate is still provisioning the task, so it costs no waiting.
Every setup step catches ``States.ALL`` into the teardown chain; after teardown the
execution ends FAILED with the original error, or SUCCEEDED saying why it ended.
"""

from __future__ import annotations

from workflows.asl import (
    Catch,
    Choice,
    Pass,
    Retry,
    Rule,
    StateMachine,
    Succeed,
    Task,
    chain,
    is_present,
)
from workflows.failure import fail_with_message
from workflows.lambda_tasks import TRANSIENT, function_arn, lambda_task
from workflows.teardown import teardown_chain

SESSION_ID = "$.session.sessionId"
#: The steps that build the session, in order; each one's failure is caught into teardown.
SETUP_STEPS = (
    "ValidateRequest",
    "FindControlPlane",
    "CreateSessionSecurityGroup",
    "RunBastionTask",
    "AuthorizeControlPlaneIngress",
    "WaitForBastionAddress",
    "HoldSession",
)
FIRST_TEARDOWN_STEP = "StopBastionTask"
ERROR_PATH = "$.error"
#: Teardown reads the session id from the execution's name: it is there even when
#: ValidateRequest failed and ``$.session`` was never written.
SESSION_ID_FOR_TEARDOWN = "$$.Execution.Name"

#: The ready poll: Fargate takes 30–90 s to start a task. Polling every 3 s keeps the
#: delay between RUNNING and ready short at the price of a transition per poll;
#: 100 attempts give up after 5 minutes.
RETRY_NOT_READY = Retry(
    ("BastionNotReady",), interval_seconds=3, max_attempts=100, backoff_rate=1.0
)

CATCH_INTO_TEARDOWN = (Catch(("States.ALL",), next=FIRST_TEARDOWN_STEP, result_path=ERROR_PATH),)


def _session_payload(**fields: str) -> dict[str, str]:
    return {"sessionId.$": SESSION_ID, **{f"{key}.$": path for key, path in fields.items()}}


def session_machine() -> StateMachine:
    """The session workflow, from request to teardown."""
    setup = chain(
        [
            lambda_task(
                "ValidateRequest",
                {
                    "sessionId.$": "$$.Execution.Name",
                    "startedAt.$": "$$.Execution.StartTime",
                    "request.$": "$",
                },
                "$",
                result_selector={"session.$": "$"},
                comment="Check the request; nothing exists yet.",
                # The input may not even be an object, so the error replaces it.
                catch=(Catch(("States.ALL",), next="RecordValidationError", result_path="$"),),
            ),
            lambda_task(
                "FindControlPlane",
                {"sessionId.$": SESSION_ID, "cluster.$": "$.session.cluster"},
                "$.controlPlane",
                comment="Find the cluster's VPC, endpoint and the group the rule goes on.",
                catch=CATCH_INTO_TEARDOWN,
            ),
            lambda_task(
                "CreateSessionSecurityGroup",
                _session_payload(
                    session="$.session",
                    vpcId="$.controlPlane.vpcId",
                    controlPlaneSecurityGroupId="$.controlPlane.controlPlaneSecurityGroupId",
                ),
                "$.sessionSecurityGroup",
                comment=(
                    "Create the session's group: SSH from the allowed CIDRs only, HTTPS out to "
                    "the control plane and the stack's egress destinations only."
                ),
                catch=CATCH_INTO_TEARDOWN,
            ),
            lambda_task(
                "RunBastionTask",
                _session_payload(
                    session="$.session",
                    sessionSecurityGroupId="$.sessionSecurityGroup.groupId",
                    endpointHost="$.controlPlane.endpointHost",
                ),
                "$.bastionTask",
                comment=(
                    "Start the bastion's Fargate task in the session group, forwarding to the "
                    "cluster's endpoint only."
                ),
                catch=CATCH_INTO_TEARDOWN,
            ),
            lambda_task(
                "AuthorizeControlPlaneIngress",
                _session_payload(
                    session="$.session",
                    controlPlaneSecurityGroupId="$.controlPlane.controlPlaneSecurityGroupId",
                    sessionSecurityGroupId="$.sessionSecurityGroup.groupId",
                ),
                "$.controlPlaneIngress",
                comment="Let the session group reach the control plane on 443.",
                catch=CATCH_INTO_TEARDOWN,
            ),
            lambda_task(
                "WaitForBastionAddress",
                _session_payload(session="$.session", taskArn="$.bastionTask.taskArn"),
                "$.bastion",
                comment="Poll until the task runs and has its address.",
                retry=(RETRY_NOT_READY,),
                catch=CATCH_INTO_TEARDOWN,
            ),
            Pass(
                name="BastionReady",
                comment="The bastion is ready: where to connect, and until when.",
                parameters={
                    "sessionId.$": SESSION_ID,
                    "cluster.$": "$.session.cluster",
                    "address.$": "$.bastion.address",
                    "sshCommand.$": "$.bastion.sshCommand",
                    "expiresAt.$": "$.bastion.expiresAt",
                    # What the control-plane rule reaches: the control plane only, or
                    # (on the cluster security group) its nodes and Fargate pods too.
                    "controlPlaneRuleScope.$": "$.controlPlane.controlPlaneRuleScope",
                },
                result_path="$.ready",
            ),
            Task(
                name="HoldSession",
                comment=(
                    "Hold the session until it expires (timeout) or EndSession signals "
                    "an early end with the task token."
                ),
                resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
                parameters={
                    "FunctionName": function_arn("HoldSession"),
                    "Payload": _session_payload(taskToken="$$.Task.Token", session="$.session"),
                },
                result_path="$.end",
                timeout_seconds_path="$.bastion.holdSeconds",
                retry=TRANSIENT,
                catch=(
                    Catch(("States.Timeout",), next="MarkSessionExpired", result_path=None),
                    *CATCH_INTO_TEARDOWN,
                ),
            ),
        ],
        then=FIRST_TEARDOWN_STEP,
    )
    validation_error = Pass(
        name="RecordValidationError",
        comment="Keep ValidateRequest's error where every failure is kept.",
        parameters={"error.$": "$"},
        result_path="$",
        next=FIRST_TEARDOWN_STEP,
    )
    expired = Pass(
        name="MarkSessionExpired",
        comment="The session's time is up.",
        result={"reason": "expired"},
        result_path="$.end",
        next=FIRST_TEARDOWN_STEP,
    )
    failed = fail_with_message(
        "SessionFailed",
        comment="Torn down after a failed step: the step's error, and its message as the cause.",
        error_source=ERROR_PATH,
    )
    outcome = [
        Choice(
            name="DidSessionFail",
            comment="Did a setup step fail?",
            rules=(Rule(is_present(ERROR_PATH), next=failed[0].name),),
            default="SessionEnded",
        ),
        *failed,
        Succeed(name="SessionEnded", comment="Torn down; $.end.reason says why the session ended."),
    ]
    return StateMachine(
        comment="fargate-bastion session: an on-demand bastion for one private EKS cluster",
        states=[
            *setup,
            validation_error,
            expired,
            *teardown_chain(SESSION_ID_FOR_TEARDOWN, then="DidSessionFail"),
            *outcome,
        ],
    )
