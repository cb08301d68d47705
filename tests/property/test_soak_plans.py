"""The soak campaign's plans: whatever the seed, each session's request is a valid one.

No plan of the campaign is a refusal (a plan fails only by its faults: capacity refused, a
task that does not start, an abort), so ValidateRequest must accept every request the
generator draws, with the stack's default settings (the defaults template.yaml declares:
tests/template checks that they are ``Settings()``'s). A refused request would count as a
session "not as planned" and fail the soak with nothing leaked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bastion.local.keys import throwaway_public_key
from benchmarks.soak import DEFAULT_SEED, plan_session, session_request
from tasks.common.errors import InvalidRequest
from tasks.common.models import format_timestamp
from tasks.common.settings import Settings
from tasks.validate_request import ValidateRequestInput, validate_request

pytestmark = [pytest.mark.property, pytest.mark.unit]

CLUSTERS = 3
KEY = throwaway_public_key("soak@fargate-bastion")
STARTED_AT = format_timestamp(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))


class PrivateClusters:
    """EKS as ValidateRequest sees it: every ``soak-N`` cluster exists, private."""

    meta = SimpleNamespace(region_name="us-east-1")

    def describe_cluster(self, *, name: str) -> dict[str, Any]:
        vpc_config = {"endpointPrivateAccess": True, "endpointPublicAccess": False}
        return {"cluster": {"name": name, "status": "ACTIVE", "resourcesVpcConfig": vpc_config}}


def refusal_of(seed: int, index: int) -> InvalidRequest | None:
    """ValidateRequest's refusal of session ``index``'s request under ``seed``, if any."""
    plan = plan_session(seed, index, CLUSTERS, planned_faults=True)
    request = session_request(plan, f"soak-{plan.cluster}", KEY)
    task_input = ValidateRequestInput(plan.session_id, STARTED_AT, request)
    try:
        validate_request(task_input, settings=Settings(), eks=PrivateClusters())
    except InvalidRequest as refusal:
        return refusal
    return None


# Seed 424242's session 284 once drew the same /32 twice and was refused at validation.
@example(seed=424242, index=284)
@example(seed=DEFAULT_SEED, index=0)
@given(seed=st.integers(min_value=0, max_value=2**63), index=st.integers(0, 9_999))
def test_every_plan_draws_a_request_validation_accepts(seed: int, index: int) -> None:
    assert refusal_of(seed, index) is None


def test_the_once_refused_session_of_seed_424242_draws_distinct_networks() -> None:
    plan = plan_session(424242, 284, CLUSTERS, planned_faults=True)

    assert len(set(plan.cidrs)) == len(plan.cidrs) >= 1
    assert refusal_of(424242, 284) is None


@pytest.mark.parametrize("seed", [1, 7, 99, 424242, DEFAULT_SEED])
def test_whole_campaigns_of_documented_and_reported_seeds_draw_only_valid_requests(
    seed: int,
) -> None:
    refused = {index: refusal_of(seed, index) for index in range(1000)}

    assert {index: str(error) for index, error in refused.items() if error is not None} == {}
