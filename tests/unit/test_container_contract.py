"""The container's environment contract: the constants, the same as container/README.md.

The container tier (tests/container/test_contract.py) checks the other side: the names
and defaults the entry point reads, and the task definition in template.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.common.container_contract import (
    CONTAINER_ENVIRONMENT,
    OPTIONAL_ENVIRONMENT,
    PRIVATE_ENVIRONMENT,
    container_environment,
)
from tests.unit.support import make_session

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "container" / "README.md"


def table_under(heading: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first table after the ``heading`` line."""
    lines = README.read_text().splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # past the header and the separator


def variable_name(cell: str) -> str:
    match = re.fullmatch(r"`(BASTION_[A-Z_]+)`", cell)
    assert match, f"not a variable name in backticks: {cell!r}"
    return match.group(1)


def documented_variables() -> tuple[str, ...]:
    """The variables RunBastionTask sets, in the README's order."""
    return tuple(variable_name(row[0]) for row in table_under("## Environment contract"))


def documented_optional_variables() -> dict[str, str]:
    """The optional variables and their defaults ("" where the README says unset)."""
    defaults = {}
    for row in table_under("### Optional variables"):
        default = re.fullmatch(r"`([^`]*)`", row[1])
        defaults[variable_name(row[0])] = default.group(1) if default else ""
    return defaults


def test_the_constant_matches_the_readme() -> None:
    assert documented_variables() == CONTAINER_ENVIRONMENT


def test_the_optional_variables_and_defaults_match_the_readme() -> None:
    assert list(documented_optional_variables().items()) == list(OPTIONAL_ENVIRONMENT.items())


def test_the_environment_has_exactly_the_contract() -> None:
    session = make_session()
    host = "0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
    environment = container_environment(
        session, idle_timeout_seconds=1800, endpoint_host=host, mode="tunnel"
    )
    assert tuple(environment) == CONTAINER_ENVIRONMENT
    assert environment["BASTION_IDLE_TIMEOUT_SECONDS"] == "1800"
    assert environment["BASTION_ENDPOINT_HOST"] == host
    assert environment["BASTION_MODE"] == "tunnel"
    with pytest.raises(ValueError, match="mode must be one of tunnel, shell"):
        container_environment(session, 1800, host, mode="both")
    assert environment["BASTION_AUTHORIZED_KEY"] == session.ssh_public_key
    assert all(isinstance(value, str) for value in environment.values())
    # The task definition and the image own the optional variables, never a session.
    assert not set(environment) & set(OPTIONAL_ENVIRONMENT)


def test_a_private_sessions_sshd_listens_on_the_loopback_only() -> None:
    session = make_session(access_mode="private", allowed_cidrs=(), requester_id="AIDAEXAMPLE")
    host = "0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
    environment = container_environment(session, 1800, endpoint_host=host, mode="tunnel")
    assert tuple(environment) == (*CONTAINER_ENVIRONMENT, *PRIVATE_ENVIRONMENT)
    assert environment["BASTION_LISTEN_ADDRESS"] == "127.0.0.1"
    # The one optional variable a private session sets
    assert set(environment) & set(OPTIONAL_ENVIRONMENT) == {"BASTION_LISTEN_ADDRESS"}
