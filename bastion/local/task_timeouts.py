"""A Task state's TimeoutSeconds counts its function's run, not its turn at the local Lambda.

The local AWS runs one Lambda invocation at a time (moto's stores are not safe to change
from two handlers at once); AWS runs them side by side. moto's interpreter waits a Task
state's TimeoutSeconds of real time for the state's work, so on a loaded machine an
invocation still queued behind others would time out without having started, failing a
session AWS would not fail. Here the time a state's invocation spends queued is added to
its timeout; a function that runs past the timeout still times out as on AWS.

moto runs a state's work on a thread it starts right after creating the event it waits
on (``ExecutionState._evaluate_with_timeout``). The event and the thread made there share
one :class:`TaskClock`: the thread makes it current for the work it runs, the Lambda
runtime records on it the time it waits for its turn (:func:`waiting_for_turn`), and the
event's wait extends its timeout by that time.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bastion.local.active import current
from bastion.local.patching import replace_attribute

_local = threading.local()


class TaskClock:
    """How long one state's work has waited for its turn at the local Lambda."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued_seconds = 0.0
        self._queued_since: float | None = None

    def start_waiting(self) -> None:
        with self._lock:
            if self._queued_since is None:
                self._queued_since = time.monotonic()

    def stop_waiting(self) -> None:
        with self._lock:
            if self._queued_since is not None:
                self._queued_seconds += time.monotonic() - self._queued_since
                self._queued_since = None

    def waited(self) -> tuple[float, bool]:
        """(seconds waited so far, whether it waits now)."""
        with self._lock:
            ongoing = 0.0 if self._queued_since is None else time.monotonic() - self._queued_since
            return self._queued_seconds + ongoing, self._queued_since is not None


@contextmanager
def waiting_for_turn() -> Iterator[None]:
    """Around the Lambda runtime's wait for its turn: the time counts for no state's timeout."""
    clock: TaskClock | None = getattr(_local, "clock", None)
    if clock is None:
        yield
        return
    clock.start_waiting()
    try:
        yield
    finally:
        clock.stop_waiting()


class _ClockedEvent(threading.Event):
    """The event a state's timeout waits on; its wait does not count the queued time."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = TaskClock()
        # The thread moto starts next, on this thread, takes this clock.
        _local.next_clock = self.clock

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None or current() is None:
            return super().wait(timeout)
        deadline = time.monotonic() + timeout
        while True:
            waited, waiting = self.clock.waited()
            remaining = deadline + waited - time.monotonic()
            if remaining <= 0 and not waiting:
                return self.is_set()
            if super().wait(max(remaining, 0.05)):
                return True


class _ClockedThread(threading.Thread):
    """The thread a state's work runs on; its clock is current while it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock: TaskClock | None = getattr(_local, "next_clock", None)
        _local.next_clock = None

    def run(self) -> None:
        _local.clock = self.clock
        super().run()


def install() -> None:
    """Give the interpreter's state timeouts the clocked event and thread."""
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    clocked_threading = types.ModuleType("threading", "threading, with the clocked Event")
    clocked_threading.__dict__.update(vars(threading))
    clocked_threading.Event = _ClockedEvent  # type: ignore[attr-defined]
    replace_attribute(execute_state, "threading", lambda _original: clocked_threading)
    replace_attribute(execute_state, "Thread", lambda _original: _ClockedThread)
