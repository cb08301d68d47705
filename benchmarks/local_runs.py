"""Whole sessions on the embedded local AWS, recorded for the benchmark.

The stack is deployed from template.yaml into a :class:`bastion.local.LocalAws`, a private
cluster is seeded, and sessions run through the rendered session state machine with the
project's real handlers. ``time_scale`` makes an 8-hour hold take seconds; the number of
state transitions does not depend on it, as long as the ready wait runs slowly enough to
keep its order of events (see :func:`run_session`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bastion.local.keys import throwaway_public_key
from benchmarks.calls import CallTally, tally
from benchmarks.transitions import TransitionCount, count_transitions
from tasks.common import session_states
from tasks.common.log_subscription import LogSubscriptionError, decode_subscription_event

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
IMAGE = "public.ecr.aws/fargate-bastion/bastion:bench"
REQUESTER = "arn:aws:iam::123456789012:user/bench"
CIDR = "203.0.113.7/32"
#: The local AWS's own defaults for the task lifecycle and the ENI release.
LOCAL_DESCRIBES_UNTIL_RUNNING = 2
LOCAL_SECONDS_UNTIL_RUNNING = 30.0
LOCAL_ENI_DEPENDENCY_VIOLATIONS = 0
#: DescribeTasks calls that start a task, for a session measured whole: never, so the task
#: starts by its own clock, as on Fargate, whoever looks at it.
NEVER_BY_DESCRIBES = 1_000_000_000
#: The function the bastion log group's subscription filter delivers the started line to.
SIGNAL_FUNCTION = "SignalBastionReady"


def _public_key() -> str:
    return throwaway_public_key("bench@fargate-bastion")


@dataclass
class LocalStack:
    """A running local AWS with the stack deployed and one private cluster."""

    aws: Any
    stack: Any
    cluster: Any
    #: Deployed function name → its logical id without the ``Function`` suffix.
    function_labels: dict[str, str]

    @property
    def sfn(self) -> Any:
        return self.aws.client("stepfunctions")

    def label(self, function_name: str) -> str:
        return self.function_labels.get(function_name, function_name)

    def start(self, session_id: str, duration_minutes: int) -> str:
        """Start a session; its execution ARN."""
        request = {
            "cluster": self.cluster.name,
            "sshPublicKey": _public_key(),
            "allowedCidrs": [CIDR],
            "durationMinutes": duration_minutes,
            "requestedBy": REQUESTER,
        }
        answer = self.sfn.start_execution(
            stateMachineArn=self.stack.state_machine_arn("SessionStateMachine"),
            name=session_id,
            input=json.dumps(request),
        )
        return str(answer["executionArn"])

    def control_plane_rules(self) -> list[str]:
        group = self.aws.client("ec2").describe_security_groups(
            GroupIds=[self.cluster.cluster_security_group_id]
        )["SecurityGroups"][0]
        return sorted(json.dumps(rule, sort_keys=True) for rule in group["IpPermissions"])


@contextmanager
def local_stack(time_scale: float) -> Iterator[LocalStack]:
    """A local AWS at ``time_scale`` with the stack deployed, recording API calls."""
    from bastion.local import LocalAws

    # The interpreter logs each Choice without a matching optional path as an error.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with LocalAws(region="us-east-1", time_scale=time_scale) as aws:
        cluster = aws.seed_cluster("bench", endpoint_private=True, endpoint_public=False)
        stack = aws.deploy(
            TEMPLATE,
            parameters={
                "BastionSubnetIds": ",".join(cluster.public_subnet_ids),
                "BastionImageUri": IMAGE,
                "AllowedClusters": cluster.name,
                "ApiAllowedPrincipals": "*",
                "MaxSessionsPerCaller": "50",
                "MaxSessionsPerCluster": "55",
                "MaxSessionsPerStack": "1000",
                "LogLevel": "WARNING",
            },
        )
        labels = {
            stack.resources[logical]: logical.removesuffix("Function")
            for logical, kind in stack.resource_types.items()
            if kind == "AWS::Lambda::Function"
        }
        yield LocalStack(aws, stack, cluster, labels)


@dataclass(frozen=True)
class SessionRun:
    """One recorded session."""

    session_id: str
    duration_minutes: int
    status: str
    events: tuple[dict[str, Any], ...]
    transitions: TransitionCount
    #: Invocations per function label, and the errors they answered with (label, errorType).
    invocations: Counter[str]
    failed_invocations: Counter[tuple[str, str]]
    #: AWS API calls the session's functions, workflow and event rules made.
    api_calls: CallTally
    #: What each delivery of the session's started line to SignalBastionReady answered
    #: (``ready``, ``token-gone``..., ``lost``; empty: no answer, nothing to answer).
    signal_answers: tuple[str, ...]
    #: The bastion task as ECS describes it after the session.
    task: dict[str, Any]
    inventory_empty: bool
    control_plane_restored: bool
    wall_seconds: float

    def entered(self, state: str) -> datetime:
        return _state_time(self.events, state, "StateEntered")

    def exited(self, state: str) -> datetime:
        return _state_time(self.events, state, "StateExited")

    def invocation_durations_ms(self) -> list[float]:
        """Lambda invocation durations from the history (started → succeeded/failed)."""
        durations: list[float] = []
        started: datetime | None = None
        for event in self.events:
            if event["type"] == "LambdaFunctionStarted":
                started = event["timestamp"]
            elif event["type"] in ("LambdaFunctionSucceeded", "LambdaFunctionFailed"):
                if started is not None:
                    durations.append((event["timestamp"] - started).total_seconds() * 1000)
                started = None
        return durations


def _state_time(events: Sequence[dict[str, Any]], state: str, suffix: str) -> datetime:
    key = "stateEnteredEventDetails" if suffix == "StateEntered" else "stateExitedEventDetails"
    for event in events:
        if str(event["type"]).endswith(suffix) and event.get(key, {}).get("name") == state:
            stamp: datetime = event["timestamp"]
            return stamp
    raise KeyError(f"no {suffix} event for {state!r}")


def _bastion_task(local: LocalStack, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    for event in events:
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == session_states.RUN_BASTION_TASK:
            arn = json.loads(details["output"])["bastionTask"]["taskArn"]
            described = local.aws.client("ecs").describe_tasks(
                cluster=local.stack.resources["BastionCluster"], tasks=[arn]
            )
            tasks: list[dict[str, Any]] = described["tasks"]
            return tasks[0] if tasks else {}
    return {}


def run_session(
    local: LocalStack,
    duration_minutes: int,
    *,
    seconds_until_running: float,
    eni_dependency_violations: int,
    ready_time_scale: float,
    timeout: float = 120.0,
) -> SessionRun:
    """Run one session until it expires and tears down; everything it did, recorded.

    The task starts by itself ``seconds_until_running`` (workflow time) after RunTask,
    whoever describes it, and its simulated bastion then writes its started line, which
    the log subscription delivers to SignalBastionReady: the signalled path. Until that
    delivery has been answered the local AWS runs at ``ready_time_scale``, slow enough
    that the wait's first look comes before the task starts and the delivery before the
    wait's timeout, as on AWS; then at the stack's own scale. The first
    ``eni_dependency_violations`` DeleteSecurityGroup attempts fail while the stopped
    task's ENI is released (the teardown's retries).

    What the session did is what the local AWS recorded from its start to its end (the
    sessions run one at a time); SignalBastionReady's invocations are the session's when
    the delivered stream is its task's (the delivery names no session).
    """
    aws = local.aws
    fast = aws.time_scale
    aws.ecs_control.describes_until_running = NEVER_BY_DESCRIBES
    aws.ecs_control.seconds_until_running = seconds_until_running
    aws.ec2_control.eni_release_dependency_violations = eni_dependency_violations
    rules_before = local.control_plane_rules()
    first_invocation = len(aws.invocations)
    first_action = len(aws.actions)
    first_delivery = len(aws.log_deliveries_made)
    session_id = f"bench-{duration_minutes}m-{uuid.uuid4().hex[:8]}"
    aws.time_scale = ready_time_scale
    started = time.monotonic()
    try:
        arn = local.start(session_id, duration_minutes)
        _wait_for_started_line(local, session_id, timeout)
    finally:
        aws.time_scale = fast
    described = aws.wait_for_execution(arn, timeout=timeout)
    wall = time.monotonic() - started
    # The task's stop event reaches EndSession through EventBridge after the execution ends.
    aws.events.wait_until_idle()
    aws.log_deliveries.wait_until_idle()
    events = tuple(aws.history(arn))
    task = _bastion_task(local, events)
    task_id = str(task.get("taskArn", "")).rsplit("/", 1)[-1]
    invocations: Counter[str] = Counter()
    failed: Counter[tuple[str, str]] = Counter()
    for invocation in aws.invocations[first_invocation:]:
        label = local.label(invocation.function_name)
        if label == SIGNAL_FUNCTION and not delivers_stream_of(invocation.event, task_id):
            continue
        invocations[label] += 1
        if not invocation.succeeded:
            failed[(label, invocation.outcome)] += 1
    return SessionRun(
        session_id=session_id,
        duration_minutes=duration_minutes,
        status=str(described["status"]),
        events=events,
        transitions=count_transitions(events),
        invocations=invocations,
        failed_invocations=failed,
        api_calls=tally(aws.actions[first_action:], local.label),
        signal_answers=_signal_answers(aws.log_deliveries_made[first_delivery:], session_id),
        task=task,
        inventory_empty=aws.inventory(session_id).is_empty,
        control_plane_restored=local.control_plane_rules() == rules_before,
        wall_seconds=wall,
    )


def _names_session(delivery: Any, session_id: str) -> bool:
    return any(session_id in event.message for event in delivery.message.log_events)


def _wait_for_started_line(local: LocalStack, session_id: str, timeout: float) -> None:
    """Until the session's started line has been delivered (or ``timeout`` seconds)."""
    try:
        local.aws.log_deliveries.wait_for_delivery(
            lambda delivery: _names_session(delivery, session_id), timeout=timeout
        )
    except TimeoutError:
        # Counted all the same: the run's record says no delivery answered.
        return


def delivers_stream_of(event: Any, task_id: str) -> bool:
    """Whether a subscription delivery event carries the log stream of task ``task_id``."""
    try:
        stream = decode_subscription_event(event).log_stream
    except LogSubscriptionError:
        return False
    return bool(task_id) and stream.rsplit("/", 1)[-1] == task_id


def _signal_answers(deliveries: Sequence[Any], session_id: str) -> tuple[str, ...]:
    """What SignalBastionReady answered to each delivery of the session's started line."""
    answers: list[str] = []
    for delivery in deliveries:
        if not _names_session(delivery, session_id):
            continue
        if not delivery.succeeded:
            answers.append(delivery.outcome)
            continue
        result = json.loads(delivery.result or "{}")
        answers += [str(answer.get("outcome")) for answer in result.get("answers", [])] or [
            "nothing to answer"
        ]
    return tuple(answers)


@dataclass(frozen=True)
class ThroughputRun:
    """``sessions`` whole lifecycles started together."""

    sessions: int
    wall_seconds: float
    statuses: Counter[str]
    invocations: int
    #: ``error: cause`` of each session that did not succeed.
    failures: tuple[str, ...]
    #: Executions the event rules started meanwhile (teardown of abnormal ends).
    other_executions: int
    inventory_empty: bool
    leftover: str
    control_plane_restored: bool

    @property
    def lifecycles_per_second(self) -> float:
        return self.sessions / self.wall_seconds if self.wall_seconds > 0 else 0.0


def run_concurrent(local: LocalStack, sessions: int, timeout: float = 180.0) -> ThroughputRun:
    """Start ``sessions`` one-minute sessions at once and wait until all have torn down.

    The local AWS's own lifecycle defaults apply (the task runs at the second look or
    after 30 s of workflow time; the ENI is released at once): this measures the harness,
    not Fargate.
    """
    aws = local.aws
    aws.ecs_control.describes_until_running = LOCAL_DESCRIBES_UNTIL_RUNNING
    aws.ecs_control.seconds_until_running = LOCAL_SECONDS_UNTIL_RUNNING
    aws.ec2_control.eni_release_dependency_violations = LOCAL_ENI_DEPENDENCY_VIOLATIONS
    rules_before = local.control_plane_rules()
    first_invocation = len(aws.invocations)
    batch = uuid.uuid4().hex[:6]
    started = time.monotonic()
    arns = [local.start(f"bench-x{sessions}-{batch}-{n}", 1) for n in range(sessions)]
    deadline = started + timeout
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    for arn in arns:
        remaining = max(deadline - time.monotonic(), 0.1)
        described = aws.wait_for_execution(arn, timeout=remaining)
        statuses[str(described["status"])] += 1
        if described["status"] != "SUCCEEDED":
            cause = " ".join(str(described.get("cause", "")).split())[:160]
            failures.append(f"{described.get('error', described['status'])}: {cause}")
    wall = time.monotonic() - started
    others = _settle(local, set(arns), deadline)
    inventory = aws.inventory()
    return ThroughputRun(
        sessions=sessions,
        wall_seconds=wall,
        statuses=statuses,
        invocations=len(aws.invocations) - first_invocation,
        failures=tuple(failures),
        other_executions=others,
        inventory_empty=inventory.is_empty,
        leftover="; ".join(
            f"{r.kind} {r.resource_id} ({r.session_id})" for r in inventory.resources
        ),
        control_plane_restored=local.control_plane_rules() == rules_before,
    )


def _settle(local: LocalStack, own: set[str], deadline: float) -> int:
    """Let event deliveries, and executions the event rules started, finish; how many of
    those executions the run caused (whether still running or already done)."""
    from bastion.local.executions import running_executions

    aws = local.aws
    while True:
        aws.events.wait_until_idle(timeout=max(deadline - time.monotonic(), 0.1))
        running = [arn for arn in running_executions(local.sfn) if arn not in own]
        if not running:
            break
        for arn in running:
            aws.wait_for_execution(arn, timeout=max(deadline - time.monotonic(), 0.1))
    return sum(
        1
        for delivery in aws.events_delivered
        if delivery.target_arn.startswith(f"arn:aws:states:{aws.region}:")
        and any(session_id in delivery.input for session_id in _names(own))
    )


def _names(execution_arns: set[str]) -> list[str]:
    return [arn.rsplit(":", 1)[-1] for arn in execution_arns]
