"""Lambda in-process: an invocation imports the function's ``Handler`` and calls it.

moto without Docker only echoes the payload back. Here the handler runs in this process,
with the function's environment, a Lambda-like context object, and errors reported the way
the Lambda service reports them (``x-amz-function-error: Unhandled`` and a JSON body whose
``errorType`` is the exception's class name, which Step Functions uses as the error name).

A function that dies is named as Lambda names it (:mod:`bastion.local.lambda_errors`): a
handler that exits the process (``SystemExit``) answers ``Runtime.ExitError``, one that
runs out of memory (``MemoryError``) ``Runtime.OutOfMemory``, and one that runs past the
function's timeout ``Sandbox.Timedout``, its result discarded. The timeout is measured in
real seconds: the local AWS's time scale speeds up waits between steps, not a handler's own
run, and a stopped handler cannot be interrupted in-process, so it is judged when it ends.
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from bastion.local import lambda_errors
from bastion.local.actions import Principal, acting_as
from bastion.local.active import Controls, current
from bastion.local.environ import thread_environ
from bastion.local.fair_lock import FairReentrantLock
from bastion.local.faults import InvocationFault
from bastion.local.patching import replace_attribute
from bastion.local.random_faults import session_of, session_scope
from bastion.local.task_timeouts import waiting_for_turn
from bastion.local.waits import WAIT_SECONDS

#: The outcome of an invocation whose handler returned normally.
SUCCEEDED = "Succeeded"

#: Workflow executions run in threads; handlers share module-level state (the client
#: cache, the logger's keys), so one invocation runs at a time. Each sees its function's
#: variables through a per-thread overlay of ``os.environ`` that other threads never see.
#: Re-entrant, so a handler may invoke another function; fair, so no invocation waits
#: behind later ones (it would time out while they run).
_INVOCATION_LOCK = FairReentrantLock()


class Invocation(NamedTuple):
    """One recorded invocation: which function, with what event, and how it ended."""

    function_name: str
    event: Any
    #: :data:`SUCCEEDED`, or the ``errorType`` the caller received.
    outcome: str

    @property
    def succeeded(self) -> bool:
        """Whether the caller received a result rather than an error."""
        return self.outcome == SUCCEEDED


@dataclass(frozen=True)
class LambdaContext:
    """The attributes and method of the Lambda context object that handlers use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float = 3.0
    _started: float = field(default_factory=time.monotonic, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (real time)."""
        elapsed = time.monotonic() - self._started
        return max(int((self.timeout_seconds - elapsed) * 1000), 0)


class _HandlerError(Exception):
    """A failure the Lambda runtime itself reports (import errors, bad results)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _context_for(function: Any) -> LambdaContext:
    request_id = str(uuid.uuid4())
    version = str(getattr(function, "version", "$LATEST"))
    stream = f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"
    return LambdaContext(
        function_name=function.function_name,
        function_version=version,
        invoked_function_arn=function.function_arn,
        memory_limit_in_mb=int(function.memory_size or 128),
        aws_request_id=request_id,
        log_group_name=function.logs_group_name,
        log_stream_name=stream,
        timeout_seconds=float(function.timeout or 3),
    )


def _environment_for(function: Any, context: LambdaContext, region: str) -> dict[str, str]:
    variables = {str(key): str(value) for key, value in (function.environment_vars or {}).items()}
    variables.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": context.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": context.function_version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(context.memory_limit_in_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
            "_HANDLER": str(function.handler or ""),
            # No X-Ray daemon here: the tracer would try to reach one over UDP.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    return variables


def load_handler(handler: str) -> Callable[[Any, Any], Any]:
    """Import ``module.path.function`` the way the Python Lambda runtime does."""
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise _HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{handler}'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _HandlerError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from error
    function = getattr(module, attribute, None)
    if not callable(function):
        raise _HandlerError(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
        )
    return function  # type: ignore[no-any-return]


def _error_payload(error_type: str, message: str, stack: list[str], request_id: str) -> str:
    return json.dumps(
        {
            "errorType": error_type,
            "errorMessage": message,
            "requestId": request_id,
            "stackTrace": stack,
        }
    )


def _run_handler(function: Any, event: Any, context: LambdaContext) -> tuple[str, str | None]:
    """Call the handler: (payload, errorType or None)."""
    started = time.monotonic()
    try:
        handler = load_handler(str(function.handler or ""))
        result = handler(event, context)
        if time.monotonic() - started > context.timeout_seconds:
            raise _HandlerError(
                lambda_errors.TIMED_OUT,
                lambda_errors.timed_out_message(context.aws_request_id, context.timeout_seconds),
            )
        try:
            return json.dumps(result), None
        except (TypeError, ValueError) as error:
            raise _HandlerError(
                "Runtime.MarshalError", f"Unable to marshal response: {error}"
            ) from error
    except _HandlerError as error:
        return _error_payload(
            error.error_type, str(error), [], context.aws_request_id
        ), error.error_type
    except SystemExit as error:  # the process exited: Lambda reports the exit, not a trace
        status = error.code if isinstance(error.code, int) else 1
        return _death_payload(lambda_errors.EXITED, context, f"exit status {status}")
    except MemoryError:
        return _death_payload(lambda_errors.OUT_OF_MEMORY, context, "signal: killed")
    except Exception as error:  # the handler's own failure, reported like the Lambda runtime
        # The first frame is this runtime calling the handler: not the user's code.
        stack = traceback.format_list(traceback.extract_tb(error.__traceback__)[1:])
        error_type = type(error).__name__
        return _error_payload(error_type, str(error), stack, context.aws_request_id), error_type


def _death_payload(
    error_type: str, context: LambdaContext, reason: str | None = None
) -> tuple[str, str]:
    """The answer for a function that died: Lambda's name and message, no stack trace."""
    if error_type == lambda_errors.TIMED_OUT:
        message = lambda_errors.timed_out_message(context.aws_request_id, context.timeout_seconds)
    else:
        default = "exit status 1" if error_type == lambda_errors.EXITED else "signal: killed"
        message = lambda_errors.exited_message(context.aws_request_id, reason or default)
    return _error_payload(error_type, message, [], context.aws_request_id), error_type


#: Lambda's limit on function names: CloudFormation cuts generated names to fit it.
_MAX_FUNCTION_NAME = 64


def answers_to(function: Any, target: str) -> bool:
    """Whether ``target`` names ``function`` (see :meth:`Faults.fail_invocation`)."""
    name = str(function.function_name)
    if target in (name, function.function_arn):
        return True
    if (function.tags or {}).get("aws:cloudformation:logical-id") == target:
        return True
    parts = name.split("-")
    if target in parts:
        return True
    # <stack>-<LogicalId>-<SUFFIX> at the length limit: the logical id was cut short.
    cut = parts[-2] if len(parts) >= 3 else ""
    return len(name) == _MAX_FUNCTION_NAME and len(cut) >= 8 and target.startswith(cut)


def stable_name(function: Any) -> str:
    """A name for the function that is the same in every deployment of its stack: its
    logical id (tagged, or inside a ``<stack>-<LogicalId>-<SUFFIX>`` name, perhaps cut
    short), or its name outside a stack."""
    tags = function.tags or {}
    if tags.get("aws:cloudformation:logical-id"):
        return str(tags["aws:cloudformation:logical-id"])
    name = str(function.function_name)
    parts = name.split("-")
    return parts[-2] if len(parts) >= 3 else name


def _random_invocation_fault(
    controls: Controls, function: Any, session_id: str | None
) -> InvocationFault | None:
    drawn = controls.random_faults.invocation_fault(stable_name(function), session_id)
    if drawn is None:
        return None
    error_type, runs_first = drawn
    return InvocationFault(
        function.function_name, error_type, "", remaining=1, crash_after=runs_first
    )


def invoke_in_process(
    controls: Controls, function: Any, body: Any, response_headers: dict[str, Any]
) -> bytes:
    """Run one invocation of ``function`` and answer like the Lambda Invoke API."""
    event = json.loads(body) if body else {}
    # Before its context exists (its timeout runs from then) and outside the lock.
    controls.faults.wait_at_gate(lambda target: answers_to(function, target))
    context = _context_for(function)
    session_id = session_of(event)
    fault: InvocationFault | None = controls.faults.take_invocation_fault(
        lambda target: answers_to(function, target), session_id
    ) or _random_invocation_fault(controls, function, session_id)
    with (
        _turn_at_the_lambda(),
        thread_environ(_environment_for(function, context, controls.region)),
        session_scope(session_id),
    ):
        if fault is not None and not fault.crash_after:
            payload, error_type = None, None
        else:
            principal = Principal("function", function.function_name, function.role)
            with acting_as(principal):
                payload, error_type = _run_handler(function, event, context)
    # Outside the invocation's scope: stopping the execution is not a call of the session's.
    controls.random_faults.after_invocation(lambda target: answers_to(function, target), session_id)
    if fault is not None and fault.message:
        payload = _error_payload(fault.error_type, fault.message, [], context.aws_request_id)
        error_type = fault.error_type
    elif fault is not None:  # a drawn death: Lambda's own message for it
        payload, error_type = _death_payload(fault.error_type, context)
    if error_type is None and payload is not None:
        payload = _edited(controls, function, payload, session_id)
    controls.invocations.append(Invocation(function.function_name, event, error_type or SUCCEEDED))
    if error_type is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
    return str(payload).encode("utf-8")


def _edited(controls: Controls, function: Any, payload: str, session_id: str | None) -> str:
    """The result as a test asked to change it (Faults.drop_result_field, inflate_result)."""
    edit = controls.faults.take_result_edit(lambda target: answers_to(function, target), session_id)
    result = json.loads(payload)
    if edit is None or not isinstance(result, dict):
        return payload
    return json.dumps(edit.apply(result))


@contextmanager
def _turn_at_the_lambda() -> Iterator[None]:
    """Run alone: wait for every earlier invocation (a wait no state's timeout counts)."""
    with waiting_for_turn():
        _INVOCATION_LOCK.acquire()
    try:
        yield
    finally:
        _INVOCATION_LOCK.release()


@contextmanager
def invocations_paused(timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """Wait for a running invocation to end, and start no other meanwhile; TimeoutError if
    one still runs ``timeout`` seconds on (reading moto's stores then would race it)."""
    if not _INVOCATION_LOCK.acquire(timeout=timeout):
        raise TimeoutError(f"a Lambda invocation still runs after {timeout:.0f} s")
    try:
        yield
    finally:
        _INVOCATION_LOCK.release()


def _function_invoke(original: Any) -> Any:
    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        controls = current()
        if controls is None:
            return original(self, body, request_headers, response_headers)
        return invoke_in_process(controls, self, body, response_headers)

    return invoke


def _simple_backend_invoke(original: Any) -> Any:
    from moto.awslambda.models import LambdaBackend

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        if current() is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        # The Docker-less backend short-circuits to an echo; go through the function instead.
        return LambdaBackend.invoke(self, function_name, qualifier, body, headers, response_headers)

    return invoke


def install() -> None:
    """Make Lambda invocations run their handlers in this process."""
    from moto.awslambda.models import LambdaFunction
    from moto.awslambda_simple.models import LambdaSimpleBackend

    replace_attribute(LambdaFunction, "invoke", _function_invoke)
    replace_attribute(LambdaSimpleBackend, "invoke", _simple_backend_invoke)
