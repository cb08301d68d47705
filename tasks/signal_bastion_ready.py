"""SignalBastionReady: the bastion's started line, delivered by the log subscription, wakes
its session's ready wait.

CloudWatch Logs invokes this function with the lines of the bastion log group that match
the subscription filter (the started event). For a started line it reads the ready wait of
the session the line names (:mod:`tasks.common.ready_wait`) and, when the wait is for the
task whose stream the line came from, looks at the bastion and answers the wait's token.
The line itself only says which session to look at: the look reads the stream's first
started line again, so a later line, or a bastion naming another session, changes nothing.
The look that settles the wait deletes it. Whatever this function does not do (a delivery
lost, a wait not stored yet), the wait's own timeout makes up for with another look.

A private bastion's started line may come a few seconds before ECS Exec's agent in its
task runs (Fargate starts the agent beside the container): the look then waits for the
agent, for a bounded time within the function's timeout, rather than leave the session to
the wait's next timed look minutes later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tasks.common.aws import client
from tasks.common.bastion_started import BASTION_LOG_STREAM_PREFIX, is_started_line
from tasks.common.errors import InvalidRequest
from tasks.common.log_subscription import (
    DATA_MESSAGE,
    LogSubscriptionError,
    LogSubscriptionMessage,
    decode_subscription_event,
    task_id_of_log_stream,
)
from tasks.common.observability import logger, task_handler
from tasks.common.ready_wait import (
    Answer,
    ReadyWait,
    answer_ready_wait,
    read_ready_wait,
    ready_parameter_name,
)
from tasks.common.session_manager import ExecuteCommandNotReady
from tasks.common.settings import Settings, SettingsError, load_settings
from tasks.wait_for_bastion_address import bastion_look

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


#: How long a look waits for ECS Exec's agent in a private bastion's task, and how often it
#: looks meanwhile (the function's timeout is 30 seconds).
ECS_EXEC_PATIENCE_SECONDS = 20.0
ECS_EXEC_POLL_SECONDS = 2.0

Look = Callable[[ReadyWait], Mapping[str, Any]]


def waiting_for_ecs_exec(
    look: Look,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Look:
    """``look``, looking again while ECS Exec cannot reach the bastion yet, for
    :data:`ECS_EXEC_PATIENCE_SECONDS` at most; any other answer is returned at once."""

    def patient_look(wait: ReadyWait) -> Mapping[str, Any]:
        deadline = clock() + ECS_EXEC_PATIENCE_SECONDS
        while True:
            try:
                return look(wait)
            except ExecuteCommandNotReady:
                if clock() + ECS_EXEC_POLL_SECONDS > deadline:
                    raise
                sleep(ECS_EXEC_POLL_SECONDS)

    return patient_look


def _named_session(message: str) -> str | None:
    """The session id a started line names, if it is text."""
    named = json.loads(message).get("sessionId")
    return named if isinstance(named, str) else None


def signal_bastion_ready(
    delivery: LogSubscriptionMessage,
    *,
    settings: Settings,
    ssm: Any,
    sfn: Any,
    look: Look,
) -> list[Answer]:
    """Answer the ready wait of each session a started line in ``delivery`` names."""
    if delivery.message_type != DATA_MESSAGE:
        return []
    if not settings.bastion_log_group:
        raise SettingsError("the stack did not configure BASTION_LOG_GROUP")
    if delivery.log_group != settings.bastion_log_group:
        raise LogSubscriptionError(
            f"the delivery is from {delivery.log_group[:200]!r}, not the bastion log group"
        )
    task_id = task_id_of_log_stream(
        delivery.log_stream, BASTION_LOG_STREAM_PREFIX, settings.container_name
    )
    sessions = []
    for event in delivery.log_events:
        if is_started_line(event.message):
            named = _named_session(event.message)
            if named is not None and named not in sessions:
                sessions.append(named)
    answers = []
    for session_id in sessions:
        try:
            name = ready_parameter_name(settings.parameter_name(session_id))
        except InvalidRequest:
            logger.warning("a started line names no valid session", extra={"taskId": task_id})
            continue
        wait = read_ready_wait(ssm, name)
        if wait is None:
            logger.info("no ready wait for the session", extra={"sessionId": session_id})
            continue
        if wait.task_arn.rsplit("/", 1)[-1] != task_id:
            logger.warning(
                "a started line names a session another task serves",
                extra={"sessionId": session_id, "taskId": task_id},
            )
            continue
        answers.append(answer_ready_wait(sfn, ssm, name, wait, look))
    return answers


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SignalBastionReady."""
    delivery = decode_subscription_event(event)
    settings = load_settings()
    answers = signal_bastion_ready(
        delivery,
        settings=settings,
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
        look=waiting_for_ecs_exec(bastion_look(settings)),
    )
    return {"answers": [answer.to_dict() for answer in answers]}
