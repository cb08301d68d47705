"""ExtendSession: answer an extension request the hold received, and hold again.

Given the session, its current ready document and the hold's caught failure (the request,
:mod:`tasks.common.extensions`), it answers the ready document the hold re-enters with:
the new expiry and the seconds left until it, or, when the request is refused (malformed,
or past the session's latest expiry), the unchanged expiry and the seconds left until
that. Either way the document says what was asked and what came of it, so the execution's
history records who extended the session and by how much. It never raises for a request:
a bad one must not end the session, nor lengthen it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tasks.common.errors import InvalidRequest, StepInputInvalid
from tasks.common.extensions import (
    EXTENSION_REQUESTED,
    MAX_EXTENSION_REQUESTS,
    REQUESTS_ANSWERED,
    ExtensionRequest,
    extended_expiry,
    hold_seconds,
)
from tasks.common.models import Session, format_timestamp, parse_timestamp, require
from tasks.common.observability import logger, task_handler
from tasks.common.settings import Settings, load_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

EXTENDED = "extended"
REFUSED = "refused"


@dataclass(frozen=True)
class ExtendSessionInput:
    """The task's input: the session, the ready document it holds by, and the hold's
    caught failure (``{"Error", "Cause"}``)."""

    session: Session
    ready: Mapping[str, Any]
    error: str
    cause: Any

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ExtendSessionInput:
        ready = require(event, "ready")
        caught = require(event, "extension")
        if not isinstance(ready, Mapping) or not isinstance(caught, Mapping):
            raise StepInputInvalid("the step's ready and extension must be objects")
        return cls(
            session=Session.from_dict(require(event, "session")),
            ready=ready,
            error=str(caught.get("Error") or ""),
            cause=caught.get("Cause"),
        )


def extend_session(
    request: ExtendSessionInput, *, settings: Settings, now: datetime
) -> dict[str, Any]:
    """The ready document the hold re-enters with, and the extension's outcome in it."""
    session = request.session
    current = parse_timestamp(str(require(request.ready, "expiresAt", within="ready")))
    answered = _requests_answered(request.ready) + 1
    outcome: dict[str, Any] = {"previousExpiresAt": format_timestamp(current)}
    expires_at = current
    try:
        if request.error != EXTENSION_REQUESTED:
            raise InvalidRequest("error", f"is {request.error!r}, not {EXTENSION_REQUESTED}")
        if answered > MAX_EXTENSION_REQUESTS:
            raise InvalidRequest(
                REQUESTS_ANSWERED,
                f"the hold has been asked {MAX_EXTENSION_REQUESTS} times already, the most "
                "one session allows: the session ends",
            )
        asked = ExtensionRequest.from_cause(request.cause, settings.max_duration_minutes)
        outcome.update(asked.to_dict())
        expires_at = extended_expiry(
            current,
            asked.by_minutes,
            started_at=parse_timestamp(session.started_at),
            latest=parse_timestamp(session.latest_expiry),
        )
    except InvalidRequest as refused:
        outcome.update(outcome=REFUSED, reason=str(refused))
        logger.warning("refused an extension", extra={"reason": str(refused)})
    else:
        outcome.update(outcome=EXTENDED)
        logger.info("extended the session", extra=outcome)
    return {
        **request.ready,
        "expiresAt": format_timestamp(expires_at),
        "latestExpiresAt": session.latest_expiry,
        "holdSeconds": hold_seconds(expires_at, now),
        REQUESTS_ANSWERED: answered,
        "extension": outcome,
    }


def _requests_answered(ready: Mapping[str, Any]) -> int:
    count = ready.get(REQUESTS_ANSWERED, 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        # Only ExtendSession writes it: anything else is no count, and ends the session.
        return MAX_EXTENSION_REQUESTS
    return count


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """ExtendSession."""
    request = ExtendSessionInput.from_event(event)
    return extend_session(request, settings=load_settings(), now=datetime.now(UTC))
