"""Waiting for an execution: a first poll soon, then fewer; a timeout that says where it is."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.local.executions import stop_running_executions, wait_for_execution


class _Execution:
    """A Step Functions client stand-in whose one execution runs for ``polls`` describes."""

    def __init__(self, polls: int) -> None:
        self.polls = polls
        self.described = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        self.described += 1
        status = "RUNNING" if self.described <= self.polls else "SUCCEEDED"
        return {"executionArn": executionArn, "status": status, "ResponseMetadata": {}}

    def get_paginator(self, _: str) -> Any:
        events = [{"type": "TaskStateEntered"}, {"type": "LambdaFunctionScheduled"}]
        return type("Pages", (), {"paginate": lambda self, **_: [{"events": events}]})()


def test_an_execution_that_ends_is_described_without_metadata() -> None:
    sfn = _Execution(polls=3)
    described = wait_for_execution(sfn, "arn:exec", timeout=10)
    assert described == {"executionArn": "arn:exec", "status": "SUCCEEDED"}
    assert sfn.described == 4


def test_a_long_wait_polls_less_and_less_often() -> None:
    sfn = _Execution(polls=10**6)
    with pytest.raises(TimeoutError, match="still RUNNING after 1.5s.*LambdaFunctionScheduled"):
        wait_for_execution(sfn, "arn:exec", timeout=1.5)
    # Every 20 ms that would be 75 polls; growing to every 250 ms it is a dozen or so.
    assert 5 <= sfn.described <= 20


class _Unstoppable:
    """A Step Functions client stand-in with one RUNNING execution that never ends."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        pages = {
            "list_state_machines": [{"stateMachines": [{"stateMachineArn": "arn:machine"}]}],
            "list_executions": [{"executions": [{"executionArn": "arn:stuck"}]}],
            "get_execution_history": [{"events": []}],
        }[operation]
        return type("Pages", (), {"paginate": lambda self, **_: pages})()

    def stop_execution(self, executionArn: str, **_: Any) -> None:  # noqa: N803 (boto3's name)
        self.stopped.append(executionArn)

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        return {"executionArn": executionArn, "status": "RUNNING"}


def test_an_execution_still_running_after_being_stopped_fails_the_shutdown_by_name() -> None:
    sfn = _Unstoppable()
    with pytest.raises(RuntimeError, match="1 execution.* still running .*arn:stuck"):
        stop_running_executions(sfn, timeout=0.2)
    assert sfn.stopped == ["arn:stuck"]
