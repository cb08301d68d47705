"""Lambda task states and the retry policies every machine shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from workflows.asl import Catch, JsonObject, Retry, Task

#: AWS's recommended retrier for transient Lambda service errors (the function may not
#: have run), with jitter so that sessions failing together do not retry in lockstep
#: (Step Functions developer guide, "Handle Lambda service exceptions").
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
)
RETRY_LAMBDA_SERVICE = Retry(
    LAMBDA_SERVICE_ERRORS,
    interval_seconds=2,
    max_attempts=6,
    backoff_rate=2.0,
    max_delay_seconds=30,
    full_jitter=True,
)
#: AWS throttling and server-side errors, raised by the tasks as AwsThrottled and
#: AwsUnavailable after the SDK's own retries: back off with jitter.
RETRY_AWS_TRANSIENT = Retry(
    ("AwsThrottled", "AwsUnavailable"),
    interval_seconds=1,
    max_attempts=6,
    backoff_rate=2.0,
    max_delay_seconds=20,
    full_jitter=True,
)
#: How Lambda names a function that died without an answer, perhaps after its AWS call
#: took effect: it ran past its timeout, its process exited, it ran out of memory (Lambda
#: developer guide, "Troubleshoot invocation issues in Lambda"), or, as Step Functions named
#: every unhandled function error before those names, ``Lambda.Unknown``.
FUNCTION_DIED_ERRORS = (
    "Sandbox.Timedout",
    "Runtime.ExitError",
    "Runtime.OutOfMemory",
    "Lambda.Unknown",
)
#: Every task is idempotent, so running a function that died again is safe: the re-run
#: finds what the first run made instead of making it twice. A few attempts only: a
#: function that dies each time (always out of memory) is a bug, not a blip.
RETRY_FUNCTION_DIED = Retry(
    FUNCTION_DIED_ERRORS,
    interval_seconds=2,
    max_attempts=3,
    backoff_rate=2.0,
    max_delay_seconds=10,
    full_jitter=True,
)
#: The state's TimeoutSeconds passed before the function answered (its own timeout is
#: shorter, so Lambda itself was slow). Retried like a function that died. Never on the
#: hold, whose timeout is the session's expiry.
RETRY_TASK_TIMED_OUT = Retry(
    ("States.Timeout",),
    interval_seconds=2,
    max_attempts=2,
    backoff_rate=2.0,
    max_delay_seconds=10,
    full_jitter=True,
)
#: What AWS says is transient. Anything else (a task's own error, a ClientError such as
#: UnauthorizedOperation) is not retried: it fails the step at once.
TRANSIENT = (RETRY_LAMBDA_SERVICE, RETRY_AWS_TRANSIENT, RETRY_FUNCTION_DIED)

#: A state's retriers count attempts over the whole state, not per call: a step that
#: retries its own error many times (the teardown waiting out a late ENI release calls
#: its function up to 21 times) meets transient errors on each call, and would give up
#: on them long before its own retries end. Teardown steps get at least this many
#: attempts for every transient error: they are idempotent, and giving up leaves the
#: door open until the sweeper runs.
TEARDOWN_TRANSIENT_ATTEMPTS = 10

#: A task that has not answered in this long has failed (the functions time out at 30 s).
TASK_TIMEOUT_SECONDS = 60


def function_arn(task_name: str) -> str:
    """The DefinitionSubstitutions placeholder for a task's Lambda function ARN."""
    return "${" + task_name + "FunctionArn}"


def lambda_task(
    name: str,
    payload: JsonObject,
    result_path: str | None,
    *,
    comment: str,
    result_selector: JsonObject | None = None,
    retry: Sequence[Retry] = (),
    catch: Sequence[Catch] = (),
    next_state: str | None = None,
    transient_attempts: int | None = None,
) -> Task:
    """A state that invokes the task function called ``name`` with ``payload``.

    The function's ARN is the Resource, so the function's return value (not Lambda's
    invoke envelope) lands at ``result_path``. Transient Lambda and throttling errors
    are always retried; ``retry`` comes first, for the task's own errors.
    ``transient_attempts`` raises the attempts of every transient retrier to at least that.
    """
    transient: tuple[Retry, ...] = (*TRANSIENT, RETRY_TASK_TIMED_OUT)
    if transient_attempts is not None:
        transient = tuple(
            replace(retrier, max_attempts=max(retrier.max_attempts, transient_attempts))
            for retrier in transient
        )
    return Task(
        name=name,
        comment=comment,
        resource=function_arn(name),
        parameters=payload,
        result_selector=result_selector,
        result_path=result_path,
        timeout_seconds=TASK_TIMEOUT_SECONDS,
        retry=(*retry, *transient),
        catch=catch,
        next=next_state,
    )
