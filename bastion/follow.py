"""Follow a Step Functions execution state by state, from its history.

Used by ``make demo`` and the tests: the console's graph, as lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.api_view import error_message, history

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class ExecutionDidNotFinish(TimeoutError):
    """The execution was still running when the deadline passed."""


@dataclass(frozen=True)
class Step:
    """One thing that happened in an execution, worth a line."""

    kind: str  # "entered", "exited", "failed" (a task attempt failed) or "ended"
    state: str
    timestamp: datetime
    detail: str = ""


def _state_name(event: Mapping[str, Any], key: str) -> str:
    return str(event.get(key, {}).get("name", ""))


def steps_from_history(events: Iterable[Mapping[str, Any]]) -> list[Step]:
    """The steps in execution history ``events`` (oldest first)."""
    steps: list[Step] = []
    current = ""
    for event in events:
        kind = str(event["type"])
        stamp = event["timestamp"]
        if kind.endswith("StateEntered"):
            current = _state_name(event, "stateEnteredEventDetails")
            steps.append(Step("entered", current, stamp))
        elif kind.endswith("StateExited"):
            steps.append(Step("exited", _state_name(event, "stateExitedEventDetails"), stamp))
        elif kind in (
            "TaskFailed",
            "TaskTimedOut",
            "LambdaFunctionFailed",
            "LambdaFunctionTimedOut",
        ):
            details: dict[str, Any] = next(
                (v for k, v in event.items() if k.endswith("EventDetails")), {}
            )
            message = error_message(str(details.get("cause", "")))
            detail = f"{details.get('error', '')}: {message}".strip(": ")
            steps.append(Step("failed", current, stamp, detail))
        elif kind.startswith("Execution") and kind != "ExecutionStarted":
            steps.append(Step("ended", kind.removeprefix("Execution"), stamp))
    return steps


class ExecutionFollower:
    """Reads an execution's history as it grows and hands on each new step once."""

    def __init__(self, sfn: Any, execution_arn: str) -> None:
        self.sfn = sfn
        self.execution_arn = execution_arn
        self.seen = 0

    def follow(
        self,
        on_step: Callable[[Step], None],
        *,
        until: Callable[[Step], bool] | None = None,
        timeout_seconds: float = 120.0,
        poll_seconds: float = 0.1,
    ) -> dict[str, Any]:
        """Call ``on_step`` for every new step until the execution ends (or ``until`` holds).

        Returns the last ``describe_execution`` answer; raises
        :class:`ExecutionDidNotFinish` when the deadline passes first.
        """
        deadline = time.monotonic() + timeout_seconds
        while True:
            description = self.sfn.describe_execution(executionArn=self.execution_arn)
            steps = steps_from_history(history(self.sfn, self.execution_arn))
            for step in steps[self.seen :]:
                self.seen += 1
                on_step(step)
                if until is not None and until(step):
                    return description
            if description["status"] in TERMINAL_STATUSES:
                return description
            if time.monotonic() > deadline:
                raise ExecutionDidNotFinish(
                    f"{self.execution_arn} still {description['status']} "
                    f"after {timeout_seconds:.0f} s"
                )
            time.sleep(poll_seconds)


def follow(
    sfn: Any,
    execution_arn: str,
    on_step: Callable[[Step], None],
    *,
    until: Callable[[Step], bool] | None = None,
    timeout_seconds: float = 120.0,
) -> dict[str, Any]:
    """Follow an execution from its first step; see :meth:`ExecutionFollower.follow`."""
    return ExecutionFollower(sfn, execution_arn).follow(
        on_step, until=until, timeout_seconds=timeout_seconds
    )
