"""The environment contract, everywhere it is written down, says the same thing.

container/README.md's tables <-> tasks/common/container_contract.py (compared in
tests/unit/test_container_contract.py) <-> the names and defaults the entry point reads
<-> the bastion container of the task definition in template.yaml.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bastion.local.deploy import load_template
from tasks.common.container_contract import CONTAINER_ENVIRONMENT, OPTIONAL_ENVIRONMENT, SSH_PORT
from tasks.common.settings import Settings
from tests.container.dockerfile_rules import instructions
from tests.container.harness import CONTAINER, ENTRYPOINT, ROOT
from tests.unit.test_container_contract import documented_optional_variables, documented_variables

pytestmark = pytest.mark.container


def entry_point_reads() -> dict[str, str | None]:
    """Each BASTION_ variable the entry point reads, with its default (None: none)."""
    reads: dict[str, str | None] = {}
    for name, default in re.findall(
        r"\$\{(BASTION_[A-Z0-9_]+)(?::-([^}]*))?\}", ENTRYPOINT.read_text()
    ):
        reads[name] = default or None
    return reads


def bastion_container() -> dict[str, Any]:
    template = load_template(ROOT / "template.yaml")
    definition = template["Resources"]["BastionTaskDefinition"]["Properties"]
    (container,) = definition["ContainerDefinitions"]
    return container


def test_the_entry_point_reads_exactly_the_documented_variables() -> None:
    documented = [*documented_variables(), *documented_optional_variables()]
    assert sorted(entry_point_reads()) == sorted(documented)
    assert set(documented) == set(CONTAINER_ENVIRONMENT) | set(OPTIONAL_ENVIRONMENT)


def test_the_entry_point_applies_the_documented_defaults() -> None:
    reads = entry_point_reads()
    for name in CONTAINER_ENVIRONMENT:
        assert reads[name] is None, f"{name} is set per session: it has no default"
    for name, default in OPTIONAL_ENVIRONMENT.items():
        assert (reads[name] or "") == default, name
    assert documented_optional_variables() == OPTIONAL_ENVIRONMENT


def test_the_task_definition_sets_only_optional_variables() -> None:
    container = bastion_container()
    # RunBastionTask's overrides name this container; the per-session variables are
    # its overrides, never baked into the task definition.
    assert container["Name"] == Settings().container_name
    names = [pair["Name"] for pair in container.get("Environment", [])]
    assert set(names) <= set(OPTIONAL_ENVIRONMENT)
    assert not set(names) & set(CONTAINER_ENVIRONMENT)


def test_the_port_mapping_is_the_ssh_port() -> None:
    container = bastion_container()
    environment = {pair["Name"]: pair["Value"] for pair in container.get("Environment", [])}
    port = int(environment.get(SSH_PORT, OPTIONAL_ENVIRONMENT[SSH_PORT]))
    assert port == int(OPTIONAL_ENVIRONMENT[SSH_PORT]) == 22
    assert container["PortMappings"] == [{"ContainerPort": port, "Protocol": "tcp"}]
    assert re.search(rf"^EXPOSE {port}$", (CONTAINER / "Dockerfile").read_text(), re.MULTILINE)


def test_the_login_user_is_the_images_user() -> None:
    # The ssh command the workflow prints logs in as BASTION_SSH_USER.
    template = load_template(ROOT / "template.yaml")
    user = template["Globals"]["Function"]["Environment"]["Variables"]["BASTION_SSH_USER"]
    runs = [i.arguments for i in instructions((CONTAINER / "Dockerfile").read_text())]
    assert any(re.search(rf"useradd .*--uid 10001 {user}\b", run) for run in runs)
