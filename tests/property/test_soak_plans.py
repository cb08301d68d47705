"""The soak campaign's plans: whatever the seed, each session's request is a valid one.

No plan of the campaign is a refusal (a plan fails only by its faults: capacity refused, a
task that does not start, an abort), so ValidateRequest's checks of the request must accept
every request the generator draws, with the stack's default settings (the defaults
template.yaml declares: tests/template checks that they are ``Settings()``'s) and every
cluster allowed, as the campaign deploys the stack. A refused request would count as a
session "not as planned" and fail the soak with nothing leaked. (The caps on running
sessions are not the request's: the campaign deploys them wide enough for its batches.)
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bastion.local.keys import throwaway_public_key
from benchmarks.soak import DEFAULT_SEED, plan_session, session_request
from tasks.common.errors import InvalidRequest
from tasks.common.session_request import check_request
from tasks.common.settings import ALL_CLUSTERS, Settings

pytestmark = [pytest.mark.property, pytest.mark.unit]

CLUSTERS = 3
KEY = throwaway_public_key("soak@fargate-bastion")
#: The stack's defaults, every cluster allowed (the campaign deploys AllowedClusters "*").
SETTINGS = Settings(allowed_clusters=(ALL_CLUSTERS,))


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
    try:
        check_request(request, settings=SETTINGS, eks=PrivateClusters())
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
