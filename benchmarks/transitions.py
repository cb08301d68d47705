"""State transitions, counted from an execution's history the way AWS bills them.

Standard workflows are billed per state transition: every state entered counts, and every
Retry attempt counts again. In the history a retry shows as one more "scheduled" event
(``LambdaFunctionScheduled``, ``TaskScheduled``) inside the same state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from workflows.failure import failure_state_names

SETUP = "setup"
READY_WAIT = "ready wait"
HOLD = "hold"
TEARDOWN = "teardown"
UNCLASSIFIED = "unclassified"
PHASES = (SETUP, READY_WAIT, HOLD, TEARDOWN)

#: Which phase of a session each state of the session machine belongs to.
SESSION_PHASES: dict[str, str] = {
    "ValidateRequest": SETUP,
    "RecordValidationError": SETUP,
    "FindControlPlane": SETUP,
    "CreateSessionSecurityGroup": SETUP,
    "RunBastionTask": SETUP,
    "AuthorizeControlPlaneIngress": SETUP,
    "WaitForBastionAddress": READY_WAIT,
    "BastionReady": READY_WAIT,
    "BastionReadyIncomplete": READY_WAIT,
    "BastionNeverReady": READY_WAIT,
    "HoldSession": HOLD,
    "ExtendSession": HOLD,
    "TooManyExtensionRequests": HOLD,
    "MarkSessionExpired": HOLD,
    "StopBastionTask": TEARDOWN,
    "RevokeControlPlaneIngress": TEARDOWN,
    "DeleteSessionSecurityGroup": TEARDOWN,
    "DeleteHoldParameter": TEARDOWN,
    "IsTeardownComplete": TEARDOWN,
    **dict.fromkeys(failure_state_names("TeardownIncomplete"), TEARDOWN),
    "DidSessionFail": TEARDOWN,
    **dict.fromkeys(failure_state_names("SessionFailed"), TEARDOWN),
    "SessionEnded": TEARDOWN,
}

_SCHEDULED = frozenset({"LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"})


@dataclass(frozen=True)
class StateCount:
    """One state's share of an execution's transitions."""

    state: str
    entered: int
    retries: int

    @property
    def transitions(self) -> int:
        return self.entered + self.retries


@dataclass(frozen=True)
class TransitionCount:
    """An execution's transitions, per state in the order first entered."""

    states: tuple[StateCount, ...]

    @property
    def total(self) -> int:
        return sum(state.transitions for state in self.states)

    @property
    def retries(self) -> int:
        return sum(state.retries for state in self.states)

    def of_state(self, name: str) -> StateCount:
        for state in self.states:
            if state.state == name:
                return state
        return StateCount(name, 0, 0)

    def by_phase(self, phases: Mapping[str, str] = SESSION_PHASES) -> dict[str, StateCount]:
        """Entered, retries and transitions summed per phase (every phase present)."""
        entered: Counter[str] = Counter()
        retries: Counter[str] = Counter()
        for state in self.states:
            phase = phases.get(state.state, UNCLASSIFIED)
            entered[phase] += state.entered
            retries[phase] += state.retries
        names = [*PHASES, *(p for p in entered if p not in PHASES)]
        return {p: StateCount(p, entered[p], retries[p]) for p in names}


def count_transitions(events: Iterable[Mapping[str, Any]]) -> TransitionCount:
    """Count an execution history's transitions (events oldest first)."""
    entered: dict[str, int] = {}
    retries: dict[str, int] = {}
    current: str | None = None
    scheduled_in_current = 0
    for event in events:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            current = str(event["stateEnteredEventDetails"]["name"])
            entered[current] = entered.get(current, 0) + 1
            retries.setdefault(current, 0)
            scheduled_in_current = 0
        elif kind in _SCHEDULED and current is not None:
            scheduled_in_current += 1
            if scheduled_in_current > 1:
                retries[current] += 1
    return TransitionCount(
        tuple(StateCount(name, entered[name], retries[name]) for name in entered)
    )
