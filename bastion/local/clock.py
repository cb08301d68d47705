"""Fast time for the Step Functions interpreter.

moto's interpreter really waits: Retry intervals (``time.sleep``), Wait states, and the
TimeoutSeconds / HeartbeatSeconds of ``.waitForTaskToken`` tasks. So does the AWS SDK
between its own retries of a throttled or failed call. Here every such wait is divided by
the running local AWS's ``time_scale``, so a workflow that waits minutes on AWS finishes in
seconds locally while keeping its proportions.
"""

from __future__ import annotations

import time
from typing import Any

from bastion.local.active import current
from bastion.local.patching import replace_attribute


def time_scale() -> float:
    """How many times faster than real time the interpreter's waits run now."""
    controls = current()
    return controls.time_scale if controls else 1.0


def scaled(seconds: float | None) -> float | None:
    """``seconds`` of workflow time as real seconds (None stays None: wait forever)."""
    if seconds is None:
        return None
    return max(float(seconds), 0.0) / time_scale()


class _ScaledTime:
    """Stands in for the ``time`` module inside a retrier: only ``sleep`` is scaled."""

    def sleep(self, seconds: float) -> None:
        time.sleep(scaled(seconds) or 0.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _wait_state_interval(original: Any) -> Any:
    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if current() is None:
            return original(self, env, wait_seconds)
        # Same contract as moto's: wait, but return early when the execution stops.
        deadline = time.monotonic() + (scaled(wait_seconds) or 0.0)
        while env.is_running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            env.program_state_event.wait(remaining)
        return None

    return wait_interval


#: The longest a task token's wait sleeps before it looks at the time scale again, so that
#: a test that speeds time up mid-wait (a session's hold) is not held to the old pace.
RESCALE_SLICE_SECONDS = 0.25


def _callback_wait(original: Any) -> Any:
    def wait(self: Any, timeout: float | None = None) -> Any:
        if current() is None or timeout is None:
            return original(self, timeout=timeout)
        left = max(float(timeout), 0.0)  # workflow seconds still to wait
        while True:
            scale = time_scale()
            real = left / scale
            begun = time.monotonic()
            outcome = original(self, timeout=min(real, RESCALE_SLICE_SECONDS))
            # Answered, interrupted (the execution stopped), or the whole wait is over.
            if outcome is not None or self._notify_event.is_set() or real <= RESCALE_SLICE_SECONDS:
                return outcome
            left -= (time.monotonic() - begun) * scale

    return wait


def _heartbeat_wait(original: Any) -> Any:
    def clear_and_wait(self: Any) -> bool:
        if current() is None:
            return bool(original(self))
        with self._mutex:
            if self._next_heartbeat_event.is_set():
                self._next_heartbeat_event.clear()
                return True
        return self._next_heartbeat_event.wait(timeout=scaled(self._heartbeat_seconds))

    return clear_and_wait


def install() -> None:
    """Scale the interpreter's retry sleeps, Wait states and callback timeouts, and the
    SDK's sleeps between retries."""
    import botocore.endpoint
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackEndpoint,
        HeartbeatEndpoint,
    )

    # The retrier calls time.sleep through its module's ``time`` name: swap that name.
    replace_attribute(retrier_decl, "time", lambda _original: _ScaledTime())
    # botocore's endpoint sleeps between attempts through its module's ``time`` name too.
    replace_attribute(botocore.endpoint, "time", lambda _original: _ScaledTime())
    replace_attribute(WaitFunction, "_wait_interval", _wait_state_interval)
    replace_attribute(CallbackEndpoint, "wait", _callback_wait)
    replace_attribute(HeartbeatEndpoint, "clear_and_wait", _heartbeat_wait)
