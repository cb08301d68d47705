"""Fault injection: make a Lambda invocation or an AWS API call fail on purpose.

Tests use this to drive a workflow down its error paths. A fault is consumed each time it
fires; ``times=None`` keeps it firing until :meth:`Faults.clear`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion.local.waits import WAIT_SECONDS


@dataclass
class InvocationFault:
    """A Lambda invocation that answers with an error instead of (or after) its handler."""

    function_name: str
    error_type: str
    message: str
    remaining: int | None
    crash_after: bool
    passes_left: int = 0
    session_id: str | None = None


@dataclass
class InvocationGate:
    """Invocations of a function that wait until a test opens the gate."""

    function_name: str
    #: Invocations that pass before the gate closes on the next one.
    passes_left: int
    #: Set when an invocation waits at the gate; the test sets ``opened`` to let it on.
    reached: threading.Event
    opened: threading.Event


@dataclass
class ResultEdit:
    """A change to the result of a function's successful invocations: a field removed,
    or (with ``padding``) a field of that many characters added."""

    function_name: str
    field: str
    remaining: int | None
    padding: int = 0
    session_id: str | None = None
    passes_left: int = 0

    def apply(self, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` changed as this edit says."""
        if self.padding:
            return {**result, self.field: "x" * self.padding}
        return {key: value for key, value in result.items() if key != self.field}


@dataclass
class AwsCallFault:
    """An AWS API action that answers with an error response."""

    service: str
    action: str
    code: str
    message: str
    remaining: int | None
    passes_left: int = 0


class Faults:
    """The faults armed in one local AWS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._invocation_faults: list[InvocationFault] = []
        self._call_faults: list[AwsCallFault] = []
        self._gates: list[InvocationGate] = []
        self._result_edits: list[ResultEdit] = []

    def fail_invocation(
        self,
        function_name: str,
        error_type: str = "InjectedFault",
        message: str = "injected failure",
        *,
        times: int | None = 1,
        crash_after: bool = False,
        after: int = 0,
        session_id: str | None = None,
    ) -> None:
        """Make the next ``times`` invocations of ``function_name`` fail with ``error_type``.

        ``function_name`` matches the function's name or ARN, its CloudFormation logical id
        (tag ``aws:cloudformation:logical-id``), or the logical id inside a CloudFormation
        style name ``<stack>-<LogicalId>-<SUFFIX>`` (even when cut short to 64 characters),
        so ``CreateSessionSecurityGroupFunction`` also matches a function named
        ``app-CreateSessionSecurityGroupFunction-1X``.
        By default the handler is not called; with ``crash_after=True`` it runs first (its
        AWS calls take effect) and the invocation still fails, like a crash just before return.
        The first ``after`` invocations succeed before the fault fires. With ``session_id``
        only invocations for that session (the event's ``sessionId``) count.
        """
        _check_times(times, after)
        fault = InvocationFault(
            function_name, error_type, message, times, crash_after, after, session_id
        )
        with self._lock:
            self._invocation_faults.append(fault)

    def fail_aws_call(
        self,
        service: str,
        action: str,
        code: str,
        message: str = "injected failure",
        *,
        times: int | None = 1,
        after: int = 0,
    ) -> None:
        """Make the next ``times`` calls of ``service``'s ``action`` answer with error ``code``.

        ``service`` is the boto3 service name (``ec2``, ``ecs``, ``lambda``...), ``action`` the
        API operation name (``CreateSecurityGroup``). The caller gets a ``ClientError`` whose
        code is ``code``, whoever calls: a task handler, the workflow, or the test itself.
        The first ``after`` calls succeed before the fault fires.
        """
        _check_times(times, after)
        fault = AwsCallFault(service.lower(), action, code, message, times, after)
        with self._lock:
            self._call_faults.append(fault)

    def drop_result_field(
        self,
        function_name: str,
        field: str,
        *,
        times: int | None = 1,
        session_id: str | None = None,
    ) -> None:
        """Remove ``field`` from the result of the next ``times`` successful invocations of
        ``function_name`` (matched, and scoped to ``session_id``, as in
        :meth:`fail_invocation`): a function that answers without something a later state
        reads."""
        _check_times(times, 0)
        edit = ResultEdit(function_name, field, times, session_id=session_id)
        with self._lock:
            self._result_edits.append(edit)

    def inflate_result(
        self,
        function_name: str,
        characters: int,
        *,
        times: int | None = 1,
        session_id: str | None = None,
    ) -> None:
        """Add a field ``padding`` of ``characters`` characters to the result of the next
        ``times`` successful invocations of ``function_name`` (matched, and scoped to
        ``session_id``, as in :meth:`fail_invocation`): a function that answers more than a
        state may hold (256 KiB on AWS: ``States.DataLimitExceeded``)."""
        _check_times(times, 0)
        if characters < 1:
            raise ValueError(f"characters must be at least 1, got {characters}")
        edit = ResultEdit(function_name, "padding", times, characters, session_id)
        with self._lock:
            self._result_edits.append(edit)

    def take_result_edit(
        self, answers_to: Callable[[str], bool], session_id: str | None = None
    ) -> ResultEdit | None:
        """The first result edit whose function name ``answers_to`` accepts and whose
        session, if it names one, is ``session_id`` (one firing)."""
        with self._lock:
            for edit in self._result_edits:
                if answers_to(edit.function_name) and edit.session_id in (None, session_id):
                    return _fire(self._result_edits, edit)  # type: ignore[no-any-return]
        return None

    def gate_invocation(self, function_name: str, *, after: int = 0) -> InvocationGate:
        """Make the invocation of ``function_name`` after the first ``after`` wait, before
        its handler runs, until the test sets the returned gate's ``opened`` (once).
        ``function_name`` matches as in :meth:`fail_invocation`."""
        _check_times(1, after)
        gate = InvocationGate(function_name, after, threading.Event(), threading.Event())
        with self._lock:
            self._gates.append(gate)
        return gate

    def wait_at_gate(
        self, answers_to: Callable[[str], bool], timeout: float = WAIT_SECONDS
    ) -> None:
        """Called for each invocation: wait here if a gate closes on it."""
        with self._lock:
            gate = next((g for g in self._gates if answers_to(g.function_name)), None)
            if gate is None:
                return
            if gate.passes_left > 0:
                gate.passes_left -= 1
                return
            self._gates.remove(gate)
        gate.reached.set()
        if not gate.opened.wait(timeout):
            raise TimeoutError(f"the gate on {gate.function_name} was never opened")

    def clear(self) -> None:
        """Disarm every fault (and open every gate)."""
        with self._lock:
            self._invocation_faults.clear()
            self._call_faults.clear()
            self._result_edits.clear()
            for gate in self._gates:
                gate.opened.set()
            self._gates.clear()

    def take_invocation_fault(
        self, answers_to: Callable[[str], bool], session_id: str | None = None
    ) -> InvocationFault | None:
        """The first armed fault whose function name ``answers_to`` accepts and whose
        session, if it names one, is ``session_id`` (one firing)."""
        with self._lock:
            for fault in self._invocation_faults:
                if answers_to(fault.function_name) and fault.session_id in (None, session_id):
                    return _fire(self._invocation_faults, fault)
        return None

    def take_aws_call_fault(self, service: str, action: str) -> AwsCallFault | None:
        """The first armed fault for ``service``/``action``, consuming one firing."""
        with self._lock:
            for fault in self._call_faults:
                if fault.service == service.lower() and fault.action == action:
                    return _fire(self._call_faults, fault)
        return None


def _check_times(times: int | None, after: int) -> None:
    if times is not None and times < 1:
        raise ValueError(f"times must be at least 1 (or None for always), got {times}")
    if after < 0:
        raise ValueError(f"after must not be negative, got {after}")


def _fire(armed: list[Any], fault: Any) -> Any:
    """The fault if it fires on this call (consuming one firing), None if it lets it pass."""
    if fault.passes_left > 0:
        fault.passes_left -= 1
        return None
    if fault.remaining is not None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            armed.remove(fault)
    return fault
