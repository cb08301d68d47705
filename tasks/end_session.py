"""EndSession: end a holding session early by answering its task token.

Used by the API (``DELETE /sessions/{id}``, input ``{"sessionId", "reason"}``) and by the
EventBridge rule on the bastion task's ECS "Task State Change" to STOPPED (the event
itself: the session id comes from the task's ``BASTION_SESSION_ID`` override, the reason
is ``bastion-stopped``, or ``expired`` when the task stopped at or after the session's
``BASTION_EXPIRES_AT``: the container's own expiry exit can reach EndSession before the
hold's timeout acts, and the session expired either way). The session's execution then
runs its teardown and ends SUCCEEDED, saying why.

A session that is not holding is SessionNotHeld on the direct path. On the event path it
is the normal case (every teardown stops the task, so the event follows every session's
end; a task that never started stops during setup): the handler answers with a no-op
result instead of failing, so EventBridge's and Lambda's retries have nothing to retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.container_contract import EXPIRES_AT as EXPIRES_AT_VARIABLE
from tasks.common.container_contract import SESSION_ID as SESSION_ID_VARIABLE
from tasks.common.end_request import TOKEN_GONE, EndRequest, record_end_request, stored_token
from tasks.common.errors import SessionNotHeld
from tasks.common.models import format_timestamp, parse_timestamp, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.settings import Settings, load_settings
from tasks.common.tags import SESSION_TAG, STACK_TAG, as_key_value_list
from tasks.common.validation import check_end_reason, check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: How many stored tokens one EndSession tries (a retried hold replaces its token).
MAX_TOKEN_READS = 3
#: The reason a session ends when its bastion task stopped by itself.
BASTION_STOPPED = "bastion-stopped"
#: The reason when it stopped at or after the session's expiry: the container's own expiry
#: exit, which may reach EndSession before the hold's timeout acts (the hold times out at
#: the expiry rounded up to a whole second, plus delays).
EXPIRED = "expired"
ECS_EVENT_SOURCE = "aws.ecs"
ECS_TASK_STATE_CHANGE = "ECS Task State Change"


@dataclass(frozen=True)
class EndSessionInput:
    """The task's input."""

    session_id: str
    reason: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> EndSessionInput:
        return cls(
            session_id=check_session_id(require(event, "sessionId")),
            reason=check_end_reason(require(event, "reason")),
        )


def is_task_state_change(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is an ECS "Task State Change" delivered by EventBridge."""
    return (
        event.get("source") == ECS_EVENT_SOURCE
        and event.get("detail-type") == ECS_TASK_STATE_CHANGE
    )


@dataclass(frozen=True)
class TaskStopped:
    """The task's input on the event path: which task stopped, why, and for which session."""

    task_arn: str
    last_status: str
    stopped_reason: str
    #: None when the task carries no session id (not a bastion of this stack).
    session_id: str | None
    #: When ECS stopped the task, and the session's expiry (None when not given).
    stopped_at: datetime | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> TaskStopped:
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise KeyError("task input is missing 'detail'")
        return cls(
            task_arn=str(detail.get("taskArn", "")),
            last_status=str(detail.get("lastStatus", "")),
            stopped_reason=str(detail.get("stoppedReason") or ""),
            session_id=_overridden_variable(detail, SESSION_ID_VARIABLE),
            stopped_at=_timestamp_or_none(detail.get("stoppedAt")),
            expires_at=_timestamp_or_none(_overridden_variable(detail, EXPIRES_AT_VARIABLE)),
        )

    def as_request(self) -> EndSessionInput | None:
        """The session to end for a stopped task (None when there is none): ``expired`` if
        the task stopped at or after the session's expiry, else ``bastion-stopped``."""
        if self.last_status != "STOPPED" or self.session_id is None:
            return None
        reached_expiry = (
            self.stopped_at is not None
            and self.expires_at is not None
            and self.stopped_at >= self.expires_at
        )
        reason = EXPIRED if reached_expiry else BASTION_STOPPED
        return EndSessionInput(check_session_id(self.session_id), reason)


def _overridden_variable(detail: Mapping[str, Any], name: str) -> str | None:
    """A variable of the container overrides RunBastionTask set (``BASTION_SESSION_ID``...)."""
    overrides = detail.get("overrides") or {}
    for container in overrides.get("containerOverrides") or []:
        for variable in container.get("environment") or []:
            if variable.get("name") == name and variable.get("value"):
                return str(variable["value"])
    return None


def _timestamp_or_none(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class IgnoredTaskStop:
    """The output on the event path when there is no holding session to end."""

    task_arn: str
    session_id: str | None
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"sessionId": self.session_id, "taskArn": self.task_arn, "ignored": self.why}


@dataclass(frozen=True)
class EndedSession:
    """The task's output."""

    session_id: str
    reason: str
    ended_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"sessionId": self.session_id, "reason": self.reason, "endedAt": self.ended_at}


def end_session(
    request: EndSessionInput, *, settings: Settings, ssm: Any, sfn: Any, now: datetime
) -> EndedSession:
    """Answer the session's hold token with the reason; SessionNotHeld if nothing holds.

    The end is recorded first (:mod:`tasks.common.end_request`), so a hold attempt that
    starts after this reads it and ends at once. A token Step Functions no longer knows may
    have just been replaced (a retried HoldSession stores its attempt's new token): the
    parameter is read again and a new token answered. A token that stays dead and unchanged
    belongs to an attempt that died: the recorded end ends the next one.
    """
    name = settings.parameter_name(request.session_id)
    ended = EndedSession(request.session_id, request.reason, format_timestamp(now))
    token = stored_token(ssm, name, request.session_id)
    recorded = record_end_request(
        ssm,
        name,
        EndRequest(ended.reason, ended.ended_at),
        as_key_value_list({SESSION_TAG: request.session_id, STACK_TAG: settings.stack_name}),
    )
    if not recorded:
        raise SessionNotHeld(f"session {request.session_id} has already ended")
    answered: set[str] = set()
    for _ in range(MAX_TOKEN_READS):
        if token in answered:
            # The same dead token: its attempt died, and the next one will read the end.
            logger.info("recorded the end for the hold's next attempt", extra=ended.to_dict())
            return ended
        answered.add(token)
        try:
            sfn.send_task_success(
                taskToken=token,
                output=json.dumps({"reason": ended.reason, "endedAt": ended.ended_at}),
            )
        except ClientError as error:
            if error_code(error) == "TaskTimedOut":
                raise SessionNotHeld(f"session {request.session_id} has already ended") from None
            if error_code(error) not in TOKEN_GONE:
                raise
            token = stored_token(ssm, name, request.session_id)
            continue
        logger.info("ended the session", extra={"reason": ended.reason})
        return ended
    raise SessionNotHeld(f"session {request.session_id} has already ended")


def _end(request: EndSessionInput) -> EndedSession:
    return end_session(
        request,
        settings=load_settings(),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
        now=datetime.now(UTC),
    )


def end_for_stopped_task(stopped: TaskStopped) -> dict[str, Any]:
    """The event path: end the stopped bastion's session if it holds, else a no-op."""
    request = stopped.as_request()
    if request is None:
        why = "no session id" if stopped.session_id is None else f"task is {stopped.last_status}"
        logger.warning("ignored an ECS task event", extra={"taskArn": stopped.task_arn, "why": why})
        return IgnoredTaskStop(stopped.task_arn, stopped.session_id, why).to_dict()
    logger.set_correlation_id(request.session_id)
    logger.info(
        "the bastion task stopped",
        extra={"taskArn": stopped.task_arn, "stoppedReason": stopped.stopped_reason},
    )
    try:
        return _end(request).to_dict()
    except SessionNotHeld as not_held:
        logger.info("no session to end", extra={"why": str(not_held)})
        return IgnoredTaskStop(stopped.task_arn, request.session_id, str(not_held)).to_dict()


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EndSession: ``{"sessionId", "reason"}``, or an ECS task-stopped event."""
    if is_task_state_change(event):
        return end_for_stopped_task(TaskStopped.from_event(event))
    return _end(EndSessionInput.from_event(event)).to_dict()
