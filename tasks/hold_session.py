"""HoldSession: keep the session's task token where EndSession can find it.

This is the ``.waitForTaskToken`` task: it returns at once, and the execution waits
until the token is answered (an early end) or the state's timeout fires (expiry). Each
attempt of the state has its own token; an end recorded while no attempt held (the one
before died) is answered with this attempt's token at once (:mod:`tasks.common.end_request`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.end_request import TOKEN_GONE, read_end_request
from tasks.common.models import Session, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.session_parameters import put_session_parameter
from tasks.common.settings import Settings, load_settings
from tasks.common.tags import as_key_value_list, session_tags

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@dataclass(frozen=True)
class HoldSessionInput:
    """The task's input."""

    task_token: str
    session: Session
    #: The expiry this hold ends at: the session's own, or an extension's.
    expires_at: str = ""

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HoldSessionInput:
        return cls(
            task_token=str(require(event, "taskToken")),
            session=Session.from_dict(require(event, "session")),
            expires_at=str(event.get("expiresAt") or ""),
        )


@dataclass(frozen=True)
class HeldSession:
    """The task's output."""

    parameter_name: str

    def to_dict(self) -> dict[str, Any]:
        return {"parameterName": self.parameter_name}


def hold_session(
    request: HoldSessionInput, *, settings: Settings, ssm: Any, sfn: Any
) -> HeldSession:
    """Store the task token (and the expiry) under the session id; then, if an end was
    recorded meanwhile, answer the token with it."""
    held = _store_token(request, settings=settings, ssm=ssm)
    ended = read_end_request(ssm, held.parameter_name)
    if ended is not None:
        try:
            sfn.send_task_success(
                taskToken=request.task_token,
                output=json.dumps({"reason": ended.reason, "endedAt": ended.ended_at}),
            )
        except ClientError as error:
            if error_code(error) not in TOKEN_GONE:
                raise
        logger.info("ended the hold: an end was recorded", extra={"reason": ended.reason})
    return held


def _store_token(request: HoldSessionInput, *, settings: Settings, ssm: Any) -> HeldSession:
    session = request.session
    name = settings.parameter_name(session.session_id)
    # The sweeper reads the expiry here: it follows the session's extensions.
    expires_at = request.expires_at or session.expires_at
    value = json.dumps({"taskToken": request.task_token, "expiresAt": expires_at})
    replaced = put_session_parameter(
        ssm,
        name,
        description=f"fargate-bastion session {session.session_id}: the hold's task token",
        value=value,
        tags=as_key_value_list(session_tags(session, settings.stack_name)),
    )
    if replaced:  # a retried hold gets a new token
        logger.info("replaced the session's task token", extra={"parameterName": name})
        return HeldSession(parameter_name=name)
    logger.info("stored the session's task token", extra={"parameterName": name})
    return HeldSession(parameter_name=name)


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """HoldSession."""
    request = HoldSessionInput.from_event(event)
    return hold_session(
        request, settings=load_settings(), ssm=client("ssm"), sfn=client("stepfunctions")
    ).to_dict()
