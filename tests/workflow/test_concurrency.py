"""A hundred concurrent sessions on three clusters: each session's control-plane rule is
its own, ending one never touches another's, and a session that meets the rule quota
fails clearly after tearing itself down while the others go on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bastion.follow import error_message
from bastion.local.executions import wait_for_execution
from bastion.local.waits import WAIT_SECONDS
from tests.workflow.fleet import (
    HOLDING,
    HTTPS_PORT,
    RULE_QUOTA,
    FleetSession,
    Rule,
    fill_with_unrelated_rules,
    inbound_rule_count,
    inventory,
    rules_of,
    session_groups,
    start_fleet,
    wait_for_quiet,
    wait_until_ended,
    wait_until_settled,
)
from tests.workflow.harness import FAILED_AFTER_TEARDOWN, Harness, deploy_for_tests

pytestmark = pytest.mark.workflow

#: Sessions per cluster; the first cluster's group is left room for all but OVER_QUOTA.
PLAN = (("payments", 34), ("orders", 33), ("ledger", 33))
OVER_QUOTA = 1
#: 8 minutes of hold at 60x: no session expires during the test; each is ended by it.
DURATION_MINUTES = 480
#: A wait on the whole fleet: a hundred sessions take many single waits' worth.
FLEET_WAIT_SECONDS = 3 * WAIT_SECONDS


@pytest.fixture
def quiet_harness() -> Iterator[Harness]:
    from bastion.local import LocalAws

    # The conftest's harness, with the stack logging warnings only: a hundred sessions'
    # INFO lines cost about a tenth of the run.
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        yield deploy_for_tests(
            aws,
            parameters={
                "LogLevel": "WARNING",
                "AllowedClusters": ",".join(name for name, _ in PLAN),
            },
        )


def _describe_failure(session: FleetSession, final: dict[str, Any]) -> str:
    entered = session.harness.states_entered(session.arn)
    cause = error_message(str(final.get("cause", "")))
    return f"{session.session_id}: {final['status']} {final.get('error')}: {cause} {entered}"


def _neighbours(fleet: list[FleetSession], lost: FleetSession) -> list[FleetSession]:
    """The sessions started just before and just after ``lost`` on its cluster."""
    same_cluster = [s for s in fleet if s.cluster.name == lost.cluster.name]
    at = same_cluster.index(lost)
    return same_cluster[max(at - 1, 0) : at] + same_cluster[at + 1 : at + 2]


def test_a_hundred_sessions_on_three_clusters_keep_to_their_own_rules(
    quiet_harness: Harness,
) -> None:
    # GIVEN two more private clusters beside the stack's, each with its own control-plane group
    harness = quiet_harness
    aws = harness.aws
    harnesses = [harness] + [
        Harness(
            aws=aws, stack=harness.stack, cluster=aws.seed_cluster(name, beside=harness.cluster)
        )
        for name, _ in PLAN[1:]
    ]
    plan = [(h, count) for h, (_, count) in zip(harnesses, PLAN, strict=True)]
    control_plane_groups = {h.cluster.cluster_security_group_id for h in harnesses}
    assert len(control_plane_groups) == len(PLAN)
    # AND the first cluster's group so full of other rules that OVER_QUOTA of its sessions
    # find no room for theirs
    full_group = harness.cluster.cluster_security_group_id
    room = plan[0][1] - OVER_QUOTA
    fill_with_unrelated_rules(
        aws, full_group, RULE_QUOTA - inbound_rule_count(aws, full_group) - room
    )
    assert RULE_QUOTA - inbound_rule_count(aws, full_group) == room
    rules_before = rules_of(aws, control_plane_groups)

    # WHEN all the sessions start at once
    fleet = start_fleet(plan, duration_minutes=DURATION_MINUTES)
    settled = wait_until_settled(fleet, timeout=FLEET_WAIT_SECONDS)

    # THEN exactly OVER_QUOTA sessions failed, all on the full cluster, naming the quota
    lost_sessions = [s for s in fleet if settled[s.session_id] != HOLDING]
    finals = wait_until_ended(lost_sessions, timeout=WAIT_SECONDS) if lost_sessions else {}
    failures = [_describe_failure(s, finals[s.session_id]) for s in lost_sessions]
    assert len(lost_sessions) == OVER_QUOTA, failures
    for lost, failure in zip(lost_sessions, failures, strict=True):
        final = finals[lost.session_id]
        assert lost.cluster.name == harness.cluster.name, failure
        assert final["status"] == "FAILED", failure
        assert final["error"] == "ControlPlaneRuleQuotaReached", failure
        message = error_message(final["cause"])
        assert full_group in message, message
        assert f"quota of inbound rules ({RULE_QUOTA} per security group" in message, message
        assert "Service Quotas" in message, message
        # AND only after tearing itself down: nothing of it is left
        entered = lost.harness.states_entered(lost.arn)
        assert "AuthorizeControlPlaneIngress" in entered, failure
        assert "HoldSession" not in entered, failure
        assert entered[-len(FAILED_AFTER_TEARDOWN) :] == FAILED_AFTER_TEARDOWN, failure
        left = inventory(aws, lost.session_id)
        assert left.is_empty, left.render()

    # AND every other session holds, with exactly one rule of its own: on its own cluster's
    # group, on 443, admitting its own session group, tagged with it
    holding = [s for s in fleet if settled[s.session_id] == HOLDING]
    assert len(holding) == sum(count for _, count in PLAN) - OVER_QUOTA
    group_of = session_groups(aws)
    assert set(group_of) == {s.session_id for s in holding}
    rules = rules_of(aws, control_plane_groups)
    assert {k: rules.get(k) for k in rules_before} == rules_before, "a rule from before changed"
    new_rules = {k: v for k, v in rules.items() if k not in rules_before}
    admitting: dict[str, list[Rule]] = {}
    for rule in new_rules.values():
        admitting.setdefault(rule.source, []).append(rule)
    not_one = [s.session_id for s in holding if len(admitting.get(group_of[s.session_id], [])) != 1]
    assert not_one == [], f"sessions without exactly one rule: {not_one}"
    assert len(new_rules) == len(holding), "rules admitting no holding session's group"
    own_rule: dict[str, str] = {}
    for session in holding:
        [rule] = admitting[group_of[session.session_id]]
        assert rule.group_id == session.cluster.cluster_security_group_id, rule
        assert (rule.protocol, rule.from_port, rule.to_port) == ("tcp", HTTPS_PORT, HTTPS_PORT)
        assert rule.session_id == session.session_id, rule
        assert session.session_id in rule.description, rule
        own_rule[session.session_id] = rule.rule_id
    assert len(set(own_rule.values())) == len(holding), "two sessions share a rule"
    assert inbound_rule_count(aws, full_group) == RULE_QUOTA

    # WHEN sessions end one at a time: the failed ones' neighbours, then every tenth session
    sample = [s for lost in lost_sessions for s in _neighbours(fleet, lost)]
    sample += [s for s in holding[::10] if s not in sample]
    assert {s.cluster.name for s in sample} == {name for name, _ in PLAN}
    before = rules_of(aws, control_plane_groups)
    for session in sample:
        answer = session.harness.end_session(session.session_id, "ended-by-user")
        assert answer["functionError"] is None, answer
        final = wait_for_execution(harness.sfn, session.arn, poll_seconds=0.1)
        assert final["status"] == "SUCCEEDED", _describe_failure(session, final)

        # THEN its own rule, and nothing else, is gone from the control-plane groups
        after = rules_of(aws, control_plane_groups)
        removed: dict[str, Rule] = {k: v for k, v in before.items() if k not in after}
        mine = own_rule[session.session_id]
        assert removed == {mine: before[mine]}, (
            f"ending {session.session_id} removed the rules of "
            f"{sorted(rule.session_id or rule.source for rule in removed.values())}"
        )
        assert after == {k: v for k, v in before.items() if k not in removed}
        before = after
    # AND nothing of theirs is left
    ended = {s.session_id for s in sample}
    left = inventory(aws)
    assert not ended & left.session_ids, left.render()
    assert left.session_ids == {s.session_id for s in holding} - ended

    # WHEN the rest end together
    rest = [s for s in holding if s not in sample]
    for session in rest:
        answer = session.harness.end_session(session.session_id, "ended-by-user")
        assert answer["functionError"] is None, answer
    finals = wait_until_ended(rest, timeout=FLEET_WAIT_SECONDS)
    wait_for_quiet(aws, timeout=FLEET_WAIT_SECONDS)

    # THEN each ended as asked, the control-plane groups hold exactly the rules they held
    # before the fleet, and no session left anything behind
    assert [s for s in rest if finals[s.session_id]["status"] != "SUCCEEDED"] == []
    assert rules_of(aws, control_plane_groups) == rules_before
    left = inventory(aws)
    assert left.is_empty, left.render()
