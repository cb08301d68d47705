"""The ``session`` state machine: open a per-session door, hold it, close it.

The steps before RunTask are as few as they can be (validate, find the control plane,
create the session group), and the control-plane rule is authorized right after
RunTask, while Fargate is still provisioning the task, so it costs no waiting.
Every setup step catches ``States.ALL`` into the teardown chain; after teardown the
execution ends FAILED with the original error, or SUCCEEDED saying why it ended.

No state before the teardown reads a field of an earlier task's result by path: on AWS a
path that does not resolve is ``States.Runtime``, which no Catch takes, so the execution
would fail without its teardown. A step is given the session id from the execution's name
(``$$``) and whole results (``$.session``, ``$.controlPlane``...): a task that succeeded
always wrote its result where its ResultPath says. Each task parses what it is given and
raises ``StepInputInvalid`` when a field it needs is missing, which is caught like any
failure. The ready document is checked by the ``BastionReady`` Choice, which never raises,
before the hold reads its ``holdSeconds`` (:mod:`workflows.data_flow` proves all this
of the rendered definition).
"""

from __future__ import annotations

from tasks.common.extensions import (
    EXTENSION_REQUESTED,
    MAX_EXTENSION_REQUESTS,
    REQUESTS_ANSWERED,
    TOO_MANY_REQUESTS,
)
from tasks.common.session_states import (
    AUTHORIZE_CONTROL_PLANE_INGRESS,
    BASTION_READY,
    BASTION_TASK,
    CONTROL_PLANE,
    CONTROL_PLANE_INGRESS,
    CREATE_SESSION_SECURITY_GROUP,
    END,
    ERROR,
    EXTEND_SESSION,
    EXTENSION,
    FIND_CONTROL_PLANE,
    HOLD_SESSION,
    MARK_SESSION_EXPIRED,
    READY,
    RUN_BASTION_TASK,
    SESSION,
    SESSION_SECURITY_GROUP,
    TEARDOWN_STEPS,
    VALIDATE_REQUEST,
    WAIT_FOR_BASTION_ADDRESS,
)
from workflows.asl import (
    Catch,
    Choice,
    JsonObject,
    Pass,
    Retry,
    Rule,
    StateMachine,
    Succeed,
    Task,
    all_of,
    chain,
    is_at_least,
    is_numeric,
    is_present,
    is_string,
    none_of,
)
from workflows.failure import fail_with_message
from workflows.lambda_tasks import TRANSIENT, function_arn, lambda_task
from workflows.teardown import teardown_chain

#: The session id is the execution's name: it is there even when ValidateRequest failed
#: and ``$.session`` was never written.
SESSION_ID = "$$.Execution.Name"
#: WaitForBastionAddress's result: the ready document (where to connect, until when) and
#: the seconds the session holds. The API and the command read it from BastionReady.
READY_STATE = BASTION_READY
READY_PATH = f"$.{READY}"
#: The ready document's fields that must be strings, and the hold's seconds.
READY_TEXT_FIELDS = (
    "sessionId",
    "cluster",
    "address",
    "sshUser",
    "sshCommand",
    "expiresAt",
    "controlPlaneRuleScope",
    "accessMode",
)
HOLD_SECONDS = f"{READY_PATH}.holdSeconds"
#: The host keys the bastion reported: a list of objects. ASL has no test of a list's or an
#: object's type; the Choice tests that it has a first entry, and every reader of the keys
#: checks each one itself (tasks/common/host_keys.py).
FIRST_HOST_KEY = f"{READY_PATH}.hostPublicKeys[0]"
#: How many extension requests the hold has answered (absent before the first).
REQUESTS_ANSWERED_PATH = f"{READY_PATH}.{REQUESTS_ANSWERED}"
TOO_MANY_EXTENSION_REQUESTS = "TooManyExtensionRequests"
#: The errors the other steps retry as transient. The hold retries none: a retried attempt
#: would wait the ready document's holdSeconds again from whenever it failed, and whoever
#: holds the token can fail it with any error, so retries would keep a session past its
#: latest expiry. ExtendSession answers these as it answers any request that is not an
#: extension: refused, holding on for the seconds left until the unchanged expiry, and
#: counted towards the most requests one hold answers.
HOLD_FAILURES_HELD_ON = tuple(error for retrier in TRANSIENT for error in retrier.errors)
#: The error a session fails with when WaitForBastionAddress answered without one of them.
READY_INCOMPLETE = "BastionReadyIncomplete"
FIRST_TEARDOWN_STEP = TEARDOWN_STEPS[0]
ERROR_PATH = f"$.{ERROR}"

#: The ready wait is woken by the bastion's started line; when that delivery is lost or
#: late, each attempt times out after this long and the next looks again. Fargate takes
#: 30–90 s to start a task: a wait longer than that is answered by the line in its first
#: attempt, and a lost signal costs at most this much delay.
READY_LOOK_AGAIN_SECONDS = 120
#: Three looks in all, two minutes apart: a bastion not ready 6 minutes after its task was
#: started never will be.
RETRY_READY_LOOK = Retry(("States.Timeout",), interval_seconds=1, max_attempts=2, backoff_rate=1.0)
#: Where the ready wait goes when its last look found the bastion not ready.
BASTION_NEVER_READY = "BastionNeverReady"

CATCH_INTO_TEARDOWN = (Catch(("States.ALL",), next=FIRST_TEARDOWN_STEP, result_path=ERROR_PATH),)


def _step_payload(*results: str) -> dict[str, str]:
    """A step's input: the session id, and the whole results of earlier steps it needs."""
    return {"sessionId.$": SESSION_ID, **{f"{key}.$": f"$.{key}" for key in results}}


def _ready_is_complete() -> JsonObject:
    """Every field of the ready document is a string, the hold's seconds a number of at
    least 1, and the host keys a list with a first key (``And`` stops at the first false,
    so no test reads a missing field)."""
    tests: list[JsonObject] = []
    for field in READY_TEXT_FIELDS:
        path = f"{READY_PATH}.{field}"
        tests += [is_present(path), is_string(path)]
    tests += [is_present(HOLD_SECONDS), is_numeric(HOLD_SECONDS), is_at_least(HOLD_SECONDS, 1)]
    tests.append(is_present(FIRST_HOST_KEY))
    return all_of(*tests)


def session_machine() -> StateMachine:
    """The session workflow, from request to teardown."""
    build = chain(
        [
            lambda_task(
                VALIDATE_REQUEST,
                {
                    "sessionId.$": SESSION_ID,
                    "startedAt.$": "$$.Execution.StartTime",
                    "request.$": "$",
                },
                "$",
                result_selector={f"{SESSION}.$": "$"},
                comment="Check the request; nothing exists yet.",
                # The input may not even be an object, so the error replaces it.
                catch=(Catch(("States.ALL",), next="RecordValidationError", result_path="$"),),
            ),
            lambda_task(
                FIND_CONTROL_PLANE,
                _step_payload(SESSION),
                f"$.{CONTROL_PLANE}",
                comment="Find the cluster's VPC, endpoint and the group the rule goes on.",
                catch=CATCH_INTO_TEARDOWN,
            ),
            lambda_task(
                CREATE_SESSION_SECURITY_GROUP,
                _step_payload(SESSION, CONTROL_PLANE),
                f"$.{SESSION_SECURITY_GROUP}",
                comment=(
                    "Create the session's group: SSH from the allowed CIDRs only, HTTPS out to "
                    "the control plane and the stack's egress destinations only."
                ),
                catch=CATCH_INTO_TEARDOWN,
            ),
            lambda_task(
                RUN_BASTION_TASK,
                _step_payload(SESSION, CONTROL_PLANE, SESSION_SECURITY_GROUP),
                f"$.{BASTION_TASK}",
                comment=(
                    "Start the bastion's Fargate task in the session group, forwarding to the "
                    "cluster's endpoint only."
                ),
                catch=CATCH_INTO_TEARDOWN,
            ),
            lambda_task(
                AUTHORIZE_CONTROL_PLANE_INGRESS,
                _step_payload(SESSION, CONTROL_PLANE, SESSION_SECURITY_GROUP),
                f"$.{CONTROL_PLANE_INGRESS}",
                comment="Let the session group reach the control plane on 443.",
                catch=CATCH_INTO_TEARDOWN,
            ),
            Task(
                name=WAIT_FOR_BASTION_ADDRESS,
                comment=(
                    "Wait until the task runs, has its address and its bastion's started line "
                    "says sshd accepts: the function looks once and keeps the token; the "
                    "started line, delivered by the log subscription, wakes SignalBastionReady "
                    "to look again; a timeout looks once more. The answer is the ready "
                    "document: where to connect, the host keys the bastion reported, until "
                    "when, and what the control-plane rule reaches."
                ),
                resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
                parameters={
                    "FunctionName": function_arn(WAIT_FOR_BASTION_ADDRESS),
                    "Payload": {
                        "taskToken.$": "$$.Task.Token",
                        **_step_payload(SESSION, CONTROL_PLANE, BASTION_TASK),
                    },
                },
                result_path=READY_PATH,
                timeout_seconds=READY_LOOK_AGAIN_SECONDS,
                retry=(RETRY_READY_LOOK, *TRANSIENT),
                catch=(
                    Catch(("States.Timeout",), next=BASTION_NEVER_READY, result_path=None),
                    *CATCH_INTO_TEARDOWN,
                ),
            ),
        ],
        then=READY_STATE,
    )
    ready = Choice(
        name=READY_STATE,
        comment=(
            "The bastion is ready: where to connect, with which host keys, and until when. "
            "Every field the hold and the API read must be there."
        ),
        rules=(
            Rule(none_of(_ready_is_complete()), next=READY_INCOMPLETE),
            Rule(
                all_of(
                    is_present(REQUESTS_ANSWERED_PATH),
                    is_numeric(REQUESTS_ANSWERED_PATH),
                    is_at_least(REQUESTS_ANSWERED_PATH, MAX_EXTENSION_REQUESTS + 1),
                ),
                next=TOO_MANY_EXTENSION_REQUESTS,
            ),
        ),
        default=HOLD_SESSION,
    )
    hold = Task(
        name=HOLD_SESSION,
        comment=(
            "Hold the session until it expires (timeout) or EndSession signals "
            "an early end with the task token; an extension request is caught and answered."
        ),
        resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
        parameters={
            "FunctionName": function_arn(HOLD_SESSION),
            "Payload": {
                "taskToken.$": "$$.Task.Token",
                **_step_payload(SESSION),
                # BastionReady checked it: the expiry this hold ends at (an extension's).
                "expiresAt.$": f"{READY_PATH}.expiresAt",
            },
        },
        result_path=f"$.{END}",
        timeout_seconds_path=HOLD_SECONDS,
        catch=(
            Catch(
                (EXTENSION_REQUESTED, *HOLD_FAILURES_HELD_ON),
                next=EXTEND_SESSION,
                result_path=f"$.{EXTENSION}",
            ),
            Catch(("States.Timeout",), next=MARK_SESSION_EXPIRED, result_path=None),
            *CATCH_INTO_TEARDOWN,
        ),
        next=FIRST_TEARDOWN_STEP,
    )
    extend = lambda_task(
        EXTEND_SESSION,
        _step_payload(SESSION, READY, EXTENSION),
        READY_PATH,
        comment=(
            "Extend the session as asked, up to its latest expiry (its start plus the "
            "stack's MaxDurationMinutes), or refuse; then hold again until its expiry."
        ),
        catch=CATCH_INTO_TEARDOWN,
        next_state=READY_STATE,
    )
    validation_error = Pass(
        name="RecordValidationError",
        comment="Keep ValidateRequest's error where every failure is kept.",
        parameters={"error.$": "$"},
        result_path="$",
        next=FIRST_TEARDOWN_STEP,
    )
    ready_incomplete = Pass(
        name=READY_INCOMPLETE,
        comment="WaitForBastionAddress answered without a field of the ready document.",
        result={
            "Error": READY_INCOMPLETE,
            "Cause": (
                "WaitForBastionAddress answered without a field of the ready document: "
                f"{', '.join(READY_TEXT_FIELDS)} (strings), holdSeconds (at least 1) and "
                "hostPublicKeys (the host keys the bastion reported)"
            ),
        },
        result_path=ERROR_PATH,
        next=FIRST_TEARDOWN_STEP,
    )
    too_many_requests = Pass(
        name=TOO_MANY_EXTENSION_REQUESTS,
        comment=(
            f"The hold was asked to extend the session more than {MAX_EXTENSION_REQUESTS} "
            "times: the session ends (this bounds the execution's history)."
        ),
        result={"reason": TOO_MANY_REQUESTS},
        result_path=f"$.{END}",
        next=FIRST_TEARDOWN_STEP,
    )
    never_ready = Pass(
        name=BASTION_NEVER_READY,
        comment="The bastion did not say sshd accepts within three looks two minutes apart.",
        result={
            "Error": "BastionNotReady",
            "Cause": (
                "the bastion did not say that sshd accepts connections within "
                f"{READY_LOOK_AGAIN_SECONDS * (RETRY_READY_LOOK.max_attempts + 1)} seconds "
                "of its task's start"
            ),
        },
        result_path=ERROR_PATH,
        next=FIRST_TEARDOWN_STEP,
    )
    expired = Pass(
        name=MARK_SESSION_EXPIRED,
        comment="The session's time is up.",
        result={"reason": "expired"},
        result_path=f"$.{END}",
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
            *build,
            ready,
            hold,
            extend,
            validation_error,
            ready_incomplete,
            too_many_requests,
            never_ready,
            expired,
            *teardown_chain(SESSION_ID, then="DidSessionFail"),
            *outcome,
        ],
    )
