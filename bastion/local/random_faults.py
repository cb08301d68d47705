"""Seeded random faults: AWS misbehaving at a fault model's rates, reproducibly.

Where :mod:`bastion.local.faults` arms one fault for a test, this draws faults at random
for a whole campaign: throttling, server errors and added latency on any AWS action;
Lambda invocations that crash after the function's AWS calls took effect
(``Runtime.ExitError``), run out of memory (``Runtime.OutOfMemory``) or time out before it
acted (``Sandbox.Timedout``), named as Lambda names them (:mod:`bastion.local.lambda_errors`);
and per session, RunTask refusing capacity, a task that stops before it runs, a network
interface released late, and the execution stopped after a given step.

Every decision is a pure function of ``(seed, session, what, n)``: the session a call is
made for (the ``sessionId`` of the invocation running in the thread, or of an Invoke
request), what is called, and how many times that session has called it so far. So a
session meets the same faults whatever the other sessions do at the same time, and a seed
replays its faults. Calls made for no session (a test's own calls, the deployment, the
sweeper's scan) are never faulted.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bastion.local import lambda_errors

_scope = threading.local()

#: Throttling error codes by service (the code AWS answers with), and their HTTP status.
_THROTTLING = {"ec2": ("RequestLimitExceeded", 503), "lambda": ("TooManyRequestsException", 429)}
_DEFAULT_THROTTLING = ("ThrottlingException", 400)
#: Server-side errors by service.
_SERVER_ERROR = {
    "ec2": ("InternalError", 500),
    "ecs": ("ServerException", 500),
    "lambda": ("ServiceException", 500),
    "ssm": ("InternalServerError", 500),
}
_DEFAULT_SERVER_ERROR = ("ServiceUnavailable", 503)

# The kinds of fault, as the campaign's table names them.
THROTTLED = "throttled"
SERVER_ERROR = "server error (5xx)"
SLOW = "added latency"
CRASHED_AFTER_CALL = "function crashed after its AWS calls"
OUT_OF_MEMORY = "function ran out of memory"
TIMED_OUT = "function timed out"
CAPACITY_REFUSED = "RunTask capacity refused"
STOPPED_BEFORE_RUNNING = "task stopped before RUNNING"
ENI_RELEASED_LATE = "ENI released late"
ABORTED = "execution aborted"


@contextmanager
def session_scope(session_id: str | None) -> Iterator[None]:
    """Calls this thread makes meanwhile are made for ``session_id``."""
    previous = getattr(_scope, "session_id", None)
    _scope.session_id = session_id
    try:
        yield
    finally:
        _scope.session_id = previous


def current_scope() -> str | None:
    """The session the current thread's calls are made for, if any."""
    return getattr(_scope, "session_id", None)


def session_of(payload: Any) -> str | None:
    """The ``sessionId`` of an event or request body (bytes, JSON text or a dict), if any."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload or b"{}")
        except ValueError:
            return None
    value = payload.get("sessionId") if isinstance(payload, dict) else None
    return value if isinstance(value, str) and value else None


#: Slack on "rates add up to at most 1": 0.33 + 0.56 + 0.11 is 1.0000000000000002 in floats.
_SUM_TOLERANCE = 1e-9


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value}")


@dataclass(frozen=True)
class CallRates:
    """How often one AWS action misbehaves (each a probability per call)."""

    throttled: float = 0.0
    server_error: float = 0.0
    slow: float = 0.0

    def __post_init__(self) -> None:
        for name in ("throttled", "server_error", "slow"):
            _check_probability(name, getattr(self, name))
        if self.throttled + self.server_error + self.slow > 1.0 + _SUM_TOLERANCE:
            raise ValueError("the rates of one action must not add up to more than 1")


@dataclass(frozen=True)
class InvocationRates:
    """How often a Lambda invocation dies (each a probability per invocation)."""

    #: The handler runs, its AWS calls take effect, then the invocation fails.
    crashed_after_call: float = 0.0
    #: The function times out before it acted.
    timed_out: float = 0.0
    #: The handler runs, its AWS calls take effect, then it runs out of memory.
    out_of_memory: float = 0.0

    def __post_init__(self) -> None:
        for name in ("crashed_after_call", "timed_out", "out_of_memory"):
            _check_probability(name, getattr(self, name))
        if self.crashed_after_call + self.timed_out + self.out_of_memory > 1.0 + _SUM_TOLERANCE:
            raise ValueError("the invocation rates must not add up to more than 1")


@dataclass(frozen=True)
class FaultModel:
    """The rates of a campaign: per AWS action, and per Lambda invocation.

    ``calls`` maps ``service:Action`` (``ec2:CreateSecurityGroup``), ``service:*`` or
    ``*`` to rates; the most specific key wins. Lambda's Invoke is ``lambda:Invoke``: its
    throttling is ``TooManyRequestsException`` and its server error ``ServiceException``.
    """

    calls: Mapping[str, CallRates] = field(default_factory=dict)
    invocations: InvocationRates = InvocationRates()
    #: The latency a ``slow`` call gets (real seconds: it reorders concurrent work).
    latency_seconds: float = 0.02

    def rates_for(self, service: str, action: str) -> CallRates:
        for key in (f"{service}:{action}", f"{service}:*", "*"):
            if key in self.calls:
                return self.calls[key]
        return CallRates()


@dataclass(frozen=True)
class SessionFaults:
    """What happens to one session beyond the per-call draws."""

    #: Every RunTask of the session answers "no capacity" (Fargate stays short while the
    #: session asks, so a retry after a crash is refused too).
    capacity_refused: bool = False
    #: The stop reason of a task that stops before it runs (CannotPullContainerError...).
    stops_before_running: str | None = None
    #: Workflow seconds after the task stopped during which its network interface is still
    #: attached (DeleteSecurityGroup meets DependencyViolation until then).
    eni_released_after_seconds: float = 0.0
    #: The logical id of the function after whose first invocation the execution is stopped.
    abort_after: str | None = None


@dataclass(frozen=True)
class InjectedFault:
    """One fault that fired."""

    kind: str
    session_id: str
    #: ``service:Action``, or ``invoke:<logical id>`` for a function's invocation.
    target: str
    #: How many times the session had made this call before (0: the first call).
    call_number: int


@dataclass(frozen=True)
class CallFault:
    """An AWS call's answer: an error (code and HTTP status), or latency before the answer."""

    kind: str
    code: str | None = None
    status: int = 400
    latency_seconds: float = 0.0


def _uniform(seed: int, *parts: object) -> float:
    """A number in [0, 1) that depends only on ``seed`` and ``parts``."""
    text = "|".join(str(part) for part in (seed, *parts))
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class RandomFaults:
    """The seeded campaign of faults of one local AWS (disarmed until :meth:`arm`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seed = 0
        self._model: FaultModel | None = None
        self._sessions: dict[str, SessionFaults] = {}
        self._calls: Counter[tuple[str, str]] = Counter()
        self._injected: list[InjectedFault] = []
        self._fired_once: set[str] = set()
        self._refused: Counter[str] = Counter()
        self._abort: Callable[[str], None] | None = None

    def arm(
        self, seed: int, model: FaultModel, *, abort: Callable[[str], None] | None = None
    ) -> None:
        """Start drawing faults from ``model`` with ``seed``; ``abort`` stops a session's
        execution (needed for :attr:`SessionFaults.abort_after`)."""
        with self._lock:
            self._seed, self._model, self._abort = seed, model, abort

    def disarm(self) -> None:
        """Stop injecting (what was injected stays recorded)."""
        with self._lock:
            self._model = None

    def plan_session(self, session_id: str, faults: SessionFaults) -> None:
        """What happens to ``session_id`` beyond the per-call draws."""
        if faults.abort_after is not None and self._abort is None:
            raise ValueError("arm the faults with an abort callback to abort sessions")
        with self._lock:
            self._sessions[session_id] = faults

    @property
    def injected(self) -> list[InjectedFault]:
        """Every fault that fired, in firing order."""
        with self._lock:
            return list(self._injected)

    def counts(self) -> Counter[str]:
        """How many faults of each kind fired."""
        return Counter(fault.kind for fault in self.injected)

    def calls_drawn(self) -> Counter[tuple[str, str]]:
        """How many draws each (session, call) had: the calls a replay can be compared on."""
        with self._lock:
            return Counter(self._calls)

    # --- the hooks the patches call ---------------------------------------------------------

    def _draw(self, session_id: str, target: str) -> tuple[float, int]:
        with self._lock:
            number = self._calls[(session_id, target)]
            self._calls[(session_id, target)] += 1
        return _uniform(self._seed, session_id, target, number), number

    def _record(self, kind: str, session_id: str, target: str, number: int) -> None:
        with self._lock:
            self._injected.append(InjectedFault(kind, session_id, target, number))

    def call_fault(self, service: str, action: str, session_id: str | None) -> CallFault | None:
        """The fault, if any, of this call of ``service``'s ``action`` for ``session_id``."""
        model = self._model
        if model is None or session_id is None:
            return None
        rates = model.rates_for(service, action)
        if not (rates.throttled or rates.server_error or rates.slow):
            return None
        target = f"{service}:{action}"
        draw, number = self._draw(session_id, target)
        fault: CallFault | None = None
        if draw < rates.throttled:
            code, status = _THROTTLING.get(service, _DEFAULT_THROTTLING)
            fault = CallFault(THROTTLED, code, status)
        elif draw < rates.throttled + rates.server_error:
            code, status = _SERVER_ERROR.get(service, _DEFAULT_SERVER_ERROR)
            fault = CallFault(SERVER_ERROR, code, status)
        elif draw < rates.throttled + rates.server_error + rates.slow:
            fault = CallFault(SLOW, latency_seconds=model.latency_seconds)
        if fault is not None:
            self._record(fault.kind, session_id, target, number)
        return fault

    def invocation_fault(self, function_id: str, session_id: str | None) -> tuple[str, bool] | None:
        """(Lambda's error type, whether the handler runs first) if this invocation is to die."""
        model = self._model
        if model is None or session_id is None:
            return None
        rates = model.invocations
        if not (rates.crashed_after_call or rates.timed_out or rates.out_of_memory):
            return None
        target = f"invoke:{function_id}"
        draw, number = self._draw(session_id, target)
        # In this order, so that a model without out-of-memory draws as it always did.
        deaths = (
            (rates.crashed_after_call, CRASHED_AFTER_CALL, lambda_errors.EXITED, True),
            (rates.timed_out, TIMED_OUT, lambda_errors.TIMED_OUT, False),
            (rates.out_of_memory, OUT_OF_MEMORY, lambda_errors.OUT_OF_MEMORY, True),
        )
        bound = 0.0
        for rate, kind, error_type, runs_first in deaths:
            bound += rate
            if draw < bound:
                self._record(kind, session_id, target, number)
                return error_type, runs_first
        return None

    def _session_fault(self, session_id: str | None) -> SessionFaults | None:
        if self._model is None or session_id is None:
            return None
        with self._lock:
            return self._sessions.get(session_id)

    def capacity_refusal(self, reason: str) -> str | None:
        """``reason`` if the current session's RunTask is to be refused (every one)."""
        session_id = current_scope()
        planned = self._session_fault(session_id)
        if planned is None or not planned.capacity_refused or session_id is None:
            return None
        with self._lock:
            number = self._refused[session_id]
            self._refused[session_id] += 1
        self._record(CAPACITY_REFUSED, session_id, "ecs:RunTask", number)
        return reason

    def start_failure(self) -> str | None:
        """The stop reason of the current session's first task, if it is not to run."""
        session_id = current_scope()
        planned = self._session_fault(session_id)
        if planned is None or planned.stops_before_running is None or session_id is None:
            return None
        if not self._once(session_id, "start"):
            return None
        self._record(STOPPED_BEFORE_RUNNING, session_id, "ecs:RunTask", 0)
        return planned.stops_before_running

    def eni_released_after(self) -> float:
        """Workflow seconds the stopping task's interface outlives it (0: at once)."""
        session_id = current_scope()
        planned = self._session_fault(session_id)
        if planned is None or not planned.eni_released_after_seconds or session_id is None:
            return 0.0
        self._record(ENI_RELEASED_LATE, session_id, "ec2:DeleteSecurityGroup", 0)
        return planned.eni_released_after_seconds

    def after_invocation(self, answers_to: Callable[[str], bool], session_id: str | None) -> None:
        """Stop the session's execution if it is to be aborted after this function
        (``answers_to`` says whether a function name or logical id names the function)."""
        planned = self._session_fault(session_id)
        if planned is None or planned.abort_after is None or session_id is None:
            return
        if not answers_to(planned.abort_after) or self._abort is None:
            return
        if not self._once(session_id, "abort"):
            return
        self._record(ABORTED, session_id, planned.abort_after, 0)
        self._abort(session_id)

    def _once(self, session_id: str, what: str) -> bool:
        with self._lock:
            key = f"{session_id}|{what}"
            if key in self._fired_once:
                return False
            self._fired_once.add(key)
            return True
