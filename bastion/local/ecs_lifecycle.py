"""The life of an ECS task in the local AWS.

A task created while a local AWS runs carries a :class:`FargateLifecycle`: it goes
PROVISIONING → PENDING → RUNNING over as many ``DescribeTasks`` calls as
:attr:`~bastion.local.ecs_control.EcsControl.describes_until_running` says, stays RUNNING
until it is stopped (by StopTask, by itself, or before it ever ran), and its network
interface is released when it stops.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bastion.local.active import Controls, current
from bastion.local.ecs_exec import containers_running, containers_stopped, keep_execute_command

_quiet = threading.local()
#: One task moves along its life at a time (a DescribeTasks, or its own start time).
_advancing = threading.RLock()


@dataclass
class FargateLifecycle:
    """Where a task created by the local AWS is in its life (kept on the task)."""

    describes_until_running: int
    start_failure: str | None
    describes_seen: int = 0
    eni_id: str | None = None
    #: It left PROVISIONING/PENDING: RUNNING, or STOPPED before it ran.
    started: bool = False


@contextmanager
def quiet_describes() -> Iterator[None]:
    """``DescribeTasks`` calls from this thread do not move tasks along their lifecycle.

    The inventory reads tasks without advancing a test's scenario.
    """
    _quiet.active = True
    try:
        yield
    finally:
        _quiet.active = False


def quiet_describes_active() -> bool:
    """Whether this thread's ``DescribeTasks`` calls are inside :func:`quiet_describes`."""
    return bool(getattr(_quiet, "active", False))


def stop_task_by_itself(
    task_arn: str,
    reason: str = "Essential container in task exited",
    exit_code: int = 0,
    *,
    at: datetime | None = None,
) -> None:
    """The task's essential container exits (idle timeout, expiry, crash), ``at`` a given
    moment (now by default: a test plays a container whose own clock says its expiry
    came, while the local AWS's waits run fast)."""
    controls = require_active()
    task = find_task(ecs_backend(controls), task_arn)
    if task is None:
        raise KeyError(f"no ECS task {task_arn!r} in the local AWS")
    if task.last_status != "STOPPED":
        stop_task_now(controls, task, reason, "EssentialContainerExited", exit_code, at=at)


def require_active() -> Controls:
    """The running local AWS's controls (RuntimeError when none runs)."""
    controls = current()
    if controls is None:
        raise RuntimeError("the local AWS is not running")
    return controls


def ecs_backend(controls: Controls) -> Any:
    """moto's ECS backend of the running local AWS."""
    from moto.ecs.models import ecs_backends

    return ecs_backends[controls.account_id][controls.region]


def ec2_backend(controls: Controls) -> Any:
    """moto's EC2 backend of the running local AWS."""
    from moto.ec2.models import ec2_backends

    return ec2_backends[controls.account_id][controls.region]


def find_task(backend: Any, task_arn_or_id: str, cluster_name: str | None = None) -> Any:
    """moto's task with that ARN or id (in ``cluster_name`` if given), or None."""
    task_id = task_arn_or_id.split("/")[-1]
    for name, tasks in list(backend.tasks.items()):
        if cluster_name is not None and name != cluster_name:
            continue
        for arn, task in list(tasks.items()):
            if arn == task_arn_or_id or arn.endswith(f"/{task_id}"):
                return task
    return None


def now() -> datetime:
    """The time stamped on task transitions."""
    return datetime.now(UTC)


def lifecycle_of(task: Any) -> FargateLifecycle | None:
    """The lifecycle of a task created while a local AWS ran (None for others)."""
    return getattr(task, "local_lifecycle", None)


def mark_running(task: Any) -> None:
    """The task and its containers are RUNNING from now on."""
    task.last_status = "RUNNING"
    task.pull_started_at = task.pull_stopped_at = task.started_at = now()
    for container in task.containers:
        container.last_status = "RUNNING"
    containers_running(task)


def keep_run_task_execute_command(task: Any, enabled: bool) -> None:
    """RunTask's ``enableExecuteCommand``, kept on ``task`` while its life cannot move."""
    with _advancing:
        keep_execute_command(task, enabled)


def stop_task_now(
    controls: Controls,
    task: Any,
    reason: str,
    stop_code: str,
    exit_code: int | None,
    *,
    at: datetime | None = None,
) -> None:
    """The task is STOPPED for ``reason`` (``at`` a given moment, now by default); its
    network interface is released; EventBridge gets the task's "Task State Change" event."""
    moment = now() if at is None else at
    task.desired_status = "STOPPED"
    task.last_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = stop_code
    task.stopping_at = task.execution_stopped_at = task.stopped_at = moment
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = exit_code
    containers_stopped(task)
    for attachment in task.attachments:
        attachment["status"] = "DELETED"
    lifecycle = lifecycle_of(task)
    if controls.ecs.task_runner is not None and lifecycle is not None:
        controls.ecs.task_runner.stop(str(task.task_arn))
    # The awslogs driver puts the container's last lines, then stops following it.
    controls.awslogs.end(str(task.task_arn))
    if lifecycle is not None and lifecycle.eni_id:
        late = controls.random_faults.eni_released_after()
        if late > 0:
            controls.ec2.release_network_interface_after(lifecycle.eni_id, late)
        else:
            controls.ec2.release_network_interface(ec2_backend(controls), lifecycle.eni_id)
    # EventBridge gets the ECS "Task State Change" (delivered after the caller returns).
    from bastion.local.eventbridge import task_state_change_event

    controls.events.put(task_state_change_event(task, controls.region, controls.account_id))


def advance(controls: Controls, task: Any) -> None:
    """One DescribeTasks observed the task: move it along PROVISIONING → PENDING → RUNNING."""
    with _advancing:
        lifecycle = lifecycle_of(task)
        if lifecycle is None or task.last_status not in ("PROVISIONING", "PENDING"):
            return
        lifecycle.describes_seen += 1
        if lifecycle.describes_seen < max(lifecycle.describes_until_running, 1):
            task.last_status = "PENDING"
            return
    start_now(controls, task)


def start_now(controls: Controls, task: Any) -> None:
    """The task not running yet starts now: RUNNING, its container writing its lines (or
    STOPPED, if it was to fail to start)."""
    with _advancing:
        lifecycle = lifecycle_of(task)
        if lifecycle is None or lifecycle.started:
            return
        if task.last_status not in ("PROVISIONING", "PENDING"):
            return
        lifecycle.started = True
        if lifecycle.start_failure is None:
            mark_running(task)
    if lifecycle.start_failure is not None:
        stop_task_now(controls, task, lifecycle.start_failure, "TaskFailedToStart", None)
    else:
        controls.awslogs.running(str(task.task_arn))
