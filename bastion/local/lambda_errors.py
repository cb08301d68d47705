"""How Lambda names an invocation that failed, and the messages it gives.

Sources (AWS documentation):

* Lambda developer guide, "Troubleshoot invocation issues in Lambda"
  (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html): a function
  that runs past its timeout reports ``Sandbox.Timedout``; a runtime process that exits or
  is killed reports ``Runtime.ExitError`` ("Runtime exited with error: ..."), one that runs
  out of memory ``Runtime.OutOfMemory``.
* Step Functions developer guide, "Handle Lambda service exceptions"
  (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html):
  the Lambda service's own errors reach a state as ``Lambda.<code>``
  (``Lambda.ServiceException``...), and unhandled errors were named ``Lambda.Unknown``.

For a Task whose Resource is a function ARN, Step Functions takes the ``errorType`` of the
function's error answer as the state's error name.
"""

from __future__ import annotations

#: The function ran past its configured timeout and was stopped.
TIMED_OUT = "Sandbox.Timedout"
#: The function's runtime process exited (or was killed) before it answered.
EXITED = "Runtime.ExitError"
#: The function ran out of its configured memory and was killed.
OUT_OF_MEMORY = "Runtime.OutOfMemory"
#: The name Step Functions gave any unhandled function error before the names above.
UNKNOWN = "Lambda.Unknown"

#: Every name of a function that died without answering.
FUNCTION_DIED = (TIMED_OUT, EXITED, OUT_OF_MEMORY, UNKNOWN)


def timed_out_message(request_id: str, seconds: float) -> str:
    """What Lambda says of an invocation stopped at its timeout."""
    return f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds"


def exited_message(request_id: str, reason: str) -> str:
    """What Lambda says of a runtime process that exited (``reason``: ``exit status 1``,
    ``signal: killed``...)."""
    return f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
