"""Fixtures of the workflow tier: a fresh local AWS with the stack deployed for the cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workflow.harness import Harness, deployed


@pytest.fixture
def harness() -> Iterator[Harness]:
    with deployed() as fresh:
        yield fresh
