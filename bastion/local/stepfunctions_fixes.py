"""Step Functions fixes for a workflow whose steps are Lambda tasks.

Gaps filled (moto 5.2.5):

* ``StopExecution`` while a ``.waitForTaskToken`` task waits leaves the execution RUNNING
  until the task times out, and that timeout (or a later error) then overrides the abort.
  Here stopping wakes every waiting callback of the execution, the interrupted state ends
  quietly, and ABORTED stays final.
* ``SendTaskFailure`` drops ``cause``; here it reaches the execution's history and Catch.
* ``StartExecution`` without a name names every execution ``None``; AWS generates a UUID.
* A Task whose Resource is a function ARN names every Lambda service error ``Exception``;
  AWS names it ``Lambda.<code>`` (``Lambda.ServiceException``...), which the recommended
  Lambda retrier matches.
"""

from __future__ import annotations

import uuid
from typing import Any

from bastion.local.active import current
from bastion.local.patching import replace_attribute


def _is_aborted(env: Any) -> bool:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    return isinstance(env.program_state(), ProgramStopped)


def _set_stop(original: Any) -> Any:
    def set_stop(self: Any, stop_date: Any, cause: str | None, error: str | None) -> None:
        original(self, stop_date, cause, error)
        if current() is None:
            return
        # A callback task waits on its endpoint, not on the program state: wake it up.
        for endpoint in list(self.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    return set_stop


def _keep_abort_final(original: Any) -> Any:
    def set_outcome(self: Any, *args: Any, **kwargs: Any) -> None:
        if current() is not None and _is_aborted(self):
            return  # stopped by StopExecution: a later error or timeout does not replace that
        original(self, *args, **kwargs)

    return set_outcome


def _evaluate_with_timeout(original: Any) -> Any:
    def evaluate_with_timeout(self: Any, env: Any) -> None:
        try:
            original(self, env)
        except Exception:
            if current() is not None and _is_aborted(env):
                # Interrupted by StopExecution: no TaskFailed/Retry/Catch after the abort.
                return
            raise

    return evaluate_with_timeout


def _send_task_failure(original: Any) -> Any:
    from moto.core.responses import EmptyResult

    def send_task_failure(self: Any) -> Any:
        if current() is None:
            return original(self)
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    return send_task_failure


def _lambda_service_error(original: Any) -> Any:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if current() is None or not isinstance(ex, ClientError):
            return original(self, env, ex)
        error = f"Lambda.{ex.response['Error']['Code']}"
        details = LambdaFunctionFailedEventDetails(
            error=error, cause=ex.response["Error"]["Message"]
        )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            # moto declares every detail key required; it passes one, as here.
            event_details=EventDetails(lambdaFunctionFailedEventDetails=details),  # type: ignore[typeddict-item]
        )

    return from_error


def _start_execution(original: Any) -> Any:
    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        if current() is not None and not name:
            name = str(uuid.uuid4())
        return original(self, state_machine_arn, name, *args, **kwargs)

    return start_execution


def install() -> None:
    """Patch execution stop and naming, outcome finality, SendTaskFailure, Lambda errors."""
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    replace_attribute(Environment, "set_stop", _set_stop)
    replace_attribute(Environment, "set_error", _keep_abort_final)
    replace_attribute(Environment, "set_timed_out", _keep_abort_final)
    replace_attribute(ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout)
    replace_attribute(StepFunctionResponse, "send_task_failure", _send_task_failure)
    replace_attribute(StateTaskLambda, "_from_error", _lambda_service_error)
    replace_attribute(StepFunctionsParserBackend, "start_execution", _start_execution)
