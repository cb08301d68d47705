"""Lambda task states and the retry policies every machine shares."""

from __future__ import annotations

from collections.abc import Sequence

from workflows.asl import Catch, JsonObject, Retry, Task

#: AWS's recommended retrier for transient Lambda service errors.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
RETRY_LAMBDA_SERVICE = Retry(
    LAMBDA_SERVICE_ERRORS, interval_seconds=2, max_attempts=6, backoff_rate=2.0
)
#: AWS throttling, raised by the tasks as AwsThrottled: back off with jitter so that
#: many sessions throttled together do not retry in lockstep.
RETRY_THROTTLED = Retry(
    ("AwsThrottled",),
    interval_seconds=1,
    max_attempts=6,
    backoff_rate=2.0,
    max_delay_seconds=20,
    full_jitter=True,
)
TRANSIENT = (RETRY_LAMBDA_SERVICE, RETRY_THROTTLED)

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
) -> Task:
    """A state that invokes the task function called ``name`` with ``payload``.

    The function's ARN is the Resource, so the function's return value (not Lambda's
    invoke envelope) lands at ``result_path``. Transient Lambda and throttling errors
    are always retried; ``retry`` comes first, for the task's own errors.
    """
    return Task(
        name=name,
        comment=comment,
        resource=function_arn(name),
        parameters=payload,
        result_selector=result_selector,
        result_path=result_path,
        timeout_seconds=TASK_TIMEOUT_SECONDS,
        retry=(*retry, *TRANSIENT),
        catch=catch,
        next=next_state,
    )
