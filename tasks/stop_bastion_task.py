"""StopBastionTask (teardown): stop every bastion task the session still has.

Finds tasks by the session tag, so it works from the session id alone, and succeeds
when there is nothing to stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.bastion_tasks import find_session_tasks, require_ecs_cluster
from tasks.common.models import require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.settings import Settings, load_settings
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

DEFAULT_REASON = "session ended"
#: StopTask keeps at most this many characters of the reason.
MAX_STOP_REASON_CHARS = 255


@dataclass(frozen=True)
class StopBastionTaskInput:
    """The task's input."""

    session_id: str
    reason: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> StopBastionTaskInput:
        return cls(
            session_id=check_session_id(require(event, "sessionId")),
            reason=str(event.get("reason") or DEFAULT_REASON),
        )


@dataclass(frozen=True)
class StoppedTasks:
    """The task's output."""

    stopped_task_arns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"stoppedTaskArns": list(self.stopped_task_arns)}


def stop_bastion_task(
    request: StopBastionTaskInput, *, settings: Settings, ecs: Any
) -> StoppedTasks:
    """Stop the session's tasks that are not stopped yet."""
    cluster = require_ecs_cluster(settings)
    try:
        tasks = find_session_tasks(ecs, cluster, request.session_id, settings.stack_name)
    except ClientError as error:
        if error_code(error) != "ClusterNotFoundException":
            raise
        logger.warning(
            "the bastion ECS cluster does not exist", extra={"cluster": settings.ecs_cluster}
        )
        return StoppedTasks(())
    reason = f"fargate-bastion: {request.reason}"[:MAX_STOP_REASON_CHARS]
    stopped = []
    for task in tasks:
        ecs.stop_task(cluster=cluster, task=task["taskArn"], reason=reason)
        logger.info("stopped bastion task", extra={"taskArn": task["taskArn"], "reason": reason})
        stopped.append(str(task["taskArn"]))
    return StoppedTasks(tuple(stopped))


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """StopBastionTask."""
    request = StopBastionTaskInput.from_event(event)
    return stop_bastion_task(request, settings=load_settings(), ecs=client("ecs")).to_dict()
