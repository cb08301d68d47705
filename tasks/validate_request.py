"""ValidateRequest: turn the execution's input into a Session, or refuse it.

Runs before anything is created, so a refused request leaves nothing behind: the request
check the API's POST also uses (:mod:`tasks.common.session_request`), then the caps on
running sessions (:mod:`tasks.common.session_caps`), which this execution checks by its
own place among the running ones, so a burst of starts lets exactly the first N through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tasks.common.aws import client
from tasks.common.errors import StackMisconfigured
from tasks.common.models import Session, format_timestamp, parse_timestamp, require
from tasks.common.observability import logger, task_handler
from tasks.common.session_caps import check_session_caps
from tasks.common.session_request import REQUEST_FIELDS, check_request
from tasks.common.settings import Settings, load_settings
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: The fields a request may hold (kept under this name for the request's readers).
ALLOWED_FIELDS = REQUEST_FIELDS


@dataclass(frozen=True)
class ValidateRequestInput:
    """The task's input: the session id, when the execution started, the raw request."""

    session_id: Any
    started_at: str
    request: Any

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ValidateRequestInput:
        return cls(
            session_id=require(event, "sessionId"),
            started_at=str(require(event, "startedAt")),
            request=require(event, "request"),
        )


def validate_request(
    request: ValidateRequestInput, *, settings: Settings, eks: Any, sfn: Any
) -> Session:
    """The validated session; raise InvalidRequest naming the first field at fault, or
    SessionLimitReached naming the cap that is full."""
    session_id = check_session_id(request.session_id)
    started_at = parse_timestamp(request.started_at)
    checked = check_request(request.request, settings=settings, eks=eks)
    if not settings.session_state_machine_arn:
        raise StackMisconfigured("SESSION_STATE_MACHINE_ARN is not set: the caps cannot count")
    check_session_caps(
        sfn,
        settings,
        requested_by=checked.requested_by,
        cluster=checked.cluster,
        session_id=session_id,
        started_at=started_at,
    )
    return Session(
        session_id=session_id,
        cluster=checked.cluster,
        ssh_public_key=checked.ssh_public_key,
        allowed_cidrs=checked.allowed_cidrs,
        duration_minutes=checked.duration_minutes,
        requested_by=checked.requested_by,
        access_mode=checked.access_mode,
        requester_id=checked.requester_id,
        started_at=format_timestamp(started_at),
        expires_at=format_timestamp(started_at + timedelta(minutes=checked.duration_minutes)),
        latest_expires_at=format_timestamp(
            started_at + timedelta(minutes=settings.max_duration_minutes)
        ),
    )


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """ValidateRequest."""
    request = ValidateRequestInput.from_event(event)
    session = validate_request(
        request, settings=load_settings(), eks=client("eks"), sfn=client("stepfunctions")
    )
    logger.info(
        "validated session request",
        extra={"cluster": session.cluster, "expiresAt": session.expires_at},
    )
    return session.to_dict()
