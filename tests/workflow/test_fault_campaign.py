"""Randomized fault campaigns: whatever AWS does, nothing is left behind.

The small sibling of ``make soak`` (:mod:`benchmarks.soak`): sessions in a concurrent batch
across three clusters, faults drawn from a seed, then the leak audit.
"""

from __future__ import annotations

from typing import Any

import pytest

from bastion.local import random_faults
from bastion.local.random_faults import FaultModel
from benchmarks.soak import (
    THROTTLING_ONLY,
    CampaignResult,
    render,
    replay_differences,
    run_campaign,
)

pytestmark = pytest.mark.workflow

#: Three seeds of sixteen sessions: about fifty sessions in all.
SEEDS = (101, 202, 303)
SESSIONS_PER_SEED = 16


def _assert_clean(result: CampaignResult) -> None:
    report = render(result)
    assert result.after_sweep.clean, report
    assert not result.unplanned, report
    assert result.passed, report


@pytest.mark.parametrize("seed", SEEDS)
def test_a_seeded_campaign_leaves_nothing_behind(seed: int) -> None:
    # GIVEN sixteen concurrent sessions on three clusters, one of them nearly out of rules,
    # with throttling, server errors, latency, crashes, timeouts, capacity refusals, failed
    # pulls, late interface releases, aborts and dying tasks drawn from the seed
    # WHEN they all run to their end and the sweeper has run once
    result = run_campaign(seed=seed, sessions=SESSIONS_PER_SEED, batch=SESSIONS_PER_SEED)

    # THEN every session ended as its plan allows, and nothing is left
    _assert_clean(result)
    assert len(result.outcomes) == SESSIONS_PER_SEED
    # ... and the campaign really was hostile: the common faults fired and were retried
    assert result.faults[random_faults.THROTTLED] > 0, render(result)
    assert result.faults[random_faults.SERVER_ERROR] > 0, render(result)
    assert sum(result.state_retries.values()) > 0, render(result)


def test_a_seed_replays_the_same_faults() -> None:
    # GIVEN one seed run twice
    first = run_campaign(seed=7, sessions=4, batch=4)
    second = run_campaign(seed=7, sessions=4, batch=4)

    # THEN the plans are the same, every call both runs made met the same fault,
    # and every session ended the same way
    assert first.injected, "the campaign injected nothing: the comparison would be empty"
    assert replay_differences(first, second) == []
    assert [o.label for o in first.outcomes] == [o.label for o in second.outcomes]


def test_throttling_one_call_in_five_on_every_action_is_absorbed() -> None:
    # GIVEN every AWS action, Lambda's Invoke included, throttled one call in five
    # WHEN sessions run with no other fault
    result = run_campaign(
        seed=55,
        sessions=10,
        batch=10,
        model=THROTTLING_ONLY,
        planned_faults=False,
        quota_room=None,
    )

    # THEN every session reached ready and ended as asked, and nothing is left
    _assert_clean(result)
    assert all(outcome.reached_ready for outcome in result.outcomes), render(result)
    assert all(outcome.status == "SUCCEEDED" for outcome in result.outcomes), render(result)
    assert result.faults[random_faults.THROTTLED] >= 50, render(result)
    assert set(result.faults) == {random_faults.THROTTLED}


def test_the_audit_catches_a_teardown_that_leaves_the_door_open() -> None:
    # GIVEN a broken stack: revoking the control-plane rule always fails
    def break_revoke(aws: Any) -> None:
        aws.faults.fail_invocation(
            "RevokeControlPlaneIngressFunction", error_type="AccessDenied", times=None
        )

    # WHEN a campaign runs on it without other faults
    result = run_campaign(
        seed=9,
        sessions=2,
        batch=2,
        model=FaultModel(),
        planned_faults=False,
        quota_room=None,
        sabotage=break_revoke,
    )

    # THEN the audit counts the rules left open and the campaign fails
    assert result.after_sweep.control_plane_rules == 2, render(result)
    assert result.after_sweep.control_plane_drift == 2, render(result)
    assert not result.passed
    assert "soak: FAIL" in render(result)


def test_a_campaign_across_two_stacks_leaves_nothing_behind() -> None:
    # GIVEN two stacks side by side in one account, on the same clusters, their sessions
    # running at once under the seed's faults (the failed ones torn down by each stack's
    # own rule), and then each stack's sweeper
    result = run_campaign(seed=404, sessions=8, batch=8, stacks=2)
    # THEN every session of both ended as its plan allows, and nothing is left
    _assert_clean(result)
    assert len(result.outcomes) == 8
