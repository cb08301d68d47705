"""The container's environment contract: one constant, the same as container/README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.common.container_contract import CONTAINER_ENVIRONMENT, container_environment
from tests.unit.support import make_session

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "container" / "README.md"


def documented_variables() -> tuple[str, ...]:
    """The variables in the README's table, in its order."""
    return tuple(re.findall(r"^\| `(BASTION_[A-Z_]+)` \|", README.read_text(), re.MULTILINE))


def test_the_constant_matches_the_readme() -> None:
    assert documented_variables() == CONTAINER_ENVIRONMENT


def test_the_environment_has_exactly_the_contract() -> None:
    session = make_session()
    environment = container_environment(session, idle_timeout_seconds=1800)
    assert tuple(environment) == CONTAINER_ENVIRONMENT
    assert environment["BASTION_IDLE_TIMEOUT_SECONDS"] == "1800"
    assert environment["BASTION_AUTHORIZED_KEY"] == session.ssh_public_key
    assert all(isinstance(value, str) for value in environment.values())
