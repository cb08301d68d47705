"""The soak campaign: many sessions under random AWS faults, then a leak audit.

Sessions run in concurrent batches on the embedded local AWS, across several clusters
that share one VPC, with the stack deployed from template.yaml and the project's real
handlers. A seeded :class:`~bastion.local.random_faults.RandomFaults` throttles, fails,
slows and crashes calls at the fault model's rates, and each session gets a plan drawn
from the seed: how it ends (early, at expiry, its task dying, or aborted after a given
step), and whether RunTask refuses capacity, its task fails to start, or its network
interface is released late. One cluster's control-plane group starts nearly full, so
sessions also meet the 60-rule quota.

At the end the sweeper runs once, as its schedule would, and the audit counts what is
left: session security groups, control-plane rules, running tasks, hold parameters, and
any change to a control-plane group's own rules. Each must be 0.

    python -m benchmarks.soak --seed 7 --sessions 500

The plan and the faults are a pure function of the seed (see
:mod:`bastion.local.random_faults`): a failing seed replays them, and ``--only`` replays
chosen sessions of it alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bastion.local.keys import throwaway_public_key
from bastion.local.random_faults import (
    CallRates,
    FaultModel,
    InjectedFault,
    InvocationRates,
    SessionFaults,
    session_scope,
)
from benchmarks.tables import Table, make_table, render_text
from tasks.common import session_states
from tasks.common.settings import DEFAULT_STACK_NAME, session_parameter_prefix

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
IMAGE = "public.ecr.aws/fargate-bastion/bastion:soak"
REQUESTER = "arn:aws:iam::123456789012:user/soak"
DEFAULT_SEED = 20261127
#: Control-plane rules a session adds; the first cluster starts with this few free.
QUOTA = 60

#: The fault model, after the AWS facts: EC2's mutating calls have the smallest throttling
#: buckets (5 refills a second), so they are throttled most; every action sees throttling,
#: server errors and latency; functions crash or run out of memory after acting, or time out.
DEFAULT_MODEL = FaultModel(
    calls={
        "*": CallRates(throttled=0.05, server_error=0.02, slow=0.02),
        "ec2:AuthorizeSecurityGroupIngress": CallRates(throttled=0.10, server_error=0.02),
        "ec2:RevokeSecurityGroupIngress": CallRates(throttled=0.10, server_error=0.02),
        "ec2:CreateSecurityGroup": CallRates(throttled=0.08, server_error=0.02),
        "ec2:DeleteSecurityGroup": CallRates(throttled=0.08, server_error=0.02),
        "lambda:Invoke": CallRates(throttled=0.03, server_error=0.02),
    },
    invocations=InvocationRates(crashed_after_call=0.03, timed_out=0.01, out_of_memory=0.005),
)
#: Every AWS action (Lambda's Invoke included) throttled one call in five, nothing else.
THROTTLING_ONLY = FaultModel(calls={"*": CallRates(throttled=0.20)})

#: Functions after which a session may be aborted ("Stop execution").
ABORT_POINTS = (
    "ValidateRequestFunction",
    "FindControlPlaneFunction",
    "CreateSessionSecurityGroupFunction",
    "RunBastionTaskFunction",
    "AuthorizeControlPlaneIngressFunction",
    "WaitForBastionAddressFunction",
    "HoldSessionFunction",
    "StopBastionTaskFunction",
    "RevokeControlPlaneIngressFunction",
    "DeleteSessionSecurityGroupFunction",
)
PULL_FAILURE = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
    "failed to resolve ref: context deadline exceeded"
)

#: The outcome of a session that neither held nor ended in time (never allowed).
STUCK = "STUCK"

# How a session is meant to end.
ENDED_EARLY = "ended early"
EXPIRED = "expired"
TASK_DIED = "task died mid-session"
ABORTED = "aborted"


@dataclass(frozen=True)
class SessionPlan:
    """What the campaign does to one session, drawn from the seed."""

    index: int
    session_id: str
    cluster: int
    cidrs: tuple[str, ...]
    ending: str
    faults: SessionFaults

    @property
    def fails_by_design(self) -> str | None:
        """The error the session must fail with, if its plan makes it fail."""
        if self.faults.capacity_refused:
            return "CapacityUnavailable"
        if self.faults.stops_before_running:
            return "BastionTaskStopped"
        return None


def _draw_cidrs(rng: random.Random) -> tuple[str, ...]:
    """One to three distinct /32 networks: ValidateRequest refuses a repeated entry, and no
    plan is meant to be refused. A drawn network already in the list is drawn again."""
    count = rng.choice((1, 1, 2, 3))
    cidrs: list[str] = []
    while len(cidrs) < count:
        cidr = f"198.51.{rng.randrange(100)}.{rng.randrange(1, 255)}/32"
        if cidr not in cidrs:
            cidrs.append(cidr)
    return tuple(cidrs)


def plan_session(seed: int, index: int, clusters: int, *, planned_faults: bool) -> SessionPlan:
    """Session ``index``'s plan: a pure function of the seed and the index."""
    rng = random.Random(f"{seed}/{index}")  # noqa: S311 - a reproducible plan, not a secret
    cidrs = _draw_cidrs(rng)
    ending = rng.choices((ENDED_EARLY, EXPIRED, TASK_DIED, ABORTED), (45, 25, 15, 15))[0]
    faults = SessionFaults()
    if planned_faults:
        failure = rng.choices(("none", "capacity", "pull"), (92, 4, 4))[0]
        faults = SessionFaults(
            capacity_refused=failure == "capacity",
            stops_before_running=PULL_FAILURE if failure == "pull" else None,
            # Released at once, or 5 s to 9 minutes late (AWS publishes no figure).
            eni_released_after_seconds=rng.choice((0, 0, 0, 5, 25, 170, 540)),
            abort_after=rng.choice(ABORT_POINTS) if ending == ABORTED else None,
        )
    elif ending == ABORTED:
        ending = ENDED_EARLY
    return SessionPlan(
        index=index,
        session_id=f"soak-{seed}-{index:04d}",
        cluster=index % clusters,
        cidrs=cidrs,
        ending=ending,
        faults=faults,
    )


@dataclass(frozen=True)
class SessionOutcome:
    """How a session ended, and whether that is what its plan allows."""

    plan: SessionPlan
    status: str
    error: str | None
    reason: str | None
    reached_ready: bool
    #: A failed execution's cause, and the state it failed in, to say why.
    cause: str = ""

    @property
    def label(self) -> str:
        if self.status == "SUCCEEDED":
            return f"ended: {self.reason}"
        if self.status == "FAILED":
            return f"failed: {self.error}"
        if self.status == STUCK:
            return f"stuck after: {self.reason}"
        return self.status.lower()

    @property
    def as_planned(self) -> bool:
        """Whether the outcome is one the plan allows (transient faults never fail one)."""
        if self.status == STUCK:
            return False
        expected = self.plan.fails_by_design
        if self.error == "ControlPlaneRuleQuotaReached":
            return self.plan.cluster == 0  # only the nearly full cluster may run out of room
        if self.plan.faults.abort_after is not None and self.status == "ABORTED":
            return True
        if expected is not None:
            return self.status == "FAILED" and self.error == expected
        return self.status == "SUCCEEDED" and self.reached_ready


@dataclass(frozen=True)
class LeakAudit:
    """What sessions left behind."""

    security_groups: int
    control_plane_rules: int
    running_tasks: int
    hold_parameters: int
    control_plane_drift: int

    @property
    def clean(self) -> bool:
        return not any(
            (
                self.security_groups,
                self.control_plane_rules,
                self.running_tasks,
                self.hold_parameters,
                self.control_plane_drift,
            )
        )


@dataclass
class CampaignResult:
    """Everything the table reports."""

    seed: int
    plans: list[SessionPlan]
    outcomes: list[SessionOutcome]
    injected: list[InjectedFault]
    #: Draws per (session, call): how many of each call the sessions made.
    calls_drawn: Counter[tuple[str, str]]
    state_retries: Counter[str]
    before_sweep: LeakAudit
    after_sweep: LeakAudit
    wall_seconds: float
    sweeper_runs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def faults(self) -> Counter[str]:
        """How many faults of each kind fired."""
        return Counter(fault.kind for fault in self.injected)

    def faults_of(self, session_id: str) -> list[InjectedFault]:
        """The faults that hit one session, in the order of its calls."""
        hits = [fault for fault in self.injected if fault.session_id == session_id]
        return sorted(hits, key=lambda fault: (fault.target, fault.call_number, fault.kind))

    @property
    def unplanned(self) -> list[SessionOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.as_planned]

    @property
    def passed(self) -> bool:
        return self.after_sweep.clean and not self.unplanned and not self.notes


@dataclass
class _Fleet:
    aws: Any
    #: The stacks, side by side in the one account; session ``index`` runs in stack
    #: ``index % len(stacks)``.
    stacks: list[Any]
    clusters: list[Any]

    def stack_of(self, session_id: str) -> Any:
        """The stack a session runs in (the index is the id's last part)."""
        return self.stacks[int(session_id.rsplit("-", 1)[-1]) % len(self.stacks)]

    def session_machine(self, session_id: str) -> str:
        return str(self.stack_of(session_id).state_machine_arn("SessionStateMachine"))

    def execution_arn(self, session_id: str) -> str:
        machine = self.session_machine(session_id)
        return machine.replace(":stateMachine:", ":execution:") + f":{session_id}"

    def hold_parameter(self, session_id: str) -> str:
        return f"{session_parameter_prefix(self.stack_of(session_id).stack_name)}/{session_id}"

    def control_plane_rules(self) -> dict[str, list[str]]:
        """Every rule of each cluster's control-plane group, one JSON line per rule."""
        paginator = self.aws.client("ec2").get_paginator("describe_security_group_rules")
        rules: dict[str, list[str]] = {}
        for cluster in self.clusters:
            group_filter = [{"Name": "group-id", "Values": [cluster.cluster_security_group_id]}]
            found = paginator.paginate(Filters=group_filter).build_full_result()
            rules[cluster.name] = sorted(
                json.dumps(rule, sort_keys=True) for rule in found["SecurityGroupRules"]
            )
        return rules


@contextmanager
def _fleet(clusters: int, time_scale: float, stacks: int = 1) -> Iterator[_Fleet]:
    from bastion.local import LocalAws

    # The interpreter logs each Choice without a matching optional path as an error.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with LocalAws(region="us-east-1", time_scale=time_scale) as aws:
        first = aws.seed_cluster("soak-0")
        seeded = [first] + [aws.seed_cluster(f"soak-{n}", beside=first) for n in range(1, clusters)]
        names = [DEFAULT_STACK_NAME, *(f"{DEFAULT_STACK_NAME}-{n + 1}" for n in range(1, stacks))]
        deployed = [
            aws.deploy(
                TEMPLATE,
                parameters={
                    "BastionSubnetIds": ",".join(first.public_subnet_ids),
                    "BastionImageUri": IMAGE,
                    "AllowedClusters": "*",
                    "ApiAllowedPrincipals": "*",
                    # The campaign runs many sessions at once: the caps at their widest.
                    "MaxSessionsPerCaller": "50",
                    "MaxSessionsPerCluster": "55",
                    "MaxSessionsPerStack": "1000",
                    "LogLevel": "WARNING",
                },
                stack_name=name,
            )
            for name in names
        ]
        yield _Fleet(aws, deployed, seeded)


def _fill_control_plane_group(fleet: _Fleet, free: int) -> None:
    """Leave only ``free`` inbound rules of room on the first cluster's control-plane group."""
    group_id = fleet.clusters[0].cluster_security_group_id
    group = fleet.aws.client("ec2").describe_security_groups(GroupIds=[group_id])
    used = sum(
        len(p.get("IpRanges", []))
        + len(p.get("Ipv6Ranges", []))
        + len(p.get("UserIdGroupPairs", []))
        for p in group["SecurityGroups"][0]["IpPermissions"]
    )
    fleet.aws.add_unrelated_inbound_rules(group_id, QUOTA - used - free)


def _public_key() -> str:
    return throwaway_public_key("soak@fargate-bastion")


def _ready_and_task(fleet: _Fleet, arn: str) -> tuple[bool, str | None]:
    """Whether the session reached BastionReady, and its bastion task ARN if it started one."""
    from bastion.local.executions import execution_history

    ready, task_arn = False, None
    for event in execution_history(fleet.aws.client("stepfunctions"), arn):
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == session_states.BASTION_READY:
            ready = True
        elif details.get("name") == session_states.RUN_BASTION_TASK:
            task_arn = json.loads(details["output"]).get("bastionTask", {}).get("taskArn")
    return ready, task_arn


class _Quiet:
    """Stuck means silent, not slow: a deadline that moves on whenever the executions
    watched record a new history event, so a loaded machine slows a session without
    failing it, while an execution that stopped moving is still caught."""

    def __init__(self, fleet: _Fleet, arns: Callable[[], Sequence[str]], seconds: float) -> None:
        self._fleet, self._arns, self._seconds = fleet, arns, seconds
        self._seen = -1
        self._deadline = time.monotonic() + seconds

    def passed(self) -> bool:
        """Whether ``seconds`` went by without a new event (histories are read only then)."""
        if time.monotonic() < self._deadline:
            return False
        from bastion.local.executions import execution_history

        sfn = self._fleet.aws.client("stepfunctions")
        seen = sum(len(execution_history(sfn, arn)) for arn in self._arns())
        if seen != self._seen:
            self._seen, self._deadline = seen, time.monotonic() + self._seconds
            return False
        return True


def _wait_holding_or_ended(fleet: _Fleet, plan: SessionPlan, quiet_seconds: float) -> str:
    """Poll until the session holds (its token stored) or its execution ended."""
    sfn, ssm = fleet.aws.client("stepfunctions"), fleet.aws.client("ssm")
    arn = fleet.execution_arn(plan.session_id)
    quiet = _Quiet(fleet, lambda: [arn], quiet_seconds)
    while not quiet.passed():
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING":
            return status
        found = ssm.get_parameters(Names=[fleet.hold_parameter(plan.session_id)])
        if found["Parameters"]:
            return "HOLDING"
        time.sleep(0.25)
    raise TimeoutError(
        f"session {plan.session_id} neither held nor ended, and its execution "
        f"recorded nothing for {quiet_seconds:.0f} s"
    )


def _wait_ended(fleet: _Fleet, arn: str, quiet_seconds: float) -> dict[str, Any]:
    """Poll until the execution ends; TimeoutError once it records nothing for a while."""
    sfn = fleet.aws.client("stepfunctions")
    quiet = _Quiet(fleet, lambda: [arn], quiet_seconds)
    while not quiet.passed():
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return {key: value for key, value in described.items() if key != "ResponseMetadata"}
        time.sleep(0.25)
    raise TimeoutError(f"execution {arn} recorded nothing for {quiet_seconds:.0f} s")


#: Errors a client retries EndSession after (the function died, or AWS was throttling).
_TRANSIENT_ERRORS = (
    b"Sandbox.Timedout",
    b"Runtime.ExitError",
    b"Runtime.OutOfMemory",
    b"Lambda.Unknown",
    b"AwsThrottled",
    b"AwsUnavailable",
)


def _end_session(fleet: _Fleet, plan: SessionPlan) -> None:
    """EndSession, as the API calls it: retried like any client retries a failed call."""
    lambda_client = fleet.aws.client("lambda")
    payload = json.dumps({"sessionId": plan.session_id, "reason": "ended-by-user"})
    last: object = None
    for _ in range(8):
        try:
            answer = lambda_client.invoke(
                FunctionName=fleet.stack_of(plan.session_id).function_name("EndSessionFunction"),
                Payload=payload,
            )
        except ClientError as error:
            last = error
            time.sleep(0.05)
            continue
        body = last = answer["Payload"].read()
        if "FunctionError" not in answer:
            return
        if b"SessionNotHeld" in body:
            return  # it ended meanwhile (expired, or its task stopped)
        if not any(name in body for name in _TRANSIENT_ERRORS):
            break  # not a transient failure: retrying will not help
        time.sleep(0.05)
    raise RuntimeError(f"EndSession kept failing for {plan.session_id}: {last!r}")


def session_request(plan: SessionPlan, cluster: str, public_key: str) -> dict[str, Any]:
    """The session machine's input for ``plan``: a request ValidateRequest accepts with the
    stack's default settings (no plan is a refusal)."""
    return {
        "cluster": cluster,
        "sshPublicKey": public_key,
        "allowedCidrs": list(plan.cidrs),
        # An expiring session holds a minute; the others would hold for eight hours, so
        # they end the way their plan says however slow the campaign runs.
        "durationMinutes": 1 if plan.ending == EXPIRED else 480,
        "requestedBy": REQUESTER,
    }


def _drive(fleet: _Fleet, plan: SessionPlan, quiet_seconds: float) -> SessionOutcome:
    """Run one session to its end, as its plan says."""
    sfn = fleet.aws.client("stepfunctions")
    request = session_request(plan, fleet.clusters[plan.cluster].name, _public_key())
    arn = sfn.start_execution(
        stateMachineArn=fleet.session_machine(plan.session_id),
        name=plan.session_id,
        input=json.dumps(request),
    )["executionArn"]
    try:
        return _run_to_end(fleet, plan, arn, quiet_seconds)
    except TimeoutError as stuck:
        return SessionOutcome(plan, STUCK, str(stuck), _last_steps(fleet, arn), False)


def _last_steps(fleet: _Fleet, arn: str) -> str:
    """Where a stuck execution is: the state it last entered, and its last events (with
    their error names), to say where it stuck."""
    from bastion.local.executions import execution_history

    history = execution_history(fleet.aws.client("stepfunctions"), arn)
    entered = [
        str(event["stateEnteredEventDetails"]["name"])
        for event in history
        if "stateEnteredEventDetails" in event
    ]

    def describe(event: dict[str, Any]) -> str:
        details = [
            value
            for key, value in event.items()
            if key.endswith("EventDetails") and isinstance(value, dict)
        ]
        marks = [str(d["name"]) for d in details if "name" in d]
        marks += [str(d["error"]) for d in details if "error" in d]
        return str(event["type"]) + "".join(f"({mark})" for mark in marks)

    where = f"in {entered[-1]} " if entered else ""
    return f"{where}after {len(history)} events: " + " > ".join(
        describe(event) for event in history[-6:]
    )


def _run_to_end(fleet: _Fleet, plan: SessionPlan, arn: str, quiet_seconds: float) -> SessionOutcome:
    state = _wait_holding_or_ended(fleet, plan, quiet_seconds)
    if state == "HOLDING":
        if plan.ending in (ENDED_EARLY, ABORTED):
            _end_session(fleet, plan)
        elif plan.ending == TASK_DIED:
            _, task_arn = _ready_and_task(fleet, arn)
            if task_arn is not None:
                with session_scope(plan.session_id):
                    fleet.aws.stop_task_by_itself(task_arn, exit_code=137)
    final = _wait_ended(fleet, arn, quiet_seconds)
    ready, _ = _ready_and_task(fleet, arn)
    reason = json.loads(final.get("output") or "{}").get("end", {}).get("reason")
    cause = ""
    if final["status"] == "FAILED":
        cause = f"{final.get('cause', '')} [{_last_steps(fleet, arn)}]"
    return SessionOutcome(plan, final["status"], final.get("error"), reason, ready, cause)


def _running_executions(fleet: _Fleet) -> list[str]:
    sfn = fleet.aws.client("stepfunctions")
    return [
        execution["executionArn"]
        for machine in sfn.list_state_machines()["stateMachines"]
        for execution in sfn.get_paginator("list_executions")
        .paginate(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
        .build_full_result()["executions"]
    ]


def _wait_for_all_executions(fleet: _Fleet, quiet_seconds: float) -> list[str]:
    """Wait for every execution of every state machine (teardowns the rule started too).

    Executions that record nothing for ``quiet_seconds`` are stopped, as an operator
    would, so the teardown rule and the sweeper get their turn; their ARNs are returned.
    """
    running = _running_executions(fleet)
    quiet = _Quiet(fleet, lambda: running, quiet_seconds)
    stopped: list[str] = []
    while True:
        fleet.aws.events.wait_until_idle(timeout=quiet_seconds)
        running[:] = _running_executions(fleet)
        if not running:
            return stopped
        if quiet.passed() and not stopped:
            for arn in running:
                fleet.aws.client("stepfunctions").stop_execution(
                    executionArn=arn, error="SoakTimeout", cause="recorded nothing for too long"
                )
            stopped = list(running)
            quiet = _Quiet(fleet, lambda: running, quiet_seconds)
        elif quiet.passed():
            raise TimeoutError(f"{len(running)} execution(s) still running after being stopped")
        time.sleep(0.2)


def _audit(fleet: _Fleet, rules_before: dict[str, list[str]]) -> LeakAudit:
    inventory = fleet.aws.inventory()
    after = fleet.control_plane_rules()
    # Drift: any inbound permission of a control-plane group added or removed since the
    # start (a leaked session rule counts here too, besides its own line).
    drift = sum(len(set(after[cluster]) ^ set(rules)) for cluster, rules in rules_before.items())
    return LeakAudit(
        security_groups=len(inventory.security_groups),
        control_plane_rules=len(inventory.control_plane_rules),
        running_tasks=len(inventory.running_tasks),
        hold_parameters=len(inventory.hold_parameters),
        control_plane_drift=drift,
    )


def _state_retries(fleet: _Fleet) -> Counter[str]:
    """Attempts beyond the first of each state, over every execution (from the histories)."""
    from bastion.local.executions import execution_history

    sfn = fleet.aws.client("stepfunctions")
    retries: Counter[str] = Counter()
    for machine in sfn.list_state_machines()["stateMachines"]:
        executions = (
            sfn.get_paginator("list_executions")
            .paginate(stateMachineArn=machine["stateMachineArn"])
            .build_full_result()["executions"]
        )
        for execution in executions:
            current, attempts = None, 0
            for event in execution_history(sfn, execution["executionArn"]):
                entered = event.get("stateEnteredEventDetails")
                if entered is not None:
                    current, attempts = entered["name"], 0
                elif event["type"] in ("LambdaFunctionScheduled", "TaskScheduled"):
                    attempts += 1
                    if attempts > 1 and current is not None:
                        retries[current] += 1
    return retries


def run_campaign(
    *,
    seed: int = DEFAULT_SEED,
    sessions: int = 500,
    batch: int = 50,
    clusters: int = 3,
    model: FaultModel = DEFAULT_MODEL,
    planned_faults: bool = True,
    quota_room: int | None = 12,
    only: Sequence[int] = (),
    time_scale: float = 600.0,
    quiet_seconds: float = 300.0,
    progress: Callable[[str], None] | None = None,
    sabotage: Callable[[Any], None] | None = None,
    stacks: int = 1,
) -> CampaignResult:
    """Run the campaign; ``quota_room`` is the free rules left on the first cluster's
    control-plane group (None: leave it as it is). ``sabotage`` gets the local AWS before
    the first session starts (to check that the audit notices what it arms). An execution
    that records nothing for ``quiet_seconds`` counts as stuck. With
    ``stacks`` above 1, that many stacks share the account and the clusters, the sessions
    dealt among them in turn, and each stack's sweeper runs at the end."""
    started = time.monotonic()
    indexes = list(only) or list(range(sessions))
    plans = [plan_session(seed, i, clusters, planned_faults=planned_faults) for i in indexes]
    if stacks < 1:
        raise ValueError(f"stacks must be at least 1, got {stacks}")
    with _fleet(clusters, time_scale, stacks) as fleet:
        if quota_room is not None:
            _fill_control_plane_group(fleet, quota_room)
        rules_before = fleet.control_plane_rules()
        if sabotage is not None:
            sabotage(fleet.aws)
        sfn = fleet.aws.client("stepfunctions")

        def abort(session_id: str) -> None:
            sfn.stop_execution(
                executionArn=fleet.execution_arn(session_id),
                error="SoakAbort",
                cause="the soak campaign pressed Stop execution",
            )

        fleet.aws.random_faults.arm(seed, model, abort=abort)
        for plan in plans:
            fleet.aws.random_faults.plan_session(plan.session_id, plan.faults)
        outcomes: list[SessionOutcome] = []
        notes: list[str] = []
        with ThreadPoolExecutor(max_workers=batch) as pool:
            for first in range(0, len(plans), batch):
                chunk = plans[first : first + batch]
                outcomes += pool.map(lambda plan: _drive(fleet, plan, quiet_seconds), chunk)
                stopped = _wait_for_all_executions(fleet, quiet_seconds)
                notes += [f"stopped at the deadline: {arn}" for arn in stopped]
                if progress is not None:
                    progress(f"{len(outcomes)}/{len(plans)} sessions done")
        fleet.aws.random_faults.disarm()
        before_sweep = _audit(fleet, rules_before)
        for stack in fleet.stacks:
            fleet.aws.fire_schedule(stack.resources["SweeperStateMachineSweepSchedule"])
        notes += [
            f"stopped at the deadline: {arn}"
            for arn in _wait_for_all_executions(fleet, quiet_seconds)
        ]
        after_sweep = _audit(fleet, rules_before)
        return CampaignResult(
            seed=seed,
            plans=plans,
            outcomes=outcomes,
            injected=fleet.aws.random_faults.injected,
            calls_drawn=fleet.aws.random_faults.calls_drawn(),
            state_retries=_state_retries(fleet),
            before_sweep=before_sweep,
            after_sweep=after_sweep,
            wall_seconds=time.monotonic() - started,
            notes=notes,
        )


def replay_differences(first: CampaignResult, second: CampaignResult) -> list[str]:
    """Where two runs of one seed disagree: a plan, or a fault on a call both runs made.

    A session polls as often as it takes its task to start, so the number of some calls
    depends on timing; every call both runs made must have met the same fault.
    """
    differences = [
        f"plan of session {a.index} differs"
        for a, b in zip(first.plans, second.plans, strict=True)
        if a != b
    ]

    def common(result: CampaignResult, other: CampaignResult) -> set[InjectedFault]:
        return {
            fault
            for fault in result.injected
            if fault.call_number
            < other.calls_drawn.get((fault.session_id, fault.target), fault.call_number + 1)
        }

    for fault in sorted(common(first, second) ^ common(second, first), key=str):
        differences.append(f"only one run met {fault}")
    return differences


def tables(result: CampaignResult) -> list[Table]:
    """The campaign's tables: sessions, outcomes, faults, retries, and the leak audit."""
    outcome_rows: list[tuple[object, ...]] = sorted(
        Counter(outcome.label for outcome in result.outcomes).items()
    )
    outcome_rows += [
        ("reached ready", sum(outcome.reached_ready for outcome in result.outcomes)),
        ("outcome its plan does not allow (must be 0)", len(result.unplanned)),
    ]
    audit_rows = [
        (label, getattr(result.before_sweep, name), getattr(result.after_sweep, name))
        for name, label in (
            ("security_groups", "leaked security groups"),
            ("control_plane_rules", "leaked control-plane rules"),
            ("running_tasks", "tasks still running"),
            ("hold_parameters", "hold parameters left"),
            ("control_plane_drift", "control-plane group drift"),
        )
    ]
    retries = sorted(result.state_retries.items())
    return [
        make_table(
            "Soak campaign",
            ("", ""),
            [
                ("seed", result.seed),
                ("sessions", len(result.outcomes)),
                ("clusters", len({plan.cluster for plan in result.plans})),
                ("wall-clock seconds", f"{result.wall_seconds:.0f}"),
            ],
        ),
        make_table("Outcomes", ("outcome", "sessions"), outcome_rows, numeric=(1,)),
        make_table(
            "Faults injected", ("fault", "count"), sorted(result.faults.items()), numeric=(1,)
        ),
        make_table(
            "Retries by the state machines",
            ("state", "retries"),
            [*retries, ("total", sum(result.state_retries.values()))],
            notes=("the SDK's own retries inside a function come on top of these",),
            numeric=(1,),
        ),
        make_table(
            "Leak audit",
            ("left behind", "before the sweeper", "at the end"),
            audit_rows,
            notes=("every count at the end must be 0",),
            numeric=(1, 2),
        ),
    ]


def render(result: CampaignResult) -> str:
    """The tables as text, the sessions that broke their plan, and the verdict."""
    parts = [render_text(table) for table in tables(result)]
    parts += [
        f"not as planned: {outcome.plan.session_id}: {outcome.label} ({outcome.plan})"
        + (f": {outcome.cause}" if outcome.cause else "")
        for outcome in result.unplanned[:20]
    ]
    parts += result.notes
    verdict = "PASS" if result.passed else "FAIL"
    parts.append(
        f"soak: {verdict} (seed {result.seed}; replay sessions alone with "
        f"--seed {result.seed} --only <index>...)"
    )
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50, help="sessions running at once")
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--only", type=int, nargs="*", default=(), help="replay these sessions")
    parser.add_argument(
        "--stacks", type=int, default=1, help="stacks side by side in the account (2 or more)"
    )
    args = parser.parse_args(argv)
    result = run_campaign(
        seed=args.seed,
        sessions=args.sessions,
        batch=args.batch,
        clusters=args.clusters,
        only=args.only,
        stacks=args.stacks,
        progress=lambda line: print(f"soak: {line}", file=sys.stderr, flush=True),
    )
    print(render(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
