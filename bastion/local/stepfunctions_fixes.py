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
  Lambda retrier matches. A path of its Parameters that does not resolve is ``Exception``
  too; on AWS it is ``States.Runtime``.
* A retried ``.waitForTaskToken`` task keeps the token of its first attempt; AWS issues
  each attempt its own. Here every retry gets a new token (the earlier attempt's is over).
* A ``.waitForTaskToken`` task's token stays answerable after the task timed out or was
  answered, while the execution runs on (SendTaskSuccess quietly succeeds; moto's own
  consumer-error path cannot even build its exceptions). Here answering it then fails with
  ``TaskTimedOut`` (the task timed out) or ``TaskDoesNotExist`` (the task is over).
* ``SendTask*`` crashes when another execution has just started and its worker has no
  environment yet; here the call waits for it and asks again.
* The ASL preprocessor keeps its stack of query-language scopes in a class attribute, so
  every parse in the process shares one list: two executions starting at once can pop
  each other's scope, and a worker dies with IndexError before its first event, leaving
  its execution RUNNING for ever. Here each parse has its own stack.
* Once a state's frame has ended (another iteration of its Map failed, or its execution
  stopped) moto skips evaluating the state's timeout and heartbeat but its task states
  pop the values anyway: they pop the state's input instead, write it into the history
  as ``timeoutInSeconds``, and every later GetExecutionHistory of that execution fails.
  Here the seconds, fixed or read from a path, are always pushed.
* ``States.ALL`` catches and retries ``States.Runtime`` (a path that does not resolve in
  Parameters, ``TimeoutSecondsPath``...) and ``States.DataLimitExceeded``. On AWS neither
  is caught by ``States.ALL``, and ``States.Runtime`` by nothing at all: the execution fails
  at once, past every Catch (Step Functions developer guide, "Handling errors in Step
  Functions workflows"). Here too.
* Every ``CreateStateMachine`` and every ``StartExecution`` parses the definition anew
  with ANTLR: about 0.2 s of CPU for the session machine, most of a session's start. Here
  the parse tree of each definition is kept, and each execution still gets its own
  components, built from that tree.
* Executions emit no "Step Functions Execution Status Change" events; here each start
  and end puts one on the local EventBridge (:mod:`bastion.local.eventbridge`).
* A function a state machine invokes is invoked as the machine's role (recorded by
  :mod:`bastion.local.actions`).
"""

from __future__ import annotations

import time
import uuid
from functools import lru_cache
from typing import Any

from bastion.local.actions import Principal, acting_as
from bastion.local.active import current
from bastion.local.patching import replace_attribute


def _is_aborted(env: Any) -> bool:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    return isinstance(env.program_state(), ProgramStopped)


def _stop_when_started(original: Any) -> Any:
    """Stopping an execution whose worker thread has not built its environment yet
    crashes moto (``None.set_stop``): wait for the worker to get that far first."""

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        deadline = time.monotonic() + 5.0
        while getattr(self, "env", None) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if getattr(self, "env", None) is None:
            raise RuntimeError("the execution's worker never started, so it cannot be stopped")
        original(self, stop_date=stop_date, error=error, cause=cause)

    return stop


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


def _waits_for_token(state: Any) -> bool:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )

    resource = getattr(state, "resource", None)
    return getattr(resource, "condition", None) == ResourceCondition.WaitForTaskToken


def _attempt_token(env: Any) -> str | None:
    return (env.states.context_object.context_object_data.get("Task") or {}).get("Token")


def _new_token_per_attempt(env: Any) -> None:
    """Before a retry of a ``.waitForTaskToken`` task, issue the attempt's own token."""
    context = env.states.context_object
    if not context.context_object_data.get("State", {}).get("RetryCount"):
        return  # the first attempt: moto issued its token on entering the state
    env.callback_pool_manager.add(context.update_task_token())


#: moto's exceptions for a state's TimeoutSeconds and a callback's timeout or heartbeat.
_TIMEOUT_ERRORS = frozenset({"EvalTimeoutError", "CallbackTimeoutError", "HeartbeatTimeoutError"})


def _evaluate_with_timeout(original: Any) -> Any:
    def evaluate_with_timeout(self: Any, env: Any) -> None:
        token = None
        if current() is not None and _waits_for_token(self):
            _new_token_per_attempt(env)
            token = _attempt_token(env)
        try:
            original(self, env)
        except Exception as error:
            if token:  # the attempt timed out, or failed (its function died): its token is over
                timed_out = type(error).__name__ in _TIMEOUT_ERRORS
                outcome = "TaskTimedOut" if timed_out else "TaskDoesNotExist"
                _mark_ended(env.callback_pool_manager, token, outcome)
            if current() is not None and _is_aborted(env):
                # Interrupted by StopExecution: no TaskFailed/Retry/Catch after the abort.
                return
            raise

    return evaluate_with_timeout


#: Errors that fail the execution past every Catch and Retry on AWS.
UNCATCHABLE = "States.Runtime"
#: Errors ``States.ALL`` does not match on AWS (a Catch naming them still does).
NOT_MATCHED_BY_ALL = frozenset({UNCATCHABLE, "States.DataLimitExceeded"})


def _runtime_errors_pass_states_all(original: Any) -> Any:
    def eval_body(self: Any, env: Any) -> None:
        if current() is None:
            original(self, env)
            return
        name = getattr(env.stack[-1], "error_name", None)
        listed = {getattr(error, "error_name", None) for error in self.error_names}
        if name == UNCATCHABLE or (name in NOT_MATCHED_BY_ALL and "States.ALL" in listed):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    return eval_body


def _status_before_start(original: property) -> property:
    """An execution is listed (ListExecutions, with a status filter too) from the moment
    StartExecution creates it; moto sets its status only when its worker starts, and reading
    it in between raised. AWS lists it RUNNING once StartExecution has answered."""

    def status(self: Any) -> str:
        if self.exec_status is None:
            return "RUNNING"
        value: str = original.fget(self) if original.fget else "RUNNING"
        return value

    return property(status)


def _own_scope_stack(original: Any) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if current() is not None:
            self._query_language_per_scope = []

    return __init__


#: Parse trees kept: one per definition a process deploys, and a few for tests of their own.
_PARSE_TREES_KEPT = 64


def _parse_tree_kept(original: Any) -> Any:
    """Parse each definition once; build fresh components from its tree at every call.

    The tree is only read after parsing (by the preprocessor, from any thread); the
    components hold each execution's evaluation state, so they are never shared. A
    definition that does not parse is not kept: it raises again, as moto's parse does.
    """
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    parse = original.__func__

    @lru_cache(maxsize=_PARSE_TREES_KEPT)
    def tree_of(definition: str) -> Any:
        return parse(definition)[1]

    def parse_kept(definition: str) -> tuple[Any, Any]:
        if current() is None:
            return parse(definition)  # type: ignore[no-any-return]
        tree = tree_of(definition)
        return Preprocessor().visit(tree), tree

    return staticmethod(parse_kept)


def _seconds_always_pushed(original: Any) -> Any:
    """A timeout or heartbeat evaluated after its frame ended still pushes its seconds."""

    def eval_seconds(self: Any, env: Any) -> None:
        if current() is None or env.is_running():
            original(self, env)
        elif hasattr(self, "string_sampler"):  # TimeoutSecondsPath, HeartbeatSecondsPath
            self.string_sampler._eval_body(env)  # the path's value, read past the pruning
        elif not hasattr(self, "string_jsonata"):  # TimeoutSeconds, HeartbeatSeconds
            self._eval_body(env)
        else:
            original(self, env)

    return eval_seconds


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
    from moto.stepfunctions.parser.api import (
        HistoryEventType,
        LambdaFunctionFailedEventDetails,
        TaskFailedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if current() is not None and isinstance(ex, NoSuchJsonPathError):
            # A path of the state's Parameters that does not resolve: States.Runtime on AWS.
            return FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(  # type: ignore[typeddict-item]
                        error=StatesErrorNameType.StatesRuntime.to_name(), cause=str(ex)
                    )
                ),
            )
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


#: Tokens of ``.waitForTaskToken`` tasks that are over: token → the error answering gives.
_ENDED_TOKENS = "local_ended_tokens"


def _token_pool(token: str) -> tuple[str, Any] | None:
    """The state machine whose execution issued ``token``, and that execution's pool."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for regions in list(stepfunctions_parser_backends.values()):
        for backend in list(regions.values()):
            for machine in list(backend.state_machines):
                for execution in list(machine.executions):
                    env = getattr(getattr(execution, "exec_worker", None), "env", None)
                    pool = getattr(env, "callback_pool_manager", None)
                    if token in getattr(pool, _ENDED_TOKENS, {}) or token in getattr(
                        pool, "_pool", {}
                    ):
                        return str(machine.arn), pool
    return None


def token_owner(token: str) -> tuple[str, str | None] | None:
    """The state machine whose execution issued ``token``, and the error answering it now
    gives (``TaskTimedOut``, ``TaskDoesNotExist``, or None while its task waits)."""
    found = _token_pool(token)
    if found is None:
        return None
    machine_arn, pool = found
    return machine_arn, getattr(pool, _ENDED_TOKENS, {}).get(token)


def _mark_ended(pool: Any, token: str, error: str) -> None:
    ended = pool.__dict__.setdefault(_ENDED_TOKENS, {})
    ended.setdefault(token, error)


def _token_final(original: Any) -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackTimeoutError,
        HeartbeatTimeoutError,
    )

    def eval_integration_pattern(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        token = None
        if current() is not None and self.resource.condition == ResourceCondition.WaitForTaskToken:
            token = (env.states.context_object.context_object_data.get("Task") or {}).get("Token")
        outcome = "TaskDoesNotExist"
        try:
            original(self, env, *args, **kwargs)
        except (CallbackTimeoutError, HeartbeatTimeoutError):
            outcome = "TaskTimedOut"
            raise
        finally:
            if token:
                _mark_ended(env.callback_pool_manager, token, outcome)

    return eval_integration_pattern


def _past_unstarted_workers(call: Any) -> Any:
    """moto's SendTask* asks every RUNNING execution's environment for the token, and
    crashes (``None.callback_pool_manager``) on an execution whose worker thread has not
    built its environment yet: wait the moment that takes, then ask again."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            return call()
        except AttributeError as error:
            if "callback_pool_manager" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _refuse_ended_tokens(original: Any, *, answers: bool) -> Any:
    """SendTask*: refuse a token whose task is over; an answer (``answers``) ends it."""
    from moto.stepfunctions.parser.api import TaskDoesNotExist, TaskTimedOut

    def answer(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
        found = _token_pool(task_token) if current() is not None else None
        error = getattr(found[1], _ENDED_TOKENS, {}).get(task_token) if found else None
        if error == "TaskTimedOut":
            raise TaskTimedOut("The task of this token timed out", exception_type=error)
        if error is not None:
            raise TaskDoesNotExist("The task of this token is over", exception_type=error)
        result = _past_unstarted_workers(lambda: original(self, task_token, *args, **kwargs))
        if answers and found is not None:
            _mark_ended(found[1], task_token, "TaskDoesNotExist")  # answered: over at once
        return result

    return answer


def _emitting_status(original: Any, execution_of: Any, *, started: bool) -> Any:
    """Run ``original``, then put the execution's status change on the local EventBridge.

    The event is announced first: whoever sees the new status can already wait for it.
    """

    def emitting(self: Any) -> None:
        controls = current()
        if controls is None:
            original(self)
            return
        from bastion.local.eventbridge import execution_status_event

        reserved = controls.events.reserve()
        try:
            original(self)
            event = execution_status_event(
                execution_of(self), controls.region, controls.account_id, started=started
            )
        except BaseException:
            if reserved:
                controls.events.release()
            raise
        if reserved:
            controls.events.put(event, reserved=True)

    return emitting


def _execution_started(original: Any) -> Any:
    # The worker may have finished a short execution already: this is still its start.
    return _emitting_status(original, lambda execution: execution, started=True)


def _execution_terminated(original: Any) -> Any:
    # The execution's final status is set in the original.
    return _emitting_status(original, lambda communication: communication.execution, started=False)


def _invoke_as_machine_role(original: Any) -> Any:
    def execute(env: Any, *args: Any, **kwargs: Any) -> Any:
        if current() is None:
            return original(env, *args, **kwargs)
        machine = env.states.context_object.context_object_data["StateMachine"]["Name"]
        principal = Principal("state machine", str(machine), env.aws_execution_details.role_arn)
        with acting_as(principal):
            return original(env, *args, **kwargs)

    return execute


def install() -> None:
    """Patch execution stop and naming, outcome finality, task timeouts, SendTaskFailure,
    Lambda errors, status-change events and the role a machine invokes functions as."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,
    )
    from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import Heartbeat
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    replace_attribute(Preprocessor, "__init__", _own_scope_stack)
    replace_attribute(AmazonStateLanguageParser, "parse", _parse_tree_kept)
    replace_attribute(ErrorEqualsDecl, "_eval_body", _runtime_errors_pass_states_all)
    replace_attribute(Environment, "set_stop", _set_stop)
    replace_attribute(ExecutionWorker, "stop", _stop_when_started)
    replace_attribute(Environment, "set_error", _keep_abort_final)
    replace_attribute(Environment, "set_timed_out", _keep_abort_final)
    replace_attribute(ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout)
    replace_attribute(Timeout, "eval", _seconds_always_pushed)
    replace_attribute(Heartbeat, "eval", _seconds_always_pushed)
    replace_attribute(StepFunctionResponse, "send_task_failure", _send_task_failure)
    replace_attribute(StateTaskLambda, "_from_error", _lambda_service_error)
    replace_attribute(StepFunctionsParserBackend, "start_execution", _start_execution)
    replace_attribute(Execution, "start", _execution_started)
    replace_attribute(Execution, "status", _status_before_start)
    replace_attribute(StateTaskServiceCallback, "_eval_integration_pattern", _token_final)
    for answering in ("send_task_success", "send_task_failure"):
        replace_attribute(
            StepFunctionsParserBackend,
            answering,
            lambda original: _refuse_ended_tokens(original, answers=True),
        )
    replace_attribute(
        StepFunctionsParserBackend,
        "send_task_heartbeat",
        lambda original: _refuse_ended_tokens(original, answers=False),
    )
    replace_attribute(BaseExecutionWorkerCommunication, "terminated", _execution_terminated)
    # Both Lambda task kinds (function ARN, lambda:invoke) call it through the module.
    replace_attribute(
        lambda_eval_utils, "execute_lambda_function_integration", _invoke_as_machine_role
    )
