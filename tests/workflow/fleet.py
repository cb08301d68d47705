"""Many sessions on several clusters at once: start and watch the fleet, and read the
control-plane groups' rules as one comparable snapshot.

moto's stores are plain dicts and lists that the handlers change from workflow threads:
the test's own reads here run while no handler does (:func:`invocations_paused`), and the
waits poll with a few list calls rather than one call per session, so that watching a
hundred sessions does not slow them down.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bastion.local.eks_clusters import SeededCluster
from bastion.local.executions import TERMINAL_STATUSES, running_executions
from bastion.local.inventory import Inventory
from bastion.local.lambda_runtime import invocations_paused
from tasks.common.security_groups import describe_groups, describe_rules, referenced_group
from tasks.common.settings import DEFAULT_SESSION_PARAMETER_PREFIX
from tasks.common.tags import SESSION_TAG
from tests.workflow.harness import Harness

#: Inbound rules per VPC security group: AWS's default quota, and what moto enforces.
RULE_QUOTA = 60
HTTPS_PORT = 443
#: What :func:`wait_until_settled` reports for a session that holds.
HOLDING = "HOLDING"
_POLL_SECONDS = 0.5


# --------------------------------------------------------------------- control-plane rules


def inbound_rule_count(aws: Any, group_id: str) -> int:
    """How many inbound rules the group holds (what the quota counts)."""
    return len(rules_of(aws, [group_id]))


def fill_with_unrelated_rules(aws: Any, group_id: str, count: int) -> None:
    """Add ``count`` inbound HTTPS rules from distinct addresses, as other tools would."""
    aws.add_unrelated_inbound_rules(group_id, count)


@dataclass(frozen=True)
class Rule:
    """One inbound rule of a control-plane group: everything about it that could change."""

    rule_id: str
    group_id: str
    protocol: str
    from_port: int | None
    to_port: int | None
    #: The group it admits, or its CIDR.
    source: str
    description: str
    #: The session its tag names ("" if untagged).
    session_id: str


def rules_of(aws: Any, group_ids: Iterable[str]) -> dict[str, Rule]:
    """Every inbound rule of the groups, by rule id."""
    filters = [{"Name": "group-id", "Values": sorted(group_ids)}]
    with invocations_paused():
        described = describe_rules(aws.client("ec2"), filters)
    rules: dict[str, Rule] = {}
    for rule in described:
        if rule.get("IsEgress"):
            continue
        tags = {tag["Key"]: tag["Value"] for tag in rule.get("Tags", [])}
        rules[rule["SecurityGroupRuleId"]] = Rule(
            rule_id=rule["SecurityGroupRuleId"],
            group_id=rule["GroupId"],
            protocol=rule["IpProtocol"],
            from_port=rule.get("FromPort"),
            to_port=rule.get("ToPort"),
            source=referenced_group(rule) or rule.get("CidrIpv4") or rule.get("CidrIpv6", ""),
            description=rule.get("Description", ""),
            session_id=tags.get(SESSION_TAG, ""),
        )
    return rules


def session_groups(aws: Any) -> dict[str, str]:
    """Session id → its session security group's id, for every session group there is."""
    with invocations_paused():
        groups = describe_groups(aws.client("ec2"), [{"Name": "tag-key", "Values": [SESSION_TAG]}])
    found: dict[str, str] = {}
    for group in groups:
        session_id = next(t["Value"] for t in group["Tags"] if t["Key"] == SESSION_TAG)
        assert session_id not in found, f"two security groups for session {session_id}"
        found[session_id] = group["GroupId"]
    return found


def inventory(aws: Any, session_id: str | None = None) -> Inventory:
    """:meth:`LocalAws.inventory`, read while no handler runs."""
    with invocations_paused():
        found: Inventory = aws.inventory(session_id)
    return found


# ----------------------------------------------------------------------------- the fleet


@dataclass(frozen=True)
class FleetSession:
    """One session of the fleet and the harness of the cluster it asked for."""

    session_id: str
    arn: str
    harness: Harness

    @property
    def cluster(self) -> SeededCluster:
        cluster: SeededCluster = self.harness.cluster
        return cluster


#: The fleet's sessions are asked for by this many people in turn, so that none of them
#: meets the stack's cap on sessions per caller.
FLEET_CALLERS = 4


def start_fleet(plan: list[tuple[Harness, int]], duration_minutes: int) -> list[FleetSession]:
    """Start ``count`` sessions on each harness's cluster, interleaved, without waiting;
    :data:`FLEET_CALLERS` people ask for them in turn."""
    fleet: list[FleetSession] = []
    left = [count for _, count in plan]
    while any(left):
        for index, (harness, _) in enumerate(plan):
            if not left[index]:
                continue
            left[index] -= 1
            caller = f"arn:aws:iam::123456789012:user/fleet-{len(fleet) % FLEET_CALLERS}"
            session_id, arn = harness.start(
                harness.request(durationMinutes=duration_minutes, requestedBy=caller),
                f"fleet-{harness.cluster.name}-{len(fleet) + 1:03d}",
            )
            fleet.append(FleetSession(session_id, arn, harness))
    return fleet


def _ended(harness: Harness) -> dict[str, str]:
    """Execution ARN → status, for the executions of the session state machine that ended
    (listed by status: a hundred running ones are not described on every poll)."""
    found: dict[str, str] = {}
    machine = harness.stack.state_machine_arn("SessionStateMachine")
    paginator = harness.sfn.get_paginator("list_executions")
    for status in sorted(TERMINAL_STATUSES):
        for page in paginator.paginate(stateMachineArn=machine, statusFilter=status):
            found.update((e["executionArn"], status) for e in page["executions"])
    return found


def _held_sessions(aws: Any) -> set[str]:
    prefix = f"{DEFAULT_SESSION_PARAMETER_PREFIX}/"
    held: set[str] = set()
    with invocations_paused():
        pages = aws.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=prefix)
        for page in pages:
            held.update(p["Name"].removeprefix(prefix) for p in page["Parameters"])
    return held


def wait_until_settled(fleet: list[FleetSession], timeout: float) -> dict[str, str]:
    """Wait until each session holds (its hold token stored) or its execution has ended;
    session id → :data:`HOLDING` or the execution's final status."""
    harness = fleet[0].harness
    settled: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        held = _held_sessions(harness.aws)
        ended = _ended(harness)
        for session in fleet:
            if session.arn in ended:
                settled[session.session_id] = ended[session.arn]
            elif session.session_id in held:
                settled[session.session_id] = HOLDING
        if len(settled) == len(fleet):
            return settled
        if time.monotonic() > deadline:
            unsettled = sorted({s.session_id for s in fleet} - set(settled))
            raise AssertionError(f"{len(unsettled)} sessions never settled: {unsettled[:10]}")
        time.sleep(_POLL_SECONDS)


def wait_until_ended(fleet: list[FleetSession], timeout: float) -> dict[str, dict[str, Any]]:
    """Wait until every session's execution has ended; session id → describe_execution."""
    harness = fleet[0].harness
    deadline = time.monotonic() + timeout
    while True:
        ended = _ended(harness)
        running = [s.session_id for s in fleet if s.arn not in ended]
        if not running:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(running)} sessions never ended: {running[:10]}")
        time.sleep(_POLL_SECONDS)
    return {s.session_id: harness.sfn.describe_execution(executionArn=s.arn) for s in fleet}


def wait_for_quiet(aws: Any, timeout: float) -> None:
    """Wait until events are delivered and the executions they started have ended."""
    deadline = time.monotonic() + timeout
    while True:
        aws.events.wait_until_idle(timeout=max(deadline - time.monotonic(), 0.1))
        running = running_executions(aws.client("stepfunctions"))
        if not running:
            return
        for arn in running:
            aws.wait_for_execution(arn, timeout=max(deadline - time.monotonic(), 0.1))
