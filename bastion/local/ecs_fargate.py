"""ECS Fargate tasks with a lifecycle, a network interface and a public address.

Gaps filled (moto 5.2.5):

* ``RunTask`` for Fargate/awsvpc crashes when only the task has a memory size, when the
  VPC has no DNS hostnames, and when ``securityGroups`` is omitted (AWS then uses the VPC's
  default group).
* Tasks start RUNNING and drift towards STOPPED on every describe. Here a task goes
  PROVISIONING → PENDING → RUNNING over as many ``DescribeTasks`` calls as
  :attr:`~bastion.local.ecs_control.EcsControl.describes_until_running` says, and stays
  RUNNING until it is stopped.
* ``StopTask`` sets no stop code and leaves the network interface behind; the interface
  gets no public address with ``assignPublicIp: ENABLED``.
* ``ListTasks`` without ``desiredStatus`` lists stopped tasks too (AWS: RUNNING only), and
  ``RunTask`` ignores ``clientToken`` and ``enableExecuteCommand``
  (:mod:`bastion.local.ecs_exec` keeps the latter).
* No log driver runs: a task's output reaches CloudWatch Logs through the awslogs driver
  of ``bastion.local.cloudwatch_logs``, from the moment RunTask returns.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

from bastion.local.active import Controls, current
from bastion.local.clock import scaled
from bastion.local.cloudwatch_logs import attach_task_logs, awslogs_start_failure, begin_task_logs
from bastion.local.ecs_control import CAPACITY_UNAVAILABLE
from bastion.local.ecs_lifecycle import (
    FargateLifecycle,
    advance,
    ec2_backend,
    find_task,
    keep_run_task_execute_command,
    lifecycle_of,
    mark_running,
    now,
    quiet_describes_active,
    start_now,
    stop_task_now,
)
from bastion.local.patching import replace_attribute

# --- RunTask's three Fargate crashes -------------------------------------------------------


def _resource_requirements(original: staticmethod) -> staticmethod:  # type: ignore[type-arg]
    compute = original.__func__

    def calculate(task_definition: Any) -> Any:
        if current() is None:
            return compute(task_definition)
        # Fargate task definitions may size only the task: give its memory to the containers.
        task_memory = int(getattr(task_definition, "memory", None) or 0)
        containers = []
        for index, container in enumerate(task_definition.container_definitions):
            sized = dict(container)
            if not any(sized.get(key) for key in ("memory", "memoryReservation", "Memory")):
                sized["memory"] = task_memory if index == 0 else 0
            containers.append(sized)
        return compute(SimpleNamespace(container_definitions=containers))

    return staticmethod(calculate)


def _default_security_groups(controls: Controls, networking: dict[str, Any]) -> dict[str, Any]:
    """AWS puts an awsvpc task without ``securityGroups`` in its VPC's default group."""
    awsvpc = dict(networking.get("awsvpcConfiguration") or {})
    if awsvpc.get("securityGroups") or not awsvpc.get("subnets"):
        return networking
    ec2 = ec2_backend(controls)
    vpc_id = ec2.get_subnet(awsvpc["subnets"][0]).vpc_id
    default_group = ec2.get_default_security_group(vpc_id)
    awsvpc["securityGroups"] = [default_group.id] if default_group else []
    return {**networking, "awsvpcConfiguration": awsvpc}


def _dress_interface(controls: Controls, task: Any, networking: dict[str, Any]) -> str | None:
    """Make the task's interface look like a Fargate one; return its id."""
    from moto.ec2.utils import random_public_ip

    for attachment in task.attachments:
        details = {detail["name"]: detail["value"] for detail in attachment["details"]}
        eni_id = details.get("networkInterfaceId")
        if not eni_id:
            continue
        eni = ec2_backend(controls).get_network_interface(eni_id)
        eni.requester_managed = True
        eni.status = "in-use"
        eni.description = (
            f"arn:aws:ecs:{controls.region}:{controls.account_id}:attachment/{attachment['id']}"
        )
        awsvpc = networking.get("awsvpcConfiguration") or {}
        if str(awsvpc.get("assignPublicIp", "DISABLED")).upper() == "ENABLED":
            eni.public_ip = random_public_ip()
        task.availability_zone = eni.availability_zone
        for container in task.containers:
            container.network_interfaces = [
                {"attachmentId": attachment["id"], "privateIpv4Address": eni.private_ip_address}
            ]
        return str(eni_id)
    return None


def _task_init(original: Any) -> Any:
    def init(self: Any, cluster: Any, task_definition: Any, *args: Any, **kwargs: Any) -> None:
        controls = current()
        if controls is None:
            original(self, cluster, task_definition, *args, **kwargs)
            return
        networking = kwargs.get("networking_configuration")
        if task_definition.network_mode == "awsvpc" and networking:
            networking = _default_security_groups(controls, networking)
            kwargs["networking_configuration"] = networking
        original(self, cluster, task_definition, *args, **kwargs)
        lifecycle = FargateLifecycle(
            describes_until_running=controls.ecs.describes_until_running,
            start_failure=(
                controls.ecs.take_start_failure() or controls.random_faults.start_failure()
            ),
        )
        self.local_lifecycle = lifecycle
        self.created_at = now()
        self.cpu = getattr(task_definition, "cpu", None)
        self.memory = getattr(task_definition, "memory", None)
        self.connectivity = "CONNECTED"
        self.stopped_reason = None  # moto says "" while running; AWS says nothing
        if self.launch_type == "FARGATE":
            self.platform_version = self.platform_version or "1.4.0"
            self.platform_family = "Linux"
        for container in self.containers:
            container.exitCode = None
        if networking:
            lifecycle.eni_id = _dress_interface(controls, self, networking)
        if lifecycle.start_failure is None:
            lifecycle.start_failure = awslogs_start_failure(
                controls, task_definition, str(self.task_arn)
            )
        runner = controls.ecs.task_runner
        if runner is not None and lifecycle.start_failure is None:
            from bastion.local.task_runner import start_task

            eni = lifecycle.eni_id and ec2_backend(controls).get_network_interface(lifecycle.eni_id)
            lifecycle.start_failure = start_task(runner, self, eni or None)
        if lifecycle.start_failure is None:
            attach_task_logs(controls, self, task_definition)
        if lifecycle.describes_until_running <= 0 and lifecycle.start_failure is None:
            lifecycle.started = True
            mark_running(self)
        else:
            self.last_status = "PROVISIONING"
            controls.ecs.start_later(
                str(self.task_arn),
                partial(start_now, controls, self),
                scaled(controls.ecs.seconds_until_running) or 0.0,
            )

    return init


def _task_status(original: property) -> property:
    def get_status(self: Any) -> Any:
        if lifecycle_of(self) is not None:
            return self._status  # the local lifecycle moves it, not moto's state manager
        return original.fget(self) if original.fget else None

    def set_status(self: Any, value: Any) -> None:
        if original.fset:
            original.fset(self, value)

    return property(get_status, set_status)


# --- DescribeTasks, StopTask, ListTasks, RunTask --------------------------------------------


def _describe_tasks(original: Any) -> Any:
    def describe_tasks(self: Any, cluster_str: str, tasks: list[str]) -> Any:
        found = original(self, cluster_str, tasks)
        controls = current()
        if controls is not None and not quiet_describes_active():
            for task in found:
                advance(controls, task)
        return found

    return describe_tasks


def _stop_task(original: Any) -> Any:
    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        controls = current()
        cluster = self.clusters.get(str(cluster_str).split("/")[-1])
        task = find_task(self, task_str, cluster.name) if controls and cluster else None
        if controls is None or task is None or lifecycle_of(task) is None:
            return original(self, cluster_str, task_str, reason)
        if task.last_status == "STOPPED":
            return task  # AWS answers with the task as it is; the first reason stays
        original(self, cluster_str, task_str, reason)
        stop_task_now(controls, task, reason or "Task stopped by user", "UserInitiated", None)
        return task

    return stop_task


def _list_tasks_response(original: Any) -> Any:
    from moto.core.responses import ActionResult

    def list_tasks(self: Any) -> Any:
        if current() is None:
            return original(self)
        tasks = self.ecs_backend.list_tasks(
            self._get_param("cluster", "default"),
            self._get_param("containerInstance"),
            self._get_param("family"),
            self._get_param("startedBy"),
            self._get_param("serviceName"),
            # AWS lists only tasks meant to run unless asked for stopped ones.
            self._get_param("desiredStatus") or "RUNNING",
        )
        return ActionResult({"taskArns": [task.task_arn for task in tasks]})

    return list_tasks


def _run_task_response(original: Any) -> Any:
    from moto.core.responses import ActionResult

    def run_task(self: Any) -> Any:
        controls = current()
        if controls is None:
            return original(self)
        refusal = controls.ecs.take_capacity_refusal() or controls.random_faults.capacity_refusal(
            CAPACITY_UNAVAILABLE
        )
        if refusal is not None:
            return ActionResult({"tasks": [], "failures": [{"reason": refusal}]})
        cluster = str(self._get_param("cluster", "default")).split("/")[-1]
        token = self._get_param("clientToken")
        known = controls.ecs.tasks_for_client_token(cluster, token) if token else None
        if known is not None:
            backend = self.ecs_backend
            tasks = [find_task(backend, arn, cluster) for arn in known]
            return ActionResult({"tasks": [task for task in tasks if task], "failures": []})
        result = original(self)
        started = result.result.get("tasks", [])
        execute_command = self._get_param("enableExecuteCommand") is True
        for task in started:
            keep_run_task_execute_command(task, execute_command)
        if token:
            controls.ecs.remember_client_token(cluster, token, [task.task_arn for task in started])
        # The tasks exist now: what their containers write starts reaching CloudWatch Logs.
        begin_task_logs(controls, started)
        return result

    return run_task


def install() -> None:
    """Patch ECS tasks: Fargate RunTask, lifecycle, StopTask, ListTasks defaults."""
    from moto.ecs.models import EC2ContainerServiceBackend, Task
    from moto.ecs.responses import EC2ContainerServiceResponse

    replace_attribute(
        EC2ContainerServiceBackend, "_calculate_task_resource_requirements", _resource_requirements
    )
    replace_attribute(Task, "__init__", _task_init)
    replace_attribute(Task, "status", _task_status)
    replace_attribute(EC2ContainerServiceBackend, "describe_tasks", _describe_tasks)
    replace_attribute(EC2ContainerServiceBackend, "stop_task", _stop_task)
    replace_attribute(EC2ContainerServiceResponse, "list_tasks", _list_tasks_response)
    replace_attribute(EC2ContainerServiceResponse, "run_task", _run_task_response)
