"""Fixtures of the workflow tier: a fresh local AWS, a seeded cluster, the stack deployed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workflow.harness import Harness, deploy_for_tests


@pytest.fixture
def harness() -> Iterator[Harness]:
    from bastion.local import LocalAws

    # At 60x a session of N minutes holds for N seconds, and retry waits shrink alike.
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        yield deploy_for_tests(aws)
