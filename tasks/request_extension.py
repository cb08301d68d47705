"""RequestExtension: ask a holding session's hold to extend the session.

Used by the API (``POST /clusters/{cluster}/sessions/{id}/extensions``, after it has
checked the caller and the limit), input ``{"sessionId", "byMinutes", "requestedBy",
"expiresAt"}``, ``expiresAt`` being the expiry the API extended from (optional). It answers
the hold's stored task token with SendTaskFailure ``SessionExtensionRequested``
and the request as the cause (:mod:`tasks.common.extensions`); the session machine's
ExtendSession checks it again and holds on. A session that is not holding, is ending, or
whose hold is between two attempts (another extension being answered, a retried hold), or
whose hold holds to another expiry than ``expiresAt`` (another extension came first, and
the API's answer would name the wrong expiry) is SessionNotHeld, and nothing changes: the
caller may retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.end_request import TOKEN_GONE, read_end_request, stored_hold
from tasks.common.errors import InvalidRequest, SessionNotHeld
from tasks.common.extensions import EXTENSION_REQUESTED, ExtensionRequest, check_by_minutes
from tasks.common.models import format_timestamp, parse_timestamp, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.settings import Settings, load_settings
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: How long a requester's ARN may be (IAM ARNs are far shorter).
MAX_REQUESTER_CHARS = 256


@dataclass(frozen=True)
class RequestExtensionInput:
    """The task's input."""

    session_id: str
    by_minutes: Any
    requested_by: str
    #: The expiry the caller extends from; None: whatever the hold holds to.
    extends_from: datetime | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> RequestExtensionInput:
        requested_by = require(event, "requestedBy")
        if not isinstance(requested_by, str) or not 0 < len(requested_by) <= MAX_REQUESTER_CHARS:
            raise InvalidRequest("requestedBy", "must name who asks (an IAM ARN)")
        return cls(
            session_id=check_session_id(require(event, "sessionId")),
            by_minutes=require(event, "byMinutes"),
            requested_by=requested_by,
            extends_from=_moment_or_none(event.get("expiresAt"), "expiresAt"),
        )


def _moment_or_none(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    raise InvalidRequest(field, "must be a UTC time as YYYY-MM-DDTHH:MM:SSZ")


def request_extension(
    request: RequestExtensionInput, *, settings: Settings, ssm: Any, sfn: Any, now: datetime
) -> dict[str, Any]:
    """Signal the session's hold; SessionNotHeld when nothing holds it now."""
    asked = ExtensionRequest(
        by_minutes=check_by_minutes(request.by_minutes, settings.max_duration_minutes),
        requested_by=request.requested_by,
        requested_at=format_timestamp(now),
    )
    name = settings.parameter_name(request.session_id)
    if read_end_request(ssm, name) is not None:
        raise SessionNotHeld(f"session {request.session_id} is ending")
    token, holds_to = stored_hold(ssm, name, request.session_id)
    if request.extends_from is not None and not _same_moment(holds_to, request.extends_from):
        raise SessionNotHeld(
            f"session {request.session_id} holds to {holds_to or 'an unknown expiry'} now, "
            f"not {format_timestamp(request.extends_from)}: another extension came first; retry"
        )
    try:
        sfn.send_task_failure(taskToken=token, error=EXTENSION_REQUESTED, cause=asked.to_cause())
    except ClientError as error:
        if error_code(error) not in TOKEN_GONE:
            raise
        raise SessionNotHeld(
            f"session {request.session_id} is not holding now: it has ended, or its hold is "
            "answering another request; retry"
        ) from None
    logger.info("asked the hold to extend the session", extra=asked.to_dict())
    return {"sessionId": request.session_id, **asked.to_dict()}


def _same_moment(stored: str, moment: datetime) -> bool:
    try:
        return parse_timestamp(stored) == moment
    except ValueError:
        return False


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """RequestExtension: ``{"sessionId", "byMinutes", "requestedBy"}``."""
    return request_extension(
        RequestExtensionInput.from_event(event),
        settings=load_settings(),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
        now=datetime.now(UTC),
    )
