"""Where Session Manager reaches a private session's bastion: its task's ECS Exec target.

A private bastion has no public IP and its group lets nothing in. Users reach its sshd
(on the task's loopback) through a Session Manager session on the task's ECS Exec target,
``ecs:<cluster>_<task id>_<runtime id>``, with the stack's own session document (a port
session to 22 and nothing else). The target exists once the bastion container has a
runtime id and its ``ExecuteCommandAgent`` runs, as DescribeTasks shows them; until then
the bastion is not ready. ssh carries the same tunnel as in public mode, with a
ProxyCommand that opens the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tasks.common.ecs_ids import RUNTIME_ID_SHAPE
from tasks.common.errors import BastionNotReady, BastionStartedInvalid

#: The managed agent ECS Exec (and so Session Manager) talks to in the container.
EXECUTE_COMMAND_AGENT = "ExecuteCommandAgent"


class ExecuteCommandNotReady(BastionNotReady):
    """The bastion's task runs, but ECS Exec cannot reach its container yet."""


@dataclass(frozen=True)
class SessionManagerTarget:
    """What a Session Manager session on the bastion needs: the ready document's
    ``sessionManager``."""

    target: str
    document_name: str
    region: str

    def to_dict(self) -> dict[str, str]:
        return {"target": self.target, "documentName": self.document_name, "region": self.region}

    def proxy_command(self) -> str:
        """The AWS CLI's command that opens the session, for ssh's ProxyCommand."""
        return (
            f"aws ssm start-session --target {self.target} "
            f"--document-name {self.document_name} --region {self.region}"
        )

    def ssh_command(self, ssh_user: str, host_alias: str) -> str:
        """ssh through the session; ``host_alias`` names the bastion (its session id)."""
        return f'ssh -o ProxyCommand="{self.proxy_command()}" {ssh_user}@{host_alias}'


def ecs_exec_target(ecs_cluster: str, task_arn: str, runtime_id: str) -> str:
    """``ecs:<cluster>_<task id>_<runtime id>`` (the cluster by name, even given its ARN)."""
    cluster = ecs_cluster.rsplit("/", 1)[-1]
    task_id = task_arn.rsplit("/", 1)[-1]
    return f"ecs:{cluster}_{task_id}_{runtime_id}"


def reachable_runtime_id(task: Mapping[str, Any], container_name: str) -> str:
    """The runtime id of the task's ``container_name`` once ECS Exec can reach it (its
    ExecuteCommandAgent RUNNING); ExecuteCommandNotReady saying what is missing until
    then (BastionNotReady while the task has no such container). A runtime id of another
    shape is BastionStartedInvalid: it never reaches the session's ssh command."""
    container = next(
        (item for item in task.get("containers", []) if item.get("name") == container_name),
        None,
    )
    if container is None:
        raise BastionNotReady(f"the task has no container {container_name!r} yet")
    agent = next(
        (
            item
            for item in container.get("managedAgents") or []
            if item.get("name") == EXECUTE_COMMAND_AGENT
        ),
        None,
    )
    if agent is None:
        raise ExecuteCommandNotReady(f"the container's {EXECUTE_COMMAND_AGENT} is not there yet")
    if agent.get("lastStatus") != "RUNNING":
        status = agent.get("lastStatus", "not yet known")
        raise ExecuteCommandNotReady(f"the container's {EXECUTE_COMMAND_AGENT} is {status}")
    runtime_id = container.get("runtimeId")
    if not isinstance(runtime_id, str) or not runtime_id:
        raise ExecuteCommandNotReady("the container has no runtime id yet")
    if not RUNTIME_ID_SHAPE.fullmatch(runtime_id):
        raise BastionStartedInvalid(
            f"the container's runtime id {runtime_id[:120]!r} is not <task id>-<number>: "
            "it would be part of the ssh command the session reports"
        )
    return runtime_id
