"""Lambda handlers the local AWS's own tests deploy (``tests.local.handlers_for_tests.*``)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import boto3


class WidgetJammed(Exception):
    """A handler's own error: its class name must become the Step Functions error name."""


class NotYetThere(Exception):
    """Raised until a handler has been called often enough (drives Retry)."""


_attempts: dict[str, int] = {}
#: :func:`hold_until_released` sets ``holding`` once it runs, and returns once ``released``.
holding = threading.Event()
released = threading.Event()


def echo(event: Any, context: Any) -> dict[str, Any]:
    """Return the event and what the handler saw of its context and environment."""
    return {
        "event": event,
        "functionName": context.function_name,
        "functionVersion": context.function_version,
        "invokedFunctionArn": context.invoked_function_arn,
        "memoryLimitInMb": context.memory_limit_in_mb,
        "requestId": context.aws_request_id,
        "logGroupName": context.log_group_name,
        "remainingMs": context.get_remaining_time_in_millis(),
        "greeting": os.environ.get("GREETING"),
        "region": os.environ.get("AWS_REGION"),
        "defaultRegion": os.environ.get("AWS_DEFAULT_REGION"),
        "lambdaName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "traceDisabled": os.environ.get("POWERTOOLS_TRACE_DISABLED"),
    }


def hold_until_released(event: Any, context: Any) -> dict[str, Any]:
    """Run until the test sets :data:`released` (at most a minute)."""
    holding.set()
    return {"released": released.wait(60)}


def jam(event: Any, context: Any) -> dict[str, Any]:
    """Always fail with a named exception."""
    raise WidgetJammed(f"widget {event.get('widget')} is jammed")


def succeed_on_attempt(event: Any, context: Any) -> dict[str, Any]:
    """Fail with NotYetThere until called ``event['succeedOn']`` times for ``event['key']``."""
    key = str(event["key"])
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < int(event["succeedOn"]):
        raise NotYetThere(f"attempt {_attempts[key]}")
    return {"attempts": _attempts[key]}


def store_token(event: Any, context: Any) -> dict[str, Any]:
    """Keep a ``.waitForTaskToken`` token where a test can find it (SSM, like HoldSession)."""
    boto3.client("ssm").put_parameter(
        Name=f"/fargate-bastion/sessions/{event['sessionId']}",
        Value=event["taskToken"],
        Type="String",
        Overwrite=True,
    )
    return {"stored": True}


def create_group(event: Any, context: Any) -> dict[str, Any]:
    """Create a security group through boto3, as a task handler would."""
    ec2 = boto3.client("ec2")
    group_id = ec2.create_security_group(
        GroupName=event["name"], Description="made by a handler", VpcId=event["vpcId"]
    )["GroupId"]
    return {"groupId": group_id}


def unserializable(event: Any, context: Any) -> Any:
    """Return something JSON cannot carry."""
    return {"when": object()}


def exit_process(event: Any, context: Any) -> dict[str, Any]:
    """Exit the runtime's process, as ``sys.exit`` in a handler does."""
    raise SystemExit(int(event.get("status", 1)))


def exhaust_memory(event: Any, context: Any) -> dict[str, Any]:
    """Run out of memory (without really allocating it)."""
    raise MemoryError


def overrun(event: Any, context: Any) -> dict[str, Any]:
    """Keep working until past the function's timeout, then answer (too late)."""
    time.sleep(context.get_remaining_time_in_millis() / 1000 + 0.05)
    return {"answered": "too late"}


def oversized(event: Any, context: Any) -> dict[str, Any]:
    """Answer more than Step Functions' 256 KiB payload quota."""
    return {"blob": "x" * 300_000}


def session_of_log_stream(event: Any, context: Any) -> dict[str, Any]:
    """A subscription's events, and the session of the task whose stream they come from:
    read from the task's own tags, never from the lines."""
    from tasks.common.log_subscription import decode_subscription_event, task_id_of_log_stream

    message = decode_subscription_event(event)
    task_id = task_id_of_log_stream(message.log_stream, "bastion", "bastion")
    found = boto3.client("ecs").describe_tasks(
        cluster=os.environ["CLUSTER"], tasks=[task_id], include=["TAGS"]
    )["tasks"]
    tags = {tag["key"]: tag["value"] for task in found for tag in task.get("tags", [])}
    return {
        "taskId": task_id,
        "session": tags.get("fargate-bastion:session"),
        "messages": [log_event.message for log_event in message.log_events],
    }
