"""How a machine ends FAILED: the error's name, and its message as the cause.

A Lambda function's error reaches a Catch as ``{"Error": <errorType>, "Cause": <text>}``,
where the text is the function's whole error answer as JSON: ``errorMessage``, and a
``stackTrace`` naming the server's source files. Failing with that text as the cause
would show every reader of the execution (console, ``DescribeExecution``, the API, 90
days of history) the trace and the paths. So a machine fails through these states: a
function's error is parsed (``States.StringToJson``, only when the text is one, so the
parse cannot raise ``States.Runtime``) and only its ``errorMessage`` kept; any other cause
(a timeout, a Lambda service error) is kept as it is; no cause at all becomes a fixed one.
Every path the Fail state reads is written first, so failing never fails.

A machine may not raise a name the States Language reserves (``States.Timeout``,
``States.TaskFailed``, ...): the interpreter turns a Fail state's attempt into
``States.Runtime``, losing the name and the cause. A step that failed with one fails the
machine with the project's name for it (:data:`STEP_TIMED_OUT`, :data:`STEP_FAILED`), the
reserved name first in the cause.
"""

from __future__ import annotations

from workflows.asl import Choice, Fail, Pass, Rule, State, all_of, is_present

#: Where the message a machine fails with is kept (``{"message": ...}``).
FAILURE_CAUSE_PATH = "$.failureCause"
#: What a function's error answer looks like, as a Choice's ``StringMatches`` pattern.
FUNCTION_ERROR_PATTERN = '{*"errorMessage"*}'
#: The cause of an error that came without one.
NO_CAUSE = "the failing step gave no cause"
#: What a machine fails with when a step ran out of time (``States.Timeout``,
#: ``States.HeartbeatTimeout``).
STEP_TIMED_OUT = "StepTimedOut"
#: What a machine fails with when a step failed with any other reserved name.
STEP_FAILED = "StepFailed"
#: The names a step's error may carry that a machine may not raise again.
RESERVED_ERROR_PATTERN = "States.*"
TIMEOUT_ERRORS = ("States.Timeout", "States.HeartbeatTimeout")


def failure_state_names(name: str) -> tuple[str, ...]:
    """The names of the states :func:`fail_with_message` makes for the Fail state ``name``."""
    return (
        f"Read{name}Cause",
        f"Parse{name}Error",
        f"Keep{name}Message",
        f"Keep{name}Cause",
        f"Note{name}WithoutCause",
        f"Name{name}Error",
        f"{name}OnTimeout",
        f"{name}OnReservedError",
        name,
    )


def _string_matches(path: str, pattern: str) -> dict[str, object]:
    return {"Variable": path, "StringMatches": pattern}


def fail_with_message(
    name: str,
    *,
    comment: str,
    error_source: str,
    error: str | None = None,
) -> list[State]:
    """States ending the execution FAILED in the Fail state ``name``; enter at the first.

    The error is ``error``, or the one at ``{error_source}.Error``; the cause is the
    message of the one at ``{error_source}.Cause``.
    """
    cause = f"{error_source}.Cause"
    read, parse, keep_message, keep_cause, no_cause, name_error, on_timeout, on_reserved, _ = (
        failure_state_names(name)
    )
    # A fixed error needs no renaming: the Pass states go straight to the Fail state.
    fail_next = name if error is not None else name_error
    states: list[State] = [
        Choice(
            name=read,
            comment="A function's error carries its stack trace: keep only its message.",
            rules=(
                Rule(
                    all_of(is_present(cause), _string_matches(cause, FUNCTION_ERROR_PATTERN)),
                    next=parse,
                ),
                Rule(is_present(cause), next=keep_cause),
            ),
            default=no_cause,
        ),
        Pass(
            name=parse,
            comment="Read the function's error answer.",
            parameters={"error.$": f"States.StringToJson({cause})"},
            result_path=FAILURE_CAUSE_PATH,
            next=keep_message,
        ),
        Pass(
            name=keep_message,
            comment="Keep its message; drop its stack trace.",
            parameters={"message.$": f"{FAILURE_CAUSE_PATH}.error.errorMessage"},
            result_path=FAILURE_CAUSE_PATH,
            next=fail_next,
        ),
        Pass(
            name=keep_cause,
            comment="Not a function's error (a timeout, a Lambda service error): keep its cause.",
            parameters={"message.$": cause},
            result_path=FAILURE_CAUSE_PATH,
            next=fail_next,
        ),
        Pass(
            name=no_cause,
            comment="The error came without a cause.",
            result={"message": NO_CAUSE},
            result_path=FAILURE_CAUSE_PATH,
            next=fail_next,
        ),
        Fail(
            name=name,
            comment=comment,
            error=error,
            error_path=None if error is not None else f"{error_source}.Error",
            cause_path=f"{FAILURE_CAUSE_PATH}.message",
        ),
    ]
    if error is not None:
        return states
    return [*states, *_renaming_reserved_names(name, comment, error_source)]


def _renaming_reserved_names(name: str, comment: str, error_source: str) -> list[State]:
    """The Choice that keeps a reserved name from the Fail state ``name``, and the Fail
    states it picks instead."""
    *_, name_error, on_timeout, on_reserved, _ = failure_state_names(name)
    error = f"{error_source}.Error"
    reserved_cause = f"States.Format('{{}}: {{}}', {error}, {FAILURE_CAUSE_PATH}.message)"
    return [
        Choice(
            name=name_error,
            comment="A machine may not raise a reserved name (States.*): name it ours.",
            rules=(
                Rule(
                    all_of(
                        is_present(error),
                        {"Or": [{"Variable": error, "StringEquals": e} for e in TIMEOUT_ERRORS]},
                    ),
                    next=on_timeout,
                ),
                Rule(
                    all_of(is_present(error), _string_matches(error, RESERVED_ERROR_PATTERN)),
                    next=on_reserved,
                ),
            ),
            default=name,
        ),
        Fail(
            name=on_timeout,
            comment=f"{comment} A step ran out of time; its reserved name leads the cause.",
            error=STEP_TIMED_OUT,
            cause_path=reserved_cause,
        ),
        Fail(
            name=on_reserved,
            comment=f"{comment} A step failed with a reserved name; it leads the cause.",
            error=STEP_FAILED,
            cause_path=reserved_cause,
        ),
    ]
