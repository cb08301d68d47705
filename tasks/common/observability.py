"""The one place that owns the logger and tracer, and the handler wrapper every task uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import ClientError

from tasks.common.errors import AwsThrottled

SERVICE = "fargate-bastion"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

#: Error codes AWS uses for throttling; the workflows retry AwsThrottled with jitter.
THROTTLING_CODES = frozenset(
    {"RequestLimitExceeded", "ThrottlingException", "Throttling", "TooManyRequestsException"}
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def task_handler(func: Handler) -> Handler:
    """Wrap a task handler: structured logs keyed by the session id, tracing, and
    AWS throttling turned into :class:`AwsThrottled` so the state machine can retry it.
    """

    @functools.wraps(func)
    def translate_throttling(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return func(event, context)
        except ClientError as error:
            if error_code(error) in THROTTLING_CODES:
                raise AwsThrottled(str(error)) from error
            raise

    traced = tracer.capture_lambda_handler(translate_throttling, capture_response=False)
    return logger.inject_lambda_context(traced, correlation_id_path="sessionId", clear_state=True)
