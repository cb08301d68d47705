"""Private sessions: where AWS Systems Manager Session Manager reaches the bastion.

A private session's bastion has no public address and its group no inbound rule: its
sshd listens on 127.0.0.1 of the task. The ready document names, under
``sessionManager``, the ECS Exec target of the session's own task
(``ecs:<cluster>_<task id>_<runtime id>``), the stack's session document (a Port session
fixed to sshd's port, taking no parameters) and the region. The command checks all three
before anything runs: each becomes an argument of the proxy ssh starts through a shell,
and the target must be the task the API says is the session's, in the API's region.

ssh then connects through :mod:`bastion.cli.session_manager_proxy` (its ProxyCommand),
which opens the Session Manager session and hands it to ``session-manager-plugin``.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tasks.common.ecs_ids import CLUSTER_NAME, ECS_EXEC_TARGET_SHAPE, TASK_ID

#: A document the stack created: a plain name (never an ARN, so never another account's).
DOCUMENT_SHAPE = re.compile(r"[A-Za-z0-9_.-]{3,128}")
#: Names SSM keeps for AWS's own documents (AWS-StartPortForwardingSessionToRemoteHost...).
RESERVED_DOCUMENT_PREFIXES = ("aws", "amazon", "amzn")
REGION_SHAPE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
TASK_ARN_SHAPE = re.compile(
    rf"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{{12}}:task/(?P<cluster>{CLUSTER_NAME})"
    rf"/(?P<task>{TASK_ID})"
)
FIELDS = frozenset({"target", "documentName", "region"})
PROXY_MODULE = "bastion.cli.session_manager_proxy"


class SessionManagerError(ValueError):
    """A ``sessionManager`` the command will not run anything with."""


@dataclass(frozen=True)
class SessionManager:
    """Where Session Manager reaches one session's bastion."""

    target: str
    document_name: str
    region: str

    def to_dict(self) -> dict[str, str]:
        return {"target": self.target, "documentName": self.document_name, "region": self.region}

    def start_session_request(self) -> dict[str, str]:
        """SSM StartSession's parameters: the stack's document takes none of its own."""
        return {"Target": self.target, "DocumentName": self.document_name}


def check(target: object, document_name: object, region: object) -> SessionManager:
    """The three values, each of its expected shape (SessionManagerError otherwise)."""
    if not isinstance(target, str) or not ECS_EXEC_TARGET_SHAPE.fullmatch(target):
        raise SessionManagerError(
            f"target {target!r} is not an ECS Exec target ecs:<cluster>_<task id>_<runtime id>"
        )
    if (
        not isinstance(document_name, str)
        or not DOCUMENT_SHAPE.fullmatch(document_name)
        or document_name.lower().startswith(RESERVED_DOCUMENT_PREFIXES)
    ):
        raise SessionManagerError(
            f"documentName {document_name!r} is not the name of a document a stack creates"
        )
    if not isinstance(region, str) or not REGION_SHAPE.fullmatch(region):
        raise SessionManagerError(f"region {region!r} is not a region name")
    return SessionManager(target, document_name, region)


def parse(value: object, *, task_arn: object, region: str) -> SessionManager:
    """A ready document's ``sessionManager``, checked: exactly its three fields, each of
    its shape, the target naming the task ``task_arn`` (the session's own, as the API
    says), and the region ``region`` (the API's)."""
    if not isinstance(value, Mapping) or set(value) != FIELDS:
        raise SessionManagerError(f"it must be an object of exactly {sorted(FIELDS)}")
    manager = check(value["target"], value["documentName"], value["region"])
    if manager.region != region:
        raise SessionManagerError(f"region {manager.region!r} is not the API's ({region})")
    task = TASK_ARN_SHAPE.fullmatch(task_arn) if isinstance(task_arn, str) else None
    if task is None:
        raise SessionManagerError(f"the API names no task of the session (taskArn {task_arn!r})")
    named = ECS_EXEC_TARGET_SHAPE.fullmatch(manager.target)
    if named is None or (named["cluster"], named["task"]) != (task["cluster"], task["task"]):
        raise SessionManagerError(
            f"target {manager.target!r} is not the session's task {task['task']} "
            f"of cluster {task['cluster']}"
        )
    return manager


def proxy_command(manager: SessionManager, *, profile: str | None, local_dir: Path | None) -> str:
    """ssh's ProxyCommand: this interpreter running the proxy for ``manager``.

    ssh runs it through the user's shell, in the user's working directory: ``-P`` keeps
    that directory off the module path, so a ``bastion`` package there is never the proxy.
    Every word is quoted; ssh expands ``%h``, ``%p`` and the like in it, so every ``%``
    is written ``%%``.
    """
    words = [sys.executable, "-P", "-m", PROXY_MODULE, "--target", manager.target]
    words += ["--document-name", manager.document_name, "--region", manager.region]
    if profile:
        words += ["--profile", profile]
    if local_dir is not None:
        words += ["--local-dir", str(local_dir)]
    return shlex.join(words).replace("%", "%%")
