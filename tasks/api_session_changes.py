"""Ending and extending a running session: the two changes a caller makes to one.

Both find the session as the caller may see it (:func:`tasks.api_sessions.find_session`),
then ask the session's workflow, through the stack's EndSession and RequestExtension
functions, which decide; refusals are :class:`~tasks.api_identity.ApiError` (409 for a
session that is not holding, 400 naming the stack's limit for an extension past it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from botocore.exceptions import ClientError

from tasks.api_identity import ApiError, Caller
from tasks.api_sessions import find_session
from tasks.api_view import (
    ABORTED_BY_USER,
    END_REASON,
    history,
    phase_of,
    ready_document,
    steps_of,
    validated_session,
    view_session,
)
from tasks.common.errors import InvalidRequest
from tasks.common.extensions import (
    BY_MINUTES,
    MAX_EXTENSION_REQUESTS,
    REQUESTS_ANSWERED,
    ExtensionRefused,
    check_by_minutes,
    extended_expiry,
)
from tasks.common.models import format_timestamp, parse_timestamp
from tasks.common.observability import error_code, logger
from tasks.common.settings import Settings


@dataclass(frozen=True)
class Ending:
    """What DELETE answers (202: teardown runs in the workflow)."""

    session_id: str
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "status": "RUNNING",
            "phase": "ending",
            "message": self.how,
        }


def end_session(
    cluster: str,
    session_id: str,
    caller: Caller,
    *,
    settings: Settings,
    sfn: Any,
    lambda_client: Any,
) -> Ending:
    """End a session early: EndSession answers its hold, or, during setup, stop it."""
    described = find_session(sfn, settings, cluster, session_id, caller)
    if described["status"] != "RUNNING":
        raise _already_ended(session_id, described)
    answer = lambda_client.invoke(
        FunctionName=settings.end_session_function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps({"sessionId": session_id, "reason": END_REASON}),
    )
    payload = json.loads(answer["Payload"].read() or b"null")
    if not answer.get("FunctionError"):
        return Ending(session_id, "the session is ending: its bastion and doors are being removed")
    error_type = payload.get("errorType") if isinstance(payload, dict) else None
    if error_type != "SessionNotHeld":
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise ApiError(HTTPStatus.BAD_GATEWAY, f"EndSession failed: {error_type}: {message}")
    # Nothing holds the session: it is still being set up, or already tearing down.
    described = sfn.describe_execution(executionArn=described["executionArn"])
    if described["status"] != "RUNNING":
        raise _already_ended(session_id, described)
    events = history(sfn, str(described["executionArn"]))
    if phase_of("RUNNING", steps_of(events), ready_document(events)) == "ending":
        return Ending(session_id, "the session is already ending")
    try:
        sfn.stop_execution(
            executionArn=described["executionArn"],
            error=ABORTED_BY_USER,
            cause=f"{END_REASON}: {caller.user_arn} ended the session before it was ready",
        )
    except ClientError as error:
        logger.warning("stopping the execution failed", extra={"code": error_code(error)})
        described = sfn.describe_execution(executionArn=described["executionArn"])
        if described["status"] != "RUNNING":
            raise _already_ended(session_id, described) from None
        raise
    logger.info("stopped the session's execution during setup")
    return Ending(
        session_id,
        "the session was still starting: its execution is stopped, and teardown removes "
        "whatever it had created",
    )


def _already_ended(session_id: str, described: Mapping[str, Any]) -> ApiError:
    return ApiError(
        HTTPStatus.CONFLICT,
        f"session {session_id!r} has already ended ({described['status']})",
    )


@dataclass(frozen=True)
class Extension:
    """What POST .../extensions answers (202: the hold answers the request at once)."""

    session_id: str
    by_minutes: int
    previous_expires_at: str
    expires_at: str
    latest_expires_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "status": "RUNNING",
            "phase": "ready",
            "byMinutes": self.by_minutes,
            "previousExpiresAt": self.previous_expires_at,
            "expiresAt": self.expires_at,
            "latestExpiresAt": self.latest_expires_at,
            "message": (
                f"the session is being extended by {self.by_minutes} min, to "
                f"{self.expires_at}; it may be extended until {self.latest_expires_at}"
            ),
        }


def check_extension_body(body: Mapping[str, Any], settings: Settings) -> int:
    """The minutes a request body asks for: ``{"byMinutes": N}`` and nothing else."""
    unknown = sorted(set(body) - {BY_MINUTES})
    if unknown:
        raise InvalidRequest(unknown[0], f"is not a known field (known: {BY_MINUTES})")
    if BY_MINUTES not in body:
        raise InvalidRequest(BY_MINUTES, "is required")
    return check_by_minutes(body[BY_MINUTES], settings.max_duration_minutes)


def extend_session(
    cluster: str,
    session_id: str,
    caller: Caller,
    by_minutes: int,
    *,
    settings: Settings,
    sfn: Any,
    lambda_client: Any,
) -> Extension:
    """Extend a holding session by ``by_minutes``, up to its latest expiry.

    Refused, with nothing changed: a session of another caller (403, unless an
    administrator asks), one that is not holding (409), and an extension past the session's
    latest expiry (400 naming the stack's limit). The session machine's ExtendSession
    checks the limit again: it is what decides.
    """
    described = find_session(sfn, settings, cluster, session_id, caller)
    if described["status"] != "RUNNING":
        raise _already_ended(session_id, described)
    events = history(sfn, str(described["executionArn"]))
    view = view_session(described, events)
    session = validated_session(events) or {}
    if view.phase != "ready" or view.expires_at is None or "startedAt" not in session:
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"session {session_id!r} is {view.phase}, not holding: only a ready session "
            "can be extended",
        )
    answered = (ready_document(events) or {}).get(REQUESTS_ANSWERED, 0)
    if not isinstance(answered, int) or answered >= MAX_EXTENSION_REQUESTS:
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"session {session_id!r} has been asked to extend {MAX_EXTENSION_REQUESTS} times, "
            "the most one session allows",
        )
    started_at = parse_timestamp(str(session["startedAt"]))
    latest = view.latest_expires_at or format_timestamp(
        started_at + timedelta(minutes=settings.max_duration_minutes)
    )
    current = parse_timestamp(view.expires_at)
    try:
        extended = extended_expiry(
            current, by_minutes, started_at=started_at, latest=parse_timestamp(latest)
        )
    except ExtensionRefused as refused:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, str(refused), refused.field, limit=refused.limit
        ) from None
    answer = lambda_client.invoke(
        FunctionName=settings.request_extension_function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps(
            {
                "sessionId": session_id,
                BY_MINUTES: by_minutes,
                "requestedBy": caller.user_arn,
                # What the answer's expiry is computed from: RequestExtension refuses when
                # another extension has moved the hold's meanwhile.
                "expiresAt": format_timestamp(current),
            }
        ),
    )
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        error_type = payload.get("errorType") if isinstance(payload, dict) else None
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        if error_type == "SessionNotHeld":
            raise ApiError(HTTPStatus.CONFLICT, f"not extended: {message}")
        raise ApiError(HTTPStatus.BAD_GATEWAY, f"RequestExtension failed: {error_type}: {message}")
    return Extension(
        session_id=session_id,
        by_minutes=by_minutes,
        previous_expires_at=format_timestamp(current),
        expires_at=format_timestamp(extended),
        latest_expires_at=latest,
    )
