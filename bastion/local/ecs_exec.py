"""ECS Exec on the local AWS's tasks: what DescribeTasks shows of it.

Gap filled (moto 5.2.5): RunTask ignores ``enableExecuteCommand``, and DescribeTasks shows
no ``enableExecuteCommand``, no container ``runtimeId`` and no ``managedAgents``. Here a
task keeps what RunTask asked (false unless asked); each container gets a runtime id when
it runs (``<task id>-<number>``, as AWS spells them); and each container of a task started
with ECS Exec has the ``ExecuteCommandAgent``: PENDING until the container runs, RUNNING
with it, STOPPED with the task. Session Manager's target for the task is
``ecs:<cluster>_<task id>_<runtime id>`` (:mod:`bastion.local.ssm_sessions` answers it).
"""

from __future__ import annotations

import secrets
from typing import Any

from tasks.common.session_manager import EXECUTE_COMMAND_AGENT


def _agents(status: str) -> list[dict[str, str]]:
    return [{"name": EXECUTE_COMMAND_AGENT, "lastStatus": status}]


def keep_execute_command(task: Any, enabled: bool) -> None:
    """RunTask's ``enableExecuteCommand`` for ``task``, with the agent of each container
    in the state of the container."""
    task.enable_execute_command = enabled
    if not enabled:
        return
    for container in task.containers:
        status = container.last_status if container.last_status in ("RUNNING", "STOPPED") else None
        container.managed_agents = _agents(status or "PENDING")


def containers_running(task: Any) -> None:
    """The task's containers run: each has a runtime id, and its agent runs."""
    task_id = str(task.task_arn).rsplit("/", 1)[-1]
    for container in task.containers:
        if not getattr(container, "runtime_id", None):
            container.runtime_id = f"{task_id}-{secrets.randbelow(10**10):010d}"
        if getattr(container, "managed_agents", None):
            container.managed_agents = _agents("RUNNING")


def containers_stopped(task: Any) -> None:
    """The task stopped: so did its containers' agents."""
    for container in task.containers:
        if getattr(container, "managed_agents", None):
            container.managed_agents = _agents("STOPPED")
