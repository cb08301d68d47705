"""RunBastionTask: start the session's Fargate task in the session security group.

A public session's task runs the bastion task definition in the bastion subnets, with a
public IP as the stack's AssignPublicIp says and without ECS Exec. A private session's
runs the private task definition in the private subnets, never with a public IP, with ECS
Exec (its one door: Session Manager) and sshd on the task's loopback only.

Idempotent twice over: a running task of the session is found first by its tag, and
RunTask's client token makes a retried call start no second task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.common.access_modes import PRIVATE
from tasks.common.aws import client
from tasks.common.bastion_tasks import STARTED_BY, find_session_tasks
from tasks.common.container_contract import check_endpoint_host, container_environment
from tasks.common.errors import CapacityUnavailable
from tasks.common.models import Session, require
from tasks.common.observability import logger, task_handler
from tasks.common.session_request import check_access_mode
from tasks.common.settings import Settings, SettingsError, load_settings
from tasks.common.tags import as_ecs_tags, session_tags

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

MAX_CLIENT_TOKEN_CHARS = 64


@dataclass(frozen=True)
class RunBastionTaskInput:
    """The task's input."""

    session: Session
    session_security_group_id: str
    #: The cluster's API endpoint host (FindControlPlane): the only place it may forward to.
    endpoint_host: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> RunBastionTaskInput:
        group = require(event, "sessionSecurityGroup")
        host = require(require(event, "controlPlane"), "endpointHost", within="controlPlane")
        return cls(
            session=Session.from_dict(require(event, "session")),
            session_security_group_id=str(require(group, "groupId", within="sessionSecurityGroup")),
            endpoint_host=check_endpoint_host(str(host)),
        )


@dataclass(frozen=True)
class BastionTask:
    """The task's output."""

    task_arn: str
    started: bool

    def to_dict(self) -> dict[str, Any]:
        return {"taskArn": self.task_arn, "started": self.started}


def client_token(session_id: str) -> str:
    """RunTask's idempotency token: the session id, or a digest of it when too long."""
    if len(session_id) <= MAX_CLIENT_TOKEN_CHARS:
        return session_id
    return hashlib.sha256(session_id.encode()).hexdigest()


def run_bastion_task(request: RunBastionTaskInput, *, settings: Settings, ecs: Any) -> BastionTask:
    """Find the session's running bastion task, or start one."""
    session = request.session
    # The stack's modes may have changed since the request was validated.
    private = check_access_mode(session.access_mode, settings) == PRIVATE
    _check_settings(settings, session.access_mode)
    running = find_session_tasks(ecs, settings.ecs_cluster, session.session_id, settings.stack_name)
    if running:
        logger.info("bastion task already running", extra={"taskArn": running[0]["taskArn"]})
        return BastionTask(task_arn=str(running[0]["taskArn"]), started=False)
    environment = container_environment(
        session,
        settings.idle_timeout_minutes * 60,
        endpoint_host=check_endpoint_host(request.endpoint_host),
        mode=settings.bastion_mode,
    )
    public_ip = settings.assign_public_ip and not private
    response = ecs.run_task(
        cluster=settings.ecs_cluster,
        taskDefinition=settings.task_definition_for(session.access_mode),
        launchType="FARGATE",
        count=1,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(settings.subnets_for(session.access_mode)),
                "securityGroups": [request.session_security_group_id],
                "assignPublicIp": "ENABLED" if public_ip else "DISABLED",
            }
        },
        enableExecuteCommand=private,
        overrides={
            "containerOverrides": [
                {
                    "name": settings.container_name,
                    "environment": [
                        {"name": name, "value": value} for name, value in environment.items()
                    ],
                }
            ]
        },
        startedBy=STARTED_BY,
        tags=as_ecs_tags(session_tags(session, settings.stack_name)),
        enableECSManagedTags=True,
        clientToken=client_token(session.session_id),
    )
    failures = response.get("failures", [])
    if failures or not response.get("tasks"):
        reasons = "; ".join(
            " ".join(str(failure.get(key)) for key in ("reason", "detail") if failure.get(key))
            for failure in failures
        )
        raise CapacityUnavailable(
            f"RunTask started no bastion task: {reasons or 'no reason given'}"
        )
    task_arn = str(response["tasks"][0]["taskArn"])
    logger.info("started bastion task", extra={"taskArn": task_arn})
    return BastionTask(task_arn=task_arn, started=True)


def _check_settings(settings: Settings, access_mode: str) -> None:
    definition = (
        "BASTION_PRIVATE_TASK_DEFINITION" if access_mode == PRIVATE else "BASTION_TASK_DEFINITION"
    )
    missing = [
        name
        for name, value in (
            ("BASTION_ECS_CLUSTER", settings.ecs_cluster),
            (definition, settings.task_definition_for(access_mode)),
            ("BASTION_SUBNETS", settings.subnets_for(access_mode)),
        )
        if not value
    ]
    if missing:
        raise SettingsError(
            f"the stack did not configure {', '.join(missing)}: RunBastionTask cannot start "
            "a bastion without an ECS cluster, a task definition and subnets"
        )


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """RunBastionTask."""
    request = RunBastionTaskInput.from_event(event)
    return run_bastion_task(request, settings=load_settings(), ecs=client("ecs")).to_dict()
