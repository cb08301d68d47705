"""The end request: how an early end reaches a hold that is between two attempts.

A retried HoldSession is a new attempt of its ``.waitForTaskToken`` state with a new task
token; between the attempt that died and the next one, the hold parameter holds a token
Step Functions no longer knows. An end arriving then cannot answer any token. So EndSession
first records the end beside the hold parameter, then answers the stored token; and each
HoldSession first stores its token, then looks for a recorded end and, if there is one,
answers its own token with it at once. Each writes before it reads what the other writes,
so at least one of them sees the other: the end is never lost. Answering a token twice is
harmless (the second answer is refused as over). DeleteHoldParameter removes both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.common.errors import SessionNotHeld
from tasks.common.observability import error_code

#: A token Step Functions no longer takes: answered already, its attempt over, or timed out.
TOKEN_GONE = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})
#: The suffix of the end request's parameter name, under the hold parameter's.
SUFFIX = "/end"


def end_request_name(hold_parameter_name: str) -> str:
    """Where an end of the session held at ``hold_parameter_name`` is recorded."""
    return hold_parameter_name + SUFFIX


@dataclass(frozen=True)
class EndRequest:
    """An end requested for a session: why, and when."""

    reason: str
    ended_at: str

    def to_json(self) -> str:
        return json.dumps({"reason": self.reason, "endedAt": self.ended_at})


def read_end_request(ssm: Any, hold_parameter_name: str) -> EndRequest | None:
    """The end recorded for the session, or None."""
    try:
        value = ssm.get_parameter(Name=end_request_name(hold_parameter_name))["Parameter"]["Value"]
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return None
        raise
    stored = json.loads(value)
    return EndRequest(reason=str(stored["reason"]), ended_at=str(stored["endedAt"]))


def record_end_request(
    ssm: Any, hold_parameter_name: str, request: EndRequest, tags: list[dict[str, str]]
) -> bool:
    """Record ``request``; False if an end was recorded already (the first one stands)."""
    try:
        ssm.put_parameter(
            Name=end_request_name(hold_parameter_name),
            Description="fargate-bastion: an early end of the session, for its hold",
            Value=request.to_json(),
            Type="String",
            Tags=tags,
        )
    except ClientError as error:
        if error_code(error) == "ParameterAlreadyExists":
            return False
        raise
    return True


def stored_token(ssm: Any, hold_parameter_name: str, session_id: str) -> str:
    """The task token the session's hold stored; SessionNotHeld when there is none."""
    return stored_hold(ssm, hold_parameter_name, session_id)[0]


def stored_hold(ssm: Any, hold_parameter_name: str, session_id: str) -> tuple[str, str]:
    """The task token the session's hold stored and the expiry it holds to, read together;
    SessionNotHeld when there is none."""
    try:
        stored = json.loads(ssm.get_parameter(Name=hold_parameter_name)["Parameter"]["Value"])
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            raise SessionNotHeld(f"session {session_id} is not holding") from None
        raise
    return str(stored["taskToken"]), str(stored.get("expiresAt") or "")
