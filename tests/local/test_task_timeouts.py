"""A Task state's TimeoutSeconds counts its function's run, not its turn at the local Lambda.

The local AWS runs one invocation at a time; AWS runs them side by side. An invocation
that waits its turn behind a long one has not started, so its state must not time out for
it: on a loaded machine that would fail sessions AWS would not fail.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from bastion.local import LocalAws
from bastion.local.waits import WAIT_SECONDS
from tests.local import handlers_for_tests
from tests.local.conftest import create_function, create_state_machine, invoke, start

#: The Task state's TimeoutSeconds in these tests.
TIMEOUT_SECONDS = 2


def _one_task(function_arn: str) -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": function_arn,
                "TimeoutSeconds": TIMEOUT_SECONDS,
                "End": True,
            }
        },
    }


def _scheduled(aws: LocalAws, execution_arn: str) -> bool:
    return any(event["type"] == "LambdaFunctionScheduled" for event in aws.history(execution_arn))


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def test_a_task_queued_behind_another_invocation_does_not_time_out(aws: LocalAws) -> None:
    # GIVEN an invocation that holds the local Lambda until released
    create_function(aws, "holds", "hold_until_released")
    echo_arn = create_function(aws, "echo", "echo")
    handlers_for_tests.holding.clear()
    handlers_for_tests.released.clear()
    holder = threading.Thread(target=lambda: invoke(aws, "holds", {}))
    holder.start()
    try:
        assert handlers_for_tests.holding.wait(WAIT_SECONDS)
        # WHEN a Task state's invocation waits its turn for longer than its TimeoutSeconds
        machine = create_state_machine(aws, "queued", _one_task(echo_arn))
        arn = start(aws, machine, "queued", {"hello": "world"})
        _wait_for(lambda: _scheduled(aws, arn), "scheduled")
        queued_since = time.monotonic()
        _wait_for(lambda: time.monotonic() - queued_since > 1.5 * TIMEOUT_SECONDS, "queued")
    finally:
        handlers_for_tests.released.set()
        holder.join(WAIT_SECONDS)
    final = aws.wait_for_execution(arn)

    # THEN the state ran its function once its turn came, and succeeded
    assert final["status"] == "SUCCEEDED", aws.history(arn)[-3:]
    assert json.loads(final["output"])["event"] == {"hello": "world"}


def test_a_function_that_runs_past_the_states_timeout_still_times_out(aws: LocalAws) -> None:
    # GIVEN a Task state whose function runs until released, longer than TimeoutSeconds
    holds_arn = create_function(aws, "holds", "hold_until_released")
    handlers_for_tests.holding.clear()
    handlers_for_tests.released.clear()
    machine = create_state_machine(aws, "overruns", _one_task(holds_arn))
    try:
        arn = start(aws, machine, "overruns", {})
        # WHEN nothing releases it
        final = aws.wait_for_execution(arn)
    finally:
        handlers_for_tests.released.set()

    # THEN the state times out as on AWS
    assert (final["status"], final.get("error")) == ("FAILED", "States.Timeout"), final
