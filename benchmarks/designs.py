"""What one session costs in transitions, invocations and API calls, in each ready design.

The signalled design's figures are a session measured whole on the local AWS. The polled
design it replaced (WaitForBastionAddress retried every 3 s until the task ran; the session
group's delete retried every 5 s, ×1.5, up to 60 s) no longer runs: its figures are the
same measured session with the ready wait and the ENI wait replaced by the polled design's,
attempt by attempt. Everything else in the session is the same in both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.asl import RetryPolicy
from benchmarks.calls import CLOUDWATCH_LOGS, STEP_FUNCTIONS, ApiCall
from benchmarks.transitions import READY_WAIT, TEARDOWN, TransitionCount

WAIT_FUNCTION = "WaitForBastionAddress"
SIGNAL_FUNCTION = "SignalBastionReady"
DELETE_GROUP_FUNCTION = "DeleteSessionSecurityGroup"
INVOKE = "lambda:Invoke"

#: The polled design's ready wait: WaitForBastionAddress retried on BastionNotReady every
#: 3 s, 100 times.
POLLED_DESIGN = RetryPolicy(("BastionNotReady",), 3.0, 100, backoff_rate=1.0)
#: The polled design's teardown: DeleteSessionSecurityGroup retried on
#: SessionSecurityGroupInUse after 5 s, each wait ×1.5 up to 60 s, 20 times.
POLLED_DESIGN_TEARDOWN = RetryPolicy(
    ("SessionSecurityGroupInUse",), 5.0, 20, backoff_rate=1.5, max_delay_seconds=60.0
)
#: The polled design's calls: each poll described the task; the poll that found it running
#: also read its network interface.
POLLED_DESIGN_CALLS_PER_POLL = ("ecs:DescribeTasks",)
POLLED_DESIGN_CALLS_WHEN_READY = ("ec2:DescribeNetworkInterfaces",)


@dataclass(frozen=True)
class SessionCounts:
    """One session's transitions (per phase), invocations (per function) and API calls."""

    transitions_by_phase: Mapping[str, int]
    invocations: Counter[str]
    calls: Counter[ApiCall]

    @property
    def transitions(self) -> int:
        return sum(self.transitions_by_phase.values())

    @property
    def invocation_total(self) -> int:
        return sum(self.invocations.values())

    @property
    def call_total(self) -> int:
        return sum(self.calls.values())


def measured_counts(
    transitions: TransitionCount, invocations: Counter[str], calls: Counter[ApiCall]
) -> SessionCounts:
    """A measured session's counts."""
    by_phase = {phase: count.transitions for phase, count in transitions.by_phase().items()}
    return SessionCounts(by_phase, Counter(invocations), Counter(calls))


def polled_counts(
    measured: SessionCounts,
    *,
    wait_transitions: int,
    delete_transitions: int,
    polls: int,
    delete_attempts: int,
) -> SessionCounts:
    """``measured`` (whose ready wait took ``wait_transitions`` and whose group delete
    ``delete_transitions``) as the polled design would have run it: ``polls`` polls, each
    an invocation and the calls of :data:`POLLED_DESIGN_CALLS_PER_POLL`, no signal, and
    ``delete_attempts`` deletes, each with the calls one measured delete made."""
    by_phase = dict(measured.transitions_by_phase)
    by_phase[READY_WAIT] = by_phase.get(READY_WAIT, 0) - wait_transitions + polls
    by_phase[TEARDOWN] = by_phase.get(TEARDOWN, 0) - delete_transitions + delete_attempts

    invocations = Counter(measured.invocations)
    measured_waits = invocations.pop(WAIT_FUNCTION, 0)
    measured_deletes = invocations.pop(DELETE_GROUP_FUNCTION, 0)
    invocations.pop(SIGNAL_FUNCTION, None)
    invocations[WAIT_FUNCTION] = polls
    invocations[DELETE_GROUP_FUNCTION] = delete_attempts

    calls: Counter[ApiCall] = Counter()
    for call, count in measured.calls.items():
        if call.caller in (WAIT_FUNCTION, SIGNAL_FUNCTION, CLOUDWATCH_LOGS):
            continue
        if call.caller == DELETE_GROUP_FUNCTION:
            count = count * delete_attempts // max(measured_deletes, 1)
        elif call == ApiCall(STEP_FUNCTIONS, INVOKE):
            count += polls + delete_attempts - measured_waits - measured_deletes
        calls[call] = count
    for action in POLLED_DESIGN_CALLS_PER_POLL:
        calls[ApiCall(WAIT_FUNCTION, action)] += polls
    for action in POLLED_DESIGN_CALLS_WHEN_READY:
        calls[ApiCall(WAIT_FUNCTION, action)] += 1
    return SessionCounts(by_phase, invocations, +calls)
