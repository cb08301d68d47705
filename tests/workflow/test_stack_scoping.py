"""Two stacks in one account, and hostile session ids: nothing acts outside its own stack
or its own session.

Two stacks deployed into ONE local account for the same cluster (so they share its
control-plane security group) each hold sessions, one of them under the same id in both.
Each stack's sweeper, teardown machine and EndSession run; the other stack's sessions keep
every resource (group, rule, task, hold parameter) and keep RUNNING.

Then the teardown machine is started by hand with ids that are EC2 filter wildcards
(``*``, ``?``, ``sess*``) or a path (``../x``): each is refused, and every held session
keeps its rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tasks.common.security_groups import describe_rules, find_session_groups
from tasks.common.tags import STACK_TAG, session_filter
from tests.workflow.harness import Harness, deploy_for_tests, ghost_session

pytestmark = pytest.mark.workflow

STACK_A = "bastion-a"
STACK_B = "bastion-b"
#: A session id both stacks use: execution names are unique per state machine only.
SHARED = "shared-session"
LONG = 480


@dataclass
class Held:
    """A holding session of one stack."""

    harness: Harness
    session_id: str
    arn: str

    @property
    def stack(self) -> str:
        return str(self.harness.stack.stack_name)

    def __str__(self) -> str:
        return f"{self.stack}/{self.session_id}"


def own_resources(held: Held) -> dict[str, list[str]]:
    """What the session owns, found by its stack's and its session's tags."""
    harness, session_id = held.harness, held.session_id
    ec2 = harness.ec2
    groups = [g["GroupId"] for g in find_session_groups(ec2, session_id, held.stack)]
    rules = [
        rule["SecurityGroupRuleId"]
        for rule in describe_rules(ec2, session_filter(session_id, held.stack))
        if rule["GroupId"] == harness.cluster.cluster_security_group_id and not rule["IsEgress"]
    ]
    tasks = [
        task["taskArn"]
        for task in harness.session_tasks(session_id)
        if task.get("lastStatus") != "STOPPED"
    ]
    ssm = harness.aws.client("ssm")
    found = ssm.get_parameters(Names=[harness.parameter_name(session_id)])["Parameters"]
    return {
        "group": groups,
        "rule": rules,
        "task": tasks,
        "parameter": [parameter["Name"] for parameter in found],
    }


def assert_intact(held: Held) -> None:
    """The session holds, RUNNING, with exactly one of each of its resources."""
    status = held.harness.sfn.describe_execution(executionArn=held.arn)["status"]
    assert status == "RUNNING", f"{held} is {status}"
    owned = own_resources(held)
    assert {kind: len(ids) for kind, ids in owned.items()} == {
        "group": 1,
        "rule": 1,
        "task": 1,
        "parameter": 1,
    }, f"{held} lost a resource: {owned}"


def assert_gone(held: Held) -> None:
    owned = own_resources(held)
    assert owned == {"group": [], "rule": [], "task": [], "parameter": []}, f"{held}: {owned}"


def sweep(harness: Harness) -> dict[str, object]:
    """Run the stack's own sweeper (its schedule rule, by its physical name)."""
    aws = harness.aws
    rule = harness.stack.resources["SweeperStateMachineSweepSchedule"]
    (delivery,) = aws.events.fire_schedule(rule, 30.0)
    described = aws.wait_for_execution(str(delivery.result))
    assert described["status"] == "SUCCEEDED", described
    aws.events.wait_until_idle()
    output: dict[str, object] = json.loads(described["output"])
    return output


def teardown(harness: Harness, session_id: str) -> dict[str, object]:
    """Start the stack's teardown machine by hand with ``{"sessionId": session_id}``."""
    sfn = harness.sfn
    arn = sfn.start_execution(
        stateMachineArn=harness.stack.state_machine_arn("TeardownStateMachine"),
        input=json.dumps({"sessionId": session_id}),
    )["executionArn"]
    described: dict[str, object] = harness.aws.wait_for_execution(arn)
    return described


@dataclass
class TwoStacks:
    a: Harness
    b: Harness


@pytest.fixture
def two_stacks() -> Iterator[TwoStacks]:
    from bastion.local import LocalAws

    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        a = deploy_for_tests(aws, stack_name=STACK_A)
        b = deploy_for_tests(aws, stack_name=STACK_B, cluster=a.cluster)
        yield TwoStacks(a, b)


def hold(harness: Harness, session_id: str) -> Held:
    _, arn = harness.start(harness.request(durationMinutes=LONG), session_id=session_id)
    harness.wait_until_holding(arn, session_id)
    return Held(harness, session_id, arn)


def test_each_stack_acts_only_on_its_own_sessions(two_stacks: TwoStacks) -> None:
    a, b = two_stacks.a, two_stacks.b
    # GIVEN sessions holding in both stacks, one id in both, on the shared control plane
    a_only, a_shared = hold(a, "a-only"), hold(a, SHARED)
    b_only, b_shared = hold(b, "b-only"), hold(b, SHARED)
    everyone = (a_only, a_shared, b_only, b_shared)
    for held in everyone:
        assert_intact(held)
    # and one crashed session's leftovers in each stack, for each sweeper to find
    ghost_session(a, "ghost-a")
    ghost_session(b, "ghost-b")
    ghost_b = Held(b, "ghost-b", "")

    # WHEN stack A's sweeper runs
    swept = sweep(a)
    # THEN it swept A's orphan only: B's orphan and every live session keep everything
    assert [t.get("swept") for t in swept["teardowns"]] == ["ghost-a"]  # type: ignore[union-attr]
    assert own_resources(ghost_b)["group"], "A's sweeper deleted B's orphan"
    for held in everyone:
        assert_intact(held)
    # AND B's sweeper sweeps B's orphan, and touches nothing of A's
    swept = sweep(b)
    assert [t.get("swept") for t in swept["teardowns"]] == ["ghost-b"]  # type: ignore[union-attr]
    assert_gone(ghost_b)
    for held in everyone:
        assert_intact(held)

    # WHEN each stack's teardown machine is started for the other stack's session
    assert teardown(a, "b-only")["status"] == "SUCCEEDED"
    assert teardown(b, "a-only")["status"] == "SUCCEEDED"
    # THEN it found nothing of its own to remove, and removed nothing of the other's
    for held in everyone:
        assert_intact(held)

    # WHEN EndSession of A is asked to end B's session
    refused = a.end_session("b-only", "ended-by-user")
    # THEN A has no such session, and B's holds
    assert refused["functionError"] == "Unhandled"
    assert refused["payload"]["errorType"] == "SessionNotHeld"
    for held in everyone:
        assert_intact(held)

    # WHEN A ends (and tears down) its session whose id B also uses
    assert a.end_session(SHARED, "ended-by-user")["functionError"] is None
    assert a.finish(a_shared.arn)["status"] == "SUCCEEDED"
    # THEN A's is gone entirely, and B's session of the same id keeps everything
    assert_gone(a_shared)
    for held in (a_only, b_only, b_shared):
        assert_intact(held)
    # AND the rule that stays on the shared control-plane group is B's
    (rule_id,) = own_resources(b_shared)["rule"]
    (rule,) = describe_rules(a.ec2, [{"Name": "security-group-rule-id", "Values": [rule_id]}])
    assert {"Key": STACK_TAG, "Value": STACK_B} in rule["Tags"]

    # Finally every session ends through its own stack, and nothing is left anywhere.
    for held in (a_only, b_only, b_shared):
        assert held.harness.end_session(held.session_id, "ended-by-user")["functionError"] is None
        assert held.harness.finish(held.arn)["status"] == "SUCCEEDED"
    a.aws.events.wait_until_idle()
    inventory = a.aws.inventory()
    assert inventory.is_empty, inventory.render()


@pytest.mark.parametrize("hostile", ["*", "?", "sess*", "../x"])
def test_a_teardown_for_a_wildcard_id_is_refused_and_touches_nothing(
    harness: Harness, hostile: str
) -> None:
    # GIVEN two sessions holding, whose ids the wildcard would match as an EC2 filter value
    held = [hold(harness, "session-1"), hold(harness, "sess-2")]
    rules_before = harness.control_plane_rules()
    # WHEN the teardown machine is started by hand with the hostile id
    described = teardown(harness, hostile)
    # THEN it is refused, naming the field, and no teardown step ran past the check
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidRequest"
    assert "sessionId" in str(described["cause"])
    # AND every held session keeps its rule (and everything else), still RUNNING
    assert harness.control_plane_rules() == rules_before
    for session in held:
        assert_intact(session)
    for session in held:
        assert harness.end_session(session.session_id, "ended-by-user")["functionError"] is None
        assert harness.finish(session.arn)["status"] == "SUCCEEDED"
