"""Finding a session's bastion tasks in the ECS cluster."""

from __future__ import annotations

from typing import Any

from tasks.common.settings import Settings, SettingsError
from tasks.common.tags import SESSION_TAG, STACK_TAG
from tasks.common.validation import check_session_id

#: RunTask's ``startedBy`` for every bastion task.
STARTED_BY = "fargate-bastion"
#: DescribeTasks takes at most this many tasks per call.
_DESCRIBE_BATCH = 100


def require_ecs_cluster(settings: Settings) -> str:
    """The bastions' ECS cluster, or a SettingsError: without it no task can be found."""
    if not settings.ecs_cluster:
        raise SettingsError("the stack did not configure BASTION_ECS_CLUSTER")
    return settings.ecs_cluster


def find_session_tasks(
    ecs: Any, cluster: str, session_id: str, stack_name: str
) -> list[dict[str, Any]]:
    """The session's bastion tasks (of the stack ``stack_name``) not stopped or stopping.

    ListTasks shows tasks whose desired status is RUNNING (PROVISIONING and PENDING
    tasks included); ``startedBy`` must be its only filter, so the session is matched
    by tag afterwards.
    """
    session_id = check_session_id(session_id)
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, startedBy=STARTED_BY):
        arns.extend(page["taskArns"])
    found: list[dict[str, Any]] = []
    for start in range(0, len(arns), _DESCRIBE_BATCH):
        batch = arns[start : start + _DESCRIBE_BATCH]
        described = ecs.describe_tasks(cluster=cluster, tasks=batch, include=["TAGS"])
        found.extend(
            task
            for task in described["tasks"]
            if ecs_tag(task, SESSION_TAG) == session_id
            and ecs_tag(task, STACK_TAG) == stack_name
            and task.get("lastStatus") != "STOPPED"
            and task.get("desiredStatus") != "STOPPED"
        )
    return found


def ecs_tag(resource: dict[str, Any], key: str) -> str | None:
    """The value of tag ``key`` on an ECS resource (ECS spells tags in lower case)."""
    return next(
        (tag.get("value") for tag in resource.get("tags", []) if tag.get("key") == key), None
    )
