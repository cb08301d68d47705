"""Following Step Functions executions: one poller with a deadline, history, cleanup."""

from __future__ import annotations

import time
from typing import Any

from bastion.local.waits import WAIT_SECONDS

#: The statuses an execution never leaves.
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

#: The first poll comes soon (most local executions end within a second); the interval then
#: grows to at most :data:`_MAX_POLL_SECONDS`, so many waiters do not crowd out the
#: executions they wait for (every poll is a call the local AWS answers in this process).
_POLL_SECONDS = 0.02
_MAX_POLL_SECONDS = 0.25
_POLL_GROWTH = 1.5


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution's history, oldest first, across pages."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def _describe_recent_events(sfn: Any, execution_arn: str, count: int = 5) -> str:
    events = execution_history(sfn, execution_arn)[-count:]
    return ", ".join(str(event.get("type")) for event in events) or "none"


def wait_for_execution(
    sfn: Any,
    execution_arn: str,
    timeout: float = WAIT_SECONDS,
    poll_seconds: float = _POLL_SECONDS,
) -> dict[str, Any]:
    """Poll until the execution reaches a terminal status; its ``describe_execution``.

    Polls first after ``poll_seconds``, then less and less often (up to every
    :data:`_MAX_POLL_SECONDS`). Raises TimeoutError, naming its status and last events, if
    ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    interval = poll_seconds
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL_STATUSES:
            return _without_metadata(described)
        if time.monotonic() >= deadline:
            recent = _describe_recent_events(sfn, execution_arn)
            raise TimeoutError(
                f"execution {execution_arn} is still {described['status']} after {timeout}s "
                f"(last events: {recent})"
            )
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
        interval = min(interval * _POLL_GROWTH, max(poll_seconds, _MAX_POLL_SECONDS))


def running_executions(sfn: Any) -> list[str]:
    """The ARNs of every RUNNING execution of every state machine."""
    arns: list[str] = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            for listed in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            ):
                arns.extend(execution["executionArn"] for execution in listed["executions"])
    return arns


def stop_running_executions(sfn: Any, timeout: float = WAIT_SECONDS) -> list[str]:
    """Stop every RUNNING execution and wait until each has ended; the ARNs stopped.

    moto runs executions in threads that outlive the mock and would then call out of the
    process, or into the next local AWS: nothing may still run when the local AWS shuts
    down. Raises RuntimeError naming the executions still running ``timeout`` seconds on.
    """
    stopped = running_executions(sfn)
    for arn in stopped:
        sfn.stop_execution(
            executionArn=arn, error="LocalAwsShutdown", cause="the local AWS is shutting down"
        )
    deadline = time.monotonic() + timeout
    still_running = []
    for arn in stopped:
        try:
            wait_for_execution(sfn, arn, timeout=max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            still_running.append(arn)
    if still_running:
        raise RuntimeError(
            f"{len(still_running)} execution(s) still running {timeout:.0f} s after being "
            f"stopped: {', '.join(still_running)}"
        )
    return stopped
