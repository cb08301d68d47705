"""The bastion image run with podman as template.yaml's task definition says.

The task definition's container settings become ``podman run`` flags in this one place:
the image tests (tests/container/test_image.py) and `make bench` (benchmarks/image.py)
start the image with them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bastion.local.deploy import load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


def task_container() -> dict[str, Any]:
    definition = load_template(TEMPLATE)["Resources"]["BastionTaskDefinition"]
    (container,) = definition["Properties"]["ContainerDefinitions"]
    return dict(container)


def task_definition_flags() -> tuple[list[str], int]:
    """``podman run`` flags for the task definition's container, and its SSH port."""
    container = task_container()
    flags = ["--user", str(container["User"])]
    if container.get("ReadonlyRootFilesystem"):
        # Fargate mounts no tmpfs anywhere: neither does this.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    linux = container.get("LinuxParameters", {})
    for capability in linux.get("Capabilities", {}).get("Drop", []):
        flags += ["--cap-drop", capability]
    for capability in linux.get("Capabilities", {}).get("Add", []):
        flags += ["--cap-add", capability]
    if linux.get("InitProcessEnabled") and shutil.which("catatonit"):
        flags.append("--init")
    for control in container.get("SystemControls", []):
        flags += ["--sysctl", f"{control['Namespace']}={control['Value']}"]
    for mount in container.get("MountPoints", []):
        # An anonymous volume: fresh, owned as the image's directory is, like task storage.
        flags += ["--volume", mount["ContainerPath"]]
    for pair in container.get("Environment", []):
        flags += ["--env", f"{pair['Name']}={pair['Value']}"]
    (mapping,) = container["PortMappings"]
    return flags, int(mapping["ContainerPort"])
