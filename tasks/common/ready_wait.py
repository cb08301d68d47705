"""The wait for a bastion to say it is ready: what the wait needs, kept where the signal finds it.

WaitForBastionAddress is a ``.waitForTaskToken`` state. Its function keeps the attempt's
task token, with what a look at the bastion needs, in the session's ready parameter (beside
the hold parameter), then looks once. The bastion's started line reaches SignalBastionReady
through the bastion log group's subscription filter; that function reads the parameter and
looks again. A look that finds the bastion ready answers the token with the ready document;
one that finds it never will be (its task stopped, its started line untrusted) fails the
token with that error; one that finds it not ready yet does nothing. The parameter is written
before the first look, and the line is in its stream before it is delivered, so one of the
two looks sees both. A delivery lost or late is made up by the state's timeout: each new
attempt, with a new token, looks again. The look that settles the wait deletes the
parameter; DeleteHoldParameter removes one a wait that never settled left.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.common.access_modes import ACCESS_MODES, PUBLIC
from tasks.common.end_request import TOKEN_GONE
from tasks.common.errors import BastionNotReady, StepInputInvalid
from tasks.common.models import RULE_SCOPES, require
from tasks.common.observability import error_code, logger
from tasks.common.session_parameters import put_session_parameter

#: The suffix of the ready parameter's name, under the hold parameter's.
SUFFIX = "/ready"
#: The errors a look ends the wait with: the bastion will never be ready.
FINAL_ERRORS = ("BastionTaskStopped", "BastionStartedInvalid")


def ready_parameter_name(hold_parameter_name: str) -> str:
    """Where the ready wait of the session held at ``hold_parameter_name`` is kept."""
    return hold_parameter_name + SUFFIX


@dataclass(frozen=True)
class ReadyWait:
    """One attempt's wait: its token, and what a look at the bastion needs."""

    task_token: str
    session_id: str
    cluster: str
    expires_at: str
    task_arn: str
    #: Where FindControlPlane put the session's rule (``controlPlaneRuleScope``).
    rule_scope: str
    #: The session's access mode: a private bastion is reached through ECS Exec.
    access_mode: str = PUBLIC

    def to_json(self) -> str:
        return json.dumps(
            {
                "taskToken": self.task_token,
                "sessionId": self.session_id,
                "cluster": self.cluster,
                "expiresAt": self.expires_at,
                "taskArn": self.task_arn,
                "controlPlaneRuleScope": self.rule_scope,
                "accessMode": self.access_mode,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReadyWait:
        """The wait as kept (public when it names no mode: kept before modes existed);
        StepInputInvalid naming a missing or wrong field."""
        values = {
            key: require(data, key)
            for key in (
                "taskToken",
                "sessionId",
                "cluster",
                "expiresAt",
                "taskArn",
                "controlPlaneRuleScope",
            )
        }
        wrong = [key for key, value in values.items() if not isinstance(value, str) or not value]
        if wrong:
            raise StepInputInvalid(f"the ready wait's {', '.join(wrong)} must be text")
        if values["controlPlaneRuleScope"] not in RULE_SCOPES:
            raise StepInputInvalid(
                f"the ready wait's controlPlaneRuleScope is not one of {RULE_SCOPES}"
            )
        access_mode = data.get("accessMode", PUBLIC)
        if access_mode not in ACCESS_MODES:
            raise StepInputInvalid(f"the ready wait's accessMode is not one of {ACCESS_MODES}")
        return cls(
            task_token=values["taskToken"],
            session_id=values["sessionId"],
            cluster=values["cluster"],
            expires_at=values["expiresAt"],
            task_arn=values["taskArn"],
            rule_scope=values["controlPlaneRuleScope"],
            access_mode=str(access_mode),
        )


def store_ready_wait(ssm: Any, name: str, wait: ReadyWait, tags: list[dict[str, str]]) -> None:
    """Keep ``wait`` at ``name``, replacing an earlier attempt's."""
    put_session_parameter(
        ssm,
        name,
        description=f"fargate-bastion session {wait.session_id}: the ready wait's task token",
        value=wait.to_json(),
        tags=tags,
    )


def read_ready_wait(ssm: Any, name: str) -> ReadyWait | None:
    """The wait kept at ``name``; None when no attempt waits (none yet, or torn down)."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return None
        raise
    try:
        data = json.loads(value)
    except ValueError:
        raise StepInputInvalid(f"the ready wait at {name} is not JSON") from None
    if not isinstance(data, dict):
        raise StepInputInvalid(f"the ready wait at {name} is not an object")
    return ReadyWait.from_dict(data)


@dataclass(frozen=True)
class Answer:
    """What a look did with the wait's token."""

    #: ``ready``, ``failed`` (with ``error``), ``not-ready`` or ``token-gone``.
    outcome: str
    error: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"outcome": self.outcome, **({"error": self.error} if self.error else {})}


def answer_ready_wait(
    sfn: Any,
    ssm: Any,
    name: str,
    wait: ReadyWait,
    look: Callable[[ReadyWait], Mapping[str, Any]],
) -> Answer:
    """Look once (``look`` returns the ready document or raises); answer the token if the
    look settles the wait, then delete the wait kept at ``name``. Other errors propagate:
    the caller's retry or the state's."""
    try:
        ready = look(wait)
    except BastionNotReady as not_ready:
        logger.info("the bastion is not ready yet", extra={"reason": str(not_ready)})
        return Answer("not-ready")
    except Exception as error:
        error_name = type(error).__name__
        if error_name not in FINAL_ERRORS:
            raise
        answer = _send(
            sfn.send_task_failure,
            Answer("failed", error_name),
            taskToken=wait.task_token,
            error=error_name,
            cause=str(error)[:32_768],
        )
    else:
        answer = _send(
            sfn.send_task_success,
            Answer("ready"),
            taskToken=wait.task_token,
            output=json.dumps(dict(ready)),
        )
    if answer.outcome != "token-gone":
        _delete_settled_wait(ssm, name)
    return answer


def _delete_settled_wait(ssm: Any, name: str) -> None:
    try:
        ssm.delete_parameter(Name=name)
    except ClientError as error:
        if error_code(error) != "ParameterNotFound":
            raise


def _send(call: Callable[..., Any], answer: Answer, **arguments: Any) -> Answer:
    try:
        call(**arguments)
    except ClientError as error:
        if error_code(error) not in TOKEN_GONE:
            raise
        # Another look answered first, or this attempt is over: the next one looks again.
        logger.info("the ready wait's token was already answered or is over")
        return Answer("token-gone")
    logger.info("answered the ready wait", extra=answer.to_dict())
    return answer
