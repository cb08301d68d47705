"""EndSession: end a holding session early by answering its task token.

Used by the API (``DELETE /sessions/{id}``) and by the bastion-task-stopped event. The
session's execution then runs its teardown and ends SUCCEEDED, saying why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.errors import SessionNotHeld
from tasks.common.models import format_timestamp, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.settings import Settings, load_settings
from tasks.common.validation import check_end_reason, check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: The token was answered already, or the hold timed out: the session is not holding.
TOKEN_GONE = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})


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
    """Answer the session's hold token with the reason; SessionNotHeld if nothing holds."""
    name = settings.parameter_name(request.session_id)
    try:
        stored = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            raise SessionNotHeld(f"session {request.session_id} is not holding") from None
        raise
    ended = EndedSession(request.session_id, request.reason, format_timestamp(now))
    try:
        sfn.send_task_success(
            taskToken=stored["taskToken"],
            output=json.dumps({"reason": ended.reason, "endedAt": ended.ended_at}),
        )
    except ClientError as error:
        if error_code(error) in TOKEN_GONE:
            raise SessionNotHeld(f"session {request.session_id} has already ended") from None
        raise
    logger.info("ended the session", extra={"reason": ended.reason})
    return ended


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EndSession."""
    request = EndSessionInput.from_event(event)
    ended = end_session(
        request,
        settings=load_settings(),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
        now=datetime.now(UTC),
    )
    return ended.to_dict()
