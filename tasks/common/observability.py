"""The one place that owns the logger and tracer, and the handler wrapper every task uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import ClientError

from tasks.common.errors import AwsThrottled, AwsUnavailable

SERVICE = "fargate-bastion"
logger = Logger(service=SERVICE)
#: The functions call AWS through boto3 and nothing else: X-Ray patches botocore only, not
#: every library its SDK knows (requests, HTTP clients, database drivers), which each
#: cold start would otherwise import.
TRACED_MODULES = ("botocore",)
tracer = Tracer(service=SERVICE, patch_modules=TRACED_MODULES)

#: Error codes AWS uses for throttling; the workflows retry AwsThrottled with jitter.
THROTTLING_CODES = frozenset(
    {"RequestLimitExceeded", "ThrottlingException", "Throttling", "TooManyRequestsException"}
)

#: Error codes of AWS's server-side failures (HTTP 5xx); the workflows retry AwsUnavailable.
SERVER_ERROR_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Unavailable",
    }
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_server_error(error: ClientError) -> bool:
    """Whether AWS failed on its side (HTTP 5xx, or a 5xx error code)."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return int(status or 0) >= 500 or error_code(error) in SERVER_ERROR_CODES


def task_handler(func: Handler) -> Handler:
    """Wrap a task handler: structured logs keyed by the session id, tracing, and AWS's
    transient failures named so the state machines retry them with jitter: throttling as
    :class:`AwsThrottled`, server-side errors as :class:`AwsUnavailable`. Any other AWS
    error stays a ``ClientError``, which the workflows do not retry.
    """

    @functools.wraps(func)
    def name_transient_errors(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return func(event, context)
        except ClientError as error:
            if error_code(error) in THROTTLING_CODES:
                raise AwsThrottled(str(error)) from error
            if is_server_error(error):
                raise AwsUnavailable(str(error)) from error
            raise

    traced = tracer.capture_lambda_handler(name_transient_errors, capture_response=False)
    return logger.inject_lambda_context(traced, correlation_id_path="sessionId", clear_state=True)
